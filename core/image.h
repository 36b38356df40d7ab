/* Images: buffer records with an image beside them (buffer.h). What makes a record an image is
 * here: its completed description, the runtime's image object where the backend has image
 * operations, and the pitched layout core gives images elsewhere. */
#ifndef GPUMEM_CORE_IMAGE_H
#define GPUMEM_CORE_IMAGE_H

#include "buffer.h"

#define GPUMEM_IMAGE_MAX_LEVELS 32
#define GPUMEM_IMAGE_DESTROYING (1u << 31) /* in gpumem_image_obj.transfers */

struct gpumem_image_obj {
    gpumem_image_desc desc; /* as completed at create; name and user_data are the record's */
    uint32_t texel_size;
    gpumem_backend_image *native;        /* the runtime's image, or NULL: a pitched image */
    /* image_bind was called for native: the runtime binds an image once, so a create whose
     * bind failed is not tried again with it (it may be bound all the same). */
    int bind_tried;
    /* With `native`: the transfers that found the image and have not yet queued all their
     * work, and GPUMEM_IMAGE_DESTROYING once a destroy that waits for them began; one word, so
     * that of a transfer's count and a destroy's flag, whichever comes second sees the other
     * (gpumem_image_transfer_begin). */
    _Atomic uint32_t transfers;
    /* Pitched images: where each level starts in a layer, its row and slice pitch. */
    uint64_t layer_pitch;
    uint64_t level_offset[GPUMEM_IMAGE_MAX_LEVELS];
    uint64_t row_pitch[GPUMEM_IMAGE_MAX_LEVELS];
    uint64_t slice_pitch[GPUMEM_IMAGE_MAX_LEVELS];
};

/* The record of a live image handle, or the reason there is none. */
gpumem_result gpumem_image_get(gpumem_image handle, gpumem_buffer_obj **record);

/* The record of a live image handle for a transfer. An image with a runtime object is counted
 * in its transfers until gpumem_image_transfer_end, once the transfer has queued its work: a
 * destroy that flagged the image first (image_destroy) makes this DESTROYED; one that flags it
 * later waits for the count, so the commands of every transfer it let through are in their
 * streams when it waits for those. `what` names the transfer in the debug log's message, sent
 * once the transfer is counted. */
gpumem_result gpumem_image_transfer_begin(gpumem_image handle, const char *what,
                                          gpumem_buffer_obj **record);
void gpumem_image_transfer_end(gpumem_buffer_obj *record);

/* Binds the runtime's image to its place (a no-op for pitched images); pool lock held. */
gpumem_result gpumem_image_bind(gpumem_device_obj *device, gpumem_image_obj *image,
                                gpumem_page *page, uint64_t offset);

/* Destroys the runtime's image and frees the description (NULL: nothing). */
void gpumem_image_free(gpumem_device_obj *device, gpumem_image_obj *image);

/* The extent of a mip level. */
void gpumem_image_level_extent(const gpumem_image_obj *image, uint32_t level, uint32_t *width,
                               uint32_t *height, uint32_t *depth);

#endif
