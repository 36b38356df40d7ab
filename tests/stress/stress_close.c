/* Stress 3: destroying objects while other threads use them.
 *
 * Each round opens a device with two pools, P (the one that may be destroyed) and Q, a shared
 * stream S, and per worker two buffers in P (a: a known pattern, b: scratch), one in Q (c: a
 * known pattern) and a stream of its own. WORKERS threads then hammer calls on all of it: write,
 * read, copy, fill, map/unmap, flush, info, native handles, stream write/read/synchronize,
 * buffer create in a pool, pool create, stream create, stats, trim, dump. Once the workers
 * have done a (deterministic, per round) number of calls, a killer thread, by round:
 *   - closes the device,
 *   - destroys pool P, or
 *   - destroys stream S,
 * and then raises a flag. Every call must return:
 *   - GPUMEM_ERROR_DESTROYED if it names a destroyed object (directly, or through its owner)
 *     and began after the flag was raised (the destroy had returned);
 *   - GPUMEM_OK or GPUMEM_ERROR_DESTROYED if it names such an object and may have raced with
 *     the destroy;
 *   - GPUMEM_OK if it names none (destroying P must not disturb Q, S or the device),
 * or an error its arguments document (GPUMEM_ERROR_INSUFFICIENT_BUFFER for a dump). Data read
 * back by a read that returned OK (and, on a stream, whose synchronize returned OK) must be
 * byte-exact: a call that races with a destroy completes as if it ran just before it, or
 * returns GPUMEM_ERROR_DESTROYED. After the round, every old handle of what was destroyed
 * answers GPUMEM_ERROR_DESTROYED, and in the pool and stream rounds the rest still works.
 *
 * Every other turn of the three kinds, P and Q have arenas (gpumem_pool_desc.arena_count), so that
 * the destroys race creates in several arenas.
 *
 * The test never uses a pointer from gpumem_buffer_map (the mapping goes with the buffer), and
 * never reuses host memory a read may still fill: a read that did not complete with OK retires
 * its destination until the end of the round. */
#include <sched.h>

#include "stress.h"

enum {
    WORKERS = 3,
    SIZE = 64 * 1024,   /* bytes of a, b and c */
    QUARANTINE = 24,    /* destination buffers a worker may retire per round */
    POST_KILL_OPS = 12, /* operations each worker runs after the flag, all checked strictly */
};

typedef enum round_kind { CLOSE_DEVICE, DESTROY_POOL, DESTROY_STREAM, KINDS } round_kind;
static const char *const kind_names[KINDS] = {"close device", "destroy pool",
                                              "destroy stream"};

/* What a call names, for deciding what it may return. */
enum {
    ON_DEVICE = 1u << 0,  /* the device, or an object created during the round in it */
    ON_P = 1u << 1,       /* pool P or its buffers */
    ON_Q = 1u << 2,       /* pool Q or its buffers */
    ON_S = 1u << 3,       /* the shared stream */
    ON_OWN = 1u << 4,     /* the worker's own stream */
    ON_DEFAULT = 1u << 5, /* the default stream (synchronous transfers) */
};

static const uint32_t doomed_by[KINDS] = {
    [CLOSE_DEVICE] = ON_DEVICE | ON_P | ON_Q | ON_S | ON_OWN | ON_DEFAULT,
    [DESTROY_POOL] = ON_P,
    [DESTROY_STREAM] = ON_S,
};

typedef struct worker {
    int id;
    gpumem_buffer a, b, c;
    gpumem_stream own;
    uint8_t *pa, *pc; /* the patterns of a and c */
    uint8_t *outs[QUARANTINE];
    int retired;      /* outs[0 .. retired-1] may still be written by the library */
    uint8_t *junk;    /* destination once all are retired; never checked */
    uint64_t ops;
    uint64_t strict;  /* calls made after the flag */
    uint64_t racing_destroyed;
    int after_kill;   /* whether the destroy had returned when the current call began */
} worker;

static struct {
    round_kind kind;
    unsigned round;
    uint64_t trigger;
    gpumem_device device;
    gpumem_pool p, q;
    gpumem_stream shared, default_stream;
} R;

static worker workers[WORKERS];
static atomic_int killed;
static _Atomic uint64_t round_ops;
static stress_barrier start_line;
static char *dump_space[WORKERS];
static uint8_t *check_space; /* the main thread's destination, between rounds */

enum { DUMP_CAPACITY = 1 << 16 };

/* Checks a result against what the call names. `extra` is one more result its arguments allow
 * (GPUMEM_OK when none). Returns 1 when the result was GPUMEM_OK. */
static int judge(worker *w, const char *call, int line, uint32_t names, gpumem_result r,
                 gpumem_result extra)
{
    int after_kill = w->after_kill;
    int doomed = (names & doomed_by[R.kind]) != 0;
    w->ops++;
    atomic_fetch_add_explicit(&round_ops, 1, memory_order_relaxed);
    if (after_kill)
        w->strict++;
    int good;
    if (doomed && after_kill)
        good = r == GPUMEM_ERROR_DESTROYED;
    else if (doomed)
        good = r == GPUMEM_OK || r == GPUMEM_ERROR_DESTROYED || (extra != GPUMEM_OK && r == extra);
    else
        good = r == GPUMEM_OK || (extra != GPUMEM_OK && r == extra);
    if (doomed && !after_kill && r == GPUMEM_ERROR_DESTROYED)
        w->racing_destroyed++;
    if (!good)
        STRESS_FAIL("round %u (%s), worker %d, line %d: %s -> %s (%s); expected %s", R.round,
                    kind_names[R.kind], w->id, line, call, rs(r), gpumem_last_error(),
                    !doomed ? "OK (it names nothing destroyed)"
                    : after_kill ? "DESTROYED (it began after the destroy returned)"
                                 : "OK or DESTROYED");
    return r == GPUMEM_OK;
}

/* CALL(names, call): notes whether the destroy had returned, then makes the call and judges
 * its result (the comma orders the two). CALL_EXTRA also allows the result `extra`. */
#define CALL(names, call) CALL_EXTRA(names, call, GPUMEM_OK)
#define CALL_EXTRA(names, call, extra)                                                    \
    (w->after_kill = atomic_load(&killed),                                                \
     judge(w, #call, __LINE__, (names), (call), (extra)))

/* A destination for a read: a fresh one while any are left, else junk (not checked). */
static uint8_t *destination(worker *w, int *checked)
{
    *checked = w->retired < QUARANTINE;
    return *checked ? w->outs[w->retired] : w->junk;
}

/* The read into `out` did not complete with OK: the library may still be filling it. */
static void retire(worker *w, const uint8_t *out)
{
    if (w->retired < QUARANTINE && out == w->outs[w->retired])
        w->retired++;
}

static void verify(worker *w, const char *what, const uint8_t *out, const uint8_t *want,
                   uint64_t offset, uint64_t size)
{
    for (uint64_t i = 0; i < size; i++)
        if (out[i] != want[i]) {
            STRESS_FAIL("round %u (%s), worker %d: %s returned OK but byte %llu of [%llu, +%llu) "
                        "is 0x%02x, expected 0x%02x", R.round, kind_names[R.kind], w->id, what,
                        (unsigned long long)(offset + i), (unsigned long long)offset,
                        (unsigned long long)size, out[i], want[i]);
            return;
        }
}

static void verify_fill(worker *w, const uint8_t *out, uint64_t size, uint32_t pattern)
{
    uint64_t bad = stress_fill_mismatch(out, size, pattern);
    if (bad != size)
        STRESS_FAIL("round %u (%s), worker %d: fill then read returned OK but byte %llu of %llu "
                    "is wrong", R.round, kind_names[R.kind], w->id, (unsigned long long)bad,
                    (unsigned long long)size);
}

/* One operation (often several calls), chosen at random. */
static void operate(worker *w, stress_rng *rng)
{
    uint64_t offset = stress_below(rng, SIZE);
    uint64_t size = 1 + stress_below(rng, (uint32_t)(SIZE - offset));
    int checked;
    uint8_t *out;
    switch (stress_below(rng, 16)) {
    case 0:
        CALL(ON_P | ON_DEFAULT, gpumem_buffer_write(w->a, offset, w->pa + offset, size));
        break;
    case 1:
        out = destination(w, &checked);
        if (CALL(ON_P | ON_DEFAULT, gpumem_buffer_read(w->a, offset, out, size))) {
            if (checked)
                verify(w, "buffer_read(a)", out, w->pa + offset, offset, size);
        } else {
            retire(w, out);
        }
        break;
    case 2: /* a -> b, then read b */
        if (CALL(ON_P | ON_DEFAULT, gpumem_buffer_copy(w->a, offset, w->b, offset, size))) {
            out = destination(w, &checked);
            if (CALL(ON_P | ON_DEFAULT, gpumem_buffer_read(w->b, offset, out, size))) {
                if (checked)
                    verify(w, "buffer_copy(a -> b) then buffer_read(b)", out, w->pa + offset,
                           offset, size);
            } else {
                retire(w, out);
            }
        }
        break;
    case 3: { /* fill b, then read it */
        uint64_t at = offset & ~3ull, n = ((size + 3) & ~3ull);
        if (at + n > SIZE)
            n = SIZE - at;
        uint32_t pattern = (uint32_t)stress_next(rng);
        if (CALL(ON_P | ON_DEFAULT, gpumem_buffer_fill(w->b, at, n, pattern))) {
            out = destination(w, &checked);
            if (CALL(ON_P | ON_DEFAULT, gpumem_buffer_read(w->b, at, out, n))) {
                if (checked)
                    verify_fill(w, out, n, pattern);
            } else {
                retire(w, out);
            }
        }
        break;
    }
    case 4: { /* map and unmap; the pointer is never used */
        void *mapped = NULL;
        if (CALL(ON_P, gpumem_buffer_map(w->a, &mapped)))
            CALL(ON_P, gpumem_buffer_unmap(w->a));
        CALL_EXTRA(ON_P, gpumem_buffer_flush(w->a, offset, size), GPUMEM_ERROR_BAD_STATE);
        CALL_EXTRA(ON_P, gpumem_buffer_invalidate(w->a, offset, size), GPUMEM_ERROR_BAD_STATE);
        break;
    }
    case 5: {
        gpumem_buffer_info info;
        if (CALL(ON_P, gpumem_buffer_info_get(w->a, &info)) &&
            (info.size != SIZE || info.mapped != 0))
            STRESS_FAIL("round %u (%s), worker %d: info of buffer a returned OK with size %llu "
                        "and map count %u; expected %u and 0", R.round, kind_names[R.kind],
                        w->id, (unsigned long long)info.size, info.mapped, (unsigned)SIZE);
        gpumem_native_buffer native;
        CALL(ON_P, gpumem_buffer_native(w->b, &native));
        CALL(ON_Q, gpumem_buffer_info_get(w->c, &info));
        break;
    }
    case 6: /* own stream, buffer c in Q */
    case 7: { /* the shared stream */
        int shared = stress_below(rng, 2);
        gpumem_stream s = shared ? R.shared : w->own;
        uint32_t on = shared ? ON_S : ON_OWN;
        CALL(on | ON_Q, gpumem_stream_write(s, w->c, offset, w->pc + offset, size));
        out = destination(w, &checked);
        int read = CALL(on | ON_Q, gpumem_stream_read(s, w->c, offset, out, size));
        int synced = CALL(on, gpumem_stream_synchronize(s));
        if (read && synced) {
            if (checked)
                verify(w, shared ? "stream_read(S, c) + synchronize"
                                 : "stream_read(own, c) + synchronize",
                       out, w->pc + offset, offset, size);
        } else {
            retire(w, out);
        }
        uint64_t native;
        CALL(on, gpumem_stream_native(s, &native));
        break;
    }
    case 8: { /* c (Q) -> b (P) on the default stream */
        if (CALL(ON_P | ON_Q | ON_DEFAULT, gpumem_buffer_copy(w->c, offset, w->b, offset, size))) {
            out = destination(w, &checked);
            if (CALL(ON_P | ON_DEFAULT, gpumem_buffer_read(w->b, offset, out, size))) {
                if (checked)
                    verify(w, "buffer_copy(c -> b) then buffer_read(b)", out, w->pc + offset,
                           offset, size);
            } else {
                retire(w, out);
            }
        }
        break;
    }
    case 9: { /* a short-lived buffer in P or Q */
        int in_p = stress_below(rng, 2);
        uint32_t on = in_p ? ON_P : ON_Q;
        gpumem_buffer t;
        gpumem_buffer_desc bd = {.size = 1 + size % 4096, .alignment = 64};
        if (CALL(on, gpumem_buffer_create(in_p ? R.p : R.q, &bd, &t))) {
            if (CALL(on | ON_DEFAULT, gpumem_buffer_write(t, 0, w->pa, bd.size))) {
                out = destination(w, &checked);
                if (CALL(on | ON_DEFAULT, gpumem_buffer_read(t, 0, out, bd.size))) {
                    if (checked)
                        verify(w, "create, write, read", out, w->pa, 0, bd.size);
                } else {
                    retire(w, out);
                }
            }
            CALL(on, gpumem_buffer_destroy(t));
        }
        break;
    }
    case 10: { /* a pool of its own, with a buffer */
        gpumem_pool pool;
        gpumem_pool_desc pd = {.page_size = 1 << 20, .name = "short-lived"};
        if (CALL(ON_DEVICE, gpumem_pool_create(R.device, &pd, &pool))) {
            gpumem_buffer t;
            gpumem_buffer_desc bd = {.size = 256};
            if (CALL(ON_DEVICE, gpumem_buffer_create(pool, &bd, &t)))
                CALL(ON_DEVICE | ON_DEFAULT, gpumem_buffer_write(t, 0, w->pa, 256));
            CALL(ON_DEVICE, gpumem_pool_destroy(pool));
        }
        break;
    }
    case 11: { /* a stream of its own */
        gpumem_stream s;
        if (CALL(ON_DEVICE, gpumem_stream_create(R.device, &s))) {
            CALL(ON_DEVICE | ON_Q, gpumem_stream_write(s, w->c, offset, w->pc + offset, size));
            CALL(ON_DEVICE, gpumem_stream_synchronize(s));
            CALL(ON_DEVICE, gpumem_stream_destroy(s));
        }
        break;
    }
    case 12: {
        gpumem_device_properties props;
        gpumem_external_device native;
        gpumem_stream s;
        CALL(ON_DEVICE, gpumem_device_properties_get(R.device, &props));
        CALL(ON_DEVICE, gpumem_device_native(R.device, &native));
        if (CALL(ON_DEVICE, gpumem_device_default_stream(R.device, &s)) && s != R.default_stream)
            STRESS_FAIL("round %u: the default stream changed", R.round);
        break;
    }
    case 13: {
        uint64_t length;
        CALL_EXTRA(ON_DEVICE, gpumem_device_dump_json(R.device, dump_space[w->id], DUMP_CAPACITY,
                                                      &length),
                   GPUMEM_ERROR_INSUFFICIENT_BUFFER);
        break;
    }
    case 14: {
        gpumem_pool_stats st;
        CALL(ON_P, gpumem_pool_stats_get(R.p, &st));
        CALL(ON_Q, gpumem_pool_stats_get(R.q, &st));
        CALL(ON_P, gpumem_pool_trim(R.p));
        break;
    }
    default:
        CALL(ON_DEFAULT, gpumem_stream_synchronize(R.default_stream));
        CALL(ON_OWN, gpumem_stream_synchronize(w->own));
        break;
    }
}

static void *work(void *arg)
{
    worker *w = arg;
    stress_rng rng = stress_rng_seed(((uint64_t)R.round << 8) | (uint64_t)w->id);
    stress_barrier_wait(&start_line);
    unsigned after = 0;
    while (!stress_failed()) {
        int was_killed = atomic_load(&killed);
        operate(w, &rng);
        if (was_killed && ++after >= POST_KILL_OPS)
            break;
    }
    return NULL;
}

static void *kill_thread(void *arg)
{
    stress_barrier_wait(&start_line);
    while (atomic_load_explicit(&round_ops, memory_order_relaxed) < R.trigger && !stress_failed())
        sched_yield();
    gpumem_result r;
    switch (R.kind) {
    case CLOSE_DEVICE: r = gpumem_device_close(R.device); break;
    case DESTROY_POOL: r = gpumem_pool_destroy(R.p); break;
    default: r = gpumem_stream_destroy(R.shared); break;
    }
    if (r != GPUMEM_OK)
        STRESS_FAIL("round %u: %s (the only destroy of it) -> %s (%s)", R.round,
                    kind_names[R.kind], rs(r), gpumem_last_error());
    atomic_store(&killed, 1);
    return NULL;
}

/* --- the main thread, between rounds --- */

static int set_up(void)
{
    /* Host-visible where the device has such memory (on CUDA, managed memory: device-local and
     * mappable), since the workers map buffers of P. */
    gpumem_pool_desc pd = {.page_size = 1 << 20, .name = "P",
                           .preferred_flags = GPUMEM_MEMORY_HOST_VISIBLE,
                           /* every other turn of the kinds, arenas: the workers' creates go
                            * to arenas of their own while the killer strikes */
                           .arena_count = (R.round / KINDS) % 2 ? WORKERS : 0};
    if (!MUST(gpumem_device_open(NULL, &R.device)) || /* it opened before: no skip now */ !MUST(gpumem_pool_create(R.device, &pd, &R.p)))
        return 0;
    pd.name = "Q";
    pd.preferred_flags = 0; /* the default memory type: device-local only, on a GPU */
    if (!MUST(gpumem_pool_create(R.device, &pd, &R.q)) ||
        !MUST(gpumem_stream_create(R.device, &R.shared)) ||
        !MUST(gpumem_device_default_stream(R.device, &R.default_stream)))
        return 0;
    gpumem_buffer_desc bd = {.size = SIZE};
    for (int i = 0; i < WORKERS; i++) {
        worker *w = &workers[i];
        w->retired = 0;
        if (!MUST(gpumem_buffer_create(R.p, &bd, &w->a)) ||
            !MUST(gpumem_buffer_create(R.p, &bd, &w->b)) ||
            !MUST(gpumem_buffer_create(R.q, &bd, &w->c)) ||
            !MUST(gpumem_stream_create(R.device, &w->own)))
            return 0;
        stress_pattern(w->pa, 0, SIZE, ((uint64_t)R.round << 8) | (uint64_t)(2 * i));
        stress_pattern(w->pc, 0, SIZE, ((uint64_t)R.round << 8) | (uint64_t)(2 * i + 1));
        if (!MUST(gpumem_buffer_write(w->a, 0, w->pa, SIZE)) ||
            !MUST(gpumem_buffer_write(w->c, 0, w->pc, SIZE)))
            return 0;
    }
    return 1;
}

static void expect_destroyed(const char *what, gpumem_result r)
{
    if (r != GPUMEM_ERROR_DESTROYED)
        STRESS_FAIL("round %u (%s), after the destroy returned: %s -> %s (%s), expected "
                    "DESTROYED", R.round, kind_names[R.kind], what, rs(r), gpumem_last_error());
}

#define GONE(call) expect_destroyed(#call, (call))

static void check_buffer_gone(gpumem_buffer b)
{
    uint8_t byte[4] = {0};
    gpumem_buffer_info info;
    gpumem_native_buffer native;
    void *mapped;
    GONE(gpumem_buffer_info_get(b, &info));
    GONE(gpumem_buffer_native(b, &native));
    GONE(gpumem_buffer_map(b, &mapped));
    GONE(gpumem_buffer_unmap(b));
    GONE(gpumem_buffer_write(b, 0, byte, 1));
    GONE(gpumem_buffer_read(b, 0, byte, 1));
    GONE(gpumem_buffer_fill(b, 0, 4, 7));
    GONE(gpumem_buffer_flush(b, 0, 1));
    GONE(gpumem_buffer_destroy(b));
}

static void check_pool_gone(gpumem_pool p)
{
    gpumem_pool_stats st;
    gpumem_buffer b;
    gpumem_buffer_desc bd = {.size = 64};
    GONE(gpumem_pool_stats_get(p, &st));
    GONE(gpumem_pool_trim(p));
    GONE(gpumem_buffer_create(p, &bd, &b));
    GONE(gpumem_pool_destroy(p));
}

static void check_stream_gone(gpumem_stream s, gpumem_buffer live)
{
    uint8_t byte[4] = {0};
    uint64_t native;
    GONE(gpumem_stream_synchronize(s));
    GONE(gpumem_stream_native(s, &native));
    GONE(gpumem_stream_write(s, live, 0, byte, 1));
    GONE(gpumem_stream_read(s, live, 0, byte, 1));
    GONE(gpumem_stream_fill(s, live, 0, 4, 7));
    GONE(gpumem_stream_destroy(s));
}

static void check_device_gone(gpumem_device d)
{
    gpumem_device_properties props;
    gpumem_external_device native;
    gpumem_pool p;
    gpumem_stream s;
    uint64_t length;
    GONE(gpumem_device_properties_get(d, &props));
    GONE(gpumem_device_native(d, &native));
    GONE(gpumem_pool_create(d, NULL, &p));
    GONE(gpumem_stream_create(d, &s));
    GONE(gpumem_device_default_stream(d, &s));
    GONE(gpumem_device_dump_json(d, NULL, 0, &length));
    GONE(gpumem_device_close(d));
}

/* After the round: what was destroyed stays so; in the pool and stream rounds the rest works,
 * c still holds its data, and closing the device then destroys the rest. */
static void check_after(void)
{
    if (R.kind != CLOSE_DEVICE) {
        if (R.kind == DESTROY_POOL) {
            check_pool_gone(R.p);
            for (int i = 0; i < WORKERS; i++) {
                check_buffer_gone(workers[i].a);
                check_buffer_gone(workers[i].b);
            }
        } else {
            check_stream_gone(R.shared, workers[0].c);
        }
        uint8_t *out = check_space;
        for (int i = 0; i < WORKERS; i++) {
            if (!MUST(gpumem_buffer_read(workers[i].c, 0, out, SIZE)))
                continue;
            uint64_t bad = 0;
            while (bad < SIZE && out[bad] == workers[i].pc[bad])
                bad++;
            if (bad != SIZE)
                STRESS_FAIL("round %u (%s): buffer c of worker %d (pool Q) changed at byte %llu",
                            R.round, kind_names[R.kind], i, (unsigned long long)bad);
            MUST(gpumem_stream_synchronize(workers[i].own));
        }
        MUST(gpumem_device_close(R.device));
    }
    check_device_gone(R.device);
    if (R.kind != DESTROY_POOL)
        check_pool_gone(R.p);
    check_pool_gone(R.q);
    if (R.kind != DESTROY_STREAM)
        check_stream_gone(R.shared, workers[0].c);
    check_stream_gone(R.default_stream, workers[0].c);
    for (int i = 0; i < WORKERS; i++) {
        if (R.kind != DESTROY_POOL) {
            check_buffer_gone(workers[i].a);
            check_buffer_gone(workers[i].b);
        }
        check_buffer_gone(workers[i].c);
        check_stream_gone(workers[i].own, workers[i].c);
    }
}

int main(void)
{
    double t0 = stress_now();
    stress_watchdog();
    /* A first device, only to learn the backend and skip when it is not here. */
    gpumem_device probe = stress_open_or_exit();
    char backend[GPUMEM_NAME_SIZE];
    stress_backend_name(probe, backend, sizeof backend);
    gpumem_device_close(probe);
    int vulkan = strcmp(backend, "vulkan") == 0;
    unsigned rounds = stress_count(vulkan ? 300 : 900, 2, 2);

    for (int i = 0; i < WORKERS; i++) {
        worker *w = &workers[i];
        w->id = i;
        w->pa = malloc(SIZE);
        w->pc = malloc(SIZE);
        w->junk = malloc(SIZE);
        dump_space[i] = malloc(DUMP_CAPACITY);
        for (int j = 0; j < QUARANTINE; j++)
            w->outs[j] = malloc(SIZE);
    }
    check_space = malloc(SIZE);
    uint64_t ops = 0, strict = 0, racing = 0;
    unsigned done = 0;
    stress_rng rng = stress_rng_seed(0xC105E);
    for (unsigned round = 0; round < rounds && !stress_failed(); round++) {
        R.round = round;
        R.kind = (round_kind)(round % KINDS);
        stress_progress(kind_names[R.kind], round);
        /* Early, middle or late in the workers' burst. */
        R.trigger = 1 + stress_below(&rng, round % 2 ? 60 : 600);
        atomic_store(&killed, 0);
        atomic_store(&round_ops, 0);
        if (!set_up())
            break;
        stress_barrier_init(&start_line, WORKERS + 1);
        pthread_t threads[WORKERS + 1];
        for (int i = 0; i < WORKERS; i++)
            stress_start(&threads[i], work, &workers[i]);
        stress_start(&threads[WORKERS], kill_thread, NULL);
        for (int i = 0; i <= WORKERS; i++)
            pthread_join(threads[i], NULL);
        pthread_barrier_destroy(&start_line);
        check_after();
        done++;
    }
    for (int i = 0; i < WORKERS; i++) {
        ops += workers[i].ops;
        strict += workers[i].strict;
        racing += workers[i].racing_destroyed;
        free(workers[i].pa);
        free(workers[i].pc);
        free(workers[i].junk);
        free(dump_space[i]);
        for (int j = 0; j < QUARANTINE; j++)
            free(workers[i].outs[j]);
    }
    free(check_space);
    char summary[320];
    snprintf(summary, sizeof summary,
             "%s, %d worker threads + 1 destroyer, %u rounds (close device / destroy pool / "
             "destroy stream in turn), %llu calls (%llu after a destroy returned, %llu racing "
             "calls returned DESTROYED)",
             backend, WORKERS, done, (unsigned long long)ops, (unsigned long long)strict,
             (unsigned long long)racing);
    return stress_finish("stress-close", summary, stress_now() - t0);
}
