/* Pools: creation with random descriptors, destroy, trim and statistics. */
#include <string.h>

#include "fuzz_internal.h"

static const char *random_name(fz_ctx *c)
{
    static const char *const names[] = {
        NULL,
        "pool",
        "",
        "fuzz \"quoted\" \\ back/slash",
        "ctl\x01\x02\t\n\r\x1f end",
        "gr\xc3\xb6\xc3\x9f" "e \xe2\x82\xac \xf0\x9d\x84\x9e",
        /* 62 ASCII bytes, then a 3-byte character across the 63-byte cut */
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xe2\x82\xac tail",
        /* 61 ASCII bytes, then a 4-byte character across the cut */
        "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\xf0\x9d\x84\x9e tail",
        "a name that is much longer than any buffer a library would keep for it, so that it "
        "must be cut somewhere: 0123456789 0123456789 0123456789 0123456789 0123456789",
    };
    return names[fz_below(c, sizeof names / sizeof names[0])];
}

static uint64_t random_page_size(fz_ctx *c)
{
    static const uint64_t sizes[] = {
        0, 0, 1, 3, 63, 64, 65, 100, 1000, 4095, 4096, 4097, 65533, 65536, 65539, 256 << 10,
        (1 << 20) - 3, 1 << 20, (1 << 20) + 3, 1 << 20, 2 << 20, 4 << 20, (4 << 20) + 1,
        8 << 20, 32 << 20,
    };
    if (fz_chance(c, 1, 64))
        return 64ull << 20;
    return FZ_PICK(c, sizes);
}

static uint64_t align_up(uint64_t value, uint64_t alignment)
{
    return (value + alignment - 1) & ~(alignment - 1);
}

/* Registers a created pool, after checking what its statistics say about it. */
static int adopt_pool(fz_ctx *c, int device, gpumem_pool handle, const gpumem_pool_desc *desc,
                      uint32_t expected_type)
{
    const gpumem_device_properties *p = &c->devices[device].props;
    int i = fz_free_slot(c, FZ_POOL);
    if (i < 0)
        return fz_call(c, "gpumem_pool_destroy", gpumem_pool_destroy(handle), 0, 0);
    gpumem_pool_stats s;
    gpumem_result r = gpumem_pool_stats_get(handle, &s);
    if (!fz_call(c, "gpumem_pool_stats_get", r, 0, 0))
        return 0;
    if (s.memory_type != expected_type || s.kind != desc->kind || s.allocation_count ||
        s.used_bytes)
        return fz_fail(c, "a new pool has memory type %u (expected %u), kind %u, %llu "
                       "allocations, %llu bytes used",
                       s.memory_type, expected_type, s.kind,
                       (unsigned long long)s.allocation_count, (unsigned long long)s.used_bytes);
    fz_pool *pool = &c->pools[i];
    pool->live = 1;
    pool->device = device;
    pool->handle = handle;
    uint64_t page = desc->page_size ? desc->page_size : GPUMEM_DEFAULT_PAGE_SIZE;
    pool->page_size = align_up(page, p->min_alignment);
    pool->byte_limit = desc->byte_limit;
    pool->max_empty_pages = desc->max_empty_pages ? desc->max_empty_pages : 1;
    pool->arena_count = desc->arena_count ? desc->arena_count : 1;
    pool->flags = desc->flags;
    pool->native = desc->kind == GPUMEM_POOL_NATIVE;
    pool->memory_type = s.memory_type;
    pool->memory_flags = p->memory_types[s.memory_type].flags;
    return 1;
}

/* The memory type a valid descriptor must get, or -1 for none (GPUMEM_ERROR_NOT_FOUND). */
static int expected_type(fz_ctx *c, int device, const gpumem_pool_desc *desc)
{
    const gpumem_device_properties *p = &c->devices[device].props;
    if (desc->flags & GPUMEM_POOL_MEMORY_TYPE_INDEX)
        return (int)desc->memory_type_index;
    uint64_t page = align_up(desc->page_size ? desc->page_size : GPUMEM_DEFAULT_PAGE_SIZE,
                             p->min_alignment);
    uint32_t type;
    uint32_t exact = (desc->flags & GPUMEM_POOL_EXACT_MATCH) ? GPUMEM_MEMORY_TYPE_EXACT : 0;
    gpumem_result r = gpumem_memory_type_find(p, desc->required_flags, desc->preferred_flags,
                                              exact, page, &type);
    if (r != GPUMEM_OK && r != GPUMEM_ERROR_NOT_FOUND)
        return fz_fail(c, "gpumem_memory_type_find on a device's properties: %s",
                       gpumem_result_string(r)) - 1;
    return r == GPUMEM_OK ? (int)type : -1;
}

static int type_is_host_visible(const fz_ctx *c, int device, int type)
{
    return !!(c->devices[device].props.memory_types[type].flags & GPUMEM_MEMORY_HOST_VISIBLE);
}

/* Native pools hold device memory only: device-local, not host-visible. */
static int type_holds_native_pools(const fz_ctx *c, int device, int type)
{
    uint32_t flags = c->devices[device].props.memory_types[type].flags;
    return (flags & GPUMEM_MEMORY_DEVICE_LOCAL) && !(flags & GPUMEM_MEMORY_HOST_VISIBLE);
}

int fz_pool_create_plain(fz_ctx *c, int device)
{
    if (fz_free_slot(c, FZ_POOL) < 0)
        return 1;
    gpumem_pool_desc desc = {.page_size = random_page_size(c), .name = random_name(c)};
    if (fz_chance(c, 1, 4))
        desc.flags = GPUMEM_POOL_PERSISTENT_MAP;
    if (type_is_host_visible(c, device, 0) && fz_chance(c, 1, 4))
        desc.flags |= GPUMEM_POOL_DETECT_CORRUPTION;
    int type = expected_type(c, device, &desc);
    if (type >= 0 && !type_is_host_visible(c, device, type))
        desc.flags &= ~(uint32_t)GPUMEM_POOL_DETECT_CORRUPTION;
    gpumem_pool handle;
    gpumem_result r = gpumem_pool_create(c->devices[device].handle, &desc, &handle);
    if (!fz_call(c, "gpumem_pool_create", r, type < 0 ? FZ_BIT(GPUMEM_ERROR_NOT_FOUND) : 0, 0))
        return 0;
    return r != GPUMEM_OK || adopt_pool(c, device, handle, &desc, (uint32_t)type);
}

void fz_op_pool_create(fz_ctx *c)
{
    int d = fz_pick_device(c);
    if (d < 0) {
        fz_device_open_plain(c);
        return;
    }
    const gpumem_device_properties *p = &c->devices[d].props;
    fz_expect faults = 0;
    gpumem_device device = c->devices[d].handle;
    gpumem_pool_desc desc = {
        .flags = fz_u8(c) & (GPUMEM_POOL_EXACT_MATCH | GPUMEM_POOL_MEMORY_TYPE_INDEX |
                             GPUMEM_POOL_PERSISTENT_MAP | GPUMEM_POOL_DETECT_CORRUPTION),
        .required_flags = fz_chance(c, 1, 2) ? 0 : fz_u8(c) & GPUMEM_MEMORY_FLAGS_ALL,
        .preferred_flags = fz_chance(c, 1, 2) ? 0 : fz_u8(c) & GPUMEM_MEMORY_FLAGS_ALL,
        .memory_type_index = (uint32_t)fz_below(c, p->memory_type_count),
        .max_empty_pages = fz_chance(c, 1, 2) ? 0 : (uint32_t)fz_below(c, 5),
        .page_size = random_page_size(c),
        .release_threshold = fz_chance(c, 1, 8) ? fz_u32(c) : 0,
        .name = random_name(c),
        /* One thread makes every call, so it mostly keeps to one arena; but a thread remembers
         * its arena in its last few pools only (core/thread.h) and takes the next one in a pool
         * it forgot, so each arena may keep max_empty_pages empty pages (check_stats). */
        .arena_count = fz_chance(c, 1, 4) ? (uint32_t)fz_below(c, GPUMEM_POOL_MAX_ARENAS + 1) : 0,
    };
    if (fz_chance(c, 1, 4)) {
        /* Mostly a few pages' worth, so that some buffers fit and some do not. */
        static const uint64_t limits[] = {1, 4096, 65536, 1 << 20, 8 << 20, 40 << 20, 64 << 20};
        uint64_t page = desc.page_size ? desc.page_size : GPUMEM_DEFAULT_PAGE_SIZE;
        desc.byte_limit = fz_chance(c, 1, 3) ? FZ_PICK(c, limits)
                                             : page * (1 + fz_below(c, 4)) + fz_below(c, 2) * 4096;
    }
    if (fz_chance(c, 1, 16))
        desc.max_empty_pages = fz_u32(c);
    /* The runtime's own pool, where the device has one: one arena only. */
    if (p->native_pools && fz_chance(c, 1, 4)) {
        desc.kind = GPUMEM_POOL_NATIVE;
        if (fz_chance(c, 3, 4)) { /* mostly one that holds: device memory, one arena */
            desc.flags &= ~(uint32_t)(GPUMEM_POOL_MEMORY_TYPE_INDEX | GPUMEM_POOL_EXACT_MATCH |
                                      GPUMEM_POOL_DETECT_CORRUPTION);
            desc.required_flags = GPUMEM_MEMORY_DEVICE_LOCAL;
            desc.preferred_flags = 0;
            desc.arena_count = 0;
        }
        if (desc.arena_count > 1)
            faults |= FZ_ARG;
    }
    if (fz_free_slot(c, FZ_POOL) < 0 || fz_chance(c, 1, 6)) {
        /* One thing wrong, or a few. */
        unsigned wrong = 1 + (unsigned)fz_below(c, 255);
        if (wrong & 1)
            desc.kind = fz_chance(c, 1, 2) ? 2 + fz_u8(c) : UINT32_MAX, faults |= FZ_ARG;
        if (wrong & 2)
            desc.flags |= 1u << (8 + fz_below(c, 24)), faults |= FZ_ARG; /* none known yet */
        if (wrong & 4) {
            uint32_t bit = 1u << (4 + fz_below(c, 28));
            if (fz_chance(c, 1, 2))
                desc.required_flags |= bit;
            else
                desc.preferred_flags |= bit;
            faults |= FZ_ARG;
        }
        if (wrong & 8) {
            desc.flags |= GPUMEM_POOL_MEMORY_TYPE_INDEX;
            desc.memory_type_index = p->memory_type_count;
            if (fz_chance(c, 1, 2))
                desc.memory_type_index += fz_u32(c) >> 1;
            faults |= FZ_BIT(GPUMEM_ERROR_NOT_FOUND);
        }
        if (wrong & 16) {
            if (fz_chance(c, 1, 2))
                desc.page_size = fz_chance(c, 1, 2) ? UINT64_MAX - fz_u8(c)
                                                    : p->max_allocation_size + 1;
            else
                desc.arena_count = GPUMEM_POOL_MAX_ARENAS + 1 + (fz_u32(c) >> 1);
            faults |= FZ_ARG;
        }
        if ((wrong & 32) && !p->native_pools)
            desc.kind = GPUMEM_POOL_NATIVE, faults |= FZ_BIT(GPUMEM_ERROR_UNSUPPORTED);
        if (wrong & 64)
            device = (gpumem_device)(uintptr_t)fz_bad_handle(c, FZ_DEVICE, &faults);
        if (wrong & 128) {
            gpumem_pool_desc *null_desc = fz_chance(c, 1, 2) ? NULL : &desc;
            gpumem_result r = gpumem_pool_create(device, null_desc, NULL);
            fz_call(c, "gpumem_pool_create", r, faults | FZ_ARG, 0);
            return;
        }
    }
    if (c->force_bad)
        device = (gpumem_device)(uintptr_t)fz_bad_handle(c, FZ_DEVICE, &faults);
    if (faults == 0 && fz_chance(c, 1, 32)) {
        /* No descriptor: every default. */
        memset(&desc, 0, sizeof desc);
        gpumem_pool handle;
        int type = expected_type(c, d, &desc);
        gpumem_result r = gpumem_pool_create(device, NULL, &handle);
        if (fz_call(c, "gpumem_pool_create", r, type < 0 ? FZ_BIT(GPUMEM_ERROR_NOT_FOUND) : 0, 0) &&
            r == GPUMEM_OK)
            adopt_pool(c, d, handle, &desc, (uint32_t)type);
        return;
    }
    int type = faults ? 0 : expected_type(c, d, &desc);
    if (type < 0)
        faults |= FZ_BIT(GPUMEM_ERROR_NOT_FOUND);
    else if (!faults && (desc.flags & GPUMEM_POOL_DETECT_CORRUPTION) &&
             !(p->memory_types[type].flags & GPUMEM_MEMORY_HOST_VISIBLE))
        faults |= FZ_BIT(GPUMEM_ERROR_UNSUPPORTED); /* margins need host-visible memory */
    if (!faults && type >= 0 && desc.kind == GPUMEM_POOL_NATIVE &&
        !type_holds_native_pools(c, d, type))
        faults |= FZ_BIT(GPUMEM_ERROR_UNSUPPORTED);
    fz_trace(c, "pool desc: kind %u, flags 0x%x, required 0x%x, preferred 0x%x, type %u, "
             "page %llu, limit %llu, max empty %u, arenas %u", desc.kind, desc.flags,
             desc.required_flags, desc.preferred_flags, desc.memory_type_index,
             (unsigned long long)desc.page_size, (unsigned long long)desc.byte_limit,
             desc.max_empty_pages, desc.arena_count);
    gpumem_pool handle = (gpumem_pool)(uintptr_t)FZ_SENTINEL;
    gpumem_result r = gpumem_pool_create(device, &desc, &handle);
    if (!fz_call(c, "gpumem_pool_create", r, faults, 0))
        return;
    if (r != GPUMEM_OK) {
        fz_untouched(c, "gpumem_pool_create", (uint64_t)(uintptr_t)handle);
        return;
    }
    adopt_pool(c, d, handle, &desc, (uint32_t)type);
}

void fz_op_pool_destroy(fz_ctx *c)
{
    int i = fz_pick_pool(c, -1);
    fz_expect faults = 0;
    gpumem_pool handle;
    if (i < 0 || fz_bad(c, 8)) {
        handle = (gpumem_pool)(uintptr_t)fz_bad_handle(c, FZ_POOL, &faults);
    } else {
        handle = c->pools[i].handle;
        /* Buffers must outlive the stream work that uses them. */
        for (int b = 0; b < FZ_MAX_BUFFERS; b++)
            if (c->buffers[b].live && c->buffers[b].pool == i && !fz_settle(c, b, -1))
                return;
    }
    gpumem_result r = gpumem_pool_destroy(handle);
    if (fz_call(c, "gpumem_pool_destroy", r, faults, 0) && !faults)
        fz_forget_pool(c, i);
}

/* What the model knows of a pool: its live buffers, their sizes and allocations (padding
 * included), and the pages they are on, with those pages' bytes. */
typedef struct pool_view {
    uint64_t buffers, sizes, allocations, pages, page_bytes;
} pool_view;

static void view_pool(const fz_ctx *c, int pool, pool_view *v)
{
    memset(v, 0, sizeof *v);
    for (int i = 0; i < FZ_MAX_BUFFERS; i++) {
        const fz_buffer *b = &c->buffers[i];
        if (!b->live || b->pool != pool)
            continue;
        v->buffers++;
        v->sizes += b->size;
        v->allocations += b->allocation_size;
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) {
            const fz_buffer *o = &c->buffers[j];
            seen = o->live && o->pool == pool && o->page == b->page;
        }
        if (!seen) {
            v->pages++;
            v->page_bytes += b->page_size;
        }
    }
}

/* Statistics against the model. after_trim: empty pages must be gone. */
static int check_stats(fz_ctx *c, int pool, const gpumem_pool_stats *s, int after_trim)
{
    const fz_pool *p = &c->pools[pool];
    pool_view v;
    view_pool(c, pool, &v);
    const char *wrong = NULL;
    if (s->allocation_count != v.buffers)
        wrong = "allocation_count is not the number of live buffers";
    else if (p->native) /* the byte counts are the runtime's, pages its own */
        wrong = s->memory_type != p->memory_type || s->kind != GPUMEM_POOL_NATIVE
                    ? "memory_type or kind changed"
                    : NULL;
    else if (s->used_bytes < v.sizes)
        wrong = "used_bytes is less than the live buffers' sizes";
    else if (s->used_bytes != v.allocations)
        wrong = "used_bytes is not the sum of the live buffers' allocation_size";
    else if (s->reserved_bytes < s->used_bytes || s->reserved_bytes < v.page_bytes)
        wrong = "reserved_bytes is less than used_bytes or the live buffers' pages";
    else if (s->page_count < v.pages)
        wrong = "page_count is less than the live buffers' pages";
    else if (after_trim && (s->page_count != v.pages || s->reserved_bytes != v.page_bytes))
        wrong = "pages without live buffers are left after a trim";
    else if (s->page_count - v.pages > (uint64_t)p->max_empty_pages * p->arena_count &&
             !p->ordered_frees)
        wrong = "more empty pages are kept than max_empty_pages";
    else if (p->byte_limit && s->reserved_bytes > p->byte_limit)
        wrong = "reserved_bytes exceeds the pool's byte_limit";
    else if (s->memory_type != p->memory_type || s->kind != GPUMEM_POOL_PAGED)
        wrong = "memory_type or kind changed";
    else if (s->largest_free_range > p->page_size)
        wrong = "largest_free_range exceeds the page size";
    if (!wrong)
        return 1;
    return fz_fail(c, "pool #%d stats: %s: reserved %llu, used %llu, pages %llu, allocations "
                   "%llu, largest free %llu, type %u; model: %llu buffers of %llu bytes (%llu "
                   "allocated) on %llu pages of %llu bytes, page size %llu, limit %llu",
                   pool, wrong, (unsigned long long)s->reserved_bytes,
                   (unsigned long long)s->used_bytes, (unsigned long long)s->page_count,
                   (unsigned long long)s->allocation_count,
                   (unsigned long long)s->largest_free_range, s->memory_type,
                   (unsigned long long)v.buffers, (unsigned long long)v.sizes,
                   (unsigned long long)v.allocations, (unsigned long long)v.pages,
                   (unsigned long long)v.page_bytes, (unsigned long long)p->page_size,
                   (unsigned long long)p->byte_limit);
}

void fz_op_pool_trim(fz_ctx *c)
{
    int i = fz_pick_pool(c, -1);
    fz_expect faults = 0;
    gpumem_pool handle;
    if (i < 0 || fz_bad(c, 8))
        handle = (gpumem_pool)(uintptr_t)fz_bad_handle(c, FZ_POOL, &faults);
    else
        handle = c->pools[i].handle;
    gpumem_result r = gpumem_pool_trim(handle);
    if (!fz_call(c, "gpumem_pool_trim", r, faults, 0) || faults)
        return;
    c->pools[i].ordered_frees = 0; /* trim waited for them */
    gpumem_pool_stats s;
    r = gpumem_pool_stats_get(handle, &s);
    if (fz_call(c, "gpumem_pool_stats_get", r, 0, 0))
        check_stats(c, i, &s, 1);
}

void fz_op_pool_stats(fz_ctx *c)
{
    int i = fz_pick_pool(c, -1);
    if (i < 0) {
        int d = fz_pick_device(c);
        if (d >= 0)
            fz_pool_create_plain(c, d);
        return;
    }
    fz_expect faults = 0;
    gpumem_pool handle = c->pools[i].handle;
    gpumem_pool_stats s;
    gpumem_pool_stats *out = &s;
    if (fz_bad(c, 16))
        handle = (gpumem_pool)(uintptr_t)fz_bad_handle(c, FZ_POOL, &faults);
    if (fz_chance(c, 1, 16))
        out = NULL, faults |= FZ_ARG;
    gpumem_result r = gpumem_pool_stats_get(handle, out);
    if (fz_call(c, "gpumem_pool_stats_get", r, faults, 0) && !faults)
        check_stats(c, i, &s, 0);
}

/* No call of the fuzzer writes outside a buffer: every guard margin must be intact. */
void fz_op_pool_check(fz_ctx *c)
{
    int i = fz_pick_pool(c, -1);
    fz_expect faults = 0;
    gpumem_pool handle;
    if (i < 0 || fz_bad(c, 12))
        handle = (gpumem_pool)(uintptr_t)fz_bad_handle(c, FZ_POOL, &faults);
    else
        handle = c->pools[i].handle;
    fz_call(c, "gpumem_pool_check", gpumem_pool_check(handle), faults, 0);
}
