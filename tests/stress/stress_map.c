/* Stress 4: map/unmap races.
 *
 * BUFFERS small buffers share one page of a host-visible pool. MAPPERS threads map and unmap
 * them at random (the same buffer from several threads at once, and different buffers of the
 * one page), each holding up to HELD mappings at a time, and write their own bytes through the
 * mapping; a churn thread meanwhile creates, maps and destroys other buffers in the same page
 * (some destroyed while still mapped), and an observer reads gpumem_buffer_info's map count.
 * Checks:
 *   - pointers are stable: two mappings held at once (on one thread) point into the same page
 *     mapping (pointer - offset agree), and while the main thread holds a mapping of buffer 0
 *     (the "pinned" rounds), every mapping agrees with it;
 *   - the map count seen by the observer stays within what is held; after each phase it is
 *     exactly what is held: MAPPERS * K after every mapper mapped one buffer K times at once,
 *     and zero (or the pin) after they unmapped; at the end every count is zero and one more
 *     unmap returns GPUMEM_ERROR_BAD_STATE;
 *   - the bytes written through mappings are read back by gpumem_buffer_read. */
#include <sched.h>

#include "stress.h"

enum {
    MAPPERS = 4,
    BUFFERS = 4,
    BUFFER_SIZE = 4096,
    REGION = 64, /* bytes of each buffer that each mapper writes */
    HELD = 3,    /* mappings a mapper holds at most at once */
    K = 8,       /* maps per mapper in the exact-count phase */
};

static gpumem_device device;
static gpumem_pool pool;
static gpumem_buffer buffers[BUFFERS];
static uint64_t offsets[BUFFERS];
static uint32_t pages[BUFFERS];
static unsigned rounds, iterations;

/* Per round, set by the main thread between barriers. */
static unsigned round_no;
static uintptr_t pinned_base; /* page mapping (pointer - offset) while pinned, else 0 */
static int exact_buffer;

static stress_barrier phase;  /* MAPPERS + main */
static atomic_int phase_a_running;
static atomic_ullong total_maps, observer_reads, churn_ops;
/* The seed last written by mapper t into buffer i's region (only t writes it). */
static uint64_t last_seed[MAPPERS][BUFFERS];

typedef struct held {
    int buffer;
    uint8_t *pointer;
} held;

static int check_pointer(int t, int i, uint8_t *p, const held *h, int n)
{
    uintptr_t base = (uintptr_t)p - offsets[i];
    if (pinned_base && base != pinned_base) {
        STRESS_FAIL("round %u, mapper %d: buffer %d mapped at %p, page at 0x%lx, but the pinned "
                    "mapping has the page at 0x%lx", round_no, t, i, (void *)p,
                    (unsigned long)base, (unsigned long)pinned_base);
        return 0;
    }
    for (int j = 0; j < n; j++)
        if (pages[h[j].buffer] == pages[i] &&
            (uintptr_t)h[j].pointer - offsets[h[j].buffer] != base) {
            STRESS_FAIL("round %u, mapper %d: buffer %d mapped with the page at 0x%lx while its "
                        "mapping of buffer %d (same page, still held) has it at 0x%lx", round_no,
                        t, i, (unsigned long)base, h[j].buffer,
                        (unsigned long)((uintptr_t)h[j].pointer - offsets[h[j].buffer]));
            return 0;
        }
    return 1;
}

static void *mapper(void *arg)
{
    int t = (int)(intptr_t)arg;
    stress_rng rng = stress_rng_seed(0x3A9 + (uint64_t)t);
    uint64_t maps = 0;
    for (unsigned r = 0; r < rounds; r++) {
        stress_barrier_wait(&phase); /* A begins */
        held h[HELD];
        int n = 0;
        for (unsigned it = 0; it < iterations && !stress_failed(); it++) {
            if (n == HELD || (n > 0 && stress_below(&rng, 2))) {
                n--;
                if (!MUST(gpumem_buffer_unmap(buffers[h[n].buffer])))
                    break;
                continue;
            }
            int i = (int)stress_below(&rng, BUFFERS);
            void *p;
            if (!MUST(gpumem_buffer_map(buffers[i], &p)))
                break;
            maps++;
            h[n] = (held){i, p};
            if (!check_pointer(t, i, p, h, n)) {
                n++;
                break;
            }
            n++;
            /* This mapper's own bytes of buffer i, through the mapping. */
            uint64_t seed = ((uint64_t)r << 32) | ((uint64_t)it << 8) | (uint64_t)(t * 16 + i);
            uint8_t *mine = (uint8_t *)p + t * REGION;
            stress_pattern(mine, 0, REGION, seed);
            if (stress_mismatch(mine, 0, REGION, seed) != REGION) {
                STRESS_FAIL("round %u, mapper %d: its bytes of buffer %d changed under it",
                            round_no, t, i);
                break;
            }
            last_seed[t][i] = seed;
            if (!MUST(gpumem_buffer_flush(buffers[i], (uint64_t)t * REGION, REGION)))
                break;
        }
        while (n > 0)
            MUST(gpumem_buffer_unmap(buffers[h[--n].buffer]));
        stress_barrier_wait(&phase); /* A ends */

        /* B: everybody maps one buffer K times at once; the main thread counts; unmap. */
        stress_barrier_wait(&phase);
        void *first = NULL;
        for (int k = 0; k < K; k++) {
            void *p;
            if (!MUST(gpumem_buffer_map(buffers[exact_buffer], &p)))
                break;
            maps++;
            if (!first)
                first = p;
            else if (p != first)
                STRESS_FAIL("round %u, mapper %d: buffer %d mapped at %p and at %p while both "
                            "mappings are held", round_no, t, exact_buffer, first, p);
        }
        stress_barrier_wait(&phase); /* main counts */
        stress_barrier_wait(&phase);
        for (int k = 0; k < K; k++)
            if (!MUST(gpumem_buffer_unmap(buffers[exact_buffer])))
                break;
        stress_barrier_wait(&phase); /* main counts again */
    }
    atomic_fetch_add(&total_maps, maps);
    return NULL;
}

static void *observer(void *arg)
{
    uint64_t reads = 0;
    /* The exact-count phase may have begun by the time a call runs: its K per mapper bound it. */
    unsigned bound = MAPPERS * K + 1;
    while (atomic_load(&phase_a_running) >= 0 && !stress_failed()) {
        if (!atomic_load(&phase_a_running)) {
            sched_yield();
            continue;
        }
        for (int i = 0; i < BUFFERS; i++) {
            gpumem_buffer_info info;
            if (!MUST(gpumem_buffer_info_get(buffers[i], &info)))
                return NULL;
            reads++;
            if (info.mapped > bound)
                STRESS_FAIL("buffer %d: map count %u while at most %u mappings are held", i,
                            info.mapped, bound);
        }
    }
    atomic_store(&observer_reads, reads);
    return NULL;
}

/* Other buffers of the page: created, mapped (sometimes twice), written, destroyed (sometimes
 * still mapped), while the mappers work. */
static void *churn(void *arg)
{
    stress_rng rng = stress_rng_seed(0xC4);
    uint64_t ops = 0;
    while (atomic_load(&phase_a_running) >= 0 && !stress_failed()) {
        if (!atomic_load(&phase_a_running)) {
            sched_yield();
            continue;
        }
        gpumem_buffer b;
        gpumem_buffer_desc bd = {.size = 64 + stress_below(&rng, 512)};
        if (!MUST(gpumem_buffer_create(pool, &bd, &b)))
            break;
        void *p, *q;
        if (!MUST(gpumem_buffer_map(b, &p)) || !MUST(gpumem_buffer_map(b, &q)))
            break;
        if (p != q)
            STRESS_FAIL("churn: one buffer mapped twice at %p and %p", p, q);
        memset(p, 0x5A, bd.size);
        gpumem_buffer_info info;
        if (!MUST(gpumem_buffer_info_get(b, &info)))
            break;
        if (info.mapped != 2)
            STRESS_FAIL("churn: a buffer mapped twice by one thread has map count %u",
                        info.mapped);
        uint32_t how = stress_below(&rng, 3);
        if (how >= 1 && !MUST(gpumem_buffer_unmap(b)))
            break;
        if (how >= 2 && !MUST(gpumem_buffer_unmap(b)))
            break;
        /* How 0 and 1: destroyed while mapped, which releases its mappings. */
        if (!MUST(gpumem_buffer_destroy(b)))
            break;
        ops += 4 + how;
    }
    atomic_fetch_add(&churn_ops, ops);
    return NULL;
}

static int count_is(int i, uint32_t want, const char *when)
{
    gpumem_buffer_info info;
    if (!MUST(gpumem_buffer_info_get(buffers[i], &info)))
        return 0;
    if (info.mapped == want)
        return 1;
    STRESS_FAIL("round %u, %s: buffer %d has map count %u, expected %u", round_no, when, i,
                info.mapped, want);
    return 0;
}

static void check_data(void)
{
    uint8_t data[BUFFER_SIZE];
    for (int i = 0; i < BUFFERS; i++) {
        if (!MUST(gpumem_buffer_read(buffers[i], 0, data, BUFFER_SIZE)))
            return;
        for (int t = 0; t < MAPPERS; t++) {
            uint64_t bad = last_seed[t][i] ? stress_mismatch(data + t * REGION, 0, REGION,
                                                             last_seed[t][i])
                                           : REGION;
            if (bad != REGION) {
                STRESS_FAIL("round %u: buffer %d, bytes of mapper %d: byte %llu differs from "
                            "what was written through the mapping", round_no, i, t,
                            (unsigned long long)bad);
                return;
            }
        }
    }
}

int main(void)
{
    double t0 = stress_now();
    stress_watchdog();
    rounds = stress_count(1500, 6, 3);
    iterations = 2000;
    device = stress_open_or_exit();
    char backend[GPUMEM_NAME_SIZE];
    stress_backend_name(device, backend, sizeof backend);
    gpumem_pool_desc pd = {.required_flags = GPUMEM_MEMORY_HOST_VISIBLE, .page_size = 4 << 20,
                           .name = "mapped"};
    gpumem_result r = gpumem_pool_create(device, &pd, &pool);
    if (r == GPUMEM_ERROR_NOT_FOUND) {
        printf("SKIP: backend %s has no host-visible memory\n", backend);
        gpumem_device_close(device);
        return 77;
    }
    if (!MUST(r))
        return 1;
    for (int i = 0; i < BUFFERS; i++) {
        gpumem_buffer_desc bd = {.size = BUFFER_SIZE};
        gpumem_buffer_info info;
        if (!MUST(gpumem_buffer_create(pool, &bd, &buffers[i])) ||
            !MUST(gpumem_buffer_fill(buffers[i], 0, BUFFER_SIZE, 0)) ||
            !MUST(gpumem_buffer_info_get(buffers[i], &info)))
            return 1;
        offsets[i] = info.offset;
        pages[i] = info.page;
    }
    for (int i = 1; i < BUFFERS; i++)
        if (pages[i] != pages[0])
            STRESS_FAIL("the %d buffers of a fresh pool are not in one page (%u and %u)",
                        BUFFERS, pages[0], pages[i]);

    stress_barrier_init(&phase, MAPPERS + 1);
    pthread_t threads[MAPPERS + 2];
    for (int t = 0; t < MAPPERS; t++)
        stress_start(&threads[t], mapper, (void *)(intptr_t)t);
    stress_start(&threads[MAPPERS], observer, NULL);
    stress_start(&threads[MAPPERS + 1], churn, NULL);

    for (unsigned rd = 0; rd < rounds; rd++) {
        /* Between barriers only the main thread runs these (the mappers wait). */
        round_no = rd;
        stress_progress("map rounds", rd);
        exact_buffer = (int)(rd % BUFFERS);
        int pin = rd % 2 == 0;
        void *pinned = NULL;
        pinned_base = 0;
        if (pin && MUST(gpumem_buffer_map(buffers[0], &pinned)))
            pinned_base = (uintptr_t)pinned - offsets[0];
        atomic_store(&phase_a_running, 1);
        stress_barrier_wait(&phase); /* A begins */
        stress_barrier_wait(&phase); /* A ends */
        atomic_store(&phase_a_running, 0);
        for (int i = 0; i < BUFFERS; i++)
            count_is(i, pin && i == 0, "after the mappers unmapped all");

        stress_barrier_wait(&phase); /* B: map */
        stress_barrier_wait(&phase);
        for (int i = 0; i < BUFFERS; i++)
            count_is(i, (i == exact_buffer ? MAPPERS * K : 0) + (pin && i == 0),
                     "with every mapper holding K mappings");
        stress_barrier_wait(&phase); /* B: unmap */
        stress_barrier_wait(&phase);
        for (int i = 0; i < BUFFERS; i++)
            count_is(i, pin && i == 0, "after the mappers unmapped them");
        if (pinned)
            MUST(gpumem_buffer_unmap(buffers[0]));
        check_data();
    }
    atomic_store(&phase_a_running, -1);
    for (int t = 0; t < MAPPERS + 2; t++)
        pthread_join(threads[t], NULL);
    for (int i = 0; i < BUFFERS; i++) {
        count_is(i, 0, "at the end");
        EXPECT(GPUMEM_ERROR_BAD_STATE, gpumem_buffer_unmap(buffers[i]));
    }
    gpumem_pool_stats st;
    if (MUST(gpumem_pool_stats_get(pool, &st)) && st.allocation_count != BUFFERS)
        STRESS_FAIL("the pool counts %llu buffers, expected %d",
                    (unsigned long long)st.allocation_count, BUFFERS);
    MUST(gpumem_device_close(device));

    char summary[320];
    snprintf(summary, sizeof summary,
             "%s, %d mapper threads + observer + churn, %u rounds of %u iterations, %llu maps, "
             "%llu observed counts, %llu churn calls",
             backend, MAPPERS, rounds, iterations, (unsigned long long)atomic_load(&total_maps),
             (unsigned long long)atomic_load(&observer_reads),
             (unsigned long long)atomic_load(&churn_ops));
    return stress_finish("stress-map", summary, stress_now() - t0);
}
