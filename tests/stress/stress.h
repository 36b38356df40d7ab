/* What the thread stress programs share: failure reporting from any thread, a skip for a missing
 * backend, deterministic random numbers and test data, iteration scaling for sanitizer builds.
 *
 * The programs use only the public API (gpumem.h) and pthreads, and no test framework: Criterion
 * cannot start under ThreadSanitizer. Exit status: 0 pass, 1 fail, 77 skip (meson's SKIP). */
#ifndef GPUMEM_TESTS_STRESS_H
#define GPUMEM_TESTS_STRESS_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gpumem/gpumem.h"
#include "sanitized.h"

/* --- sanitizer builds run fewer iterations (each op costs 5-20 times more there) --- */

static inline const char *stress_build(void)
{
    return TEST_TSAN ? "tsan" : TEST_ASAN ? "asan" : "plain";
}

/* `plain` iterations, divided by `tsan_div` / `asan_div` in those builds, times
 * GPUMEM_STRESS_SCALE (a positive number, default 1; e.g. 10 for a long soak). At least 1. */
static inline unsigned stress_count(unsigned plain, unsigned tsan_div, unsigned asan_div)
{
    double n = plain;
    if (TEST_TSAN)
        n /= tsan_div;
    else if (TEST_ASAN)
        n /= asan_div;
    const char *env = getenv("GPUMEM_STRESS_SCALE");
    if (env && *env) {
        double scale = strtod(env, NULL);
        if (scale > 0)
            n *= scale;
    }
    return n < 1 ? 1u : (unsigned)n;
}

/* --- failures: recorded from any thread, printed as they come, counted for the exit status --- */

static atomic_int stress_failures;
static pthread_mutex_t stress_print_lock = PTHREAD_MUTEX_INITIALIZER;

#define STRESS_MAX_PRINTED 20

static void stress_fail_at(const char *file, int line, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
static void stress_fail_at(const char *file, int line, const char *format, ...)
{
    int n = atomic_fetch_add(&stress_failures, 1);
    if (n >= STRESS_MAX_PRINTED)
        return;
    pthread_mutex_lock(&stress_print_lock);
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    va_list args;
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
    fputc('\n', stderr);
    if (n == STRESS_MAX_PRINTED - 1)
        fprintf(stderr, "(further failures are counted, not printed)\n");
    fflush(stderr);
    pthread_mutex_unlock(&stress_print_lock);
}

#define STRESS_FAIL(...) stress_fail_at(__FILE__, __LINE__, __VA_ARGS__)

static inline int stress_failed(void)
{
    return atomic_load(&stress_failures) != 0;
}

static inline const char *rs(gpumem_result r)
{
    return gpumem_result_string(r);
}

/* A call that must succeed; on failure it records the call, its result and the last error, and
 * evaluates to 0 (so callers can stop: `if (!MUST(...)) goto out;`). */
#define MUST(call) stress_must_at(__FILE__, __LINE__, #call, (call))
static inline int stress_must_at(const char *file, int line, const char *text, gpumem_result r)
{
    if (r == GPUMEM_OK)
        return 1;
    stress_fail_at(file, line, "%s -> %s (%s)", text, rs(r), gpumem_last_error());
    return 0;
}

/* A call that must return exactly `want`. */
#define EXPECT(want, call) stress_expect_at(__FILE__, __LINE__, #call, (want), (call))
static inline int stress_expect_at(const char *file, int line, const char *text,
                                   gpumem_result want, gpumem_result r)
{
    if (r == want)
        return 1;
    stress_fail_at(file, line, "%s -> %s, expected %s (%s)", text, rs(r), rs(want),
                   gpumem_last_error());
    return 0;
}

/* The summary line and the exit status. */
static inline int stress_finish(const char *name, const char *summary, double seconds)
{
    int failures = atomic_load(&stress_failures);
    printf("%s: %s, %s build, %.1f s: %s", name, summary, stress_build(), seconds,
           failures ? "FAIL" : "ok");
    if (failures)
        printf(" (%d failure%s)", failures, failures == 1 ? "" : "s");
    printf("\n");
    fflush(stdout);
    return failures ? 1 : 0;
}

static inline double stress_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* --- a watchdog: a thread blocked for good in the library (e.g. on the mutex of a freed
 * object) fails the program with a message instead of leaving it to meson's timeout --- */

static atomic_uint stress_round_now;              /* set by the main thread as rounds go */
static _Atomic(const char *) stress_phase_now = ""; /* a string literal naming the phase */
static atomic_ulong stress_ticks;                 /* any progress at all */

static inline void stress_tick(void)
{
    atomic_fetch_add_explicit(&stress_ticks, 1, memory_order_relaxed);
}

static inline void stress_progress(const char *phase, unsigned round)
{
    atomic_store(&stress_phase_now, phase);
    atomic_store(&stress_round_now, round);
    stress_tick();
}

static void *stress_watchdog_thread(void *arg)
{
    unsigned limit = (unsigned)(uintptr_t)arg, still = 0;
    unsigned long last = atomic_load(&stress_ticks);
    struct timespec step = {1, 0};
    while (still < limit) {
        nanosleep(&step, NULL);
        unsigned long now = atomic_load(&stress_ticks);
        still = now == last ? still + 1 : 0;
        last = now;
    }
    fprintf(stderr,
            "FAIL: no progress for %u s (phase '%s', round %u): a thread is blocked, probably in "
            "the library (a lock of a destroyed object?). GPUMEM_STRESS_TIMEOUT=seconds changes "
            "the limit; attach a debugger to see where.\n",
            limit, atomic_load(&stress_phase_now), atomic_load(&stress_round_now));
    fflush(stderr);
    _exit(1);
    return NULL;
}

/* Starts the watchdog: it fails the program after GPUMEM_STRESS_TIMEOUT seconds without
 * progress (default 60; 0 turns it off). */
static inline void stress_watchdog(void)
{
    const char *env = getenv("GPUMEM_STRESS_TIMEOUT");
    unsigned long seconds = env && *env ? strtoul(env, NULL, 10) : 60;
    pthread_t t;
    if (seconds && pthread_create(&t, NULL, stress_watchdog_thread,
                                  (void *)(uintptr_t)seconds) == 0)
        pthread_detach(t);
}

/* --- devices: a backend that is here without a device skips the program (77), with the
 * reason; an unknown backend or a refused module is a failure (a broken build must not pass as
 * a skip) --- */

static inline gpumem_result stress_open(gpumem_device *device)
{
    gpumem_result r = gpumem_device_open(NULL, device);
    if (r == GPUMEM_ERROR_UNAVAILABLE) {
        const char *backend = getenv("GPUMEM_BACKEND");
        printf("SKIP: backend '%s' cannot open a device: %s (%s)\n",
               backend && *backend ? backend : "(default)", rs(r), gpumem_last_error());
        fflush(stdout);
        exit(77);
    }
    return r;
}

/* Opens a device or exits: 77 when the backend is not here, 1 on another failure. */
static inline gpumem_device stress_open_or_exit(void)
{
    gpumem_device device;
    gpumem_result r = stress_open(&device);
    if (r != GPUMEM_OK) {
        fprintf(stderr, "FAIL: gpumem_device_open -> %s (%s)\n", rs(r), gpumem_last_error());
        exit(1);
    }
    return device;
}

/* The name of the backend a device runs on. */
static inline void stress_backend_name(gpumem_device device, char *name, size_t size)
{
    gpumem_device_properties p;
    if (gpumem_device_properties_get(device, &p) == GPUMEM_OK)
        snprintf(name, size, "%s", p.backend);
    else
        snprintf(name, size, "?");
}

/* --- deterministic random numbers and data --- */

typedef struct stress_rng {
    uint64_t state;
} stress_rng;

static inline stress_rng stress_rng_seed(uint64_t seed)
{
    stress_rng r = {seed * 0x9E3779B97F4A7C15ull + 0xD1B54A32D192ED03ull};
    return r;
}

static inline uint64_t stress_next(stress_rng *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* 0 .. n-1 */
static inline uint32_t stress_below(stress_rng *r, uint32_t n)
{
    return (uint32_t)(stress_next(r) % n);
}

/* Bytes that differ with the seed and with the position: a shifted or mixed-up range shows. */
static inline uint8_t stress_byte(uint64_t seed, uint64_t at)
{
    uint64_t x = (seed + 1) * 0x9E3779B97F4A7C15ull ^ (at >> 3) * 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 32;
    return (uint8_t)(x >> (8 * (at & 7)));
}

/* The pattern of `seed` for bytes [at, at + size) of a buffer. */
static inline void stress_pattern(void *data, uint64_t at, uint64_t size, uint64_t seed)
{
    uint8_t *p = data;
    for (uint64_t i = 0; i < size; i++)
        p[i] = stress_byte(seed, at + i);
}

/* Index of the first byte of data that is not the pattern, or size when all match. */
static inline uint64_t stress_mismatch(const void *data, uint64_t at, uint64_t size,
                                       uint64_t seed)
{
    const uint8_t *p = data;
    for (uint64_t i = 0; i < size; i++)
        if (p[i] != stress_byte(seed, at + i))
            return i;
    return size;
}

/* Index of the first byte that is not the 32-bit fill pattern (offsets multiples of 4). */
static inline uint64_t stress_fill_mismatch(const void *data, uint64_t size, uint32_t pattern)
{
    const uint8_t *p = data;
    for (uint64_t i = 0; i < size; i++)
        if (p[i] != (uint8_t)(pattern >> (8 * (i & 3))))
            return i;
    return size;
}

/* Spins for about n iterations, so that threads released together reach the library at
 * different moments (deterministic per seed, unlike sleeping). */
static inline void stress_spin(uint32_t n)
{
    for (volatile uint32_t i = 0; i < n; i++)
        ;
}

/* A barrier that also works as a start line: pthread_barrier, which ThreadSanitizer knows. */
typedef pthread_barrier_t stress_barrier;

static inline void stress_barrier_init(stress_barrier *b, unsigned count)
{
    pthread_barrier_init(b, NULL, count);
}

static inline void stress_barrier_wait(stress_barrier *b)
{
    pthread_barrier_wait(b);
}

static inline void stress_start(pthread_t *thread, void *(*fn)(void *), void *arg)
{
    if (pthread_create(thread, NULL, fn, arg) != 0) {
        fprintf(stderr, "FAIL: pthread_create\n");
        exit(1);
    }
}

#endif
