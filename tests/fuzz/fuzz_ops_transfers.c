/* Transfers: write, read, copy and fill, synchronous and on streams, with ranges that are mostly
 * valid and small and sometimes empty, out of range, overflowing, misaligned or overlapping. The
 * shadow takes every accepted transfer when it is issued; reads are compared with it. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_internal.h"

/* --- ranges --- */

/* A valid size for a transfer into `length` bytes: mostly small, whole buffers sometimes, more
 * than a MiB rarely. */
static uint64_t random_length(fz_ctx *c, uint64_t length)
{
    uint64_t n;
    unsigned k = (unsigned)fz_below(c, 100);
    if (k < 45)
        n = 1 + fz_below(c, 64);
    else if (k < 70)
        n = 1 + fz_below(c, 4096);
    else if (k < 82)
        n = 1 + fz_below(c, 65536);
    else if (k < 92)
        n = length;
    else
        n = 1 + fz_below(c, length);
    if (n > length)
        n = length;
    if (n > (1u << 20) && !fz_chance(c, 1, 16))
        n = 1 + fz_below(c, 1u << 20);
    return n;
}

/* What a range of a buffer of `length` bytes calls for: size 0 is an invalid argument, a range
 * past the end (overflow included) out of range; fills need multiples of 4. */
static fz_expect range_faults(uint64_t length, uint64_t offset, uint64_t size, int fill)
{
    fz_expect faults = 0;
    if (size == 0)
        faults |= FZ_ARG;
    if (offset > length || size > length - offset)
        faults |= FZ_RANGE;
    if (fill && ((offset | size) & 3))
        faults |= FZ_ARG;
    return faults;
}

/* A range, valid most of the time; *faults gets what it calls for. */
static void random_range(fz_ctx *c, uint64_t length, int fill, uint64_t *offset, uint64_t *size,
                         fz_expect *faults)
{
    uint64_t n = random_length(c, length);
    uint64_t off = fz_chance(c, 1, 8) ? length - n : fz_below(c, length - n + 1);
    if (fill) {
        off &= ~3ull;
        n &= ~3ull;
        if (n == 0)
            n = 4;
        if (off + n > length && length >= 4)
            off = (length - 4) & ~3ull;
    }
    if (fz_chance(c, 1, 10)) {
        switch (fz_below(c, 8)) {
        case 0: n = 0; break;
        case 1: off = length, n = 1 + fz_below(c, 64); break;
        case 2: off = 0, n = length + 1 + fz_below(c, 64); break;
        case 3: off = length - 1, n = 2 + fz_below(c, 64); break;
        case 4: off = UINT64_MAX - fz_below(c, 16), n = 1 + fz_below(c, 16); break;
        case 5: off = 4, n = UINT64_MAX - 3; break;
        case 6: off = 1ull << 63, n = 1ull << 63; break;
        default:
            if (fill) { /* a misaligned fill */
                if (fz_chance(c, 1, 2))
                    off += 1 + fz_below(c, 3);
                else
                    n += 1 + fz_below(c, 3);
            } else {
                off = UINT64_MAX - 3, n = 8; /* offset + size wraps to 4 */
            }
            break;
        }
    }
    *offset = off;
    *size = n;
    *faults |= range_faults(length, off, n, fill);
}

/* --- the objects of a transfer --- */

typedef struct transfer {
    int stream;              /* the stream the work runs on (the default one when synchronous) */
    gpumem_stream stream_handle;
    int buffer;
    gpumem_buffer buffer_handle;
    fz_expect faults;
} transfer;

/* A buffer, and for stream forms a stream: usually of one device, sometimes not (an invalid
 * argument), sometimes with bad handles. 0 when there is no buffer yet (one is made instead). */
static int choose(fz_ctx *c, int on_stream, transfer *t)
{
    memset(t, 0, sizeof *t);
    t->buffer = fz_buffer_or_create(c);
    if (t->buffer < 0)
        return 0;
    int device = c->buffers[t->buffer].device;
    t->buffer_handle = c->buffers[t->buffer].handle;
    t->stream = c->devices[device].default_stream;
    if (on_stream) {
        int other = -1;
        if (c->force_cross || fz_chance(c, 1, 40))
            for (int d = 0; d < FZ_MAX_DEVICES && other < 0; d++)
                if (d != device && c->devices[d].live)
                    other = fz_pick_stream(c, d);
        if (other >= 0)
            t->stream = other, t->faults |= FZ_ARG;
        else
            t->stream = fz_pick_stream(c, device);
        t->stream_handle = c->streams[t->stream].handle;
        if (fz_bad(c, 40))
            t->stream_handle = (gpumem_stream)(uintptr_t)fz_bad_handle(c, FZ_STREAM, &t->faults);
    }
    if (fz_bad(c, 40))
        t->buffer_handle = (gpumem_buffer)(uintptr_t)fz_bad_handle(c, FZ_BUFFER, &t->faults);
    return 1;
}

/* Before a call that will be accepted: no other stream's work pending on the buffer. */
static int settle(fz_ctx *c, const transfer *t)
{
    return fz_settle(c, t->buffer, t->stream);
}

static void after(fz_ctx *c, int on_stream, const transfer *t)
{
    if (on_stream)
        fz_note_stream_use(c, t->buffer, t->stream);
}

/* --- write --- */

void fz_op_write(fz_ctx *c, int on_stream)
{
    transfer t;
    if (!choose(c, on_stream, &t))
        return;
    fz_buffer *b = &c->buffers[t.buffer];
    uint64_t offset, size;
    random_range(c, b->size, 0, &offset, &size, &t.faults);
    uint8_t *data = c->scratch;
    int null_data = fz_chance(c, 1, 40);
    if (null_data)
        data = NULL, t.faults |= FZ_ARG;
    uint32_t seed = fz_u32(c);
    if (!t.faults) {
        fz_pattern(data, size, seed);
        if (!settle(c, &t))
            return;
    }
    gpumem_result r =
        on_stream ? gpumem_stream_write(t.stream_handle, t.buffer_handle, offset, data, size)
                  : gpumem_buffer_write(t.buffer_handle, offset, data, size);
    if (!fz_call(c, on_stream ? "gpumem_stream_write" : "gpumem_buffer_write", r, t.faults, 0) ||
        t.faults)
        return;
    memcpy(b->shadow + offset, data, (size_t)size);
    after(c, on_stream, &t);
    /* The write has consumed the data when it returns: change it, and later reads show
     * whether anything was taken from it afterwards. */
    for (uint64_t i = 0; i < size; i++)
        data[i] = (uint8_t)~data[i];
}

/* --- read --- */

static void sync_all_reads(fz_ctx *c)
{
    for (int s = 0; s < FZ_MAX_STREAMS && !fz_failed(c); s++)
        if (c->streams[s].live && c->streams[s].read_count)
            fz_sync(c, s);
}

void fz_op_read(fz_ctx *c, int on_stream)
{
    transfer t;
    if (!choose(c, on_stream, &t))
        return;
    fz_buffer *b = &c->buffers[t.buffer];
    uint64_t offset, size;
    random_range(c, b->size, 0, &offset, &size, &t.faults);
    uint8_t *data = c->scratch;
    if (fz_chance(c, 1, 40))
        data = NULL, t.faults |= FZ_ARG;
    const char *function = on_stream ? "gpumem_stream_read" : "gpumem_buffer_read";
    if (t.faults) {
        /* Refused: the host memory (its first bytes, at least) stays as it was. */
        if (data)
            memset(data, 0xa5, 64);
        gpumem_result r =
            on_stream ? gpumem_stream_read(t.stream_handle, t.buffer_handle, offset, data, size)
                      : gpumem_buffer_read(t.buffer_handle, offset, data, size);
        if (!fz_call(c, function, r, t.faults, 0) || !data)
            return;
        for (int i = 0; i < 64; i++)
            if (data[i] != 0xa5) {
                fz_fail(c, "a refused %s wrote its host memory", function);
                break;
            }
        return;
    }
    if (!settle(c, &t))
        return;
    if (on_stream) {
        if (c->pending_bytes + size > FZ_MAX_PENDING_BYTES)
            sync_all_reads(c);
        if (fz_failed(c) || !fz_add_read(c, t.stream, t.buffer, offset, size, &data))
            return;
        gpumem_result r = gpumem_stream_read(t.stream_handle, t.buffer_handle, offset, data, size);
        int ok = fz_call(c, function, r, 0, 0);
        if (fz_read_issued(c, t.stream, ok && r == GPUMEM_OK) && ok)
            after(c, on_stream, &t);
        return;
    }
    const uint8_t *expected = b->shadow + offset;
    for (uint64_t i = 0; i < size; i++)
        data[i] = (uint8_t)~expected[i];
    fz_guard_set(data + size);
    gpumem_result r = gpumem_buffer_read(t.buffer_handle, offset, data, size);
    if (fz_call(c, function, r, 0, 0) && fz_guard_ok(c, function, data + size))
        fz_compare(c, "gpumem_buffer_read", t.buffer, offset, data, expected, size);
}

/* --- copy --- */

/* Two ranges of one buffer that do not overlap, or that do (an invalid argument). */
static void same_buffer_ranges(fz_ctx *c, uint64_t length, uint64_t *source, uint64_t *dest,
                               uint64_t *size)
{
    if (length < 2 || fz_chance(c, 1, 10)) {
        /* overlapping: the destination starts inside the source or the other way round */
        uint64_t n = 1 + fz_below(c, length < 64 ? length : 64);
        uint64_t a = fz_below(c, length - n + 1);
        uint64_t shift = fz_below(c, n);
        uint64_t b = a + shift + n <= length ? a + shift : a - (shift <= a ? shift : a);
        *source = a, *dest = b, *size = n;
        if (fz_chance(c, 1, 2))
            *source = b, *dest = a;
        return;
    }
    uint64_t n = random_length(c, length / 2);
    uint64_t free = length - 2 * n;
    uint64_t x = fz_below(c, free + 1);
    uint64_t y = fz_below(c, free - x + 1);
    uint64_t first = x, second = x + n + y;
    *size = n;
    if (fz_chance(c, 1, 2))
        *source = first, *dest = second;
    else
        *source = second, *dest = first;
}

void fz_op_copy(fz_ctx *c, int on_stream)
{
    transfer t;
    if (!choose(c, on_stream, &t))
        return;
    int src = t.buffer, dst;
    int device = c->buffers[src].device;
    gpumem_buffer dst_handle;
    fz_expect faults = t.faults;
    uint64_t src_offset, dst_offset, size;
    if (!c->force_cross && fz_chance(c, 1, 4)) {
        dst = src;
        same_buffer_ranges(c, c->buffers[src].size, &src_offset, &dst_offset, &size);
    } else {
        dst = -1;
        if (c->force_cross || fz_chance(c, 1, 40))
            for (int d = 0; d < FZ_MAX_DEVICES && dst < 0; d++)
                if (d != device && c->devices[d].live)
                    dst = fz_pick_buffer(c, d);
        if (dst >= 0)
            faults |= FZ_ARG; /* buffers of two devices */
        else
            dst = fz_pick_buffer(c, device);
        uint64_t limit = c->buffers[src].size < c->buffers[dst].size ? c->buffers[src].size
                                                                      : c->buffers[dst].size;
        size = random_length(c, limit);
        src_offset = fz_below(c, c->buffers[src].size - size + 1);
        dst_offset = fz_below(c, c->buffers[dst].size - size + 1);
    }
    dst_handle = c->buffers[dst].handle;
    if (fz_chance(c, 1, 12)) { /* a bad range on one side */
        uint64_t *offset = fz_chance(c, 1, 2) ? &src_offset : &dst_offset;
        uint64_t length = offset == &src_offset ? c->buffers[src].size : c->buffers[dst].size;
        fz_expect ignored = 0;
        random_range(c, length, 0, offset, &size, &ignored);
    }
    fz_expect range = range_faults(c->buffers[src].size, src_offset, size, 0) |
                      range_faults(c->buffers[dst].size, dst_offset, size, 0);
    /* Overlapping ranges of one buffer (where both are in it) are an invalid argument. */
    if (dst == src && !range && src_offset < dst_offset + size && dst_offset < src_offset + size)
        range |= FZ_ARG;
    faults |= range;
    if (fz_bad(c, 40))
        dst_handle = (gpumem_buffer)(uintptr_t)fz_bad_handle(c, FZ_BUFFER, &faults);
    if (!faults && (!settle(c, &t) || !fz_settle(c, dst, t.stream)))
        return;
    gpumem_result r = on_stream ? gpumem_stream_copy(t.stream_handle, t.buffer_handle, src_offset,
                                                     dst_handle, dst_offset, size)
                                : gpumem_buffer_copy(t.buffer_handle, src_offset, dst_handle,
                                                     dst_offset, size);
    if (!fz_call(c, on_stream ? "gpumem_stream_copy" : "gpumem_buffer_copy", r, faults, 0) ||
        faults)
        return;
    memmove(c->buffers[dst].shadow + dst_offset, c->buffers[src].shadow + src_offset,
            (size_t)size);
    after(c, on_stream, &t);
    if (on_stream)
        fz_note_stream_use(c, dst, t.stream);
}

/* --- fill --- */

void fz_op_fill(fz_ctx *c, int on_stream)
{
    transfer t;
    if (!choose(c, on_stream, &t))
        return;
    fz_buffer *b = &c->buffers[t.buffer];
    uint64_t offset, size;
    random_range(c, b->size, 1, &offset, &size, &t.faults);
    static const uint32_t patterns[] = {0, 0xffffffffu, 0x01020304u, 0x80000001u};
    uint32_t pattern = fz_chance(c, 1, 4) ? patterns[fz_below(c, 4)] : fz_u32(c);
    if (!t.faults && !settle(c, &t))
        return;
    gpumem_result r =
        on_stream ? gpumem_stream_fill(t.stream_handle, t.buffer_handle, offset, size, pattern)
                  : gpumem_buffer_fill(t.buffer_handle, offset, size, pattern);
    if (!fz_call(c, on_stream ? "gpumem_stream_fill" : "gpumem_buffer_fill", r, t.faults, 0) ||
        t.faults)
        return;
    fz_fill_pattern(b->shadow + offset, size, pattern);
    after(c, on_stream, &t);
}
