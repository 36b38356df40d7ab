/* Virtual blocks: every live allocation must lie inside its block, aligned as asked, apart from
 * every other; frees of allocations that are not live (stale, forged, another block's) must be
 * refused; statistics must agree with the model. */
#include <string.h>

#include "fuzz_internal.h"

#define GARBAGE 0xdeadbeef12345678ull

void fz_op_vblock_create(fz_ctx *c)
{
    static const uint64_t sizes[] = {1,       2,        63,        64,       100,
                                     4096,    65536,    65537,     1 << 20,  (1 << 20) + 7,
                                     1u << 31, 1ull << 40, 3ull << 40, 1ull << 50};
    uint64_t size = fz_chance(c, 1, 4) ? 1 + (uint64_t)fz_u32(c) : FZ_PICK(c, sizes);
    fz_expect faults = 0, resource = 0;
    gpumem_vblock handle = (gpumem_vblock)(uintptr_t)FZ_SENTINEL, *out = &handle;
    int slot = fz_free_slot(c, FZ_VBLOCK);
    if (slot < 0 || fz_chance(c, 1, 12)) {
        switch (fz_below(c, 3)) {
        case 0: size = 0, faults |= FZ_ARG; break;
        case 1: out = NULL, faults |= FZ_ARG; break;
        default:
            /* Huge blocks are refused or work (gpumem.h gives no limit). */
            size = fz_chance(c, 1, 2) ? UINT64_MAX : (1ull << 63) + fz_below(c, 2);
            resource = FZ_ARG | FZ_LIMIT | FZ_RESOURCE;
            break;
        }
    }
    gpumem_result r = gpumem_vblock_create(size, out);
    if (!fz_call(c, "gpumem_vblock_create", r, faults, resource))
        return;
    if (r != GPUMEM_OK) {
        fz_untouched(c, "gpumem_vblock_create", (uint64_t)(uintptr_t)handle);
        return;
    }
    if (slot < 0) { /* a huge block the model has no room for */
        fz_call(c, "gpumem_vblock_destroy", gpumem_vblock_destroy(handle), 0, 0);
        return;
    }
    fz_vblock *v = &c->vblocks[slot];
    memset(v, 0, sizeof *v);
    v->live = 1;
    v->handle = handle;
    v->size = size;
}

/* The vblock for an op, with a bad handle sometimes; -1 when there is none (one is made). */
static int choose(fz_ctx *c, gpumem_vblock *handle, fz_expect *faults)
{
    int v = fz_pick_vblock(c);
    if (v < 0) {
        fz_op_vblock_create(c);
        return -1;
    }
    *handle = c->vblocks[v].handle;
    if (fz_bad(c, 32))
        *handle = (gpumem_vblock)(uintptr_t)fz_bad_handle(c, FZ_VBLOCK, faults);
    return v;
}

static void stale_allocation(fz_vblock *v, gpumem_vblock_allocation a)
{
    v->stale[v->stale_next] = a;
    v->stale_next = (v->stale_next + 1) % FZ_STALE;
    if (v->stale_count < FZ_STALE)
        v->stale_count++;
}

static uint64_t random_alloc_size(fz_ctx *c, uint64_t block)
{
    switch (fz_below(c, 16)) {
    case 0: return block;
    case 1: return block / 2 + 1;
    case 2: return 1 + fz_below(c, block);
    case 3: return 1 + fz_below(c, 1 + block / 64);
    case 4: case 5: return 1 + fz_below(c, 4096);
    default: return 1 + fz_below(c, 64);
    }
}

void fz_op_vblock_alloc(fz_ctx *c)
{
    fz_expect faults = 0, resource = 0;
    gpumem_vblock handle;
    int i = choose(c, &handle, &faults);
    if (i < 0)
        return;
    fz_vblock *v = &c->vblocks[i];
    if (v->count == FZ_MAX_VALLOCS) {
        fz_op_vblock_clear(c);
        return;
    }
    uint64_t size = random_alloc_size(c, v->size);
    uint64_t alignment = fz_chance(c, 1, 3) ? 0 : 1ull << fz_below(c, fz_chance(c, 1, 8) ? 41 : 13);
    gpumem_vblock_allocation a = FZ_SENTINEL, *a_out = &a;
    uint64_t offset = FZ_SENTINEL, *offset_out = &offset;
    if (fz_chance(c, 1, 12)) {
        switch (fz_below(c, 6)) {
        case 0: size = 0; break;
        case 1: alignment = fz_chance(c, 1, 2) ? 3 + 2 * fz_below(c, 1000) : UINT64_MAX; break;
        case 2: a_out = NULL, faults |= FZ_ARG; break;
        case 3: offset_out = NULL, faults |= FZ_ARG; break;
        case 4: size = v->size + 1 + fz_below(c, 64); break; /* 0 when the block is 2^64 - 1 */
        default: size = UINT64_MAX - fz_below(c, 2); break;
        }
    }
    if (size == 0 || (alignment & (alignment - 1)))
        faults |= FZ_ARG;
    /* What the model can say: too large never fits; an empty block fits anything up to its
     * size; a free range of size + alignment - 1 bytes always fits ("an allocation fails only
     * when no free range can hold it"). Otherwise it may or may not fit. */
    uint64_t slack = alignment > 1 ? alignment - 1 : 0;
    if (!faults && size > v->size) {
        faults |= FZ_LIMIT;
    } else if (!faults && v->count > 0) {
        gpumem_vblock_stats s;
        gpumem_result r = gpumem_vblock_stats_get(handle, &s);
        if (!fz_call(c, "gpumem_vblock_stats_get", r, 0, 0))
            return;
        if (s.largest_free_range < size || s.largest_free_range - size < slack)
            resource = FZ_LIMIT;
    }
    gpumem_result r = gpumem_vblock_alloc(handle, size, alignment, a_out, offset_out);
    if (!fz_call(c, "gpumem_vblock_alloc", r, faults, resource))
        return;
    if (r != GPUMEM_OK) {
        if (fz_untouched(c, "gpumem_vblock_alloc", a))
            fz_untouched(c, "gpumem_vblock_alloc", offset);
        return;
    }
    const char *wrong = NULL;
    if (a == 0)
        wrong = "allocation 0";
    else if (alignment && offset % alignment)
        wrong = "offset not aligned";
    else if (offset > v->size || size > v->size - offset)
        wrong = "outside the block";
    int other = -1;
    for (unsigned k = 0; k < v->count && !wrong; k++) {
        const fz_valloc *o = &v->allocs[k];
        if (o->handle == a)
            wrong = "the handle of a live allocation", other = (int)k;
        else if (offset < o->offset + o->size && o->offset < offset + size)
            wrong = "overlaps a live allocation", other = (int)k;
    }
    if (wrong) {
        const fz_valloc *o = &v->allocs[other >= 0 ? other : 0];
        fz_fail(c, "gpumem_vblock_alloc(block of %llu bytes, size %llu, alignment %llu) gave "
                "offset %llu, allocation 0x%llx: %s (live: 0x%llx at [%llu, +%llu))",
                (unsigned long long)v->size, (unsigned long long)size,
                (unsigned long long)alignment, (unsigned long long)offset, (unsigned long long)a,
                wrong, other >= 0 ? (unsigned long long)o->handle : 0ull,
                other >= 0 ? (unsigned long long)o->offset : 0ull,
                other >= 0 ? (unsigned long long)o->size : 0ull);
        return;
    }
    v->allocs[v->count++] = (fz_valloc){a, offset, size};
}

void fz_op_vblock_free(fz_ctx *c)
{
    fz_expect faults = 0;
    gpumem_vblock handle;
    int i = choose(c, &handle, &faults);
    if (i < 0)
        return;
    fz_vblock *v = &c->vblocks[i];
    gpumem_vblock_allocation a;
    unsigned k = (unsigned)fz_below(c, 16);
    if (k < 10 && v->count) {
        a = v->allocs[fz_below(c, v->count)].handle;
    } else if (k < 12 && v->stale_count) {
        a = v->stale[fz_below(c, v->stale_count)];
    } else if (k < 13) {
        /* a live allocation of another block */
        int o = fz_pick_vblock(c);
        const fz_vblock *other = o >= 0 ? &c->vblocks[o] : NULL;
        a = other && other->count ? other->allocs[fz_below(c, other->count)].handle : GARBAGE;
    } else {
        static const uint64_t forged[] = {0, GARBAGE, UINT64_MAX, 1, 0xffffffffull, 1ull << 32};
        a = FZ_PICK(c, forged);
        if (v->count && fz_chance(c, 1, 2)) /* a live one with a generation it does not have */
            a = v->allocs[fz_below(c, v->count)].handle + ((1 + fz_below(c, 255)) << 40);
    }
    /* Live in this block: freed; anything else is refused. */
    int live = -1;
    for (unsigned j = 0; j < v->count && live < 0; j++)
        if (v->allocs[j].handle == a)
            live = (int)j;
    if (live < 0)
        faults |= FZ_HANDLE;
    gpumem_result r = gpumem_vblock_free(handle, a);
    if (!fz_call(c, "gpumem_vblock_free", r, faults, 0) || faults)
        return;
    stale_allocation(v, a);
    v->allocs[live] = v->allocs[--v->count];
}

void fz_op_vblock_clear(fz_ctx *c)
{
    fz_expect faults = 0;
    gpumem_vblock handle;
    int i = choose(c, &handle, &faults);
    if (i < 0)
        return;
    gpumem_result r = gpumem_vblock_clear(handle);
    if (!fz_call(c, "gpumem_vblock_clear", r, faults, 0) || faults)
        return;
    fz_vblock *v = &c->vblocks[i];
    for (unsigned k = 0; k < v->count; k++)
        stale_allocation(v, v->allocs[k].handle);
    v->count = 0;
}

void fz_op_vblock_stats(fz_ctx *c)
{
    fz_expect faults = 0;
    gpumem_vblock handle;
    int i = choose(c, &handle, &faults);
    if (i < 0)
        return;
    gpumem_vblock_stats s, *out = &s;
    if (fz_chance(c, 1, 24))
        out = NULL, faults |= FZ_ARG;
    gpumem_result r = gpumem_vblock_stats_get(handle, out);
    if (!fz_call(c, "gpumem_vblock_stats_get", r, faults, 0) || faults)
        return;
    const fz_vblock *v = &c->vblocks[i];
    uint64_t sizes = 0, end = 0;
    for (unsigned k = 0; k < v->count; k++) {
        sizes += v->allocs[k].size;
        if (v->allocs[k].offset + v->allocs[k].size > end)
            end = v->allocs[k].offset + v->allocs[k].size;
    }
    const char *wrong = NULL;
    if (s.size != v->size)
        wrong = "size is not as created";
    else if (s.allocation_count != v->count)
        wrong = "allocation_count is not the number of live allocations";
    else if (s.used_bytes < sizes || s.used_bytes > v->size)
        wrong = "used_bytes is not between the allocations' sizes and the block's";
    else if (s.span < end || s.span > v->size || (v->count == 0 && s.span != 0))
        wrong = "span is not the end of the highest live allocation";
    else if (s.largest_free_range > v->size - s.used_bytes)
        wrong = "largest_free_range exceeds the unused bytes";
    else if (v->count == 0 && (s.used_bytes || s.largest_free_range != v->size ||
                               s.free_range_count != 1))
        wrong = "an empty block is not one free range";
    else if ((s.free_range_count == 0) != (s.largest_free_range == 0))
        wrong = "free_range_count and largest_free_range disagree";
    if (wrong)
        fz_fail(c, "vblock #%d stats: %s: size %llu, used %llu, allocations %llu, free ranges "
                "%llu, largest %llu, span %llu; model: %u allocations of %llu bytes ending at %llu",
                i, wrong, (unsigned long long)s.size, (unsigned long long)s.used_bytes,
                (unsigned long long)s.allocation_count, (unsigned long long)s.free_range_count,
                (unsigned long long)s.largest_free_range, (unsigned long long)s.span, v->count,
                (unsigned long long)sizes, (unsigned long long)end);
}

void fz_op_vblock_destroy(fz_ctx *c)
{
    fz_expect faults = 0;
    gpumem_vblock handle;
    int i = choose(c, &handle, &faults);
    if (i < 0)
        return;
    gpumem_result r = gpumem_vblock_destroy(handle);
    if (fz_call(c, "gpumem_vblock_destroy", r, faults, 0) && !faults)
        fz_forget_vblock(c, i);
}
