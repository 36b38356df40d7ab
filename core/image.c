#include "image.h"

#include <string.h>

#include "align.h"
#include "alloc.h"
#include "backoff.h"
#include "call.h"
#include "handles.h"
#include "log.h"

/* Bytes per texel of the portable formats, by GPUMEM_FORMAT_* value. */
static const uint8_t texel_sizes[GPUMEM_FORMAT_COUNT] = {
    [GPUMEM_FORMAT_R8_UNORM] = 1,
    [GPUMEM_FORMAT_R8_UINT] = 1,
    [GPUMEM_FORMAT_R8G8_UNORM] = 2,
    [GPUMEM_FORMAT_R8G8B8A8_UNORM] = 4,
    [GPUMEM_FORMAT_R8G8B8A8_UINT] = 4,
    [GPUMEM_FORMAT_B8G8R8A8_UNORM] = 4,
    [GPUMEM_FORMAT_R16_UINT] = 2,
    [GPUMEM_FORMAT_R16_SFLOAT] = 2,
    [GPUMEM_FORMAT_R16G16B16A16_SFLOAT] = 8,
    [GPUMEM_FORMAT_R32_UINT] = 4,
    [GPUMEM_FORMAT_R32_SINT] = 4,
    [GPUMEM_FORMAT_R32_SFLOAT] = 4,
    [GPUMEM_FORMAT_R32G32_SFLOAT] = 8,
    [GPUMEM_FORMAT_R32G32B32A32_SFLOAT] = 16,
};

uint32_t gpumem_format_texel_size(uint32_t format)
{
    return format < GPUMEM_FORMAT_COUNT ? texel_sizes[format] : 0;
}

gpumem_result gpumem_image_get(gpumem_image handle, gpumem_buffer_obj **record)
{
    return gpumem_record_get(GPUMEM_HANDLE_OF(handle), GPUMEM_HANDLE_IMAGE, NULL, record);
}

gpumem_result gpumem_image_transfer_begin(gpumem_image handle, const char *what,
                                          gpumem_buffer_obj **record)
{
    gpumem_result r = gpumem_image_get(handle, record);
    if (r != GPUMEM_OK || !(*record)->image->native) /* memory alone: nothing waits for it */
        return r;
    if (atomic_fetch_add_explicit(&(*record)->image->transfers, 1, memory_order_acquire) &
        GPUMEM_IMAGE_DESTROYING) { /* the destroy ended the handle before it flagged it */
        gpumem_image_transfer_end(*record);
        *record = NULL;
        return gpumem_handle_refuse(GPUMEM_HANDLE_OF(handle), GPUMEM_HANDLE_IMAGE);
    }
    if (gpumem_log_wants(GPUMEM_LOG_DEBUG))
        gpumem_log(GPUMEM_LOG_DEBUG, "%s image %#llx in pool '%s': counted in the image's "
                                     "transfers",
                   what, (unsigned long long)GPUMEM_HANDLE_OF(handle), (*record)->pool->name);
    return GPUMEM_OK;
}

void gpumem_image_transfer_end(gpumem_buffer_obj *record)
{
    if (record->image->native)
        atomic_fetch_sub_explicit(&record->image->transfers, 1, memory_order_release);
}

static uint32_t level_size(uint32_t size, uint32_t level)
{
    uint32_t s = level < 32 ? size >> level : 0;
    return s ? s : 1;
}

void gpumem_image_level_extent(const gpumem_image_obj *image, uint32_t level, uint32_t *width,
                               uint32_t *height, uint32_t *depth)
{
    *width = level_size(image->desc.width, level);
    *height = level_size(image->desc.height, level);
    *depth = level_size(image->desc.depth, level);
}

/* --- the description --- */

static uint32_t levels_of(uint32_t largest)
{
    uint32_t n = 1;
    while (largest >>= 1)
        n++;
    return n;
}

/* Checks a description and fills its defaults into `out` (name and user data cleared). */
static gpumem_result complete_desc(const gpumem_image_desc *d, gpumem_image_desc *out,
                                   uint32_t *texel_size)
{
    if (!d)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "desc is NULL");
    gpumem_image_desc c = *d;
    c.name = NULL;
    c.user_data = NULL;
    if (c.type < GPUMEM_IMAGE_1D || c.type > GPUMEM_IMAGE_3D)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT,
                           "unknown image type %u (GPUMEM_IMAGE_1D, _2D or _3D)", c.type);
    if (c.width == 0)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "width is 0");
    c.height = c.height ? c.height : 1;
    c.depth = c.depth ? c.depth : 1;
    c.array_layers = c.array_layers ? c.array_layers : 1;
    c.mip_levels = c.mip_levels ? c.mip_levels : 1;
    c.usage = c.usage ? c.usage : GPUMEM_IMAGE_USAGE_SAMPLED | GPUMEM_IMAGE_USAGE_TRANSFER;
    if (c.type == GPUMEM_IMAGE_1D && c.height != 1)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "a 1D image has height %u; it must be 1",
                           c.height);
    if (c.type != GPUMEM_IMAGE_3D && c.depth != 1)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT,
                           "a %uD image has depth %u; only 3D images have a depth", c.type,
                           c.depth);
    if (c.type == GPUMEM_IMAGE_3D && c.array_layers != 1)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT,
                           "a 3D image has %u array layers; it may have only 1",
                           c.array_layers);
    uint32_t largest = c.width > c.height ? c.width : c.height;
    largest = largest > c.depth ? largest : c.depth;
    if (c.mip_levels > levels_of(largest))
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT,
                           "%u mip levels asked; an image of %ux%ux%u has at most %u",
                           c.mip_levels, c.width, c.height, c.depth, levels_of(largest));
    if (c.usage & ~(uint32_t)GPUMEM_IMAGE_USAGE_ALL)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "unknown usage bits 0x%x in desc->usage",
                           c.usage & ~(uint32_t)GPUMEM_IMAGE_USAGE_ALL);
    if (c.tiling > GPUMEM_IMAGE_TILING_LINEAR)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "unknown tiling %u", c.tiling);
    if (c.flags & ~(uint32_t)GPUMEM_IMAGE_DEDICATED)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "unknown flags 0x%x in desc->flags",
                           c.flags & ~(uint32_t)GPUMEM_IMAGE_DEDICATED);
    if (c.format == GPUMEM_FORMAT_NATIVE) {
        if (!c.native_format || c.texel_size == 0 || c.texel_size > 32)
            return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT,
                               "GPUMEM_FORMAT_NATIVE needs native_format (%u) and a texel_size "
                               "of 1 to 32 bytes (%u)",
                               c.native_format, c.texel_size);
        *texel_size = c.texel_size;
    } else {
        *texel_size = gpumem_format_texel_size(c.format);
        if (!*texel_size)
            return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "unknown format %u", c.format);
        if (c.native_format || c.texel_size)
            return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT,
                               "native_format and texel_size are for GPUMEM_FORMAT_NATIVE; "
                               "format %u has them 0",
                               c.format);
    }
    *out = c;
    return GPUMEM_OK;
}

/* --- where images go --- */

/* The pitched layout of an image in a page, and its bytes (0 when they overflow). */
static uint64_t lay_out_pitched(gpumem_image_obj *image, const gpumem_device_properties *p)
{
    uint64_t pitch_alignment = p->image_pitch_alignment, base = p->image_base_alignment;
    uint64_t offset = 0;
    for (uint32_t level = 0; level < image->desc.mip_levels; level++) {
        uint32_t w, h, d;
        gpumem_image_level_extent(image, level, &w, &h, &d);
        uint64_t row = gpumem_align_up((uint64_t)w * image->texel_size, pitch_alignment);
        uint64_t slice, size;
        if (__builtin_mul_overflow(row, h, &slice) || __builtin_mul_overflow(slice, d, &size) ||
            __builtin_add_overflow(offset, size, &offset) || offset > UINT64_MAX - base)
            return 0;
        image->level_offset[level] = offset - size;
        image->row_pitch[level] = row;
        image->slice_pitch[level] = slice;
        offset = gpumem_align_up(offset, base);
    }
    image->layer_pitch = offset;
    uint64_t total;
    return __builtin_mul_overflow(offset, image->desc.array_layers, &total) ? 0 : total;
}

/* The bytes and alignment of an image's place, from the runtime or the pitched layout. */
static gpumem_result image_place(const gpumem_pool_obj *pool, gpumem_image_obj *image,
                                 gpumem_buffer_desc *placed)
{
    gpumem_device_obj *device = pool->device;
    const gpumem_device_properties *p = &device->properties;
    if (!device->ops->image_create) {
        placed->size = lay_out_pitched(image, p);
        placed->alignment = p->image_base_alignment;
        if (image->desc.flags & GPUMEM_IMAGE_DEDICATED)
            placed->flags |= GPUMEM_BUFFER_DEDICATED;
        if (!placed->size)
            return gpumem_fail(GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY,
                               "an image of %ux%ux%u texels of %u bytes, %u layers and %u "
                               "levels does not fit 64-bit sizes",
                               image->desc.width, image->desc.height, image->desc.depth,
                               image->texel_size, image->desc.array_layers,
                               image->desc.mip_levels);
        return GPUMEM_OK;
    }
    gpumem_backend_image_requirements req = {0};
    gpumem_result r = device->ops->image_create(device->native, pool->memory_type, &image->desc,
                                                &image->native, &req);
    if (r != GPUMEM_OK)
        return gpumem_fail_backend(r, "image_create");
    uint64_t granularity = req.granularity > 1 ? req.granularity : 1;
    if (!req.size || !gpumem_is_power_of_two(req.alignment) ||
        !gpumem_is_power_of_two(granularity))
        return gpumem_fail(GPUMEM_ERROR_BACKEND,
                           "backend '%s' broke the contract: image_create gave size %llu, "
                           "alignment %llu, granularity %llu",
                           p->backend, (unsigned long long)req.size,
                           (unsigned long long)req.alignment, (unsigned long long)granularity);
    placed->size = req.size;
    placed->alignment = req.alignment;
    int own = req.dedicated == 2 ||
              (req.dedicated == 1 && req.size >= GPUMEM_IMAGE_PREFERRED_DEDICATED_SIZE);
    if (own || (image->desc.flags & GPUMEM_IMAGE_DEDICATED)) {
        placed->flags |= GPUMEM_BUFFER_DEDICATED;
    } else if (image->desc.tiling == GPUMEM_IMAGE_TILING_OPTIMAL && granularity > 1) {
        /* Whole units of the grid: no buffer or linear image shares one with the image. */
        placed->alignment = placed->alignment > granularity ? placed->alignment : granularity;
        placed->size = gpumem_align_up(placed->size, granularity);
    }
    return GPUMEM_OK;
}

gpumem_result gpumem_image_bind(gpumem_device_obj *device, gpumem_image_obj *image,
                                gpumem_page *page, uint64_t offset)
{
    if (!image->native)
        return GPUMEM_OK;
    image->bind_tried = 1;
    gpumem_result r = device->ops->image_bind(device->native, image->native, page->native, offset);
    return r == GPUMEM_OK ? r : gpumem_fail_backend(r, "image_bind");
}

void gpumem_image_free(gpumem_device_obj *device, gpumem_image_obj *image)
{
    if (!image)
        return;
    if (image->native)
        device->ops->image_destroy(device->native, image->native);
    gpumem_free(image);
}

static gpumem_result image_create(gpumem_pool pool_handle, const gpumem_image_desc *desc,
                                  gpumem_image *out, gpumem_thread *thread)
{
    gpumem_pool_obj *pool;
    gpumem_result r = gpumem_pool_get(pool_handle, &pool);
    if (r != GPUMEM_OK)
        return r;
    if (!out)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "image is NULL");
    gpumem_image_obj *image = gpumem_alloc_zeroed(1, sizeof *image);
    if (!image)
        return gpumem_fail(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "no memory for an image");
    gpumem_buffer_desc placed = {.name = desc ? desc->name : NULL,
                                 .user_data = desc ? desc->user_data : NULL};
    if ((r = complete_desc(desc, &image->desc, &image->texel_size)) == GPUMEM_OK &&
        pool->kind != GPUMEM_POOL_PAGED)
        r = gpumem_fail(GPUMEM_ERROR_UNSUPPORTED,
                        "pool '%s' is a native pool; images live in paged pools", pool->name);
    if (r == GPUMEM_OK)
        r = image_place(pool, image, &placed);
    if (r == GPUMEM_OK && placed.size > pool->device->properties.max_allocation_size)
        r = gpumem_fail(GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY,
                        "the image's %llu bytes exceed the device's largest allocation (%llu "
                        "bytes)",
                        (unsigned long long)placed.size,
                        (unsigned long long)pool->device->properties.max_allocation_size);
    gpumem_buffer_obj *b = NULL;
    if (r == GPUMEM_OK)
        r = gpumem_record_create(pool, NULL, &placed, GPUMEM_BUFFER_USAGE_DEFAULT, image, &b,
                                 thread);
    if (r != GPUMEM_OK) {
        gpumem_image_free(pool->device, image);
        return r;
    }
    *out = (gpumem_image)(uintptr_t)b->handle;
    return r;
}

gpumem_result gpumem_image_create(gpumem_pool pool, const gpumem_image_desc *desc,
                                  gpumem_image *image)
{
    GPUMEM_LOGGED_CALL(image_create(pool, desc, image, GPUMEM_CALL_THREAD),
                       "pool %#llx, desc {type %llu, format %llu, extent %llux%llux%llu, "
                       "layers %llu, levels %llu, usage %#llx, tiling %llu, flags %#llx, "
                       "name \"%s\"}" GPUMEM_LOG_OUTPUTS "image %#llx",
                       GPUMEM_LOG_HANDLE(pool), GPUMEM_LOG_FIELD(desc, type),
                       GPUMEM_LOG_FIELD(desc, format), GPUMEM_LOG_FIELD(desc, width),
                       GPUMEM_LOG_FIELD(desc, height), GPUMEM_LOG_FIELD(desc, depth),
                       GPUMEM_LOG_FIELD(desc, array_layers), GPUMEM_LOG_FIELD(desc, mip_levels),
                       GPUMEM_LOG_FIELD(desc, usage), GPUMEM_LOG_FIELD(desc, tiling),
                       GPUMEM_LOG_FIELD(desc, flags), GPUMEM_LOG_TEXT(desc ? desc->name : NULL),
                       GPUMEM_LOG_OUT(image));
}

/* A runtime's image object must outlive the commands that name it (Vulkan: a command buffer
 * naming a destroyed VkImage may crash the driver when it is submitted or runs, and a stream's
 * commands are submitted in batches). Where there is one, the destroy ends the handle and flags
 * the image, so that no transfer begins on it any more, waits for the transfers counted before
 * to have queued their work (gpumem_image_transfer_begin), then for the device's streams, and
 * only then retires the image. Images without one (CUDA, HIP, host: memory alone) go as
 * buffers do. */
static gpumem_result image_destroy(gpumem_image handle, gpumem_thread *t)
{
    gpumem_buffer_obj *b;
    gpumem_result r = gpumem_record_get(GPUMEM_HANDLE_OF(handle), GPUMEM_HANDLE_IMAGE, t, &b);
    if (r != GPUMEM_OK)
        return r;
    if (!b->image->native)
        return gpumem_record_destroy(GPUMEM_HANDLE_OF(handle), GPUMEM_HANDLE_IMAGE, NULL, t);
    if ((r = gpumem_record_end(b, GPUMEM_HANDLE_IMAGE, t)) != GPUMEM_OK)
        return r;
    _Atomic uint32_t *transfers = &b->image->transfers;
    atomic_fetch_or_explicit(transfers, GPUMEM_IMAGE_DESTROYING, memory_order_acq_rel);
    for (unsigned round = 0;
         atomic_load_explicit(transfers, memory_order_acquire) != GPUMEM_IMAGE_DESTROYING;
         round++)
        gpumem_backoff(round, 64, 16);
    gpumem_device_wait_streams(b->pool->device);
    return gpumem_record_retire_ended(b, t);
}

gpumem_result gpumem_image_destroy(gpumem_image image)
{
    GPUMEM_LOGGED_CALL(image_destroy(image, GPUMEM_CALL_THREAD),
                       "image %#llx",
                       GPUMEM_LOG_HANDLE(image));
}

gpumem_result gpumem_image_info_get(gpumem_image image, gpumem_buffer_info *info)
{
    GPUMEM_LOGGED_CALL(gpumem_record_info(GPUMEM_HANDLE_OF(image), GPUMEM_HANDLE_IMAGE, info,
                                          GPUMEM_CALL_THREAD),
                       "image %#llx" GPUMEM_LOG_OUTPUTS
                       "page %llu, offset %llu, size %llu, dedicated %llu",
                       GPUMEM_LOG_HANDLE(image), GPUMEM_LOG_OUT_FIELD(info, page),
                       GPUMEM_LOG_OUT_FIELD(info, offset), GPUMEM_LOG_OUT_FIELD(info, size),
                       GPUMEM_LOG_OUT_FIELD(info, dedicated));
}

gpumem_result gpumem_image_name(gpumem_image image, char *name, size_t capacity)
{
    GPUMEM_LOGGED_CALL(
        gpumem_record_name(GPUMEM_HANDLE_OF(image), GPUMEM_HANDLE_IMAGE, name, capacity,
                           GPUMEM_CALL_THREAD),
        "image %#llx, name %p, capacity %llu" GPUMEM_LOG_OUTPUTS "name \"%s\"",
        GPUMEM_LOG_HANDLE(image), (void *)name, (unsigned long long)(capacity),
        GPUMEM_LOG_TEXT(gpumem_r_ == GPUMEM_OK ? name : NULL));
}

gpumem_result gpumem_image_user_data(gpumem_image image, void **user_data)
{
    GPUMEM_LOGGED_CALL(
        gpumem_record_user_data(GPUMEM_HANDLE_OF(image), GPUMEM_HANDLE_IMAGE, user_data,
                                GPUMEM_CALL_THREAD),
        "image %#llx" GPUMEM_LOG_OUTPUTS "user_data %#llx",
        GPUMEM_LOG_HANDLE(image), GPUMEM_LOG_OUT(user_data));
}

static gpumem_result image_native(gpumem_image handle, gpumem_native_image *native)
{
    gpumem_buffer_obj *b;
    gpumem_result r = gpumem_image_get(handle, &b);
    if (r != GPUMEM_OK)
        return r;
    if (!native)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "native is NULL");
    gpumem_device_obj *device = b->pool->device;
    gpumem_native_image n = {0};
    if (b->image->native) {
        if ((r = device->ops->image_native(device->native, b->image->native, &n)) != GPUMEM_OK)
            return gpumem_fail_backend(r, "image_native");
    } else if (b->page->address) {
        n.memory = b->page->address;
    } else {
        return gpumem_fail(GPUMEM_ERROR_UNSUPPORTED,
                           "backend '%s' gives no native images, and its memory has no "
                           "addresses: the image has nothing native to show",
                           device->properties.backend);
    }
    if (b->page->address)
        n.address = b->page->address + b->offset;
    n.offset = b->page->import_offset + b->offset;
    *native = n;
    return GPUMEM_OK;
}

gpumem_result gpumem_image_native(gpumem_image image, gpumem_native_image *native)
{
    GPUMEM_LOGGED_CALL(image_native(image, native),
                       "image %#llx" GPUMEM_LOG_OUTPUTS
                       "memory %#llx, offset %llu, image %#llx, address %#llx",
                       GPUMEM_LOG_HANDLE(image), GPUMEM_LOG_OUT_FIELD(native, memory),
                       GPUMEM_LOG_OUT_FIELD(native, offset), GPUMEM_LOG_OUT_FIELD(native, image),
                       GPUMEM_LOG_OUT_FIELD(native, address));
}

static gpumem_result image_desc_get(gpumem_image handle, gpumem_image_desc *desc)
{
    gpumem_buffer_obj *b;
    gpumem_result r = gpumem_image_get(handle, &b);
    if (r != GPUMEM_OK)
        return r;
    if (!desc)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "desc is NULL");
    *desc = b->image->desc;
    desc->name = b->name;
    desc->user_data = b->user_data;
    return GPUMEM_OK;
}

gpumem_result gpumem_image_desc_get(gpumem_image image, gpumem_image_desc *desc)
{
    GPUMEM_LOGGED_CALL(image_desc_get(image, desc),
                       "image %#llx",
                       GPUMEM_LOG_HANDLE(image));
}

static gpumem_result image_layout_get(gpumem_image handle, uint32_t level,
                                      gpumem_image_layout *layout)
{
    gpumem_buffer_obj *b;
    gpumem_result r = gpumem_image_get(handle, &b);
    if (r != GPUMEM_OK)
        return r;
    const gpumem_image_obj *image = b->image;
    if (!layout)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "layout is NULL");
    if (level >= image->desc.mip_levels)
        return gpumem_fail(GPUMEM_ERROR_OUT_OF_RANGE, "mip level %u of an image of %u levels",
                           level, image->desc.mip_levels);
    if (image->native)
        return gpumem_fail(GPUMEM_ERROR_UNSUPPORTED,
                           "backend '%s' lays images out itself; their layout is its own",
                           b->pool->device->properties.backend);
    uint32_t w, h, d;
    gpumem_image_level_extent(image, level, &w, &h, &d);
    *layout = (gpumem_image_layout){
        .offset = image->level_offset[level],
        .size = image->slice_pitch[level] * d,
        .row_pitch = image->row_pitch[level],
        .slice_pitch = image->slice_pitch[level],
        .layer_pitch = image->layer_pitch,
    };
    return GPUMEM_OK;
}

gpumem_result gpumem_image_layout_get(gpumem_image image, uint32_t mip_level,
                                      gpumem_image_layout *layout)
{
    GPUMEM_LOGGED_CALL(image_layout_get(image, mip_level, layout),
                       "image %#llx, mip_level %llu" GPUMEM_LOG_OUTPUTS
                       "offset %llu, row_pitch %llu, slice_pitch %llu, layer_pitch %llu",
                       GPUMEM_LOG_HANDLE(image), (unsigned long long)(mip_level),
                       GPUMEM_LOG_OUT_FIELD(layout, offset),
                       GPUMEM_LOG_OUT_FIELD(layout, row_pitch),
                       GPUMEM_LOG_OUT_FIELD(layout, slice_pitch),
                       GPUMEM_LOG_OUT_FIELD(layout, layer_pitch));
}
