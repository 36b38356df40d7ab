/* Transfer sizes against copy threads: every transfer path, byte for byte, at sizes around
 * every boundary the code has, with GPUMEM_COPY_THREADS from 1 to 17.
 *
 * The host-side copies of the mapped and staged paths are split over threads in pieces of whole
 * 4 KiB pages; a piece size rounded the wrong way once lost the last bytes of a transfer while
 * the call returned GPUMEM_OK. Such faults sit at sizes where size / threads lands on a page
 * multiple, at the parallel threshold, at the staging threshold and chunk size, at half a page
 * and a page: those sizes, each +-1 and +-3, are written, read, filled and copied here, at an odd
 * offset inside a larger buffer whose other bytes must stay untouched.
 *
 *   transfer_sizes [--all-threads] [--mapped] [--quick]
 *
 * --all-threads runs this program once per GPUMEM_COPY_THREADS value from 1 to 17 (the thread
 * count is read once per process), and fails if any run fails. --mapped registers a copy of the
 * host backend without direct host copies, so that core reaches the page through a mapping (as
 * on Vulkan). --quick keeps, of the sizes where size / threads lands on a page multiple, the
 * first past the parallel threshold and leaves out the other two, and with --all-threads runs 4
 * of the 17 thread counts (quick_thread_counts; sanitized builds, and Vulkan in every build, run
 * it so). The backend and
 * staging mode come from the environment (GPUMEM_BACKEND, GPUMEM_STAGING, GPUMEM_STAGING_CHUNK).
 * Exit status: 0 pass, 1 fail, 77 backend unavailable.
 */
#include <dlfcn.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gpumem/backend.h"
#include "pattern.h"

extern char **environ;

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define MAX_SIZES 512
#define GUARD 4099 /* bytes kept on each side of the range, odd so the range starts unaligned */
#define SENTINEL 0x5au

static int failures;
static uint64_t bytes_checked, transfers;

#define FAIL(...)                                                       \
    do {                                                                \
        fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);            \
        fprintf(stderr, __VA_ARGS__);                                   \
        fputc('\n', stderr);                                            \
        failures++;                                                     \
    } while (0)

#define CHECK(call)                                                                      \
    do {                                                                                 \
        gpumem_result check_r_ = (call);                                                 \
        if (check_r_ != GPUMEM_OK) {                                                     \
            FAIL("%s -> %s (%s)", #call, gpumem_result_string(check_r_), gpumem_last_error()); \
            return 1;                                                                    \
        }                                                                                \
    } while (0)

/* --- the sizes --- */

static uint64_t sizes[MAX_SIZES];
static unsigned size_count;

static void add_size(uint64_t size)
{
    if (size == 0 || size > 40 * MiB)
        return;
    for (unsigned i = 0; i < size_count; i++)
        if (sizes[i] == size)
            return;
    if (size_count < MAX_SIZES)
        sizes[size_count++] = size;
}

/* A boundary and its neighbours: -3, -1, 0, +1, +3. */
static void add_around(uint64_t boundary)
{
    static const int64_t deltas[] = {-3, -1, 0, 1, 3};
    for (unsigned i = 0; i < sizeof deltas / sizeof *deltas; i++)
        add_size(boundary + (uint64_t)deltas[i]);
}

static int compare_sizes(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void make_sizes(unsigned threads, uint64_t chunk, int quick)
{
    add_around(1);
    add_around(4 * KiB);
    add_around(64 * KiB);
    add_around(chunk);           /* the staging chunk */
    add_around(2 * chunk);
    add_around(4 * MiB);         /* host copies go parallel from here */
    add_around(8 * MiB);         /* pageable transfers are staged from here; the default chunk */
    add_around(16 * MiB);        /* half of the default page: larger buffers get their own */
    add_around(32 * MiB);        /* the default page; staged reads stream from here */
    add_size(4194307);           /* the sizes the outside attack reported */
    add_size(12582915);
    /* Where size / pieces lands on a page multiple, for the pieces this run copies with: the
     * remainder size % pieces is what a wrong rounding drops. The first such size at or past the
     * 4 MiB from which copies go parallel, the next, and the first past 8 MiB (a default chunk;
     * the staged paths copy such a size as one chunk and a tail), for every thread count. Shares
     * of 4, 8 and 12 MiB, as once chosen, put every such size with a remainder past the 40 MiB
     * cap from 10 threads on. --quick: the first only. */
    unsigned pieces = threads ? threads : 1;
    uint64_t first = (4 * MiB / (4 * KiB) + pieces - 1) / pieces; /* pages a piece */
    uint64_t pages_per_piece[] = {first, first + 1, 8 * MiB / (4 * KiB) / pieces + 1};
    for (unsigned k = 0; k < (quick ? 1u : 3u); k++) {
        uint64_t exact = pieces * pages_per_piece[k] * 4 * KiB;
        add_around(exact);
        add_size(exact + pieces - 1);
        add_size(exact + pieces / 2 + 1);
    }
    qsort(sizes, size_count, sizeof sizes[0], compare_sizes);
}

/* --- one size, every path --- */

typedef struct context {
    gpumem_device device;
    gpumem_pool pool;
    gpumem_stream stream;
    unsigned char *expected; /* what the buffer must hold */
    unsigned char *host;     /* data to write, then what reads fill */
    uint64_t capacity;
} context;

static int compare(const unsigned char *actual, const unsigned char *expected, uint64_t size,
                   const char *what, uint64_t transfer_size)
{
    bytes_checked += size;
    if (memcmp(actual, expected, size) == 0)
        return 0;
    uint64_t first = 0;
    while (actual[first] == expected[first])
        first++;
    uint64_t last = size - 1;
    while (actual[last] == expected[last])
        last--;
    FAIL("%s of %llu bytes: bytes %llu..%llu of %llu differ (got 0x%02x, expected 0x%02x)",
         what, (unsigned long long)transfer_size, (unsigned long long)first,
         (unsigned long long)last, (unsigned long long)size, actual[first], expected[first]);
    return 1;
}

/* Reads the whole buffer back and compares it with the model. */
static int check_buffer(context *c, gpumem_buffer buffer, uint64_t total, const char *what,
                        uint64_t size)
{
    memset(c->host, 0xee, total);
    CHECK(gpumem_buffer_read(buffer, 0, c->host, total));
    transfers++;
    return compare(c->host, c->expected, total, what, size);
}

/* A read of exactly [GUARD, GUARD + size) into host memory whose bytes after `size` must stay. */
static int check_exact_read(context *c, gpumem_buffer buffer, uint64_t size, int on_stream)
{
    memset(c->host, 0xc3, size + 64);
    if (on_stream) {
        CHECK(gpumem_stream_read(c->stream, buffer, GUARD, c->host, size));
        CHECK(gpumem_stream_synchronize(c->stream));
    } else {
        CHECK(gpumem_buffer_read(buffer, GUARD, c->host, size));
    }
    transfers++;
    int bad = compare(c->host, c->expected + GUARD, size,
                      on_stream ? "stream read" : "read", size);
    for (unsigned i = 0; i < 64 && !bad; i++)
        if (c->host[size + i] != 0xc3) {
            FAIL("read of %llu bytes wrote past its end", (unsigned long long)size);
            bad = 1;
        }
    return bad;
}

static int one_size(context *c, uint64_t size, uint64_t seed)
{
    uint64_t total = size + 2 * GUARD;
    gpumem_buffer a, b;
    gpumem_buffer_desc desc = {.size = total};
    CHECK(gpumem_buffer_create(c->pool, &desc, &a));
    CHECK(gpumem_buffer_create(c->pool, &desc, &b));
    int bad = 0;

    /* Fill the whole buffer with a sentinel, then write the range: synchronously. */
    uint32_t sentinel = SENTINEL * 0x01010101u;
    CHECK(gpumem_buffer_fill(a, 0, total & ~3ull, sentinel));
    memset(c->expected, SENTINEL, total & ~3ull);
    test_pattern(c->expected + (total & ~3ull), total & 3, seed + 7);
    if (total & 3)
        CHECK(gpumem_buffer_write(a, total & ~3ull, c->expected + (total & ~3ull), total & 3));
    test_pattern(c->host, size, seed);
    memcpy(c->expected + GUARD, c->host, size);
    CHECK(gpumem_buffer_write(a, GUARD, c->host, size));
    transfers += 2;
    bad |= check_buffer(c, a, total, "write", size);
    bad |= check_exact_read(c, a, size, 0);

    /* On a stream: write a new pattern over the same range, read it back. */
    test_pattern(c->host, size, seed + 1);
    memcpy(c->expected + GUARD, c->host, size);
    CHECK(gpumem_stream_write(c->stream, a, GUARD, c->host, size));
    memset(c->host, 0, size); /* a stream write has read its data when it returns */
    CHECK(gpumem_stream_synchronize(c->stream));
    transfers++;
    bad |= check_buffer(c, a, total, "stream write", size);
    bad |= check_exact_read(c, a, size, 1);

    /* A fill of the range's whole 4-byte words. */
    uint64_t fill_at = (GUARD + 3) & ~3ull, fill_size = (size - (fill_at - GUARD)) & ~3ull;
    if (size > fill_at - GUARD && fill_size) {
        CHECK(gpumem_buffer_fill(a, fill_at, fill_size, 0x12345678u));
        for (uint64_t i = 0; i < fill_size; i += 4)
            memcpy(c->expected + fill_at + i, &(uint32_t){0x12345678u}, 4);
        transfers++;
        bad |= check_buffer(c, a, total, "fill", fill_size);
    }

    /* A copy of the range into another buffer, at another odd offset. */
    CHECK(gpumem_buffer_fill(b, 0, total & ~3ull, 0));
    if (total & 3)
        CHECK(gpumem_buffer_write(b, total & ~3ull, "\0\0\0", total & 3));
    uint64_t to = 1;
    CHECK(gpumem_buffer_copy(a, GUARD, b, to, size));
    transfers++;
    memmove(c->expected + to, c->expected + GUARD, size);
    memset(c->expected, 0, to);
    memset(c->expected + to + size, 0, total - to - size);
    bad |= check_buffer(c, b, total, "copy", size);

    CHECK(gpumem_buffer_destroy(a));
    CHECK(gpumem_buffer_destroy(b));
    return bad;
}

/* --- the backend without direct host copies --- */

/* A copy of the host module's table without copy_host_to_page, copy_page_to_host and fill,
 * registered as "hostmapped": core must map pages (or stage) for every transfer. */
static int register_mapped(void)
{
    gpumem_backend_info host;
    if (gpumem_backend_find("host", &host) != GPUMEM_OK || !host.is_module) {
        fprintf(stderr, "transfer_sizes: the host backend is not a module here\n");
        return 1;
    }
    void *module = dlopen(host.module_path, RTLD_NOW | RTLD_LOCAL);
    gpumem_backend_entry_fn entry = NULL;
    if (module)
        *(void **)&entry = dlsym(module, GPUMEM_BACKEND_ENTRY_NAME);
    if (!entry) {
        fprintf(stderr, "transfer_sizes: %s: %s\n", host.module_path, dlerror());
        return 1;
    }
    static gpumem_backend_vtable table;
    table = *entry();
    table.name = "hostmapped";
    table.copy_host_to_page = NULL;
    table.copy_page_to_host = NULL;
    table.fill = NULL;
    if (gpumem_backend_register(&table) != GPUMEM_OK) {
        fprintf(stderr, "transfer_sizes: %s\n", gpumem_last_error());
        return 1;
    }
    return 0;
}

/* --- one run, in this process --- */

static int run_sizes(int mapped, int quick)
{
    if (mapped && register_mapped())
        return 1;
    gpumem_device_desc open_desc = {.backend = mapped ? "hostmapped" : NULL};
    context c = {0};
    gpumem_result r = gpumem_device_open(&open_desc, &c.device);
    if (r == GPUMEM_ERROR_UNAVAILABLE) {
        printf("transfer_sizes: skipped: %s\n", gpumem_last_error());
        return 77;
    }
    CHECK(r);
    gpumem_device_properties props;
    CHECK(gpumem_device_properties_get(c.device, &props));
    gpumem_pool_desc pool_desc = {.required_flags = GPUMEM_MEMORY_DEVICE_LOCAL, .name = "sizes"};
    if (gpumem_pool_create(c.device, &pool_desc, &c.pool) != GPUMEM_OK) {
        pool_desc.required_flags = 0;
        CHECK(gpumem_pool_create(c.device, &pool_desc, &c.pool));
    }
    CHECK(gpumem_stream_create(c.device, &c.stream));
    const char *threads_env = getenv("GPUMEM_COPY_THREADS");
    const char *chunk_env = getenv("GPUMEM_STAGING_CHUNK");
    unsigned threads = threads_env ? (unsigned)atoi(threads_env) : 1;
    uint64_t chunk = chunk_env ? strtoull(chunk_env, NULL, 10) : 8 * MiB;
    make_sizes(threads, chunk ? chunk : 8 * MiB, quick);
    c.capacity = sizes[size_count - 1] + 2 * GUARD + 64;
    c.expected = malloc(c.capacity);
    c.host = malloc(c.capacity);
    if (!c.expected || !c.host) {
        FAIL("no host memory for %llu bytes", (unsigned long long)c.capacity);
        return 1;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned i = 0; i < size_count && failures < 10; i++)
        if (one_size(&c, sizes[i], i * 1000003ull + threads))
            fprintf(stderr, "  (size %llu, %s%s, GPUMEM_COPY_THREADS=%s, staging %s)\n",
                    (unsigned long long)sizes[i], props.backend, mapped ? " mapped" : "",
                    threads_env ? threads_env : "default",
                    getenv("GPUMEM_STAGING") ? getenv("GPUMEM_STAGING") : "auto");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(gpumem_device_close(c.device));
    free(c.expected);
    free(c.host);
    printf("transfer_sizes: %s%s, copy threads %s, staging %s (chunk %s): %u sizes from %llu to "
           "%llu bytes, %llu transfers, %llu bytes checked, %.1f s: %s\n",
           props.backend, mapped ? " (mapped)" : "", threads_env ? threads_env : "default",
           getenv("GPUMEM_STAGING") ? getenv("GPUMEM_STAGING") : "auto",
           chunk_env ? chunk_env : "default", size_count, (unsigned long long)sizes[0],
           (unsigned long long)sizes[size_count - 1], (unsigned long long)transfers,
           (unsigned long long)bytes_checked,
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9,
           failures ? "FAIL" : "ok");
    return failures ? 1 : 0;
}

/* --- every thread count, one process each --- */

/* The thread counts --all-threads --quick runs: one (no split), an odd count, a power of two, and
 * the largest. */
static const unsigned quick_thread_counts[] = {1, 3, 8, 17};

static int run_all_threads(int argc, char **argv, int quick)
{
    unsigned runs = quick ? sizeof quick_thread_counts / sizeof *quick_thread_counts : 17u;
    int failed = 0, skipped = 0;
    char *args[8];
    int n = 0;
    args[n++] = "/proc/self/exe";
    for (int i = 1; i < argc && n < 7; i++)
        if (strcmp(argv[i], "--all-threads") != 0)
            args[n++] = argv[i];
    args[n] = NULL;
    for (unsigned run = 0; run < runs; run++) {
        unsigned threads = quick ? quick_thread_counts[run] : run + 1u;
        char value[16];
        snprintf(value, sizeof value, "%u", threads);
        setenv("GPUMEM_COPY_THREADS", value, 1);
        fflush(stdout);
        pid_t pid;
        if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, args, environ) != 0) {
            perror("transfer_sizes: posix_spawn");
            return 1;
        }
        int status;
        if (waitpid(pid, &status, 0) < 0) {
            perror("transfer_sizes: waitpid");
            return 1;
        }
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (code == 77)
            skipped++;
        else if (code != 0) {
            fprintf(stderr, "transfer_sizes: GPUMEM_COPY_THREADS=%u failed (exit %d)\n",
                    threads, code);
            failed++;
        }
    }
    if ((unsigned)skipped == runs)
        return 77;
    printf("transfer_sizes: GPUMEM_COPY_THREADS 1 to 17 (%u of them): %d failed\n", runs, failed);
    return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    int all = 0, mapped = 0, quick = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--all-threads") == 0)
            all = 1;
        else if (strcmp(argv[i], "--mapped") == 0)
            mapped = 1;
        else if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else {
            fprintf(stderr, "usage: transfer_sizes [--all-threads] [--mapped] [--quick]\n");
            return 2;
        }
    }
    return all ? run_all_threads(argc, argv, quick) : run_sizes(mapped, quick);
}
