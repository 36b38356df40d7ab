/* Box transfers of images: between host memory and an image, and between two images. Pitched
 * images move row by row (rows that lie one after another on both sides in one piece) through
 * the buffers' transfer paths; the runtime's images move through staging chunks, in pieces of
 * whole slices, whole rows or parts of a row that fit a chunk, and from image to image with the
 * runtime's copy (through a chunk within one subresource, or without that copy). */
#include <string.h>

#include "call.h"
#include "host_copy.h"
#include "image.h"
#include "registration_cache.h"
#include "staging.h"
#include "transfer.h"
#include "transfer_registration.h"

/* A region checked against its image, with its defaults and host pitches filled in. */
typedef struct box {
    gpumem_image_region r;
    uint64_t row_bytes; /* width * texel size */
}
box;

static gpumem_result check_region(const gpumem_buffer_obj *b, const gpumem_image_region *region,
                                  const char *which, box *out)
{
    const gpumem_image_obj *image = b->image;
    if (!region)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "%s is NULL", which);
    gpumem_image_region r = *region;
    if (r.reserved)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "%s->reserved is %u; it must be 0",
                           which, r.reserved);
    r.layer_count = r.layer_count ? r.layer_count : 1;
    r.height = r.height ? r.height : 1;
    r.depth = r.depth ? r.depth : 1;
    if (r.width == 0)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "%s->width is 0", which);
    if (r.mip_level >= image->desc.mip_levels)
        return gpumem_fail(GPUMEM_ERROR_OUT_OF_RANGE, "%s: mip level %u of an image of %u levels",
                           which, r.mip_level, image->desc.mip_levels);
    uint32_t w, h, d;
    gpumem_image_level_extent(image, r.mip_level, &w, &h, &d);
    if ((uint64_t)r.x + r.width > w || (uint64_t)r.y + r.height > h ||
        (uint64_t)r.z + r.depth > d ||
        (uint64_t)r.base_layer + r.layer_count > image->desc.array_layers)
        return gpumem_fail(GPUMEM_ERROR_OUT_OF_RANGE,
                           "%s: box at (%u, %u, %u) of %ux%ux%u, layers %u+%u, outside level %u "
                           "of %ux%ux%u with %u layers",
                           which, r.x, r.y, r.z, r.width, r.height, r.depth, r.base_layer,
                           r.layer_count, r.mip_level, w, h, d, image->desc.array_layers);
    uint64_t row = (uint64_t)r.width * image->texel_size;
    if (r.host_row_pitch && r.host_row_pitch < row)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT,
                           "%s->host_row_pitch %llu is less than a row's %llu bytes", which,
                           (unsigned long long)r.host_row_pitch, (unsigned long long)row);
    r.host_row_pitch = r.host_row_pitch ? r.host_row_pitch : row;
    uint64_t slice;
    if (__builtin_mul_overflow(r.host_row_pitch, r.height, &slice))
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "%s: host slices pass 2^64 bytes",
                           which);
    if (r.host_slice_pitch && r.host_slice_pitch < slice)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT,
                           "%s->host_slice_pitch %llu is less than a slice's %llu bytes", which,
                           (unsigned long long)r.host_slice_pitch, (unsigned long long)slice);
    r.host_slice_pitch = r.host_slice_pitch ? r.host_slice_pitch : slice;
    uint64_t total;
    if (__builtin_mul_overflow(r.host_slice_pitch, (uint64_t)r.depth * r.layer_count, &total))
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "%s: host data passes 2^64 bytes",
                           which);
    *out = (box){r, row};
    return GPUMEM_OK;
}

/* Where row (layer, z, y) of the box starts on the host, from the data's first byte. */
static uint64_t host_row(const box *x, uint32_t layer, uint32_t z, uint32_t y)
{
    return ((uint64_t)layer * x->r.depth + z) * x->r.host_slice_pitch + y * x->r.host_row_pitch;
}

/* The host bytes the box's rows span, from the data's first byte to its last row's end; whether
 * other bytes lie between its rows. */
static uint64_t host_extent(const box *x, int *gaps)
{
    uint64_t extent =
        host_row(x, x->r.layer_count - 1u, x->r.depth - 1u, x->r.height - 1u) + x->row_bytes;
    *gaps = extent != x->row_bytes * x->r.height * x->r.depth * x->r.layer_count;
    return extent;
}

/* --- pitched images: rows through the buffers' paths --- */

/* Where row (layer, z, y) of the box starts in a pitched image, from its first byte. */
static uint64_t pitched_row(const gpumem_image_obj *image, const box *x, uint32_t layer,
                            uint32_t z, uint32_t y)
{
    uint32_t level = x->r.mip_level;
    return (uint64_t)(x->r.base_layer + layer) * image->layer_pitch + image->level_offset[level] +
           (uint64_t)(x->r.z + z) * image->slice_pitch[level] +
           (uint64_t)(x->r.y + y) * image->row_pitch[level] + (uint64_t)x->r.x * image->texel_size;
}

/* Rows of one slice that are contiguous in both places move as one piece: the whole slice
 * when the box spans the image's rows and the host's rows are as far apart. */
static uint32_t rows_per_piece(const gpumem_image_obj *image, const box *x, uint64_t other_pitch)
{
    uint64_t pitch = image->row_pitch[x->r.mip_level];
    return x->row_bytes == pitch && other_pitch == pitch ? x->r.height : 1;
}

static gpumem_result pitched_host(gpumem_stream_obj *stream, gpumem_buffer_obj *b, const box *x,
                                  char *data, int read, int by_cpu, int wait)
{
    uint32_t rows = rows_per_piece(b->image, x, x->r.host_row_pitch);
    gpumem_result r = GPUMEM_OK;
    for (uint32_t layer = 0; layer < x->r.layer_count && r == GPUMEM_OK; layer++)
        for (uint32_t z = 0; z < x->r.depth && r == GPUMEM_OK; z++)
            for (uint32_t y = 0; y < x->r.height && r == GPUMEM_OK; y += rows)
                r = gpumem_transfer_host_locked(stream, b, pitched_row(b->image, x, layer, z, y),
                                                data + host_row(x, layer, z, y),
                                                x->row_bytes * rows, read, by_cpu, wait);
    return r;
}

static gpumem_result pitched_copy(gpumem_stream_obj *stream, gpumem_buffer_obj *src,
                                  const box *from, gpumem_buffer_obj *dst, const box *to)
{
    uint32_t rows = rows_per_piece(src->image, from, dst->image->row_pitch[to->r.mip_level]);
    if (rows_per_piece(dst->image, to, src->image->row_pitch[from->r.mip_level]) != rows)
        rows = 1;
    gpumem_result r = GPUMEM_OK;
    for (uint32_t layer = 0; layer < from->r.layer_count && r == GPUMEM_OK; layer++)
        for (uint32_t z = 0; z < from->r.depth && r == GPUMEM_OK; z++)
            for (uint32_t y = 0; y < from->r.height && r == GPUMEM_OK; y += rows)
                r = gpumem_transfer_copy_locked(stream, src,
                                                pitched_row(src->image, from, layer, z, y), dst,
                                                pitched_row(dst->image, to, layer, z, y),
                                                from->row_bytes * rows);
    return r;
}

/* --- the runtime's images: pieces through staging chunks --- */

/* A box cut into a grid of pieces that each fit a chunk: several whole slices, several whole
 * rows of one slice, or part of one row. */
typedef struct pieces {
    uint32_t zstep, ystep, xstep;   /* a piece's largest extent */
    uint64_t nz, ny, nx;            /* pieces along each axis (per layer) */
} pieces;

static void cut(const box *x, uint32_t texel_size, uint64_t chunk, pieces *p)
{
    uint64_t slice = x->row_bytes * x->r.height;
    p->zstep = p->ystep = 1;
    p->xstep = x->r.width;
    if (slice <= chunk) {
        uint64_t z = chunk / slice;
        p->zstep = z < x->r.depth ? (uint32_t)z : x->r.depth;
        p->ystep = x->r.height;
    } else if (x->row_bytes <= chunk) {
        uint64_t y = chunk / x->row_bytes;
        p->ystep = y < x->r.height ? (uint32_t)y : x->r.height;
    } else {
        p->xstep = (uint32_t)(chunk / texel_size);
    }
    p->nz = (x->r.depth + p->zstep - 1) / p->zstep;
    p->ny = (x->r.height + p->ystep - 1) / p->ystep;
    p->nx = (x->r.width + p->xstep - 1) / p->xstep;
}

/* Piece i of a box: a region of the image (with the box's offsets added) and where its data
 * starts in the box (layer, z, y, x from the box's origin). */
typedef struct piece {
    gpumem_image_region region;
    uint32_t layer, z, y, x;
} piece;

static piece piece_of(const box *x, const pieces *p, uint64_t i)
{
    uint64_t xi = i % p->nx, yi = i / p->nx % p->ny, zi = i / p->nx / p->ny % p->nz;
    uint64_t layer = i / p->nx / p->ny / p->nz;
    piece c = {.layer = (uint32_t)layer,
               .z = (uint32_t)(zi * p->zstep),
               .y = (uint32_t)(yi * p->ystep),
               .x = (uint32_t)(xi * p->xstep)};
    c.region = (gpumem_image_region){
        .mip_level = x->r.mip_level,
        .base_layer = x->r.base_layer + c.layer,
        .layer_count = 1,
        .x = x->r.x + c.x,
        .y = x->r.y + c.y,
        .z = x->r.z + c.z,
        .width = p->xstep < x->r.width - c.x ? p->xstep : x->r.width - c.x,
        .height = p->ystep < x->r.height - c.y ? p->ystep : x->r.height - c.y,
        .depth = p->zstep < x->r.depth - c.z ? p->zstep : x->r.depth - c.z,
    };
    return c;
}

typedef struct image_job {
    gpumem_staging_job job;
    gpumem_device_obj *device;
    gpumem_backend_stream *stream;
    gpumem_buffer_obj *image;
    box box;
    pieces pieces;
    char *host;                 /* NULL: an image-to-image copy */
    gpumem_buffer_obj *target;  /* copies: the destination image and box */
    box target_box;
    int read;
} image_job;

static uint64_t job_bytes(const gpumem_staging_job *job, uint64_t i)
{
    const image_job *j = (const image_job *)job;
    piece c = piece_of(&j->box, &j->pieces, i);
    return (uint64_t)c.region.width * j->image->image->texel_size * c.region.height *
           c.region.depth;
}

/* Packs a piece into the chunk (write) or unpacks it (read), row by row. */
static void job_host(const gpumem_staging_job *job, uint64_t i, void *chunk)
{
    const image_job *j = (const image_job *)job;
    if (!j->host)
        return;
    piece c = piece_of(&j->box, &j->pieces, i);
    uint64_t row = (uint64_t)c.region.width * j->image->image->texel_size;
    char *packed = chunk;
    for (uint32_t z = 0; z < c.region.depth; z++)
        for (uint32_t y = 0; y < c.region.height; y++, packed += row) {
            char *host = j->host + host_row(&j->box, c.layer, c.z + z, c.y + y) +
                         (uint64_t)c.x * j->image->image->texel_size;
            if (j->read)
                gpumem_host_copy(host, packed, (size_t)row);
            else
                gpumem_host_copy(packed, host, (size_t)row);
        }
}

static gpumem_result job_device(const gpumem_staging_job *job, uint64_t i,
                                gpumem_backend_page *chunk)
{
    const image_job *j = (const image_job *)job;
    const gpumem_backend_vtable *ops = j->device->ops;
    gpumem_backend_device *native = j->device->native;
    piece c = piece_of(&j->box, &j->pieces, i);
    uint32_t w = c.region.width, h = c.region.height;
    if (j->read || !j->host) {
        gpumem_result r = ops->copy_image_to_page(native, j->stream, j->image->image->native,
                                                  &c.region, chunk, 0, w, h);
        if (r != GPUMEM_OK || j->host)
            return r;
        /* A copy: the piece goes on to the same place in the destination's box. */
        gpumem_image_region to = c.region;
        to.mip_level = j->target_box.r.mip_level;
        to.base_layer = j->target_box.r.base_layer + c.layer;
        to.x = j->target_box.r.x + c.x;
        to.y = j->target_box.r.y + c.y;
        to.z = j->target_box.r.z + c.z;
        return ops->copy_page_to_image(native, j->stream, chunk, 0, w, h,
                                       j->target->image->native, &to);
    }
    return ops->copy_page_to_image(native, j->stream, chunk, 0, w, h, j->image->image->native,
                                   &c.region);
}

static gpumem_result staged(gpumem_stream_obj *stream, gpumem_buffer_obj *b, const box *x,
                            char *host, int read, gpumem_buffer_obj *target, const box *to)
{
    gpumem_device_obj *device = stream->device;
    image_job j = {
        .job = {0, job_bytes, job_host, job_device},
        .device = device,
        .stream = stream->native,
        .image = b,
        .box = *x,
        .host = host,
        .target = target,
        .read = read,
    };
    if (to)
        j.target_box = *to;
    uint64_t chunk = gpumem_staging_chunk_size(device);
    if (chunk < b->image->texel_size) /* a device whose host-visible memory is that small */
        return gpumem_fail(GPUMEM_ERROR_UNSUPPORTED,
                           "the staging chunks (%llu bytes, bounded by the device's host-visible "
                           "memory) hold less than one texel of %u bytes",
                           (unsigned long long)chunk, b->image->texel_size);
    cut(x, b->image->texel_size, chunk, &j.pieces);
    j.job.count = j.pieces.nx * j.pieces.ny * j.pieces.nz * x->r.layer_count;
    return gpumem_staging_run(device, stream->native, &j.job, read,
                              !host ? "a staged image copy"
                              : read ? "a staged image read"
                                     : "a staged image write");
}

/* Images of these types may be copied into each other by the runtime: one type, or 2D and 3D
 * (Vulkan's vkCmdCopyImage allows no other pair; a 1D image goes through a staging chunk). */
static int copyable_types(uint32_t a, uint32_t b)
{
    return a == b || (a != GPUMEM_IMAGE_1D && b != GPUMEM_IMAGE_1D);
}

/* The runtime copies from image to image itself, except within one subresource and between
 * types it cannot copy between. */
static int direct_copy_allowed(const gpumem_device_obj *device, const gpumem_buffer_obj *src,
                               const box *from, const gpumem_buffer_obj *dst, const box *to)
{
    if (!device->ops->copy_image_to_image ||
        !copyable_types(src->image->desc.type, dst->image->desc.type))
        return 0;
    return src != dst || from->r.mip_level != to->r.mip_level ||
           from->r.base_layer >= to->r.base_layer + to->r.layer_count ||
           to->r.base_layer >= from->r.base_layer + from->r.layer_count;
}

static gpumem_result direct_copy(gpumem_stream_obj *stream, gpumem_buffer_obj *src,
                                 const box *from, gpumem_buffer_obj *dst, const box *to)
{
    gpumem_device_obj *device = stream->device;
    gpumem_result r = device->ops->copy_image_to_image(device->native, stream->native,
                                                       src->image->native, &from->r,
                                                       dst->image->native, &to->r);
    return r == GPUMEM_OK ? r : gpumem_fail_backend(r, "copy_image_to_image");
}

/* --- the calls --- */

static gpumem_result host_transfer(gpumem_stream_obj *stream, gpumem_buffer_obj *b,
                                   const gpumem_image_region *region, void *data, int read,
                                   int wait)
{
    box x;
    gpumem_result r = gpumem_transfer_same_device(stream, b);
    if (r == GPUMEM_OK)
        r = check_region(b, region, "region", &x);
    if (r == GPUMEM_OK)
        r = gpumem_transfer_check_host(data);
    if (r != GPUMEM_OK)
        return r;
    int inside = gpumem_transfer_registration_enter(stream->device); /* see transfer.c */
    gpumem_stream_obj *outer;
    if ((r = gpumem_transfer_enter(stream, &outer)) == GPUMEM_OK) {
        if (b->image->native) { /* staged: only the CPU copies the host's memory */
            r = staged(stream, b, &x, data, read, NULL, NULL);
        } else { /* the rows go the buffers' way, where the runtime may copy them */
            int gaps;
            uint64_t extent = host_extent(&x, &gaps);
            gpumem_queued_transfer queued;
            int by_cpu = gpumem_registration_cache_queue_begin(stream->device, data, extent,
                                                               gaps, &queued);
            r = pitched_host(stream, b, &x, data, read, by_cpu, wait);
            gpumem_registration_cache_queued(&queued);
        }
        r = gpumem_transfer_leave(stream, outer, r, wait || inside);
    }
    gpumem_transfer_registration_leave(stream->device);
    return r;
}

/* Two boxes of one image overlap when they share a level, a layer and a texel. */
static int overlap(const box *a, const box *b)
{
    const gpumem_image_region *p = &a->r, *q = &b->r;
    return p->mip_level == q->mip_level && p->base_layer < q->base_layer + q->layer_count &&
           q->base_layer < p->base_layer + p->layer_count && p->x < q->x + q->width &&
           q->x < p->x + p->width && p->y < q->y + q->height && q->y < p->y + p->height &&
           p->z < q->z + q->depth && q->z < p->z + p->depth;
}

static gpumem_result copy(gpumem_stream_obj *stream, gpumem_buffer_obj *src,
                          const gpumem_image_region *region, gpumem_buffer_obj *dst,
                          const gpumem_image_region *destination, int wait)
{
    box from, to;
    gpumem_result r = gpumem_transfer_same_device(stream, src);
    if (r == GPUMEM_OK)
        r = gpumem_transfer_same_device(stream, dst);
    /* Host pitches first: check_region would judge them as a transfer's. */
    for (int i = 0; r == GPUMEM_OK && i < 2; i++) {
        const gpumem_image_region *g = i ? destination : region;
        if (g && (g->host_row_pitch || g->host_slice_pitch))
            r = gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT,
                            "a copy between images has no host data: host pitches must be 0");
    }
    if (r == GPUMEM_OK)
        r = check_region(src, region, "region", &from);
    if (r != GPUMEM_OK)
        return r;
    if (!destination)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "destination_region is NULL");
    gpumem_image_region d = *destination;
    /* The extent is the source's; the destination's may repeat it or be 0. */
    const uint32_t *given[] = {&d.width, &d.height, &d.depth, &d.layer_count};
    const uint32_t wanted[] = {from.r.width, from.r.height, from.r.depth, from.r.layer_count};
    static const char *const names[] = {"width", "height", "depth", "layer_count"};
    for (int i = 0; i < 4; i++)
        if (*given[i] && *given[i] != wanted[i])
            return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT,
                               "destination_region->%s is %u; the source's is %u", names[i],
                               *given[i], wanted[i]);
    d.width = from.r.width;
    d.height = from.r.height;
    d.depth = from.r.depth;
    d.layer_count = from.r.layer_count;
    if ((r = check_region(dst, &d, "destination_region", &to)) != GPUMEM_OK)
        return r;
    if (src->image->texel_size != dst->image->texel_size)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT,
                           "the images' texels have %u and %u bytes; copies need one size",
                           src->image->texel_size, dst->image->texel_size);
    if (src == dst && overlap(&from, &to))
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "source and destination boxes overlap");
    gpumem_stream_obj *outer;
    if ((r = gpumem_transfer_enter(stream, &outer)) != GPUMEM_OK)
        return r;
    r = !src->image->native ? pitched_copy(stream, src, &from, dst, &to)
        : direct_copy_allowed(stream->device, src, &from, dst, &to)
            ? direct_copy(stream, src, &from, dst, &to)
            : staged(stream, src, &from, NULL, 0, dst, &to);
    return gpumem_transfer_leave(stream, outer, r, wait);
}

/* A transfer between host memory and an image, on a stream or (NULL) on the default one,
 * waited for. */
static gpumem_result any_host(gpumem_stream stream_handle, gpumem_image image,
                              const gpumem_image_region *region, void *data, int read)
{
    gpumem_stream_obj *stream = NULL;
    gpumem_buffer_obj *b;
    gpumem_result r = stream_handle ? gpumem_stream_get(stream_handle, &stream) : GPUMEM_OK;
    if (r == GPUMEM_OK)
        r = gpumem_image_transfer_begin(image, read ? "a read from" : "a write into", &b);
    if (r != GPUMEM_OK)
        return r;
    r = host_transfer(stream ? stream : b->pool->device->default_stream, b, region, data, read,
                      !stream);
    gpumem_image_transfer_end(b);
    return r;
}

/* A copy on a stream, or (NULL) on the default stream, waited for. */
static gpumem_result any_copy(gpumem_stream stream_handle, gpumem_image source,
                              const gpumem_image_region *region, gpumem_image destination,
                              const gpumem_image_region *destination_region)
{
    gpumem_buffer_obj *src, *dst;
    gpumem_stream_obj *stream = NULL;
    gpumem_result r = stream_handle ? gpumem_stream_get(stream_handle, &stream) : GPUMEM_OK;
    if (r == GPUMEM_OK)
        r = gpumem_image_transfer_begin(source, "a copy from", &src);
    if (r != GPUMEM_OK)
        return r;
    if ((r = gpumem_image_transfer_begin(destination, "a copy into", &dst)) == GPUMEM_OK) {
        r = copy(stream ? stream : src->pool->device->default_stream, src, region, dst,
                 destination_region, !stream);
        gpumem_image_transfer_end(dst);
    }
    gpumem_image_transfer_end(src);
    return r;
}

/* The log's picture of a region (gpumem_call_log). */
#define REGION_FORMAT "{level %llu, layers %llu+%llu, at (%llu, %llu, %llu), %llux%llux%llu}"
#define REGION_ARGS(region)                                                                   \
    GPUMEM_LOG_FIELD(region, mip_level), GPUMEM_LOG_FIELD(region, base_layer),               \
        GPUMEM_LOG_FIELD(region, layer_count), GPUMEM_LOG_FIELD(region, x),                  \
        GPUMEM_LOG_FIELD(region, y), GPUMEM_LOG_FIELD(region, z),                            \
        GPUMEM_LOG_FIELD(region, width), GPUMEM_LOG_FIELD(region, height),                   \
        GPUMEM_LOG_FIELD(region, depth)
#define TARGET_FORMAT "at (%llu, %llu, %llu) of level %llu, layer %llu"
#define TARGET_ARGS(region)                                                                   \
    GPUMEM_LOG_FIELD(region, x), GPUMEM_LOG_FIELD(region, y), GPUMEM_LOG_FIELD(region, z),   \
        GPUMEM_LOG_FIELD(region, mip_level), GPUMEM_LOG_FIELD(region, base_layer)

gpumem_result gpumem_image_write(gpumem_image image, const gpumem_image_region *region,
                                 const void *data)
{
    GPUMEM_LOGGED_CALL(any_host(NULL, image, region, (void *)(uintptr_t)data, 0),
                       "image %#llx, region " REGION_FORMAT ", data %p",
                       GPUMEM_LOG_HANDLE(image), REGION_ARGS(region), data);
}

gpumem_result gpumem_image_read(gpumem_image image, const gpumem_image_region *region,
                                void *data)
{
    GPUMEM_LOGGED_CALL(any_host(NULL, image, region, data, 1),
                       "image %#llx, region " REGION_FORMAT ", data %p",
                       GPUMEM_LOG_HANDLE(image), REGION_ARGS(region), data);
}

gpumem_result gpumem_image_copy(gpumem_image source, const gpumem_image_region *region,
                                gpumem_image destination,
                                const gpumem_image_region *destination_region)
{
    GPUMEM_LOGGED_CALL(any_copy(NULL, source, region, destination, destination_region),
                       "source %#llx, region " REGION_FORMAT ", destination %#llx, "
                       TARGET_FORMAT,
                       GPUMEM_LOG_HANDLE(source), REGION_ARGS(region),
                       GPUMEM_LOG_HANDLE(destination), TARGET_ARGS(destination_region));
}

gpumem_result gpumem_stream_image_write(gpumem_stream stream, gpumem_image image,
                                        const gpumem_image_region *region, const void *data)
{
    GPUMEM_LOGGED_CALL(stream ? any_host(stream, image, region, (void *)(uintptr_t)data, 0)
                              : gpumem_stream_missing(),
                       "stream %#llx, image %#llx, region " REGION_FORMAT ", data %p",
                       GPUMEM_LOG_HANDLE(stream), GPUMEM_LOG_HANDLE(image), REGION_ARGS(region),
                       data);
}

gpumem_result gpumem_stream_image_read(gpumem_stream stream, gpumem_image image,
                                       const gpumem_image_region *region, void *data)
{
    GPUMEM_LOGGED_CALL(stream ? any_host(stream, image, region, data, 1) : gpumem_stream_missing(),
                       "stream %#llx, image %#llx, region " REGION_FORMAT ", data %p",
                       GPUMEM_LOG_HANDLE(stream), GPUMEM_LOG_HANDLE(image), REGION_ARGS(region),
                       data);
}

gpumem_result gpumem_stream_image_copy(gpumem_stream stream, gpumem_image source,
                                       const gpumem_image_region *region,
                                       gpumem_image destination,
                                       const gpumem_image_region *destination_region)
{
    GPUMEM_LOGGED_CALL(stream ? any_copy(stream, source, region, destination, destination_region)
                              : gpumem_stream_missing(),
                       "stream %#llx, source %#llx, region " REGION_FORMAT ", destination %#llx, "
                       TARGET_FORMAT,
                       GPUMEM_LOG_HANDLE(stream), GPUMEM_LOG_HANDLE(source), REGION_ARGS(region),
                       GPUMEM_LOG_HANDLE(destination), TARGET_ARGS(destination_region));
}
