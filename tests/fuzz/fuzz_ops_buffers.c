/* Buffers: creation (sizes around the edges that matter, alignments, dedicated pages), their
 * first contents, destroy, info and native handles. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_internal.h"

/* Mostly small, around the edges of alignment and pages; large ones rare. */
static uint64_t random_size_unbounded(fz_ctx *c, const fz_pool *pool)
{
    static const uint64_t tiny[] = {1,   2,   3,   4,   5,   7,   8,   15,   16,   17,
                                    31,  32,  33,  63,  64,  65,  127, 128,  129,  255,
                                    256, 257, 511, 512, 513, 1000, 1023, 1024, 1025};
    static const uint64_t pagey[] = {4093, 4094, 4095, 4096, 4097, 4098, 4099,
                                     8191, 8192, 8193, 12288, 16384, 65535, 65536};
    uint64_t half = pool->page_size / 2;
    unsigned choice = (unsigned)fz_below(c, 1000);
    if (choice < 2) /* 1 in 500: large, for dedicated pages and multi-chunk staging */
        return c->max_buffer / 40 + fz_below(c, c->max_buffer - c->max_buffer / 40 + 1);
    if (choice < 350)
        return FZ_PICK(c, tiny);
    if (choice < 500)
        return FZ_PICK(c, pagey);
    if (choice < 650 && (half <= (1u << 20) || fz_chance(c, 1, 40))) {
        const uint64_t around[] = {half - 3, half - 1, half,          half + 1,      half + 3,
                                   pool->page_size - 1, pool->page_size, pool->page_size + 1,
                                   pool->page_size / 4 + 1};
        uint64_t size = FZ_PICK(c, around);
        return size && size <= c->max_buffer ? size : 1 + fz_below(c, 64);
    }
    if (choice < 970) /* log-uniform up to 64 KiB */
        return 1 + fz_below(c, 1ull << fz_below(c, 17));
    return (64ull << 10) + fz_below(c, 1ull << 20);
}

/* The host memory for transfers (c->scratch) holds the largest buffer. */
static uint64_t random_size(fz_ctx *c, const fz_pool *pool)
{
    uint64_t size = random_size_unbounded(c, pool);
    return size <= c->max_buffer ? size : c->max_buffer;
}

static uint64_t random_alignment(fz_ctx *c)
{
    static const uint64_t alignments[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 4096, 65536};
    if (fz_chance(c, 1, 2))
        return 0;
    if (fz_chance(c, 1, 4))
        return 1ull << fz_below(c, 17);
    return FZ_PICK(c, alignments);
}

/* Checks what gpumem_buffer_info_get says of a buffer against what the model knows. */
static int check_info(fz_ctx *c, int i, const gpumem_buffer_info *info, int first)
{
    fz_buffer *b = &c->buffers[i];
    const fz_pool *pool = &c->pools[b->pool];
    const gpumem_device_properties *p = &c->devices[b->device].props;
    const char *wrong = NULL;
    int must_be_dedicated = (b->flags & GPUMEM_BUFFER_DEDICATED) || b->size > pool->page_size / 2;
    if (info->size != b->size)
        wrong = "size is not as asked";
    else if (info->offset % p->min_alignment)
        wrong = "offset is not a multiple of min_alignment";
    else if (info->offset > info->page_size || b->size > info->page_size - info->offset)
        wrong = "the buffer does not fit in its page";
    else if (info->left_padding > info->offset ||
             info->allocation_size < info->left_padding + b->size)
        wrong = "left_padding and allocation_size do not hold the buffer";
    else if (info->memory_type != pool->memory_type)
        wrong = "memory_type is not the pool's";
    else if (must_be_dedicated && !info->dedicated)
        wrong = "a dedicated buffer, or one over half a page, shares a page";
    else if (!info->dedicated && info->page_size != pool->page_size)
        wrong = "a shared page is not of the pool's page size";
    else if (info->mapped != b->map_count)
        wrong = "the map count differs from the model's";
    else if (!first &&
             (info->page != b->page || info->offset != b->offset ||
              info->page_size != b->page_size || info->dedicated != (uint32_t)b->dedicated ||
              info->allocation_size != b->allocation_size))
        wrong = "the buffer moved";
    if (wrong)
        return fz_fail(c, "gpumem_buffer_info_get of buffer #%d (%llu bytes, alignment %llu%s, "
                       "pool #%d of page size %llu): %s: page %u of %llu bytes%s, offset %llu, "
                       "left padding %llu, allocation %llu, mapped %u (model: %u)",
                       i, (unsigned long long)b->size, (unsigned long long)b->alignment,
                       (b->flags & GPUMEM_BUFFER_DEDICATED) ? ", dedicated" : "", b->pool,
                       (unsigned long long)pool->page_size, wrong, info->page,
                       (unsigned long long)info->page_size, info->dedicated ? " (dedicated)" : "",
                       (unsigned long long)info->offset, (unsigned long long)info->left_padding,
                       (unsigned long long)info->allocation_size, info->mapped, b->map_count);
    if (!first)
        return 1;
    b->page = info->page;
    b->offset = info->offset;
    b->page_size = info->page_size;
    b->allocation_size = info->allocation_size;
    b->dedicated = (int)info->dedicated;
    /* No two live buffers of a page share a byte. */
    for (int j = 0; j < FZ_MAX_BUFFERS; j++) {
        const fz_buffer *o = &c->buffers[j];
        if (j == i || !o->live || o->pool != b->pool || o->page != b->page)
            continue;
        if (b->offset < o->offset + o->size && o->offset < b->offset + b->size)
            return fz_fail(c, "buffer #%d [%llu, +%llu) overlaps buffer #%d [%llu, +%llu) in "
                           "page %u of pool #%d", i, (unsigned long long)b->offset,
                           (unsigned long long)b->size, j, (unsigned long long)o->offset,
                           (unsigned long long)o->size, b->page, b->pool);
    }
    return 1;
}

/* A byte of a live buffer, looked up by its address, gives the buffer and the byte's offset. */
static int found_by_address(fz_ctx *c, int i, uint64_t address)
{
    const fz_buffer *b = &c->buffers[i];
    /* A byte chosen without the random stream, so that recorded inputs replay as before. */
    uint64_t at = (address / 64 + (uint64_t)i * 7919) % b->size;
    gpumem_buffer found;
    uint64_t offset;
    gpumem_result r = gpumem_buffer_find(c->devices[b->device].handle, address + at, &found,
                                         &offset);
    if (!fz_call(c, "gpumem_buffer_find", r, 0, 0))
        return 0;
    if (found != b->handle || offset != at)
        return fz_fail(c, "gpumem_buffer_find of byte %llu of buffer #%d: another buffer, or "
                       "offset %llu", (unsigned long long)at, i, (unsigned long long)offset);
    return 1;
}

static int check_native(fz_ctx *c, int i, const gpumem_native_buffer *n)
{
    const fz_buffer *b = &c->buffers[i];
    uint64_t alignment = b->alignment ? b->alignment : 1;
    if (n->offset != b->offset)
        return fz_fail(c, "gpumem_buffer_native: offset %llu, info says %llu",
                       (unsigned long long)n->offset, (unsigned long long)b->offset);
    /* Memory with addresses (host, CUDA, HIP): the address is aligned as asked; else the
     * offset in the page is. */
    if (n->address) {
        if (n->address % alignment || n->address != n->memory + n->offset)
            return fz_fail(c, "gpumem_buffer_native of buffer #%d: address 0x%llx, memory 0x%llx "
                           "+ offset %llu, alignment %llu asked",
                           i, (unsigned long long)n->address, (unsigned long long)n->memory,
                           (unsigned long long)n->offset, (unsigned long long)b->alignment);
    } else if (b->offset % alignment) {
        return fz_fail(c, "buffer #%d: offset %llu in its page is not aligned to %llu",
                       i, (unsigned long long)b->offset, (unsigned long long)b->alignment);
    }
    if (!strcmp(c->devices[b->device].props.backend, "host") && !n->address)
        return fz_fail(c, "gpumem_buffer_native: a host buffer without an address");
    return n->address ? found_by_address(c, i, n->address) : 1;
}

static int native_of(fz_ctx *c, int i)
{
    gpumem_native_buffer n;
    gpumem_result r = gpumem_buffer_native(c->buffers[i].handle, &n);
    return fz_call(c, "gpumem_buffer_native", r, 0, 0) && check_native(c, i, &n);
}

int fz_buffer_create_in(fz_ctx *c, int pool)
{
    fz_pool *p = &c->pools[pool];
    const gpumem_device_properties *props = &c->devices[p->device].props;
    int slot = fz_free_slot(c, FZ_BUFFER);
    gpumem_buffer_desc desc = {.size = random_size(c, p), .alignment = random_alignment(c)};
    if (fz_chance(c, 1, 8))
        desc.flags = GPUMEM_BUFFER_DEDICATED;
    if (c->live_bytes + desc.size > FZ_MAX_LIVE_BYTES)
        desc.size = 1 + fz_below(c, 4096);
    fz_expect faults = 0;
    gpumem_pool handle = p->handle;
    const gpumem_buffer_desc *desc_arg = &desc;
    gpumem_buffer out = (gpumem_buffer)(uintptr_t)FZ_SENTINEL, *out_arg = &out;
    if (slot < 0 || fz_chance(c, 1, 12)) {
        switch (fz_below(c, 8)) {
        case 0: desc.size = 0, faults |= FZ_ARG; break;
        case 1: {
            static const uint64_t bad[] = {3, 6, 12, 48, 100, 4097, UINT64_MAX, (1ull << 63) | 1};
            desc.alignment = FZ_PICK(c, bad);
            faults |= FZ_ARG;
            break;
        }
        case 2: desc.flags |= 1u << (8 + fz_below(c, 24)), faults |= FZ_ARG; break;
        case 3:
            desc.size = fz_chance(c, 1, 2) ? UINT64_MAX - fz_u8(c) : props->max_allocation_size + 1;
            faults |= FZ_BIT(GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY);
            break;
        case 4: desc_arg = NULL, faults |= FZ_ARG; break;
        case 5: out_arg = NULL, faults |= FZ_ARG; break;
        default: handle = (gpumem_pool)(uintptr_t)fz_bad_handle(c, FZ_POOL, &faults); break;
        }
    }
    if (c->force_bad)
        handle = (gpumem_pool)(uintptr_t)fz_bad_handle(c, FZ_POOL, &faults);
    /* Native pools align to min_alignment at most. */
    if (p->native && desc_arg && desc.alignment > props->min_alignment)
        faults |= FZ_BIT(GPUMEM_ERROR_UNSUPPORTED);
    fz_expect resource = FZ_RESOURCE | (p->byte_limit ? FZ_LIMIT : 0);
    fz_trace(c, "buffer desc: pool #%d (page %llu, limit %llu), size %llu, alignment %llu, "
             "flags 0x%x", pool, (unsigned long long)p->page_size,
             (unsigned long long)p->byte_limit, (unsigned long long)desc.size,
             (unsigned long long)desc.alignment, desc.flags);
    /* Now and then in a stream's order: the stream then waits for the work of ranges freed on
     * others, and the model syncs it before the host initializes the buffer. */
    int on = fz_chance(c, 1, 4) ? fz_pick_stream(c, p->device) : -1;
    const char *name = on >= 0 ? "gpumem_buffer_create_on_stream" : "gpumem_buffer_create";
    gpumem_result r = on >= 0 ? gpumem_buffer_create_on_stream(handle, desc_arg,
                                                               c->streams[on].handle, out_arg)
                              : gpumem_buffer_create(handle, desc_arg, out_arg);
    if (!fz_call(c, name, r, faults, resource))
        return 0;
    if (r != GPUMEM_OK)
        return fz_untouched(c, name, (uint64_t)(uintptr_t)out);
    if (on >= 0 && !fz_sync(c, on))
        return 0;
    uint8_t *shadow = malloc((size_t)desc.size);
    if (!shadow)
        return fz_fail(c, "the model ran out of host memory");
    fz_buffer *b = &c->buffers[slot];
    *b = (fz_buffer){.live = 1, .pool = pool, .device = p->device, .handle = out,
                     .size = desc.size, .alignment = desc.alignment, .flags = desc.flags,
                     .shadow = shadow, .pending = -1};
    c->live_bytes += desc.size;
    if (c->live_bytes > c->summary->max_live_bytes)
        c->summary->max_live_bytes = c->live_bytes;
    gpumem_buffer_info info;
    r = gpumem_buffer_info_get(out, &info);
    if (!fz_call(c, "gpumem_buffer_info_get", r, 0, 0) || !check_info(c, slot, &info, 1))
        return 0;
    if (fz_chance(c, 1, 4) && !native_of(c, slot))
        return 0;
    return fz_buffer_initialize(c, slot);
}

void fz_op_buffer_create(fz_ctx *c)
{
    int pool = fz_pick_pool(c, -1);
    if (pool < 0) {
        int d = fz_pick_device(c);
        if (d < 0)
            fz_device_open_plain(c);
        else
            fz_pool_create_plain(c, d);
        return;
    }
    fz_buffer_create_in(c, pool);
}

int fz_buffer_or_create(fz_ctx *c)
{
    int i = fz_pick_buffer(c, -1);
    if (i < 0)
        fz_op_buffer_create(c);
    return i;
}

gpumem_buffer fz_buffer_handle(fz_ctx *c, int i, unsigned den, fz_expect *faults)
{
    if (fz_bad(c, den))
        return (gpumem_buffer)(uintptr_t)fz_bad_handle(c, FZ_BUFFER, faults);
    return c->buffers[i].handle;
}

void fz_op_buffer_destroy(fz_ctx *c)
{
    int i = fz_pick_buffer(c, -1);
    fz_expect faults = 0;
    gpumem_buffer handle = NULL;
    int bad = i < 0 || fz_bad(c, 10);
    if (bad)
        handle = (gpumem_buffer)(uintptr_t)fz_bad_handle(c, FZ_BUFFER, &faults);
    /* A buffer with work pending on a stream may be destroyed on that stream: the work still
     * reads and writes it, and the reads are checked when the stream is synchronized, after
     * other takers of the range had to wait for them. Otherwise the work is waited for first:
     * buffers must outlive their stream work. */
    int on = -1;
    if (!bad) {
        handle = c->buffers[i].handle;
        on = c->buffers[i].pending;
        if (on < 0 || fz_chance(c, 1, 3)) {
            if (!fz_settle(c, i, -1))
                return;
            on = fz_chance(c, 1, 4) ? fz_pick_stream(c, c->buffers[i].device) : -1;
        }
    }
    const char *name = on >= 0 ? "gpumem_buffer_destroy_on_stream" : "gpumem_buffer_destroy";
    gpumem_result r = on >= 0 ? gpumem_buffer_destroy_on_stream(handle, c->streams[on].handle)
                              : gpumem_buffer_destroy(handle);
    if (fz_call(c, name, r, faults, 0) && !bad) {
        if (on >= 0)
            c->pools[c->buffers[i].pool].ordered_frees = 1;
        fz_forget_buffer(c, i);
    }
}

void fz_op_buffer_info(fz_ctx *c)
{
    int i = fz_buffer_or_create(c);
    if (i < 0)
        return;
    fz_expect faults = 0;
    gpumem_buffer handle = fz_buffer_handle(c, i, 12, &faults);
    gpumem_buffer_info info, *out = &info;
    if (fz_chance(c, 1, 24))
        out = NULL, faults |= FZ_ARG;
    gpumem_result r = gpumem_buffer_info_get(handle, out);
    if (fz_call(c, "gpumem_buffer_info_get", r, faults, 0) && !faults)
        check_info(c, i, &info, 0);
}

void fz_op_buffer_native(fz_ctx *c)
{
    int i = fz_buffer_or_create(c);
    if (i < 0)
        return;
    fz_expect faults = 0;
    gpumem_buffer handle = fz_buffer_handle(c, i, 12, &faults);
    gpumem_native_buffer n, *out = &n;
    if (fz_chance(c, 1, 24))
        out = NULL, faults |= FZ_ARG;
    gpumem_result r = gpumem_buffer_native(handle, out);
    if (fz_call(c, "gpumem_buffer_native", r, faults, 0) && !faults)
        check_native(c, i, &n);
}
