/* Stress 5: the handle table growing past its first chunk.
 *
 * The table's first 4096 slots are static; chunks of 4096 are added as it grows. THREADS threads
 * together create well over 4096 live handles (buffers in two shared pools, streams, virtual
 * blocks), then, in phases separated by barriers:
 *   - every live handle is distinct, and works from another thread (a buffer still holds the
 *     bytes written at its creation, a stream synchronizes, a virtual block allocates);
 *   - a handle of one kind passed as another kind is GPUMEM_ERROR_INVALID_HANDLE;
 *   - each thread destroys half of its handles while creating new ones (slots are reused while
 *     other threads destroy and create), and every destroyed handle says DESTROYED at once;
 *   - no new handle equals an old one; every live one works and every destroyed one says
 *     GPUMEM_ERROR_DESTROYED, checked from other threads;
 *   - all are destroyed concurrently; the pools count no buffer.
 * Several rounds, so the later ones reuse freed slots of every chunk. */
#include "stress.h"

enum { THREADS = 4, TAG = 16 };

typedef enum kind { K_BUFFER, K_STREAM, K_VBLOCK } kind;

typedef struct entry {
    uint64_t value;
    kind what;
    gpumem_vblock_allocation allocation; /* vblocks: one live allocation */
} entry;

typedef struct thread_state {
    int id;
    entry *live;
    unsigned live_count;
    entry *dead;
    unsigned dead_count;
    uint64_t ops;
} thread_state;

static gpumem_device device;
static gpumem_pool pools[2];
static unsigned per_thread, rounds;
static unsigned stream_percent;
static thread_state states[THREADS];
static stress_barrier phase;
static unsigned round_no; /* set by the main thread between rounds */

#define T_MUST(call) (MUST(call) ? (s->ops++, 1) : 0)

static int create_one(thread_state *s, stress_rng *rng, entry *e)
{
    uint32_t pick = stress_below(rng, 100);
    if (pick < stream_percent) {
        gpumem_stream h;
        if (!T_MUST(gpumem_stream_create(device, &h)))
            return 0;
        *e = (entry){(uint64_t)(uintptr_t)h, K_STREAM, 0};
    } else if (pick < stream_percent + 25) {
        gpumem_vblock h;
        uint64_t offset;
        if (!T_MUST(gpumem_vblock_create(1 << 16, &h)))
            return 0;
        *e = (entry){(uint64_t)(uintptr_t)h, K_VBLOCK, 0};
        if (!T_MUST(gpumem_vblock_alloc(h, 100, 16, &e->allocation, &offset)))
            return 0;
    } else {
        gpumem_buffer h;
        gpumem_buffer_desc bd = {.size = 64 + stress_below(rng, 64)};
        if (!T_MUST(gpumem_buffer_create(pools[stress_below(rng, 2)], &bd, &h)))
            return 0;
        *e = (entry){(uint64_t)(uintptr_t)h, K_BUFFER, 0};
        uint8_t tag[TAG];
        stress_pattern(tag, 0, TAG, e->value);
        if (!T_MUST(gpumem_buffer_write(h, 0, tag, TAG)))
            return 0;
    }
    return 1;
}

/* A live handle works. Virtual blocks are used by one thread at a time, as documented: by their
 * creator in the churn phase, by one other thread in each checking phase. */
static int use_one(thread_state *s, const entry *e)
{
    switch (e->what) {
    case K_BUFFER: {
        gpumem_buffer h = (gpumem_buffer)(uintptr_t)e->value;
        uint8_t tag[TAG];
        gpumem_buffer_info info;
        if (!T_MUST(gpumem_buffer_read(h, 0, tag, TAG)) ||
            !T_MUST(gpumem_buffer_info_get(h, &info)))
            return 0;
        uint64_t bad = stress_mismatch(tag, 0, TAG, e->value);
        if (bad != TAG) {
            STRESS_FAIL("round %u: buffer 0x%llx does not hold the bytes written at its creation "
                        "(byte %llu): another handle's buffer?", round_no,
                        (unsigned long long)e->value, (unsigned long long)bad);
            return 0;
        }
        if (info.size < 64 || info.size >= 128) {
            STRESS_FAIL("round %u: buffer 0x%llx has size %llu", round_no,
                        (unsigned long long)e->value, (unsigned long long)info.size);
            return 0;
        }
        return 1;
    }
    case K_STREAM: {
        gpumem_stream h = (gpumem_stream)(uintptr_t)e->value;
        uint64_t native;
        return T_MUST(gpumem_stream_synchronize(h)) && T_MUST(gpumem_stream_native(h, &native));
    }
    case K_VBLOCK: {
        gpumem_vblock h = (gpumem_vblock)(uintptr_t)e->value;
        gpumem_vblock_stats st;
        gpumem_vblock_allocation a;
        uint64_t offset;
        if (!T_MUST(gpumem_vblock_stats_get(h, &st)))
            return 0;
        if (st.allocation_count != 1 || st.size != 1 << 16) {
            STRESS_FAIL("round %u: vblock 0x%llx has %llu allocations and size %llu, expected 1 "
                        "and 65536: another handle's block?", round_no,
                        (unsigned long long)e->value, (unsigned long long)st.allocation_count,
                        (unsigned long long)st.size);
            return 0;
        }
        return T_MUST(gpumem_vblock_alloc(h, 200, 64, &a, &offset)) &&
               T_MUST(gpumem_vblock_free(h, a));
    }
    }
    return 0;
}

static gpumem_result destroy_one(const entry *e)
{
    switch (e->what) {
    case K_BUFFER: return gpumem_buffer_destroy((gpumem_buffer)(uintptr_t)e->value);
    case K_STREAM: return gpumem_stream_destroy((gpumem_stream)(uintptr_t)e->value);
    case K_VBLOCK: return gpumem_vblock_destroy((gpumem_vblock)(uintptr_t)e->value);
    }
    return GPUMEM_ERROR_INVALID_ARGUMENT;
}

/* A destroyed handle answers DESTROYED to a query of its kind and to a destroy. */
static int gone(thread_state *s, const entry *e, const char *when)
{
    gpumem_result q;
    switch (e->what) {
    case K_BUFFER: {
        gpumem_buffer_info info;
        q = gpumem_buffer_info_get((gpumem_buffer)(uintptr_t)e->value, &info);
        break;
    }
    case K_STREAM: q = gpumem_stream_synchronize((gpumem_stream)(uintptr_t)e->value); break;
    default: {
        gpumem_vblock_stats st;
        q = gpumem_vblock_stats_get((gpumem_vblock)(uintptr_t)e->value, &st);
        break;
    }
    }
    gpumem_result d = destroy_one(e);
    s->ops += 2;
    if (q == GPUMEM_ERROR_DESTROYED && d == GPUMEM_ERROR_DESTROYED)
        return 1;
    static const char *const names[] = {"buffer", "stream", "vblock"};
    STRESS_FAIL("round %u, thread %d, %s: destroyed %s 0x%llx: query -> %s, destroy -> %s; "
                "expected DESTROYED for both", round_no, s->id, when, names[e->what],
                (unsigned long long)e->value, rs(q), rs(d));
    return 0;
}

/* A handle of one kind given as another kind is not a handle of that kind. */
static int wrong_kind(thread_state *s, const entry *e)
{
    gpumem_result r1, r2;
    gpumem_buffer_info info;
    gpumem_vblock_stats st;
    switch (e->what) {
    case K_BUFFER:
        r1 = gpumem_stream_synchronize((gpumem_stream)(uintptr_t)e->value);
        r2 = gpumem_vblock_stats_get((gpumem_vblock)(uintptr_t)e->value, &st);
        break;
    case K_STREAM:
        r1 = gpumem_buffer_info_get((gpumem_buffer)(uintptr_t)e->value, &info);
        r2 = gpumem_vblock_stats_get((gpumem_vblock)(uintptr_t)e->value, &st);
        break;
    default:
        r1 = gpumem_buffer_info_get((gpumem_buffer)(uintptr_t)e->value, &info);
        r2 = gpumem_stream_synchronize((gpumem_stream)(uintptr_t)e->value);
        break;
    }
    s->ops += 2;
    if (r1 == GPUMEM_ERROR_INVALID_HANDLE && r2 == GPUMEM_ERROR_INVALID_HANDLE)
        return 1;
    STRESS_FAIL("round %u: handle 0x%llx used as another kind: %s and %s, expected "
                "INVALID_HANDLE", round_no, (unsigned long long)e->value, rs(r1), rs(r2));
    return 0;
}

static void *run(void *arg)
{
    thread_state *s = arg;
    for (unsigned r = 0; r < rounds; r++) {
        stress_barrier_wait(&phase); /* the main thread is done with the previous round */
        stress_rng rng = stress_rng_seed(((uint64_t)r << 8) | (uint64_t)s->id);
        /* 1: create */
        s->live_count = s->dead_count = 0;
        for (unsigned i = 0; i < per_thread && !stress_failed(); i++)
            if (create_one(s, &rng, &s->live[s->live_count]))
                s->live_count++;
        stress_barrier_wait(&phase); /* main checks that all are distinct */
        stress_barrier_wait(&phase);

        /* 2: another thread's handles work (it is idle with them now) */
        thread_state *other = &states[(s->id + 1) % THREADS];
        for (unsigned i = 0; i < other->live_count && !stress_failed(); i++) {
            use_one(s, &other->live[i]);
            if (i % 16 == 0)
                wrong_kind(s, &other->live[i]);
        }
        stress_barrier_wait(&phase);

        /* 3: destroy half of the own handles, in random order, each followed by a create */
        for (unsigned i = s->live_count; i > 1; i--) { /* shuffle */
            unsigned j = stress_below(&rng, i);
            entry t = s->live[i - 1];
            s->live[i - 1] = s->live[j];
            s->live[j] = t;
        }
        for (unsigned i = 0; i < s->live_count / 2 && !stress_failed(); i++) {
            entry e = s->live[i];
            if (!T_MUST(destroy_one(&e)))
                break;
            s->dead[s->dead_count++] = e;
            if (!gone(s, &e, "just destroyed by this thread"))
                break;
            if (!create_one(s, &rng, &s->live[i]))
                break;
            if (!use_one(s, &s->live[i]))
                break;
        }
        stress_barrier_wait(&phase); /* main checks distinctness again */
        stress_barrier_wait(&phase);

        /* 4: another thread's live handles work, its destroyed ones say DESTROYED */
        other = &states[(s->id + 2) % THREADS];
        for (unsigned i = 0; i < other->live_count && !stress_failed(); i++)
            use_one(s, &other->live[i]);
        for (unsigned i = 0; i < other->dead_count && !stress_failed(); i++)
            gone(s, &other->dead[i], "destroyed by another thread");
        stress_barrier_wait(&phase);

        /* 5: destroy everything, concurrently */
        for (unsigned i = 0; i < s->live_count && !stress_failed(); i++) {
            if (!T_MUST(destroy_one(&s->live[i])))
                break;
            gone(s, &s->live[i], "destroyed at the end");
        }
        stress_barrier_wait(&phase);
    }
    return NULL;
}

static int compare(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* All live handles distinct, and none equal to a destroyed one. Returns the live count. */
static unsigned check_distinct(const char *when)
{
    size_t n = 0, cap = 0;
    for (int t = 0; t < THREADS; t++)
        cap += states[t].live_count + states[t].dead_count;
    uint64_t *all = malloc(cap * sizeof *all);
    unsigned live = 0;
    for (int t = 0; t < THREADS; t++) {
        for (unsigned i = 0; i < states[t].live_count; i++)
            all[n++] = states[t].live[i].value;
        live += states[t].live_count;
        for (unsigned i = 0; i < states[t].dead_count; i++)
            all[n++] = states[t].dead[i].value;
    }
    qsort(all, n, sizeof *all, compare);
    for (size_t i = 1; i < n; i++)
        if (all[i] == all[i - 1]) {
            STRESS_FAIL("round %u, %s: handle value 0x%llx was returned twice (two live objects, "
                        "or a live one and a destroyed one)", round_no, when,
                        (unsigned long long)all[i]);
            break;
        }
    free(all);
    return live;
}

int main(void)
{
    double t0 = stress_now();
    stress_watchdog();
    device = stress_open_or_exit();
    char backend[GPUMEM_NAME_SIZE];
    stress_backend_name(device, backend, sizeof backend);
    int vulkan = strcmp(backend, "vulkan") == 0;
    stream_percent = vulkan ? 4 : 10; /* a Vulkan stream is a command pool and a semaphore */
    per_thread = 3000;               /* 12,000 live handles: the static chunk and two more */
    rounds = stress_count(vulkan ? 30 : 60, 4, 2);
    for (int i = 0; i < 2; i++) {
        gpumem_pool_desc pd = {.name = i ? "handles-1" : "handles-0"};
        if (!MUST(gpumem_pool_create(device, &pd, &pools[i])))
            return 1;
    }
    for (int t = 0; t < THREADS; t++) {
        states[t].id = t;
        states[t].live = malloc(per_thread * sizeof(entry));
        states[t].dead = malloc(per_thread * sizeof(entry));
    }
    stress_barrier_init(&phase, THREADS + 1);
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++)
        stress_start(&threads[t], run, &states[t]);
    unsigned most = 0;
    for (unsigned r = 0; r < rounds; r++) {
        round_no = r;
        stress_progress("handle rounds", r);
        stress_barrier_wait(&phase); /* go */
        stress_barrier_wait(&phase); /* created */
        unsigned live = check_distinct("after the concurrent creates");
        if (live > most)
            most = live;
        if (live <= 4096 && !stress_failed())
            STRESS_FAIL("round %u: only %u live handles, the test needs more than 4096", r, live);
        stress_barrier_wait(&phase);
        stress_barrier_wait(&phase); /* used */
        stress_tick();
        stress_barrier_wait(&phase); /* churned */
        check_distinct("after destroying half and creating again");
        stress_barrier_wait(&phase);
        stress_barrier_wait(&phase); /* checked */
        stress_tick();
        stress_barrier_wait(&phase); /* all destroyed */
        for (int i = 0; i < 2; i++) {
            gpumem_pool_stats st;
            if (MUST(gpumem_pool_stats_get(pools[i], &st)) && st.allocation_count != 0)
                STRESS_FAIL("round %u: pool %d still counts %llu buffers", r, i,
                            (unsigned long long)st.allocation_count);
        }
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(threads[t], NULL);
    uint64_t ops = 0;
    for (int t = 0; t < THREADS; t++) {
        ops += states[t].ops;
        free(states[t].live);
        free(states[t].dead);
    }
    MUST(gpumem_pool_destroy(pools[0]));
    MUST(gpumem_pool_destroy(pools[1]));
    MUST(gpumem_device_close(device));

    char summary[320];
    snprintf(summary, sizeof summary,
             "%s, %d threads, %u rounds, up to %u live handles at once (%u%% streams), %llu "
             "calls",
             backend, THREADS, rounds, most, stream_percent, (unsigned long long)ops);
    return stress_finish("stress-handles", summary, stress_now() - t0);
}
