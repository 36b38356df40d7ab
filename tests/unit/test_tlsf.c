/* The TLSF suballocator against a reference model: a sorted array of the live blocks. Random
 * operations check every result against the model; walks check that the ranges tile the whole
 * size, that free neighbours were merged, and that the stats agree. Every random run is made
 * twice: with frees that release their ranges at once, and with deferred frees and allocates
 * (the virtual blocks' kind), whose freed ranges wait in a ring until later frees, an allocate
 * that finds no room, stats, a walk or a clear release them, or an allocate takes the newest
 * back. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "sanitized.h"
#include "tlsf.h"
#include "tlsf_inline.h" /* the generations, for the white-box tests at the end of tlsf_edge */

#ifdef __GLIBC__
#include <malloc.h> /* mallopt(M_PERTURB) */
#endif

/* ------------------------------------------------------------------------------------------
 * Random numbers (splitmix64: small, fast, and reproducible from a seed)
 * ---------------------------------------------------------------------------------------- */

static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static uint64_t random_below(uint64_t *state, uint64_t bound)
{
    return bound ? next_random(state) % bound : 0;
}

/* Log-uniform in [1, max]: tiny sizes are as likely as huge ones. */
static uint64_t random_size(uint64_t *state, uint64_t max)
{
    uint32_t bits = 64u - (uint32_t)__builtin_clzll(max);
    uint32_t k = (uint32_t)random_below(state, bits) + 1u;
    uint64_t limit = k >= 64 ? UINT64_MAX : (UINT64_C(1) << k) - 1u;
    if (limit > max)
        limit = max;
    return 1u + random_below(state, limit);
}

static uint64_t random_alignment(uint64_t *state, uint32_t max_log2)
{
    return UINT64_C(1) << random_below(state, max_log2 + 1u);
}

/* ------------------------------------------------------------------------------------------
 * The model
 * ---------------------------------------------------------------------------------------- */

typedef struct entry {
    uint64_t start; /* offset - left_padding */
    uint64_t block_size;
    uint64_t handle;
} entry;

typedef struct model {
    gpumem_tlsf *tlsf;
    uint64_t total;
    entry *live; /* sorted by start */
    size_t count;
    size_t capacity;
    uint64_t used;
    uint64_t rng;
    size_t last_index; /* where model_alloc put its allocation */
    uint64_t stale[16]; /* recently freed handles, which must never free anything again */
    int deferred;       /* frees through gpumem_tlsf_free_deferred */
} model;

static void model_init(model *m, uint64_t total, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    m->total = total;
    m->rng = seed;
    cr_assert_eq(gpumem_tlsf_create(total, &m->tlsf), GPUMEM_OK);
}

static void model_fini(model *m)
{
    gpumem_tlsf_destroy(m->tlsf);
    free(m->live);
}

static uint64_t end_of(const entry *e)
{
    return e->start + e->block_size;
}

/* First index whose start is at least start. */
static size_t lower_bound(const model *m, uint64_t start)
{
    size_t lo = 0, hi = m->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2u;
        if (m->live[mid].start < start)
            lo = mid + 1u;
        else
            hi = mid;
    }
    return lo;
}

static void model_insert(model *m, size_t at, entry e)
{
    if (m->count == m->capacity) {
        m->capacity = m->capacity ? m->capacity * 2u : 256u;
        m->live = realloc(m->live, m->capacity * sizeof *m->live);
        cr_assert_not_null(m->live);
    }
    memmove(&m->live[at + 1u], &m->live[at], (m->count - at) * sizeof *m->live);
    m->live[at] = e;
    m->count++;
    m->used += e.block_size;
}

static void model_remove(model *m, size_t at)
{
    m->used -= m->live[at].block_size;
    memmove(&m->live[at], &m->live[at + 1u], (m->count - at - 1u) * sizeof *m->live);
    m->count--;
}

/* Whether a free gap [lo, hi) can hold size bytes at the alignment. */
static int gap_fits(uint64_t lo, uint64_t hi, uint64_t size, uint64_t alignment)
{
    uint64_t pad = (0u - lo) & (alignment - 1u);
    return hi - lo >= pad && hi - lo - pad >= size;
}

static int model_has_room(const model *m, uint64_t size, uint64_t alignment)
{
    uint64_t lo = 0;
    for (size_t i = 0; i <= m->count; i++) {
        uint64_t hi = i < m->count ? m->live[i].start : m->total;
        if (gap_fits(lo, hi, size, alignment))
            return 1;
        if (i < m->count)
            lo = end_of(&m->live[i]);
    }
    return 0;
}

static void check_counts(const model *m)
{
    gpumem_tlsf_stats s;
    gpumem_tlsf_stats_get(m->tlsf, &s);
    cr_assert_eq(s.size, m->total);
    cr_assert_eq(s.used_bytes, m->used);
    cr_assert_eq(s.allocation_count, (uint64_t)m->count);
    cr_assert_eq(gpumem_tlsf_is_empty(m->tlsf), m->count == 0);
}

static void check_placement(const model *m, const gpumem_tlsf_allocation *a, uint64_t size,
                            uint64_t alignment)
{
    cr_assert_neq(a->handle, 0u);
    cr_assert_eq(a->offset & (alignment - 1u), 0u, "offset %llu not aligned to %llu",
                 (unsigned long long)a->offset, (unsigned long long)alignment);
    cr_assert_geq(a->offset, a->left_padding);
    cr_assert_geq(a->block_size, a->left_padding);
    cr_assert_geq(a->block_size - a->left_padding, size);
    uint64_t start = a->offset - a->left_padding;
    cr_assert_leq(a->block_size, m->total);
    cr_assert_leq(start, m->total - a->block_size, "block beyond the end");
    size_t at = lower_bound(m, start);
    if (at > 0)
        cr_assert_leq(end_of(&m->live[at - 1u]), start, "overlaps the block before");
    if (at < m->count)
        cr_assert_leq(start + a->block_size, m->live[at].start, "overlaps the block after");
}

/* Allocates and checks the result against the model; returns 1 when it succeeded. */
static int model_alloc(model *m, uint64_t size, uint64_t alignment)
{
    gpumem_tlsf_allocation a;
    gpumem_result r = m->deferred ? gpumem_tlsf_alloc_deferred(m->tlsf, size, alignment, &a)
                                  : gpumem_tlsf_alloc(m->tlsf, size, alignment, &a);
    if (r == GPUMEM_ERROR_LIMIT_EXCEEDED) {
        cr_assert(!model_has_room(m, size, alignment),
                  "alloc(%llu, %llu) failed although a free range fits",
                  (unsigned long long)size, (unsigned long long)alignment);
        return 0;
    }
    cr_assert_eq(r, GPUMEM_OK);
    check_placement(m, &a, size, alignment);
    entry e = {a.offset - a.left_padding, a.block_size, a.handle};
    m->last_index = lower_bound(m, e.start);
    model_insert(m, m->last_index, e);
    return 1;
}

static void model_free(model *m, size_t at)
{
    uint64_t handle = m->live[at].handle;
    /* Freed at once, the range joins its free neighbours: the whole gap between the live
     * allocations around it, which gpumem_tlsf_free_merged reports (for one free in two). */
    uint64_t gap_start = at ? end_of(&m->live[at - 1u]) : 0;
    uint64_t gap_end = at + 1u < m->count ? m->live[at + 1u].start : m->total;
    if (m->deferred)
        cr_assert_eq(gpumem_tlsf_free_deferred(m->tlsf, handle), GPUMEM_OK);
    else if (handle & 1u)
        cr_assert_eq(gpumem_tlsf_free_merged(m->tlsf, handle), gap_end - gap_start,
                     "the freed range [%llu, %llu) is not reported in its gap [%llu, %llu)",
                     (unsigned long long)m->live[at].start,
                     (unsigned long long)end_of(&m->live[at]), (unsigned long long)gap_start,
                     (unsigned long long)gap_end);
    else
        cr_assert_eq(gpumem_tlsf_free(m->tlsf, handle), GPUMEM_OK);
    /* A second free is refused at once, whether or not the range is released yet. */
    cr_assert_eq(gpumem_tlsf_free(m->tlsf, handle), GPUMEM_ERROR_INVALID_HANDLE);
    cr_assert_eq(gpumem_tlsf_free_deferred(m->tlsf, handle), GPUMEM_ERROR_INVALID_HANDLE);
    cr_assert_eq(gpumem_tlsf_free_merged(m->tlsf, handle), 0u);
    model_remove(m, at);
}

/* ------------------------------------------------------------------------------------------
 * Walk checks
 * ---------------------------------------------------------------------------------------- */

typedef struct walk_state {
    const model *m;
    uint64_t expected_offset;
    size_t next_used;
    int last_was_free;
    uint64_t free_ranges;
    uint64_t largest_free;
} walk_state;

static void visit(void *user, uint64_t handle, uint64_t offset, uint64_t size, int used)
{
    walk_state *w = user;
    cr_assert_eq(offset, w->expected_offset, "ranges do not tile in address order");
    cr_assert_gt(size, 0u);
    cr_assert_leq(size, w->m->total - offset);
    if (used) {
        cr_assert_lt(w->next_used, w->m->count, "a used range the model does not have");
        const entry *e = &w->m->live[w->next_used++];
        cr_assert_eq(offset, e->start);
        cr_assert_eq(size, e->block_size);
        cr_assert_eq(handle, e->handle);
    } else {
        cr_assert_eq(handle, 0u);
        cr_assert(!w->last_was_free, "two adjacent free ranges at %llu",
                  (unsigned long long)offset);
        w->free_ranges++;
        if (size > w->largest_free)
            w->largest_free = size;
    }
    w->last_was_free = !used;
    w->expected_offset = offset + size;
}

static void check_walk(const model *m)
{
    /* Stats first: they must release deferred frees' ranges themselves. */
    gpumem_tlsf_stats s;
    gpumem_tlsf_stats_get(m->tlsf, &s);
    walk_state w = {.m = m};
    gpumem_tlsf_walk(m->tlsf, visit, &w);
    cr_assert_eq(w.next_used, m->count, "the walk missed used ranges");
    cr_assert_eq(w.expected_offset, m->total, "ranges do not reach the end");
    cr_assert_eq(s.free_range_count, w.free_ranges);
    cr_assert_eq(s.largest_free_range, w.largest_free);
    uint64_t span = m->count ? end_of(&m->live[m->count - 1u]) : 0;
    cr_assert_eq(s.span, span);
    check_counts(m);
    /* Each allocation's used neighbour below (the stats released the deferred frees' ranges,
     * so free ranges are never neighbours): the record of the allocation before it in address
     * order, or none for the first. */
    for (size_t i = 0; i < m->count; i++)
        cr_assert_eq(gpumem_tlsf_used_before(m->tlsf, m->live[i].handle),
                     i ? (uint32_t)m->live[i - 1u].handle : 0u,
                     "allocation %zu of %zu: wrong used range below", i, m->count);
}

/* The largest free range is exactly what alloc(size, 1) can still get. */
static void check_largest(model *m)
{
    gpumem_tlsf_stats s;
    gpumem_tlsf_stats_get(m->tlsf, &s);
    if (s.largest_free_range < m->total) {
        gpumem_tlsf_allocation a;
        cr_assert_eq(gpumem_tlsf_alloc(m->tlsf, s.largest_free_range + 1u, 1, &a),
                     GPUMEM_ERROR_LIMIT_EXCEEDED);
    }
    if (s.largest_free_range > 0) {
        cr_assert(model_alloc(m, s.largest_free_range, 1));
        model_free(m, m->last_index);
    }
}

static void drain(model *m)
{
    /* Random order near the top end keeps the model's memmove short for big counts. */
    while (m->count > 0) {
        size_t window = m->count < 64u ? m->count : 64u;
        model_free(m, m->count - 1u - (size_t)random_below(&m->rng, window));
    }
    check_walk(m);
    gpumem_tlsf_stats s;
    gpumem_tlsf_stats_get(m->tlsf, &s);
    cr_assert_eq(s.free_range_count, 1u);
    cr_assert_eq(s.largest_free_range, m->total);
    cr_assert_eq(s.span, 0u);
    cr_assert_eq(s.used_bytes, 0u);
}

/* ------------------------------------------------------------------------------------------
 * Random runs
 * ---------------------------------------------------------------------------------------- */

typedef struct run_params {
    uint64_t total;
    uint64_t max_size;
    uint32_t max_align_log2;
    size_t target_live; /* the number of live allocations the run hovers around */
    long steps;
    long walk_every;
    uint64_t seed;
} run_params;

/* Leans towards allocating below the target and freeing above it. The target drops to a quarter
 * every other 4096 steps, so that the allocator sees fragmentation, draining and refilling. */
static void random_step(model *m, const run_params *p, long step)
{
    size_t target = (step / 4096) % 2 ? p->target_live / 4u : p->target_live;
    uint64_t roll = random_below(&m->rng, 100);
    int alloc = m->count == 0 || (m->count < target ? roll < 60 : roll < 40);
    if (alloc) {
        uint64_t size = random_size(&m->rng, p->max_size);
        model_alloc(m, size, random_alignment(&m->rng, p->max_align_log2));
    } else {
        size_t at = (size_t)random_below(&m->rng, m->count);
        uint64_t handle = m->live[at].handle;
        model_free(m, at);
        /* A stale handle is tried once its record has likely been reused. */
        uint64_t *slot = &m->stale[roll % 16u];
        if (*slot)
            cr_assert_eq(gpumem_tlsf_free(m->tlsf, *slot), GPUMEM_ERROR_INVALID_HANDLE);
        *slot = handle;
    }
    /* Stats release deferred frees' ranges: asked at every step, they would leave none pending
     * for the allocates to find. */
    if (m->deferred)
        cr_assert_eq(gpumem_tlsf_is_empty(m->tlsf), m->count == 0);
    else
        check_counts(m);
}

static void random_run_freeing(const run_params *p, int deferred)
{
    model m;
    model_init(&m, p->total, p->seed + (uint64_t)deferred * 1000u);
    m.deferred = deferred;
    for (long i = 1; i <= TEST_SANITIZED_STEPS(p->steps); i++) {
        random_step(&m, p, i);
        if (i % p->walk_every == 0) {
            check_walk(&m);
            check_largest(&m);
        }
    }
    check_walk(&m);
    drain(&m);
    model_fini(&m);
}

static void random_run(const run_params *p)
{
    random_run_freeing(p, 0);
    random_run_freeing(p, 1);
}

Test(tlsf_random, small_block_many_sizes)
{
    run_params p = {.total = UINT64_C(1) << 20, .max_size = 1u << 16, .max_align_log2 = 12,
                    .target_live = 200, .steps = 800000, .walk_every = 97, .seed = 1};
    random_run(&p);
}

Test(tlsf_random, odd_size_tiny_requests)
{
    run_params p = {.total = 1000003, .max_size = 300, .max_align_log2 = 6,
                    .target_live = 2000, .steps = 800000, .walk_every = 499, .seed = 2};
    random_run(&p);
}

Test(tlsf_random, nearly_full)
{
    /* Requests large against the block, so that many allocations fail and the failure path
     * (no free range fits) is checked against the model. */
    run_params p = {.total = 65536, .max_size = 8192, .max_align_log2 = 10,
                    .target_live = 64, .steps = 800000, .walk_every = 31, .seed = 3};
    random_run(&p);
}

Test(tlsf_random, huge_block)
{
    run_params p = {.total = UINT64_MAX, .max_size = UINT64_C(1) << 62, .max_align_log2 = 62,
                    .target_live = 300, .steps = 600000, .walk_every = 101, .seed = 4};
    random_run(&p);
}

Test(tlsf_random, huge_block_odd_size)
{
    run_params p = {.total = (UINT64_C(1) << 63) + 12345, .max_size = UINT64_MAX,
                    .max_align_log2 = 63, .target_live = 40, .steps = 600000,
                    .walk_every = 53, .seed = 5};
    random_run(&p);
}

Test(tlsf_random, gpu_page_like)
{
    run_params p = {.total = UINT64_C(32) << 20, .max_size = UINT64_C(4) << 20,
                    .max_align_log2 = 16, .target_live = 500, .steps = 800000,
                    .walk_every = 211, .seed = 6};
    random_run(&p);
}

/* Allocates until 50 requests have failed, each checked against the model. */
static void fill(model *m, uint64_t max_size)
{
    for (int failures = 0; failures < 50;) {
        uint64_t size = random_size(&m->rng, max_size);
        if (!model_alloc(m, size, random_alignment(&m->rng, 8)))
            failures++;
        check_counts(m);
    }
    check_walk(m);
}

Test(tlsf_random, fill_and_drain_cycles)
{
    model m;
    model_init(&m, (UINT64_C(1) << 16) + 7, 7);
    for (int cycle = 0; cycle < 40; cycle++) {
        /* Fill, free about half at random, refill the holes, then drain everything. */
        fill(&m, 1u << (4 + cycle % 10));
        check_largest(&m);
        for (size_t n = m.count / 2u; n > 0; n--)
            model_free(&m, (size_t)random_below(&m.rng, m.count));
        check_walk(&m);
        fill(&m, 1u << (4 + (cycle + 5) % 10));
        drain(&m);
    }
    model_fini(&m);
}

/* ------------------------------------------------------------------------------------------
 * Edge cases
 * ---------------------------------------------------------------------------------------- */

Test(tlsf_edge, create_rejects_zero)
{
    gpumem_tlsf *t = NULL;
    cr_assert_eq(gpumem_tlsf_create(0, &t), GPUMEM_ERROR_INVALID_ARGUMENT);
    gpumem_tlsf_destroy(NULL);
}

Test(tlsf_edge, fresh_state)
{
    model m;
    model_init(&m, 12345, 0);
    check_walk(&m);
    gpumem_tlsf_stats s;
    gpumem_tlsf_stats_get(m.tlsf, &s);
    cr_assert_eq(s.free_range_count, 1u);
    cr_assert_eq(s.largest_free_range, 12345u);
    cr_assert_eq(s.span, 0u);
    model_fini(&m);
}

Test(tlsf_edge, whole_size)
{
    const uint64_t sizes[] = {1, 2, 31, 32, 33, 1000, 4096, 1000003, UINT64_C(1) << 40,
                              UINT64_MAX - 1u, UINT64_MAX};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        model m;
        model_init(&m, sizes[i], i);
        cr_assert(model_alloc(&m, sizes[i], 1), "alloc of the whole %llu",
                  (unsigned long long)sizes[i]);
        check_walk(&m);
        gpumem_tlsf_stats s;
        gpumem_tlsf_stats_get(m.tlsf, &s);
        cr_assert_eq(s.used_bytes, sizes[i]);
        cr_assert_eq(s.free_range_count, 0u);
        cr_assert_eq(s.largest_free_range, 0u);
        cr_assert_eq(s.span, sizes[i]);
        cr_assert(!model_alloc(&m, 1, 1));
        drain(&m);
        model_fini(&m);
    }
}

typedef struct snapshot {
    gpumem_tlsf_stats stats;
    uint64_t ranges[64][4];
    size_t count;
} snapshot;

static void record(void *user, uint64_t handle, uint64_t offset, uint64_t size, int used)
{
    snapshot *s = user;
    cr_assert_lt(s->count, 64u);
    uint64_t *r = s->ranges[s->count++];
    r[0] = handle;
    r[1] = offset;
    r[2] = size;
    r[3] = (uint64_t)used;
}

static void take_snapshot(gpumem_tlsf *t, snapshot *s)
{
    memset(s, 0, sizeof *s);
    gpumem_tlsf_stats_get(t, &s->stats);
    gpumem_tlsf_walk(t, record, s);
}

Test(tlsf_edge, too_large_changes_nothing)
{
    model m;
    model_init(&m, 1u << 20, 11);
    for (int i = 0; i < 20; i++)
        model_alloc(&m, 1000u + (uint64_t)i * 37u, 64);
    model_free(&m, 3);
    model_free(&m, 7);
    snapshot before, after;
    take_snapshot(m.tlsf, &before);
    gpumem_tlsf_allocation a;
    const uint64_t sizes[] = {(1u << 20) + 1u, UINT64_MAX, UINT64_MAX - 255u,
                              before.stats.largest_free_range + 1u};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        cr_assert_eq(gpumem_tlsf_alloc(m.tlsf, sizes[i], 1, &a), GPUMEM_ERROR_LIMIT_EXCEEDED);
        cr_assert_eq(gpumem_tlsf_alloc(m.tlsf, sizes[i], 256, &a), GPUMEM_ERROR_LIMIT_EXCEEDED);
    }
    /* Offset 0 is taken and 2^63 lies beyond the end. */
    cr_assert_eq(gpumem_tlsf_alloc(m.tlsf, 1, UINT64_C(1) << 63, &a), GPUMEM_ERROR_LIMIT_EXCEEDED);
    take_snapshot(m.tlsf, &after);
    cr_assert_eq(memcmp(&before.stats, &after.stats, sizeof before.stats), 0);
    cr_assert_eq(before.count, after.count);
    cr_assert_eq(memcmp(before.ranges, after.ranges, sizeof before.ranges), 0);
    model_fini(&m);
}

Test(tlsf_edge, huge_alignment)
{
    model m;
    model_init(&m, UINT64_MAX, 12);
    cr_assert(model_alloc(&m, 1, 1)); /* at 0, so that 0 is taken */
    cr_assert(model_alloc(&m, 10, UINT64_C(1) << 63));
    const entry *e = &m.live[m.last_index];
    cr_assert_geq(end_of(e), (UINT64_C(1) << 63) + 10u);
    gpumem_tlsf_allocation a;
    /* 2^63 is the only aligned offset left, and it is taken. */
    cr_assert_eq(gpumem_tlsf_alloc(m.tlsf, 1, UINT64_C(1) << 63, &a), GPUMEM_ERROR_LIMIT_EXCEEDED);
    cr_assert(model_alloc(&m, UINT64_C(1) << 62, UINT64_C(1) << 62));
    check_walk(&m);
    drain(&m);
    model_fini(&m);
}

Test(tlsf_edge, sizes_near_the_top)
{
    model m;
    model_init(&m, UINT64_MAX, 13);
    cr_assert(model_alloc(&m, 3, 1));
    gpumem_tlsf_allocation a;
    cr_assert_eq(gpumem_tlsf_alloc(m.tlsf, UINT64_MAX, 1, &a), GPUMEM_ERROR_LIMIT_EXCEEDED);
    cr_assert_eq(gpumem_tlsf_alloc(m.tlsf, UINT64_MAX - 2u, 2, &a), GPUMEM_ERROR_LIMIT_EXCEEDED);
    cr_assert_eq(gpumem_tlsf_alloc(m.tlsf, UINT64_MAX - 3u, 4, &a), GPUMEM_ERROR_LIMIT_EXCEEDED);
    /* size + alignment - 1 wraps around: only offset 2^63 is aligned and free, and too high. */
    cr_assert(!model_alloc(&m, (UINT64_C(1) << 63) + 1u, UINT64_C(1) << 63));
    cr_assert(!model_alloc(&m, UINT64_MAX - 5u, UINT64_C(1) << 62));
    check_walk(&m);
    cr_assert(model_alloc(&m, UINT64_MAX - 4u, 4));
    check_walk(&m);
    model_alloc(&m, 1, 1); /* byte 3 may be left as padding or be free: the model checks both */
    check_walk(&m);
    drain(&m);
    cr_assert(model_alloc(&m, UINT64_MAX - 1u, UINT64_C(1) << 63));
    cr_assert_eq(m.live[0].start, 0u);
    check_walk(&m);
    drain(&m);
    model_fini(&m);
}

/* Deferred frees' ranges come back whenever free space is looked at: an allocate of the whole
 * block right after freeing everything (fewer and more frees than the ring holds), stats, and a
 * clear or destroy with frees pending. */
Test(tlsf_edge, deferred_frees_come_back_when_needed)
{
    for (uint32_t n = 1; n <= 20; n++) {
        model m;
        model_init(&m, 2000, 20 + n);
        m.deferred = 1;
        for (uint32_t i = 0; i < n; i++)
            cr_assert(model_alloc(&m, 2000 / n, 1));
        for (uint32_t i = n; i > 0; i--)
            model_free(&m, (size_t)random_below(&m.rng, i));
        cr_assert(gpumem_tlsf_is_empty(m.tlsf));
        if (n % 2) {
            cr_assert(model_alloc(&m, 2000, 1), "the whole block after %u frees", n);
            model_free(&m, 0);
        } else {
            walk_state w = {.m = &m}; /* a walk before anything else has released them */
            gpumem_tlsf_walk(m.tlsf, visit, &w);
            cr_assert_eq(w.free_ranges, 1u);
        }
        check_walk(&m);
        gpumem_tlsf_stats s;
        gpumem_tlsf_stats_get(m.tlsf, &s);
        cr_assert_eq(s.free_range_count, 1u);
        cr_assert_eq(s.largest_free_range, 2000u);
        /* Frees pending at a clear and at the destroy (ASan checks that nothing leaks). */
        for (uint32_t i = 0; i < n; i++)
            cr_assert(model_alloc(&m, 2000 / n, 1));
        uint64_t first = m.live[0].handle;
        for (uint32_t i = n / 2; i > 0; i--)
            model_free(&m, 0);
        if (n / 2 > 0) { /* the first live one follows the freed ones, once released */
            cr_assert_eq(gpumem_tlsf_release_pending(m.tlsf), 1);
            cr_assert_eq(gpumem_tlsf_borders_free(m.tlsf, m.live[0].handle), 1);
            cr_assert_eq(gpumem_tlsf_release_pending(m.tlsf), 0);
        }
        if (m.count > 1) { /* pending again at the clear */
            first = m.live[m.count - 1].handle;
            model_free(&m, m.count - 1);
        }
        gpumem_tlsf_clear(m.tlsf);
        cr_assert_eq(gpumem_tlsf_free(m.tlsf, first), GPUMEM_ERROR_INVALID_HANDLE);
        for (uint32_t i = 0; i < m.count; i++)
            cr_assert_eq(gpumem_tlsf_free_deferred(m.tlsf, m.live[i].handle),
                         GPUMEM_ERROR_INVALID_HANDLE, "a handle from before the clear");
        m.count = 0;
        m.used = 0;
        cr_assert(model_alloc(&m, 2000, 1));
        model_free(&m, 0);
        /* More frees than the ring holds: a ring kept through the clear would now release a
         * range from before it. */
        for (uint32_t i = 0; i < 20; i++) {
            cr_assert(model_alloc(&m, 1 + i * 7u, 1));
            model_free(&m, m.last_index);
        }
        check_walk(&m);
        model_fini(&m);
    }
}

/* Whether the next deferred allocate looks at the ring (the retake's gate, tlsf_inline.h). */
static int retake_looks(const model *m)
{
    return tlsf_retake_looks(m->tlsf->retake_misses);
}

/* A deferred allocate that looks at the ring takes back the range freed last when it holds the
 * request with at most 1/32 of it to spare (padding under 256 bytes apart), so like sizes reuse
 * their ranges and the span stays put; any other request, and any allocate that does not look,
 * leaves it pending. Random sizes and alignments, in a block with other allocations around;
 * about half the requests repeat the size just freed. Random frees make most looks miss, so the
 * gate stays closed most of the time: in one round in eight it is opened by hand (the counter set
 * to 0, as a retake would) before the checked allocate, so that both kinds of check run many
 * times. */
Test(tlsf_edge, deferred_allocate_takes_back_the_range_freed_last)
{
    model m;
    model_init(&m, UINT64_C(1) << 40, 31);
    m.deferred = 1;
    int taken_back = 0, left_by_the_gate = 0;
    for (int round = 0; round < 20000; round++) {
        uint64_t size = random_size(&m.rng, UINT64_C(1) << 24);
        uint64_t alignment = random_alignment(&m.rng, 12);
        cr_assert(model_alloc(&m, size, alignment));
        uint64_t offset = m.live[m.last_index].start;
        uint64_t block = m.live[m.last_index].block_size;
        model_free(&m, m.last_index);
        /* the same size again (taken back unless the block holds much more), or another */
        uint64_t other = random_below(&m.rng, 2) ? size : random_size(&m.rng, size * 2u);
        if (random_below(&m.rng, 8) == 0)
            m.tlsf->retake_misses = 0;
        int looks = retake_looks(&m);
        cr_assert(model_alloc(&m, other, alignment));
        const entry *e = &m.live[m.last_index];
        /* The block may hold more than was asked (a remainder too small to cut): it is taken
         * back only when that leaves at most 1/32 of the request to spare, and its padding would
         * stay in the allocation (under 256 bytes). */
        uint64_t pad = (0u - offset) & (alignment - 1u);
        uint64_t room = block - pad;
        int fits = block >= pad && room >= other && room - other <= other >> 5 && pad < 256;
        taken_back += looks && fits;
        left_by_the_gate += !looks && fits;
        if (looks && fits)
            cr_assert(e->start == offset && e->block_size == block,
                      "size %llu (after %llu) at alignment %llu: not the range freed last",
                      (unsigned long long)other, (unsigned long long)size,
                      (unsigned long long)alignment);
        else
            cr_assert_neq(e->start, offset, "a pending range given to a request it does not fit, "
                                            "or by an allocate that did not look");
        if (m.count > 64) /* keep the block from filling; older ones free at random */
            model_free(&m, (size_t)random_below(&m.rng, m.count));
        if (round % 997 == 0)
            check_walk(&m);
    }
    cr_assert(taken_back >= 1000 && left_by_the_gate >= 1000,
              "%d ranges taken back, %d that fit left by a closed gate: the gate did not cycle",
              taken_back, left_by_the_gate);
    check_walk(&m);
    drain(&m);
    model_fini(&m);
}

/* A free of `size` bytes and an allocate of the same size: 1 when the allocate took the freed
 * range back. The live allocation at `at` is the one freed. */
static int free_and_retake(model *m, size_t at, uint64_t size)
{
    uint64_t start = m->live[at].start;
    model_free(m, at);
    cr_assert(model_alloc(m, size, 1));
    return m->live[m->last_index].start == start;
}

/* A free of a live 4 KiB allocation, then an allocate of 64 bytes: a retake that finds a range
 * and cannot take it. */
static void retake_miss(model *m)
{
    size_t at = m->count;
    while (at > 0 && m->live[at - 1u].block_size != 4096)
        at--;
    cr_assert(at > 0, "no 4 KiB allocation left");
    model_free(m, at - 1u);
    cr_assert(model_alloc(m, 64, 1));
}

/* The retake's gate, by behaviour: a fill (allocates that find the ring empty) leaves it open, as
 * do TLSF_RETAKE_TRIES - 1 misses in a row; after TLSF_RETAKE_TRIES the allocates that follow do
 * not take back even the range just freed, until the one that brings the count of misses and
 * skipped allocates to TLSF_RETAKE_EVERY (the 57th after the gate closed), which does and opens
 * the gate again; then one miss does not close it; clear opens it. 1 KiB allocations fill the
 * front of the block, 4 KiB ones follow. */
Test(tlsf_edge, deferred_retake_stops_looking_after_misses)
{
    model m;
    model_init(&m, UINT64_C(1) << 30, 33);
    m.deferred = 1;
    for (int i = 0; i < 1000; i++)
        cr_assert(model_alloc(&m, 1024, 1));
    for (int i = 0; i < 100; i++)
        cr_assert(model_alloc(&m, 4096, 1));
    cr_assert(free_and_retake(&m, 500, 1024), "a fill turned the retake off");
    for (uint32_t k = 0; k + 1u < TLSF_RETAKE_TRIES; k++)
        retake_miss(&m);
    cr_assert(free_and_retake(&m, 501, 1024), "closed after %u misses", TLSF_RETAKE_TRIES - 1u);
    for (uint32_t k = 0; k < TLSF_RETAKE_TRIES; k++) {
        cr_assert(retake_looks(&m), "closed after %u misses", k);
        retake_miss(&m);
    }
    /* Closed: each pair below has one allocate, counted from the tries on. */
    for (uint32_t k = TLSF_RETAKE_TRIES; k < TLSF_RETAKE_EVERY; k++)
        cr_assert(!free_and_retake(&m, 200 + k, 1024), "looked at allocate %u of a closed gate",
                  k);
    cr_assert(free_and_retake(&m, 300, 1024), "never looked again");
    for (int k = 0; k < 4; k++)
        cr_assert(free_and_retake(&m, 400 + (size_t)k, 1024), "open again, then closed");
    retake_miss(&m);
    cr_assert(free_and_retake(&m, 410, 1024), "closed by one miss after a retake");
    for (uint32_t k = 0; k < TLSF_RETAKE_TRIES; k++)
        retake_miss(&m);
    gpumem_tlsf_clear(m.tlsf);
    m.count = 0;
    m.used = 0;
    cr_assert(model_alloc(&m, 1024, 1));
    cr_assert(model_alloc(&m, 1024, 1));
    cr_assert(free_and_retake(&m, 0, 1024), "still closed after clear");
    check_walk(&m);
    drain(&m);
    model_fini(&m);
}

/* A pending range smaller than the padding a huge request would need there is not taken back: the
 * spare room, computed with wrapping arithmetic, must not pass for it. */
Test(tlsf_edge, deferred_allocate_refuses_a_range_smaller_than_its_padding)
{
    model m;
    model_init(&m, 1024, 32);
    m.deferred = 1;
    cr_assert(model_alloc(&m, 8, 1));
    cr_assert(model_alloc(&m, 8, 1));
    model_free(&m, m.last_index);
    for (uint64_t k = 0; k < 64; k++)
        cr_assert(!model_alloc(&m, UINT64_MAX - 255u - k * 97u, 256), "request %llu",
                  (unsigned long long)k);
    check_walk(&m);
    model_fini(&m);
}

/* When the record array cannot grow (its allocation fails), a deferred allocate that needed a
 * record to split with releases the pending ranges and tries again: a pending range of the
 * request's size then serves it whole, with no record. The newest pending range is of another
 * size, so that the allocate does not simply take it back. */
Test(tlsf_edge, deferred_allocate_uses_a_pending_range_when_records_cannot_grow)
{
    model m;
    model_init(&m, 1u << 20, 33);
    m.deferred = 1;
    /* Allocations of 100 and 300 bytes from the tail, each taking a record for the rest, until
     * the next would need the record array to grow. */
    for (uint64_t n = 0;; n++) {
        uint64_t size = n % 2 ? 300 : 100;
        gpumem_alloc_fail_at(1, 1); /* every host allocation fails from here */
        gpumem_tlsf_allocation probe;
        gpumem_result r = gpumem_tlsf_alloc(m.tlsf, size, 1, &probe);
        gpumem_alloc_fail_at(0, 0);
        if (r == GPUMEM_ERROR_OUT_OF_HOST_MEMORY)
            break;
        cr_assert_eq(r, GPUMEM_OK);
        cr_assert_eq(gpumem_tlsf_free(m.tlsf, probe.handle), GPUMEM_OK); /* back to the tail */
        cr_assert(model_alloc(&m, size, 1));
    }
    cr_assert_geq(m.count, 5u);
    uint64_t freed_at = m.live[2].start; /* a 100-byte one, then a 300-byte one, both inside */
    cr_assert_eq(m.live[2].block_size, 100u);
    model_free(&m, 2);
    cr_assert_eq(m.live[2].block_size, 300u);
    model_free(&m, 2);
    gpumem_alloc_fail_at(1, 1);
    int placed = model_alloc(&m, 100, 1);
    gpumem_alloc_fail_at(0, 0);
    cr_assert(placed, "no record, and the pending range of that size was not used");
    cr_assert_eq(m.live[m.last_index].start, freed_at);
    check_walk(&m);
    model_fini(&m);
}

Test(tlsf_edge, invalid_arguments)
{
    model m;
    model_init(&m, 4096, 14);
    gpumem_tlsf_allocation a;
    cr_assert_eq(gpumem_tlsf_alloc(m.tlsf, 0, 1, &a), GPUMEM_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(gpumem_tlsf_alloc(m.tlsf, 16, 0, &a), GPUMEM_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(gpumem_tlsf_alloc(m.tlsf, 16, 3, &a), GPUMEM_ERROR_INVALID_ARGUMENT);
    check_walk(&m);
    model_fini(&m);
}

Test(tlsf_edge, bad_handles)
{
    model m;
    model_init(&m, 1u << 16, 15);
    for (int i = 0; i < 10; i++)
        model_alloc(&m, 100, 16);
    uint64_t freed = m.live[4].handle;
    model_free(&m, 4);
    const uint64_t bogus[] = {0, 1, UINT64_MAX, UINT32_MAX, (uint64_t)UINT32_MAX << 32,
                              freed, freed + (UINT64_C(1) << 32), freed - (UINT64_C(1) << 32),
                              (freed & UINT32_MAX) | (UINT64_C(77) << 32)};
    for (size_t i = 0; i < sizeof bogus / sizeof bogus[0]; i++)
        cr_assert_eq(gpumem_tlsf_free(m.tlsf, bogus[i]), GPUMEM_ERROR_INVALID_HANDLE,
                     "handle %#llx", (unsigned long long)bogus[i]);
    /* Random values: whatever they hit, they must not be live handles' exact values. */
    for (int i = 0; i < 100000; i++) {
        uint64_t h = next_random(&m.rng);
        int live = 0;
        for (size_t j = 0; j < m.count; j++)
            live |= m.live[j].handle == h;
        if (!live)
            cr_assert_eq(gpumem_tlsf_free(m.tlsf, h), GPUMEM_ERROR_INVALID_HANDLE);
    }
    /* Generation 0 (never given) at every record below the high-water mark: free, spare, freed
     * or live ones, through both kinds of free. */
    for (uint64_t i = 0; i < 64; i++) {
        cr_assert_eq(gpumem_tlsf_free(m.tlsf, i), GPUMEM_ERROR_INVALID_HANDLE, "record %llu",
                     (unsigned long long)i);
        cr_assert_eq(gpumem_tlsf_free_deferred(m.tlsf, i), GPUMEM_ERROR_INVALID_HANDLE);
    }
    /* Every live handle with any other generation. */
    for (size_t j = 0; j < m.count; j++) {
        for (uint64_t g = 0; g < 8; g++) {
            uint64_t h = (m.live[j].handle & UINT32_MAX) | (g << 32);
            if (h != m.live[j].handle)
                cr_assert_eq(gpumem_tlsf_free(m.tlsf, h), GPUMEM_ERROR_INVALID_HANDLE);
        }
    }
    check_walk(&m);
    drain(&m);
    model_fini(&m);
}

/* The generation counter wraps from 2^32 - 1 to 1, never to 0 (which marks a record that holds
 * no allocation): handles made around the wrap are distinct, free once, and only once. The
 * counter is set near its end, as four billion allocations would leave it. */
Test(tlsf_edge, generations_wrap_past_zero)
{
    for (int deferred = 0; deferred < 2; deferred++) {
        model m;
        model_init(&m, 1u << 16, 40u + (uint64_t)deferred);
        m.deferred = deferred;
        m.tlsf->generation = UINT32_MAX - 5u;
        for (uint32_t i = 0; i < 12; i++) {
            cr_assert(model_alloc(&m, 64u + i, 1));
            uint32_t generation = (uint32_t)(m.live[m.last_index].handle >> 32);
            uint32_t expected = i < 5 ? UINT32_MAX - 4u + i : i - 4u;
            cr_assert_eq(generation, expected, "allocation %u: generation %u, expected %u", i,
                         generation, expected);
            if (i % 2)
                model_free(&m, m.last_index); /* also checks that a second free is refused */
        }
        check_walk(&m);
        drain(&m);
        model_fini(&m);
    }
}

/* Each record's generation is the live allocation's it holds, else 0, at every index of the
 * record array, also the part a growth added. */
static void check_generations(const model *m)
{
    const gpumem_tlsf *t = m->tlsf;
    for (uint32_t i = 0; i < t->block_capacity; i++) {
        uint32_t expected = 0;
        for (size_t j = 0; j < m->count; j++)
            if ((uint32_t)m->live[j].handle == i)
                expected = (uint32_t)(m->live[j].handle >> 32);
        cr_assert_eq(t->generations[i], expected, "record %u of %u: generation %u, expected %u",
                     i, t->block_capacity, t->generations[i], expected);
    }
}

/* Records a growth adds hold no allocation until one is made in them (a generation of 0), so
 * that no forged handle can free them. For a growth that did not clear its new part to show,
 * that memory must not be zero by chance: glibc fills what malloc hands out under M_PERTURB
 * (past its per-thread cache's sizes: the growths to 512 records and up), AddressSanitizer the
 * first 4 KiB of each allocation (the growths to 512 and 1,024). */
Test(tlsf_edge, grown_records_hold_no_allocation)
{
#ifdef __GLIBC__
    mallopt(M_PERTURB, 0x5a);
#endif
    for (int deferred = 0; deferred < 2; deferred++) {
        model m;
        model_init(&m, 1u << 24, 50u + (uint64_t)deferred);
        m.deferred = deferred;
        uint32_t capacity = m.tlsf->block_capacity;
        int growths = 0;
        for (int op = 0; op < 4000 && growths < 6; op++) {
            if (m.count && random_below(&m.rng, 3) == 0)
                model_free(&m, (size_t)random_below(&m.rng, m.count));
            else
                cr_assert(model_alloc(&m, 16u + random_below(&m.rng, 200), 1));
            if (m.tlsf->block_capacity != capacity) {
                capacity = m.tlsf->block_capacity;
                growths++;
                check_generations(&m);
            }
        }
        cr_assert_geq(growths, 5, "the record array grew %d times", growths);
        check_walk(&m);
        drain(&m);
        model_fini(&m);
    }
#ifdef __GLIBC__
    mallopt(M_PERTURB, 0);
#endif
}

Test(tlsf_edge, double_free_after_reuse)
{
    model m;
    model_init(&m, 1u << 16, 16);
    model_alloc(&m, 500, 1);
    model_alloc(&m, 500, 1);
    uint64_t old = m.live[0].handle;
    model_free(&m, 0);
    cr_assert_eq(gpumem_tlsf_free(m.tlsf, old), GPUMEM_ERROR_INVALID_HANDLE);
    /* The record may be reused for the next allocation; the old handle stays dead. */
    for (int i = 0; i < 100; i++) {
        model_alloc(&m, 500, 1);
        cr_assert_neq(m.live[0].handle, old);
        cr_assert_eq(gpumem_tlsf_free(m.tlsf, old), GPUMEM_ERROR_INVALID_HANDLE);
        model_free(&m, 0);
    }
    check_walk(&m);
    drain(&m);
    model_fini(&m);
}

Test(tlsf_edge, clear_invalidates_handles)
{
    model m;
    model_init(&m, 1u << 20, 17);
    for (int i = 0; i < 300; i++)
        model_alloc(&m, 1 + random_below(&m.rng, 2000), random_alignment(&m.rng, 6));
    uint64_t handles[300];
    size_t n = m.count;
    for (size_t i = 0; i < n; i++)
        handles[i] = m.live[i].handle;
    gpumem_tlsf_clear(m.tlsf);
    m.count = 0;
    m.used = 0;
    check_walk(&m);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(gpumem_tlsf_free(m.tlsf, handles[i]), GPUMEM_ERROR_INVALID_HANDLE);
    /* New allocations reuse the records; the old handles must still not free them. */
    for (int i = 0; i < 300; i++)
        model_alloc(&m, 1 + random_below(&m.rng, 2000), 1);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(gpumem_tlsf_free(m.tlsf, handles[i]), GPUMEM_ERROR_INVALID_HANDLE);
    check_walk(&m);
    gpumem_tlsf_clear(m.tlsf);
    gpumem_tlsf_clear(m.tlsf);
    m.count = 0;
    m.used = 0;
    check_walk(&m);
    drain(&m);
    model_fini(&m);
}

Test(tlsf_edge, many_tiny_allocations)
{
    /* Enough records to make the record array grow many times; the block fills completely. */
    const uint64_t n = 100000;
    model m;
    model_init(&m, n, 18);
    while (model_alloc(&m, 1, 1))
        cr_assert_eq(m.last_index, m.count - 1u, "tiny allocations go up in address order");
    cr_assert_geq(m.count, n - 256u);
    cr_assert_eq(m.used, n);
    check_walk(&m);
    /* Every other one freed: free ranges that are never adjacent. */
    for (size_t i = m.count; i-- > 0;)
        if (i % 2u == 0)
            model_free(&m, i);
    check_walk(&m);
    check_largest(&m);
    drain(&m);
    model_fini(&m);
}

Test(tlsf_edge, span)
{
    model m;
    model_init(&m, 1u << 20, 19);
    for (int i = 0; i < 8; i++)
        model_alloc(&m, 4096, 4096);
    check_walk(&m);
    gpumem_tlsf_stats s;
    gpumem_tlsf_stats_get(m.tlsf, &s);
    cr_assert_eq(s.span, 8u * 4096u);
    model_free(&m, 7); /* the highest: span drops to the one below */
    gpumem_tlsf_stats_get(m.tlsf, &s);
    cr_assert_eq(s.span, 7u * 4096u);
    model_free(&m, 0); /* the lowest: span stays */
    gpumem_tlsf_stats_get(m.tlsf, &s);
    cr_assert_eq(s.span, 7u * 4096u);
    check_walk(&m);
    drain(&m);
    model_fini(&m);
}

Test(tlsf_edge, padding_is_reported)
{
    model m;
    model_init(&m, 1u << 20, 20);
    cr_assert(model_alloc(&m, 3, 1));
    cr_assert(model_alloc(&m, 100, 64));
    cr_assert_geq(end_of(&m.live[m.last_index]), 164u);
    cr_assert(model_alloc(&m, 100, 1u << 16));
    const entry *e = &m.live[m.last_index];
    cr_assert_leq(e->start, 1u << 16);
    cr_assert_geq(e->start + e->block_size, (1u << 16) + 100u);
    check_walk(&m);
    drain(&m);
    model_fini(&m);
}

/* Where an allocation goes when several free ranges could take it: the head of the request's
 * own class when it fits (least waste), else the first larger class that any range fits whole,
 * else a range found deeper in the own class's list. Ranges are made by allocating blocks of
 * exact sizes (alignment 1: no padding, no remainder kept) with used separators between them,
 * then freeing some. */
#define SEPARATOR (UINT64_C(64) << 10)

typedef struct laid_out {
    gpumem_tlsf *tlsf;
    uint64_t offsets[8];
    uint64_t handles[8];
} laid_out;

/* Blocks of `sizes` (0 ends the list), each followed by a used separator of 64 KiB (more than a
 * quarter of every block, so that what follows a block is always split off, never kept in it);
 * with `exact`, the suballocator is just their size, so no free range is left after them. */
static void lay_out(laid_out *l, const uint64_t *sizes, int exact)
{
    uint64_t total = 0;
    size_t n = 0;
    for (; sizes[n]; n++)
        total += sizes[n] + SEPARATOR;
    cr_assert_eq(gpumem_tlsf_create(exact ? total : total + (UINT64_C(1) << 20), &l->tlsf),
                 GPUMEM_OK);
    for (size_t i = 0; i < n; i++) {
        gpumem_tlsf_allocation a, separator;
        cr_assert_eq(gpumem_tlsf_alloc(l->tlsf, sizes[i], 1, &a), GPUMEM_OK);
        cr_assert_eq(a.block_size, sizes[i]);
        cr_assert_eq(gpumem_tlsf_alloc(l->tlsf, SEPARATOR, 1, &separator), GPUMEM_OK);
        l->offsets[i] = a.offset;
        l->handles[i] = a.handle;
    }
}

static uint64_t placed_at(laid_out *l, uint64_t size)
{
    gpumem_tlsf_allocation a;
    cr_assert_eq(gpumem_tlsf_alloc(l->tlsf, size, 1, &a), GPUMEM_OK);
    return a.offset;
}

/* A request's class is the first whose least size holds it: the sizes 1 to 2^20, 2^k - 3 to
 * 2^k + 3, and each class's least size, one less and one more, up to the top of the 64-bit
 * range; a range's class (gpumem_tlsf_class_of) is the last whose least size it holds. */
static void check_classes_of(uint64_t n)
{
    uint32_t c = gpumem_tlsf_class_at_least(n);
    /* Past the last class (whose least size is 2^64 - 2^58), none holds it. */
    cr_assert(c > gpumem_tlsf_class_of(UINT64_MAX) || gpumem_tlsf_class_least_size(c) >= n,
              "size %llu: class %u holds %llu", (unsigned long long)n, c,
              (unsigned long long)gpumem_tlsf_class_least_size(c));
    cr_assert(c == 0 || gpumem_tlsf_class_least_size(c - 1u) < n,
              "size %llu: class %u, but %u holds it", (unsigned long long)n, c, c - 1u);
    /* n's own class: c when n is c's least size, else the one before (also past the last). */
    uint32_t r = gpumem_tlsf_class_of(n);
    cr_assert_eq(r, c - (gpumem_tlsf_class_least_size(c) != n), "range %llu: class %u",
                 (unsigned long long)n, r);
}

Test(tlsf_edge, class_of_a_request_is_the_first_that_holds_it)
{
    for (uint64_t n = 1; n <= (1u << 20); n++)
        check_classes_of(n);
    for (uint32_t k = 2; k < 64; k++)
        for (uint64_t n = (UINT64_C(1) << k) - 3u; n <= (UINT64_C(1) << k) + 3u; n++)
            check_classes_of(n);
    for (uint32_t c = 2; c <= gpumem_tlsf_class_of(UINT64_MAX); c++) {
        uint64_t least = gpumem_tlsf_class_least_size(c);
        check_classes_of(least - 1u);
        check_classes_of(least);
        check_classes_of(least + 1u);
    }
    check_classes_of(UINT64_MAX);
}

Test(tlsf_edge, search_order)
{
    /* 1000 and 1001 bytes share a class ([992, 1008)); 100,000 bytes is far above it. */
    const uint64_t sizes[] = {1000, 100000, 1001, 0};
    laid_out l;

    /* The own class's head fits: taken, though a larger class has a range too. */
    lay_out(&l, sizes, 0);
    cr_assert_eq(gpumem_tlsf_free(l.tlsf, l.handles[0]), GPUMEM_OK);
    cr_assert_eq(gpumem_tlsf_free(l.tlsf, l.handles[1]), GPUMEM_OK);
    cr_assert_eq(placed_at(&l, 1000), l.offsets[0]);
    gpumem_tlsf_destroy(l.tlsf);

    /* The own class's head is too small: the first larger class that fits whole. */
    lay_out(&l, sizes, 0);
    cr_assert_eq(gpumem_tlsf_free(l.tlsf, l.handles[0]), GPUMEM_OK);
    cr_assert_eq(gpumem_tlsf_free(l.tlsf, l.handles[1]), GPUMEM_OK);
    cr_assert_eq(placed_at(&l, 1001), l.offsets[1]);
    gpumem_tlsf_destroy(l.tlsf);

    /* No larger class has a range: the own class's list is searched past its head (the last
     * range freed, 1000 bytes, is the head; the 1001-byte range behind it fits). The head stays
     * in the list, so the next 1000 bytes go there. */
    lay_out(&l, sizes, 1);
    cr_assert_eq(gpumem_tlsf_free(l.tlsf, l.handles[2]), GPUMEM_OK);
    cr_assert_eq(gpumem_tlsf_free(l.tlsf, l.handles[0]), GPUMEM_OK);
    cr_assert_eq(placed_at(&l, 1001), l.offsets[2]);
    cr_assert_eq(placed_at(&l, 1000), l.offsets[0]);
    gpumem_tlsf_destroy(l.tlsf);
}

/* The own class's head taken whole leaves its list as any other block does: the next range of
 * the class becomes the head, an emptied class is no longer found (its bitmap bit cleared: a
 * stale bit would send the search to the empty list and fail, though a larger range is free),
 * and the counts stay exact. Ranges are taken last freed first. */
Test(tlsf_edge, own_head_taken_whole)
{
    const uint64_t sizes[] = {4096, 4096, 4096, 0};
    laid_out l;
    lay_out(&l, sizes, 0); /* 1 MiB free after the laid-out blocks */
    const uint64_t tail = 3 * (4096 + SEPARATOR);
    gpumem_tlsf_stats before, s;
    gpumem_tlsf_stats_get(l.tlsf, &before);
    cr_assert_eq(before.free_range_count, 1);
    cr_assert_eq(before.largest_free_range, UINT64_C(1) << 20);
    cr_assert_eq(gpumem_tlsf_free(l.tlsf, l.handles[0]), GPUMEM_OK);
    cr_assert_eq(gpumem_tlsf_free(l.tlsf, l.handles[2]), GPUMEM_OK);
    gpumem_tlsf_stats_get(l.tlsf, &s);
    cr_assert_eq(s.free_range_count, 3);

    gpumem_tlsf_allocation a, b, c;
    cr_assert_eq(gpumem_tlsf_alloc(l.tlsf, 4096, 4096, &a), GPUMEM_OK);
    cr_assert_eq(a.offset, l.offsets[2], "the range freed last");
    cr_assert_eq(a.block_size, 4096);
    cr_assert_eq(a.left_padding, 0);
    gpumem_tlsf_stats_get(l.tlsf, &s);
    cr_assert_eq(s.free_range_count, 2);
    cr_assert_eq(s.used_bytes, before.used_bytes - 4096);
    cr_assert_eq(s.allocation_count, before.allocation_count - 1);

    cr_assert_eq(gpumem_tlsf_alloc(l.tlsf, 4096, 1, &b), GPUMEM_OK);
    cr_assert_eq(b.offset, l.offsets[0], "the class's next range, now its head");
    gpumem_tlsf_stats_get(l.tlsf, &s);
    cr_assert_eq(s.free_range_count, 1);
    cr_assert_eq(s.largest_free_range, UINT64_C(1) << 20);
    cr_assert_eq(s.used_bytes, before.used_bytes);

    /* The class is empty now: the next like request comes from the free megabyte. */
    cr_assert_eq(gpumem_tlsf_alloc(l.tlsf, 4096, 1, &c), GPUMEM_OK);
    cr_assert_eq(c.offset, tail);
    cr_assert_eq(gpumem_tlsf_free(l.tlsf, a.handle), GPUMEM_OK);
    cr_assert_eq(gpumem_tlsf_free(l.tlsf, b.handle), GPUMEM_OK);
    cr_assert_eq(gpumem_tlsf_free(l.tlsf, a.handle), GPUMEM_ERROR_INVALID_HANDLE);
    gpumem_tlsf_destroy(l.tlsf);
}

/* A head of the own class that fits only past some padding is taken with the padding kept in
 * the block and reported, and again from its start when the alignment allows; padding of
 * TLSF_PAD_SPLIT (256) bytes or more becomes a free range before it. A remainder worth a range
 * cannot arise in the own class (its ranges differ in size by under 1/32). */
Test(tlsf_edge, own_head_with_padding)
{
    /* Block 1 starts at 100 + 64 KiB = 65636: aligned to 4, not to 8. */
    const uint64_t sizes[] = {100, 1100, 0};
    laid_out l;
    lay_out(&l, sizes, 1);
    cr_assert_eq(l.offsets[1], 65636);
    cr_assert_eq(gpumem_tlsf_free(l.tlsf, l.handles[1]), GPUMEM_OK);
    gpumem_tlsf_allocation a;
    cr_assert_eq(gpumem_tlsf_alloc(l.tlsf, 1090, 8, &a), GPUMEM_OK); /* 1090: 1100's class */
    cr_assert_eq(a.offset, 65640);
    cr_assert_eq(a.left_padding, 4);
    cr_assert_eq(a.block_size, 1100, "4 bytes of padding and 6 of remainder kept");
    cr_assert_eq(gpumem_tlsf_free(l.tlsf, a.handle), GPUMEM_OK);
    cr_assert_eq(gpumem_tlsf_alloc(l.tlsf, 1090, 4, &a), GPUMEM_OK);
    cr_assert_eq(a.offset, 65636);
    cr_assert_eq(a.left_padding, 0);
    cr_assert_eq(a.block_size, 1100);
    gpumem_tlsf_stats s;
    gpumem_tlsf_stats_get(l.tlsf, &s);
    cr_assert_eq(s.free_range_count, 0);
    gpumem_tlsf_destroy(l.tlsf);

    /* Block 1 of 16,864 bytes (class [16384, 16896)) starts at 724 + 64 KiB = 66260; 16,384
     * bytes aligned to 1024 start at 66560, 300 bytes in: padding from TLSF_PAD_SPLIT (256) up
     * becomes a free range of its own, the short path notwithstanding. */
    const uint64_t larger[] = {724, 16864, 0};
    lay_out(&l, larger, 1);
    cr_assert_eq(l.offsets[1], 66260);
    cr_assert_eq(gpumem_tlsf_free(l.tlsf, l.handles[1]), GPUMEM_OK);
    cr_assert_eq(gpumem_tlsf_alloc(l.tlsf, 16384, 1024, &a), GPUMEM_OK);
    cr_assert_eq(a.offset, 66560);
    cr_assert_eq(a.left_padding, 0);
    cr_assert_eq(a.block_size, 16864 - 300, "the 180 bytes left stay in the block");
    gpumem_tlsf_stats_get(l.tlsf, &s);
    cr_assert_eq(s.free_range_count, 1, "the padding");
    cr_assert_eq(s.largest_free_range, 300);
    gpumem_tlsf_destroy(l.tlsf);
}
