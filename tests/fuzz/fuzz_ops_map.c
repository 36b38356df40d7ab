/* Mapping: map and unmap (counted), host writes and reads through the mapping with flush and
 * invalidate where memory is not coherent, flush and invalidate with bad ranges; and the first
 * contents of new buffers. */
#include <string.h>

#include "fuzz_internal.h"

#define MAX_MAP_COUNT 4

static int host_visible(const fz_ctx *c, int buffer)
{
    return !!(c->pools[c->buffers[buffer].pool].memory_flags & GPUMEM_MEMORY_HOST_VISIBLE);
}

static int coherent(const fz_ctx *c, int buffer)
{
    return !!(c->pools[c->buffers[buffer].pool].memory_flags & GPUMEM_MEMORY_HOST_COHERENT);
}

/* Maps a buffer (checked); 1 when it is mapped. */
static int map_buffer(fz_ctx *c, int i, fz_expect faults, gpumem_buffer handle, int null_out)
{
    fz_buffer *b = &c->buffers[i];
    void *data = (void *)(uintptr_t)FZ_SENTINEL;
    if (!faults && !host_visible(c, i))
        faults = FZ_BIT(GPUMEM_ERROR_NOT_MAPPABLE);
    gpumem_result r = gpumem_buffer_map(handle, null_out ? NULL : &data);
    if (!fz_call(c, "gpumem_buffer_map", r, faults | (null_out ? FZ_ARG : 0), 0))
        return 0;
    if (r != GPUMEM_OK) {
        fz_untouched(c, "gpumem_buffer_map", (uint64_t)(uintptr_t)data);
        return 0;
    }
    if (!data)
        return fz_fail(c, "gpumem_buffer_map gave NULL");
    if (b->map_count && (uint8_t *)data != b->mapped)
        return fz_fail(c, "gpumem_buffer_map of buffer #%d, mapped %u times, gave %p after %p",
                       i, b->map_count, data, (void *)b->mapped);
    b->map_count++;
    b->mapped = data;
    return 1;
}

static int unmap_buffer(fz_ctx *c, int i)
{
    fz_buffer *b = &c->buffers[i];
    gpumem_result r = gpumem_buffer_unmap(b->handle);
    if (!fz_call(c, "gpumem_buffer_unmap", r, b->map_count ? 0 : FZ_BIT(GPUMEM_ERROR_BAD_STATE), 0))
        return 0;
    if (r == GPUMEM_OK && --b->map_count == 0)
        b->mapped = NULL;
    return 1;
}

void fz_op_map(fz_ctx *c)
{
    int i = fz_buffer_or_create(c);
    if (i < 0)
        return;
    if (c->buffers[i].map_count >= MAX_MAP_COUNT) {
        unmap_buffer(c, i);
        return;
    }
    fz_expect faults = 0;
    gpumem_buffer handle = fz_buffer_handle(c, i, 16, &faults);
    map_buffer(c, i, faults, handle, fz_chance(c, 1, 32));
}

void fz_op_unmap(fz_ctx *c)
{
    int i = fz_chance(c, 1, 8) ? fz_pick_buffer(c, -1) : fz_pick_mapped_buffer(c);
    if (fz_bad(c, 16)) {
        fz_expect faults = 0;
        gpumem_buffer handle = (gpumem_buffer)(uintptr_t)fz_bad_handle(c, FZ_BUFFER, &faults);
        fz_call(c, "gpumem_buffer_unmap", gpumem_buffer_unmap(handle), faults, 0);
        return;
    }
    if (i < 0) {
        fz_op_map(c);
        return;
    }
    unmap_buffer(c, i); /* BAD_STATE when it is not mapped */
}

/* A valid range of a buffer for host access. */
static void host_range(fz_ctx *c, uint64_t length, uint64_t *offset, uint64_t *size)
{
    uint64_t n;
    unsigned k = (unsigned)fz_below(c, 10);
    n = k < 5 ? 1 + fz_below(c, 64) : k < 8 ? 1 + fz_below(c, 4096) : k < 9 ? length
                                                                        : 1 + fz_below(c, length);
    if (n > length)
        n = length;
    if (n > (1u << 20) && !fz_chance(c, 1, 16))
        n = 1 + fz_below(c, 1u << 20);
    *size = n;
    *offset = fz_below(c, length - n + 1);
}

/* A mapped buffer with no stream work pending, or -1 (then one was mapped instead). */
static int mapped_ready(fz_ctx *c)
{
    int i = fz_pick_mapped_buffer(c);
    if (i < 0) {
        fz_op_map(c);
        return -1;
    }
    return fz_settle(c, i, -1) ? i : -1;
}

void fz_op_mapped_write(fz_ctx *c)
{
    int i = mapped_ready(c);
    if (i < 0)
        return;
    fz_buffer *b = &c->buffers[i];
    uint64_t offset, size;
    host_range(c, b->size, &offset, &size);
    fz_pattern(b->shadow + offset, size, fz_u32(c));
    /* The flush below writes whole atoms back: their other bytes must be the device's first. */
    if (!coherent(c, i) &&
        !fz_call(c, "gpumem_buffer_invalidate", gpumem_buffer_invalidate(b->handle, offset, size),
                 0, 0))
        return;
    memcpy(b->mapped + offset, b->shadow + offset, (size_t)size);
    if (!coherent(c, i) || fz_chance(c, 1, 4)) {
        gpumem_result r = gpumem_buffer_flush(b->handle, offset, size);
        fz_call(c, "gpumem_buffer_flush", r, 0, 0);
    }
}

void fz_op_mapped_read(fz_ctx *c)
{
    int i = mapped_ready(c);
    if (i < 0)
        return;
    fz_buffer *b = &c->buffers[i];
    uint64_t offset, size;
    host_range(c, b->size, &offset, &size);
    if (!coherent(c, i) || fz_chance(c, 1, 4)) {
        gpumem_result r = gpumem_buffer_invalidate(b->handle, offset, size);
        if (!fz_call(c, "gpumem_buffer_invalidate", r, 0, 0))
            return;
    }
    fz_compare(c, "a read through the mapping", i, offset, b->mapped + offset,
               b->shadow + offset, size);
}

/* Flush and invalidate with any range, on any buffer. */
void fz_op_flush(fz_ctx *c)
{
    int i = fz_buffer_or_create(c);
    if (i < 0)
        return;
    fz_buffer *b = &c->buffers[i];
    fz_expect faults = 0, resource = 0;
    uint64_t offset, size;
    host_range(c, b->size, &offset, &size);
    if (fz_chance(c, 1, 6)) {
        static const uint64_t offsets[] = {0, 1, UINT64_MAX - 3, 1ull << 63};
        offset = fz_chance(c, 1, 2) ? b->size + fz_below(c, 3) : FZ_PICK(c, offsets);
        size = fz_chance(c, 1, 4) ? 0 : fz_chance(c, 1, 2) ? b->size + 1 : 1ull << 63;
    }
    if (size == 0)
        faults |= FZ_ARG;
    if (offset > b->size || size > b->size - offset)
        faults |= FZ_RANGE;
    if (!host_visible(c, i))
        faults |= FZ_BIT(GPUMEM_ERROR_NOT_MAPPABLE);
    else if (!coherent(c, i) && !b->map_count &&
             !(c->pools[b->pool].flags & GPUMEM_POOL_PERSISTENT_MAP))
        faults |= FZ_BIT(GPUMEM_ERROR_BAD_STATE); /* gpumem.h: the buffer's own mapping */
    gpumem_buffer handle = fz_buffer_handle(c, i, 24, &faults);
    if (!faults && !fz_settle(c, i, -1))
        return;
    int flush = fz_chance(c, 1, 2);
    gpumem_result r = flush ? gpumem_buffer_flush(handle, offset, size)
                            : gpumem_buffer_invalidate(handle, offset, size);
    fz_call(c, flush ? "gpumem_buffer_flush" : "gpumem_buffer_invalidate", r, faults, resource);
}

/* --- the first contents of a new buffer --- */

int fz_buffer_initialize(fz_ctx *c, int i)
{
    fz_buffer *b = &c->buffers[i];
    uint32_t seed = fz_u32(c);
    unsigned method = (unsigned)fz_below(c, 6);
    gpumem_result r;
    if (method == 1 && (b->size & 3))
        method = 0;
    if (method == 3 && !host_visible(c, i))
        method = 0;
    if (method == 1) {
        fz_fill_pattern(b->shadow, b->size, seed);
        r = gpumem_buffer_fill(b->handle, 0, b->size, seed);
        return fz_call(c, "gpumem_buffer_fill", r, 0, 0);
    }
    fz_pattern(b->shadow, b->size, seed);
    if (method == 3) {
        if (!map_buffer(c, i, 0, b->handle, 0))
            return 0;
        /* gpumem.h: invalidate before writing part of an atom through a mapping. The buffer's
         * last atom is partial unless its size is a multiple of the atom; its other bytes hold
         * what the device last wrote there. Without this, simgpu sees a write of exactly the
         * garbage its host view holds as no write (one chance in 256 for a one-byte part). */
        if (!coherent(c, i) &&
            !fz_call(c, "gpumem_buffer_invalidate", gpumem_buffer_invalidate(b->handle, 0, b->size),
                     0, 0))
            return 0;
        memcpy(b->mapped, b->shadow, (size_t)b->size);
        if (!coherent(c, i)) {
            r = gpumem_buffer_flush(b->handle, 0, b->size);
            if (!fz_call(c, "gpumem_buffer_flush", r, 0, 0))
                return 0;
        }
        return fz_chance(c, 1, 4) || unmap_buffer(c, i); /* sometimes it stays mapped */
    }
    if (method >= 4) {
        /* On a stream: a fill of the first bytes (a multiple of 4), a write of the rest. */
        int s = fz_pick_stream(c, b->device);
        gpumem_stream stream = c->streams[s].handle;
        uint64_t head = b->size & ~3ull;
        if (method == 5 && head) {
            fz_fill_pattern(b->shadow, head, seed);
            r = gpumem_stream_fill(stream, b->handle, 0, head, seed);
            if (!fz_call(c, "gpumem_stream_fill", r, 0, 0))
                return 0;
        } else {
            head = 0;
        }
        if (head < b->size) {
            r = gpumem_stream_write(stream, b->handle, head, b->shadow + head, b->size - head);
            if (!fz_call(c, "gpumem_stream_write", r, 0, 0))
                return 0;
        }
        fz_note_stream_use(c, i, s);
        return 1;
    }
    r = gpumem_buffer_write(b->handle, 0, b->shadow, b->size);
    return fz_call(c, "gpumem_buffer_write", r, 0, 0);
}
