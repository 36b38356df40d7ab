/* The shadow model's bookkeeping: choosing objects, bad handles, pending stream work and reads,
 * and forgetting what the library destroyed. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_internal.h"

/* --- choosing live objects --- */

static int live_at(const fz_ctx *c, int kind, int i)
{
    switch (kind) {
    case FZ_DEVICE: return i < FZ_MAX_DEVICES && c->devices[i].live;
    case FZ_POOL: return i < FZ_MAX_POOLS && c->pools[i].live;
    case FZ_BUFFER: return i < FZ_MAX_BUFFERS && c->buffers[i].live;
    case FZ_STREAM: return i < FZ_MAX_STREAMS && c->streams[i].live;
    default: return i < FZ_MAX_VBLOCKS && c->vblocks[i].live;
    }
}

static int capacity_of(int kind)
{
    static const int capacity[FZ_KIND_COUNT] = {FZ_MAX_DEVICES, FZ_MAX_POOLS, FZ_MAX_BUFFERS,
                                                FZ_MAX_STREAMS, FZ_MAX_VBLOCKS};
    return capacity[kind];
}

static uint64_t handle_at(const fz_ctx *c, int kind, int i)
{
    switch (kind) {
    case FZ_DEVICE: return (uint64_t)(uintptr_t)c->devices[i].handle;
    case FZ_POOL: return (uint64_t)(uintptr_t)c->pools[i].handle;
    case FZ_BUFFER: return (uint64_t)(uintptr_t)c->buffers[i].handle;
    case FZ_STREAM: return (uint64_t)(uintptr_t)c->streams[i].handle;
    default: return (uint64_t)(uintptr_t)c->vblocks[i].handle;
    }
}

int fz_count_live(const fz_ctx *c, int kind)
{
    int n = 0;
    for (int i = 0; i < capacity_of(kind); i++)
        n += live_at(c, kind, i);
    return n;
}

int fz_free_slot(const fz_ctx *c, int kind)
{
    for (int i = 0; i < capacity_of(kind); i++)
        if (!live_at(c, kind, i))
            return i;
    return -1;
}

/* The device an object belongs to (vblocks: none). */
static int device_of(const fz_ctx *c, int kind, int i)
{
    switch (kind) {
    case FZ_DEVICE: return i;
    case FZ_POOL: return c->pools[i].device;
    case FZ_BUFFER: return c->buffers[i].device;
    case FZ_STREAM: return c->streams[i].device;
    default: return -1;
    }
}

/* A random live object of `kind` that passes `want`, or -1. */
static int pick(fz_ctx *c, int kind, int device, int (*want)(const fz_ctx *, int))
{
    int candidates[FZ_MAX_BUFFERS];
    int n = 0;
    for (int i = 0; i < capacity_of(kind); i++)
        if (live_at(c, kind, i) && (device < 0 || device_of(c, kind, i) == device) &&
            (!want || want(c, i)))
            candidates[n++] = i;
    return n ? candidates[fz_below(c, (uint64_t)n)] : -1;
}

int fz_pick_device(fz_ctx *c)
{
    return pick(c, FZ_DEVICE, -1, NULL);
}

int fz_pick_pool(fz_ctx *c, int device)
{
    return pick(c, FZ_POOL, device, NULL);
}

int fz_pick_buffer(fz_ctx *c, int device)
{
    return pick(c, FZ_BUFFER, device, NULL);
}

static int is_mapped(const fz_ctx *c, int i)
{
    return c->buffers[i].map_count > 0;
}

int fz_pick_mapped_buffer(fz_ctx *c)
{
    return pick(c, FZ_BUFFER, -1, is_mapped);
}

int fz_pick_stream(fz_ctx *c, int device)
{
    return pick(c, FZ_STREAM, device, NULL);
}

static int is_created(const fz_ctx *c, int i)
{
    return !c->streams[i].is_default;
}

int fz_pick_created_stream(fz_ctx *c)
{
    return pick(c, FZ_STREAM, -1, is_created);
}

int fz_pick_vblock(fz_ctx *c)
{
    return pick(c, FZ_VBLOCK, -1, NULL);
}

/* --- bad handles --- */

void fz_stale_push(fz_ctx *c, int kind, uint64_t handle)
{
    c->stale[kind][c->stale_next[kind]] = handle;
    c->stale_next[kind] = (c->stale_next[kind] + 1) % FZ_STALE;
    if (c->stale_count[kind] < FZ_STALE)
        c->stale_count[kind]++;
}

/* A live handle of some kind other than `kind`, or 0. */
static uint64_t other_kind(fz_ctx *c, int kind)
{
    int start = (int)fz_below(c, FZ_KIND_COUNT);
    for (int k = 0; k < FZ_KIND_COUNT; k++) {
        int other = (start + k) % FZ_KIND_COUNT;
        if (other == kind)
            continue;
        int i = pick(c, other, -1, NULL);
        if (i >= 0)
            return handle_at(c, other, i);
    }
    return 0;
}

uint64_t fz_bad_handle(fz_ctx *c, int kind, fz_expect *faults)
{
    int live = pick(c, kind, -1, NULL);
    uint64_t h;
    switch (fz_below(c, 10)) {
    case 0:
        h = 0;
        break;
    case 1:
        h = 0xdeadbeef12345678ull; /* a slot far beyond any the run makes */
        break;
    case 2:
        h = fz_chance(c, 1, 2) ? UINT64_MAX : 0xdeadbeef00000000ull; /* index -1 */
        break;
    case 3:
        /* a slot with a generation it will not reach in this run (2^30 more, or 2^31 - 1) */
        h = live >= 0 ? handle_at(c, kind, live) + (1ull << 62) : 0x7fffffffull << 32 | 77;
        break;
    case 4:
        /* generation 0, which no handle has */
        h = live >= 0 ? handle_at(c, kind, live) & 0xffffffffull : 5;
        break;
    case 5:
    case 6:
        h = other_kind(c, kind);
        break;
    default:
        if (c->stale_count[kind]) {
            *faults |= FZ_DESTROYED;
            return c->stale[kind][fz_below(c, c->stale_count[kind])];
        }
        h = 0;
        break;
    }
    *faults |= FZ_HANDLE;
    return h;
}

int fz_bad(fz_ctx *c, unsigned den)
{
    return c->force_bad || fz_chance(c, 1, den);
}

/* --- stream work and reads --- */

static int check_read(fz_ctx *c, fz_read *r)
{
    if (!fz_guard_ok(c, "gpumem_stream_read", r->dest + r->size))
        return 0;
    return fz_compare(c, "stream read", r->buffer, r->offset, r->dest, r->expected, r->size);
}

int fz_finish_reads(fz_ctx *c, int stream)
{
    fz_stream *s = &c->streams[stream];
    int ok = 1;
    for (size_t i = 0; i < s->read_count; i++) {
        if (ok && !check_read(c, &s->reads[i]))
            ok = 0;
        free(s->reads[i].dest);
        free(s->reads[i].expected);
    }
    c->pending_bytes -= s->read_bytes;
    s->read_count = 0;
    s->read_bytes = 0;
    return ok;
}

int fz_sync(fz_ctx *c, int stream)
{
    fz_stream *s = &c->streams[stream];
    gpumem_result r = gpumem_stream_synchronize(s->handle);
    if (!fz_call(c, "gpumem_stream_synchronize", r, 0, 0))
        return 0;
    return fz_stream_done(c, stream);
}

int fz_stream_done(fz_ctx *c, int stream)
{
    for (int i = 0; i < FZ_MAX_BUFFERS; i++)
        if (c->buffers[i].live && c->buffers[i].pending == stream)
            c->buffers[i].pending = -1;
    return fz_finish_reads(c, stream);
}

int fz_settle(fz_ctx *c, int buffer, int stream)
{
    int pending = c->buffers[buffer].pending;
    if (pending < 0 || pending == stream)
        return 1;
    return fz_sync(c, pending);
}

void fz_note_stream_use(fz_ctx *c, int buffer, int stream)
{
    c->buffers[buffer].pending = stream;
}

int fz_add_read(fz_ctx *c, int stream, int buffer, uint64_t offset, uint64_t size,
                uint8_t **dest)
{
    fz_stream *s = &c->streams[stream];
    if (s->read_count == s->read_capacity) {
        size_t capacity = s->read_capacity ? s->read_capacity * 2 : 16;
        fz_read *bigger = realloc(s->reads, capacity * sizeof *bigger);
        if (!bigger)
            return fz_fail(c, "the model ran out of host memory");
        s->reads = bigger;
        s->read_capacity = capacity;
    }
    fz_read *r = &s->reads[s->read_count];
    r->dest = malloc((size_t)size + FZ_GUARD);
    r->expected = malloc((size_t)size);
    if (!r->dest || !r->expected) {
        free(r->dest);
        free(r->expected);
        return fz_fail(c, "the model ran out of host memory");
    }
    const uint8_t *shadow = c->buffers[buffer].shadow + offset;
    memcpy(r->expected, shadow, (size_t)size);
    /* Every byte starts different from what the read must bring. */
    for (uint64_t i = 0; i < size; i++)
        r->dest[i] = (uint8_t)~shadow[i];
    fz_guard_set(r->dest + size);
    r->size = size;
    r->offset = offset;
    r->op = c->op;
    r->buffer = buffer;
    *dest = r->dest;
    return 1;
}

/* Registers a read the call accepted (fz_add_read made its memory). */
static void keep_read(fz_ctx *c, int stream)
{
    fz_stream *s = &c->streams[stream];
    s->read_bytes += s->reads[s->read_count].size;
    c->pending_bytes += s->reads[s->read_count].size;
    s->read_count++;
}

/* A read the call refused: its memory must be untouched. */
static int drop_read(fz_ctx *c, int stream)
{
    fz_stream *s = &c->streams[stream];
    fz_read *r = &s->reads[s->read_count];
    int ok = fz_guard_ok(c, "a refused gpumem_stream_read", r->dest + r->size);
    for (uint64_t i = 0; ok && i < r->size; i++)
        if ((r->dest[i] ^ r->expected[i]) != 0xff)
            ok = fz_fail(c, "a refused gpumem_stream_read wrote its host memory");
    free(r->dest);
    free(r->expected);
    return ok;
}

int fz_read_issued(fz_ctx *c, int stream, int accepted)
{
    if (accepted) {
        keep_read(c, stream);
        return 1;
    }
    return drop_read(c, stream);
}

/* --- forgetting what the library destroyed --- */

void fz_forget_buffer(fz_ctx *c, int buffer)
{
    fz_buffer *b = &c->buffers[buffer];
    free(b->shadow);
    c->live_bytes -= b->size;
    fz_stale_push(c, FZ_BUFFER, (uint64_t)(uintptr_t)b->handle);
    memset(b, 0, sizeof *b);
    b->pending = -1;
}

void fz_forget_pool(fz_ctx *c, int pool)
{
    for (int i = 0; i < FZ_MAX_BUFFERS; i++)
        if (c->buffers[i].live && c->buffers[i].pool == pool)
            fz_forget_buffer(c, i);
    fz_stale_push(c, FZ_POOL, (uint64_t)(uintptr_t)c->pools[pool].handle);
    memset(&c->pools[pool], 0, sizeof c->pools[pool]);
}

void fz_forget_stream(fz_ctx *c, int stream)
{
    fz_stream *s = &c->streams[stream];
    fz_finish_reads(c, stream); /* normally done already: nothing left to check */
    free(s->reads);
    for (int i = 0; i < FZ_MAX_BUFFERS; i++)
        if (c->buffers[i].live && c->buffers[i].pending == stream)
            c->buffers[i].pending = -1;
    fz_stale_push(c, FZ_STREAM, (uint64_t)(uintptr_t)s->handle);
    memset(s, 0, sizeof *s);
}

void fz_forget_device(fz_ctx *c, int device)
{
    for (int i = 0; i < FZ_MAX_POOLS; i++)
        if (c->pools[i].live && c->pools[i].device == device)
            fz_forget_pool(c, i);
    for (int i = 0; i < FZ_MAX_STREAMS; i++)
        if (c->streams[i].live && c->streams[i].device == device)
            fz_forget_stream(c, i);
    fz_stale_push(c, FZ_DEVICE, (uint64_t)(uintptr_t)c->devices[device].handle);
    memset(&c->devices[device], 0, sizeof c->devices[device]);
}

void fz_forget_vblock(fz_ctx *c, int vblock)
{
    fz_stale_push(c, FZ_VBLOCK, (uint64_t)(uintptr_t)c->vblocks[vblock].handle);
    memset(&c->vblocks[vblock], 0, sizeof c->vblocks[vblock]);
}

int fz_close_device(fz_ctx *c, int device)
{
    int ok = 1;
    for (int d = 0; d < FZ_MAX_DEVICES; d++)
        if (c->devices[d].live && c->devices[d].parent == device)
            ok &= fz_close_device(c, d);
    gpumem_result r = gpumem_device_close(c->devices[device].handle);
    ok &= fz_call(c, "gpumem_device_close", r, 0, 0);
    /* The close waited for the device's streams: their reads are complete. */
    for (int s = 0; s < FZ_MAX_STREAMS; s++)
        if (c->streams[s].live && c->streams[s].device == device)
            ok &= fz_finish_reads(c, s);
    fz_forget_device(c, device);
    return ok;
}

void fz_close_all(fz_ctx *c)
{
    for (int d = 0; d < FZ_MAX_DEVICES; d++)
        if (c->devices[d].live)
            fz_close_device(c, d);
    for (int v = 0; v < FZ_MAX_VBLOCKS; v++) {
        if (!c->vblocks[v].live)
            continue;
        gpumem_result r = gpumem_vblock_destroy(c->vblocks[v].handle);
        fz_call(c, "gpumem_vblock_destroy", r, 0, 0);
        fz_forget_vblock(c, v);
    }
}
