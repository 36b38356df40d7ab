/* Core's host copies (core/host_copy.c): the plain one and the streaming one, byte for byte.
 *
 * The streaming copy (a piece of a read of GPUMEM_HOST_COPY_STREAMED_READ bytes or more) writes
 * an unaligned head and a short tail with memcpy and the middle 64 bytes at a time with
 * non-temporal stores; large copies of either kind are split into pieces of whole pages over
 * GPUMEM_COPY_THREADS copiers. Faults of that kind sit at sizes and alignments
 * around 16 and 64 bytes, at the parallel threshold and where size / pieces lands on a page
 * multiple: those sizes, at destination and source offsets across a 64-byte line, are copied
 * here into a larger buffer whose bytes on either side must stay untouched. Each test runs in a
 * process of its own (Criterion's default), so each thread count starts its own copiers.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host_copy.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define PARALLEL_MIN GPUMEM_HOST_COPY_PARALLEL_MIN
#define GUARD 128              /* bytes on each side that must stay as they were */
#define MAX_SIZES 256

typedef void (*copy_fn)(void *, const void *, size_t);

static size_t sizes[MAX_SIZES];
static unsigned size_count;

static void add_size(size_t size)
{
    for (unsigned i = 0; i < size_count; i++)
        if (sizes[i] == size)
            return;
    if (size_count < MAX_SIZES)
        sizes[size_count++] = size;
}

static void add_around(size_t boundary)
{
    for (size_t d = 0; d <= 3; d++) {
        add_size(boundary + d);
        if (boundary >= d)
            add_size(boundary - d);
    }
}

/* Every size up to 200 bytes (head, 64-byte body and tail in every combination), then the
 * boundaries of the large path for `pieces` copiers. */
static void make_sizes(unsigned pieces)
{
    size_count = 0;
    for (size_t s = 0; s <= 200; s++)
        add_size(s);
    add_around(4 * KiB);
    add_around(64 * KiB);
    add_around(PARALLEL_MIN);
    add_around(PARALLEL_MIN + 4 * KiB * pieces); /* size / pieces on a page multiple */
    add_around(8 * MiB);                         /* a staging chunk */
    add_size(PARALLEL_MIN + pieces - 1);         /* what a wrong rounding of pieces drops */
    add_size(9 * MiB + 4099);
}

/* A piece of a read large enough to stream. */
static void copy_streamed_read(void *destination, const void *source, size_t size)
{
    gpumem_host_copy_read(destination, source, size, GPUMEM_HOST_COPY_STREAMED_READ);
}

static unsigned char pattern_byte(size_t i, unsigned seed)
{
    uint32_t x = (uint32_t)i * 2654435761u + seed * 40503u;
    return (unsigned char)(x >> 24 ^ x >> 11);
}

/* Copies `size` bytes from source + source_skew into destination + destination_skew and checks
 * the copy and both guards. Returns 0 when all is right. */
static int check_one(copy_fn copy, const char *what, unsigned char *destination,
                     unsigned char *source, size_t size, size_t destination_skew,
                     size_t source_skew, unsigned seed)
{
    unsigned char *from = source + source_skew;
    unsigned char *to = destination + GUARD + destination_skew;
    for (size_t i = 0; i < size; i++)
        from[i] = pattern_byte(i, seed);
    memset(destination, 0xa5, GUARD + destination_skew + size + GUARD);
    copy(to, from, size);
    size_t differs = memcmp(to, from, size) != 0 ? size : 0; /* bytes to look through */
    for (size_t i = 0; i < differs; i++)
        if (to[i] != from[i]) {
            cr_log_error("%s of %zu bytes (destination +%zu, source +%zu): byte %zu is 0x%02x, "
                         "not 0x%02x", what, size, destination_skew, source_skew, i, to[i],
                         from[i]);
            return 1;
        }
    for (size_t i = 0; i < GUARD + destination_skew; i++)
        if (destination[i] != 0xa5) {
            cr_log_error("%s of %zu bytes (destination +%zu): wrote %zu bytes before it", what,
                         size, destination_skew, GUARD + destination_skew - i);
            return 1;
        }
    for (size_t i = 0; i < GUARD; i++)
        if (to[size + i] != 0xa5) {
            cr_log_error("%s of %zu bytes (destination +%zu): wrote byte %zu after it", what,
                         size, destination_skew, i);
            return 1;
        }
    return 0;
}

static void check_all(unsigned threads)
{
    char value[16];
    snprintf(value, sizeof value, "%u", threads);
    setenv("GPUMEM_COPY_THREADS", value, 1); /* read at the first large copy of this process */
    make_sizes(threads);
    size_t largest = 0;
    for (unsigned i = 0; i < size_count; i++)
        largest = sizes[i] > largest ? sizes[i] : largest;
    /* aligned_alloc wants a multiple of the alignment. */
    size_t bytes = (largest + 2 * GUARD + 128 + 63) & ~(size_t)63;
    unsigned char *destination = aligned_alloc(64, bytes);
    unsigned char *source = aligned_alloc(64, bytes);
    cr_assert(destination && source);
    static const size_t skews[] = {0, 1, 7, 15, 16, 33, 63};
    const unsigned skew_count = sizeof skews / sizeof skews[0];
    const copy_fn copies[] = {gpumem_host_copy, copy_streamed_read};
    const char *names[] = {"gpumem_host_copy", "gpumem_host_copy_read (streamed)"};
    unsigned failed = 0, seed = 1;
    for (unsigned k = 0; k < 2; k++)
        for (unsigned i = 0; i < size_count; i++) {
            /* Every pair of skews for the small sizes; three pairs for the large (aligned, and
             * a destination that is not, against two sources). */
            int small = sizes[i] <= 64 * KiB;
            for (unsigned d = 0; d < skew_count; d += small ? 1 : 3)
                for (unsigned s = small ? 0 : d; s < (small ? skew_count : d + 1); s++)
                    failed += check_one(copies[k], names[k], destination, source, sizes[i],
                                        skews[d], skews[(s + 3 * !small) % skew_count], seed++);
        }
    free(destination);
    free(source);
    cr_assert_eq(failed, 0, "%u copies went wrong with %u copier(s) (see the log)", failed,
                 threads);
}

ParameterizedTestParameters(host_copy, every_size_and_alignment)
{
    static unsigned threads[] = {1, 2, 3, 5, 8, 17};
    return cr_make_param_array(unsigned, threads, sizeof threads / sizeof threads[0]);
}

ParameterizedTest(unsigned *threads, host_copy, every_size_and_alignment, .timeout = 120)
{
    check_all(*threads);
}

/* A child of fork has none of its parent's copiers: its large copies must not wait for them.
 * The parent starts four copiers (a parallel copy), one of them may be mid-copy at the fork, and
 * the child copies at once; the child must finish, byte-exact, well inside the timeout. */
static void *copy_in_a_loop(void *arg)
{
    size_t size = 2 * PARALLEL_MIN;
    char *to = malloc(size), *from = malloc(size);
    memset(from, 7, size);
    for (int i = 0; i < 200 && !*(volatile int *)arg; i++)
        gpumem_host_copy(to, from, size);
    free(to);
    free(from);
    return NULL;
}

Test(host_copy, a_forked_child_copies_without_its_parents_copiers, .timeout = 60)
{
    setenv("GPUMEM_COPY_THREADS", "4", 1);
    size_t size = 3 * PARALLEL_MIN;
    char *to = malloc(size), *from = malloc(size);
    cr_assert(to && from);
    memset(from, 0x5A, size);
    gpumem_host_copy(to, from, size); /* starts the copiers */
    volatile int stop = 0;
    pthread_t busy;
    cr_assert_eq(pthread_create(&busy, NULL, copy_in_a_loop, (void *)&stop), 0);
    for (int round = 0; round < 20; round++) {
        pid_t child = fork();
        cr_assert_geq(child, 0);
        if (child == 0) {
            alarm(20);
            memset(to, 0, size);
            gpumem_host_copy(to, from, size);
            _exit(memcmp(to, from, size) == 0 ? 0 : 1);
        }
        int status = 0;
        cr_assert_eq(waitpid(child, &status, 0), child);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "round %d: the child %s", round,
                  WIFSIGNALED(status) ? "hung (killed by its alarm) or crashed"
                                      : "copied wrong bytes");
    }
    stop = 1;
    pthread_join(busy, NULL);
    free(to);
    free(from);
}
