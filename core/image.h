/* Images: buffer records with an image beside them (buffer.h). What makes a record an image is
 * here: its completed description, the runtime's image object where the backend has image
 * operations, and the pitched layout core gives images elsewhere. */
#ifndef GPUMEM_CORE_IMAGE_H
#define GPUMEM_CORE_IMAGE_H

#include "buffer.h"

#define GPUMEM_IMAGE_MAX_LEVELS 32

struct gpumem_image_obj {
    gpumem_image_desc desc; /* as completed at create; name and user_data are the record's */
    uint32_t texel_size;
    gpumem_backend_image *native;        /* the runtime's image, or NULL: a pitched image */
    /* image_bind was called for native: the runtime binds an image once, so a create whose
     * bind failed is not tried again with it (it may be bound all the same). */
    int bind_tried;
    /* Pitched images: where each level starts in a layer, its row and slice pitch. */
    uint64_t layer_pitch;
    uint64_t level_offset[GPUMEM_IMAGE_MAX_LEVELS];
    uint64_t row_pitch[GPUMEM_IMAGE_MAX_LEVELS];
    uint64_t slice_pitch[GPUMEM_IMAGE_MAX_LEVELS];
};

/* The record of a live image handle, or the reason there is none. */
gpumem_result gpumem_image_get(gpumem_image handle, gpumem_buffer_obj **record);

/* Binds the runtime's image to its place (a no-op for pitched images); pool lock held. */
gpumem_result gpumem_image_bind(gpumem_device_obj *device, gpumem_image_obj *image,
                                gpumem_page *page, uint64_t offset);

/* Destroys the runtime's image and frees the description (NULL: nothing). */
void gpumem_image_free(gpumem_device_obj *device, gpumem_image_obj *image);

/* The extent of a mip level. */
void gpumem_image_level_extent(const gpumem_image_obj *image, uint32_t level, uint32_t *width,
                               uint32_t *height, uint32_t *depth);

#endif
