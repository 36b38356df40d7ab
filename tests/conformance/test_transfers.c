/* Synchronous transfers: write, read, copy and fill, byte-exact against a host model of each
 * buffer, on every memory type; and the range checks. Sizes cross the staging chunk (64 KiB in
 * the staging run, larger by default: 9 MiB is above the default chunk). */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "conformance.h"
#include "gpumem/backend.h"

#define MIB (1ull << 20)
#define PAGE (4 * MIB)
#define BIG (10 * MIB + 64)

/* A device buffer and what it must hold. */
typedef struct modeled {
    gpumem_buffer buffer;
    uint64_t size;
    uint8_t *model;
} modeled;

static modeled modeled_new(gpumem_pool pool, uint64_t size, uint64_t seed)
{
    modeled m = {conf_buffer(pool, size, 0), size, conf_alloc(size)};
    conf_pattern(m.model, size, seed);
    OK(gpumem_buffer_write(m.buffer, 0, m.model, size));
    return m;
}

static void modeled_check(const modeled *m, const char *what)
{
    uint8_t *out = conf_alloc(m->size);
    memset(out, 0xEE, m->size);
    OK(gpumem_buffer_read(m->buffer, 0, out, m->size));
    ASSERT_BYTES(out, m->model, m->size, "%s", what);
    free(out);
}

static void modeled_free(modeled *m)
{
    OK(gpumem_buffer_destroy(m->buffer));
    free(m->model);
}

static void write_range(modeled *m, uint64_t offset, uint64_t size, uint64_t seed)
{
    uint8_t *data = conf_alloc(size), *out = conf_alloc(size);
    conf_pattern(data, size, seed);
    OK(gpumem_buffer_write(m->buffer, offset, data, size));
    memcpy(m->model + offset, data, size);
    memset(out, 0xEE, size);
    OK(gpumem_buffer_read(m->buffer, offset, out, size));
    ASSERT_BYTES(out, data, size, "write of %llu bytes at %llu read back",
                 (unsigned long long)size, (unsigned long long)offset);
    free(data);
    free(out);
}

typedef struct range {
    uint64_t offset, size;
} range;

CONF_TEST(write_read_byte_exact_on_every_memory_type)
{
    const range ranges[] = {
        {0, 1},        {1, 1},          {3, 3},           {4095, 4097},       {BIG - 1, 1},
        {7, MIB + 7},  {123457, 9 * MIB}, {BIG - 4097, 4097}, {65535, 65537}, {2, 65536 * 3},
    };
    for (uint32_t type = 0; type < conf_props.memory_type_count; type++) {
        gpumem_pool pool = conf_type_pool(type, PAGE, 0, "transfers");
        modeled m = modeled_new(pool, BIG, 1000 + type);
        modeled_check(&m, "whole buffer after the first write");
        for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
            write_range(&m, ranges[i].offset, ranges[i].size, 17 * type + i);
        modeled_check(&m, "after ranged writes");
        /* Reads of ranges that differ from the writes. */
        const range reads[] = {{5, 3 * 4097}, {BIG - MIB - 3, MIB + 3}, {1, BIG - 1}};
        for (size_t i = 0; i < 3; i++) {
            uint8_t *out = conf_alloc(reads[i].size);
            OK(gpumem_buffer_read(m.buffer, reads[i].offset, out, reads[i].size));
            ASSERT_BYTES(out, m.model + reads[i].offset, reads[i].size, "type %u read %zu",
                         type, i);
            free(out);
        }
        /* A buffer in a shared page, at a non-zero offset. */
        gpumem_buffer first = conf_buffer(pool, 1000, 0);
        modeled s = modeled_new(pool, 65536 + 3, 77 + type);
        write_range(&s, 1, 65536 + 1, 78);
        modeled_check(&s, "shared-page buffer");
        OK(gpumem_buffer_destroy(first));
        modeled_free(&s);
        modeled_free(&m);
        OK(gpumem_pool_destroy(pool));
    }
}

static void copy_range(modeled *src, uint64_t so, modeled *dst, uint64_t dof, uint64_t size)
{
    OK(gpumem_buffer_copy(src->buffer, so, dst->buffer, dof, size));
    memmove(dst->model + dof, src->model + so, size);
}

CONF_TEST(copy_between_buffers_of_every_pair_of_types)
{
    const uint64_t size = 2 * MIB + 100;
    const range copies[][2] = {
        {{0, 0}, {0, 1}},      {{3, 5}, {0, 3}},         {{1, 4096}, {0, 4097}},
        {{7, 13}, {0, MIB + 7}}, {{size - 1, 0}, {0, 1}}, {{0, size - 65537}, {0, 65537}},
    };
    uint32_t types = conf_props.memory_type_count;
    gpumem_pool *pools = conf_alloc(types * sizeof *pools);
    for (uint32_t t = 0; t < types; t++)
        pools[t] = conf_type_pool(t, PAGE, 0, "copies");
    for (uint32_t a = 0; a < types; a++)
        for (uint32_t b = 0; b < types; b++) {
            modeled src = modeled_new(pools[a], size, 10 * a + b + 1);
            modeled dst = modeled_new(pools[b], size, 10 * a + b + 500);
            for (size_t i = 0; i < sizeof copies / sizeof copies[0]; i++)
                copy_range(&src, copies[i][0].offset, &dst, copies[i][0].size,
                           copies[i][1].size);
            modeled_check(&dst, "copy destination");
            modeled_check(&src, "copy source (must be unchanged)");
            modeled_free(&src);
            modeled_free(&dst);
        }
    /* 9 MiB: above the default staging chunk. */
    modeled big_src = modeled_new(pools[0], BIG, 3);
    modeled big_dst = modeled_new(pools[types - 1], BIG, 4);
    copy_range(&big_src, 3, &big_dst, 65, 9 * MIB);
    modeled_check(&big_dst, "9 MiB copy");
    modeled_free(&big_src);
    modeled_free(&big_dst);
    for (uint32_t t = 0; t < types; t++)
        OK(gpumem_pool_destroy(pools[t]));
    free(pools);
}

CONF_TEST(copy_within_one_buffer)
{
    for (uint32_t type = 0; type < conf_props.memory_type_count; type++) {
        gpumem_pool pool = conf_type_pool(type, PAGE, 0, "self-copy");
        const uint64_t n = 100003;
        modeled m = modeled_new(pool, 3 * n, 90 + type);
        copy_range(&m, 0, &m, n + 5, n);     /* apart */
        copy_range(&m, n, &m, 0, n);         /* touching: [n, 2n) -> [0, n) */
        copy_range(&m, 2 * n - 1, &m, 1, 7); /* backwards, apart */
        modeled_check(&m, "non-overlapping copies in one buffer");
        /* Overlapping ranges are refused and change nothing. */
        FAILS(gpumem_buffer_copy(m.buffer, 0, m.buffer, n - 1, n), GPUMEM_ERROR_INVALID_ARGUMENT);
        FAILS(gpumem_buffer_copy(m.buffer, 10, m.buffer, 0, n), GPUMEM_ERROR_INVALID_ARGUMENT);
        FAILS(gpumem_buffer_copy(m.buffer, 0, m.buffer, 0, 1), GPUMEM_ERROR_INVALID_ARGUMENT);
        FAILS(gpumem_buffer_copy(m.buffer, 5, m.buffer, 6, 2), GPUMEM_ERROR_INVALID_ARGUMENT);
        modeled_check(&m, "after refused overlapping copies");
        modeled_free(&m);
        OK(gpumem_pool_destroy(pool));
    }
}

static void fill_range(modeled *m, uint64_t offset, uint64_t size, uint32_t pattern)
{
    OK(gpumem_buffer_fill(m->buffer, offset, size, pattern));
    for (uint64_t i = 0; i < size; i += 4)
        memcpy(m->model + offset + i, &pattern, 4);
}

CONF_TEST(fill_with_a_32_bit_pattern)
{
    for (uint32_t type = 0; type < conf_props.memory_type_count; type++) {
        gpumem_pool pool = conf_type_pool(type, PAGE, 0, "fills");
        modeled m = modeled_new(pool, BIG, 300 + type);
        fill_range(&m, 4, 8, 0xDEADBEEFu);
        fill_range(&m, 4096, 3 * 4096, 0x01020304u);
        fill_range(&m, 20, 4, 0u);
        fill_range(&m, MIB + 4, 9 * MIB, 0xA5A5A5A5u ^ type);
        fill_range(&m, BIG - 4, 4, 0xFFFFFFFFu);
        fill_range(&m, 65532, 65536 + 8, 0x0BADF00Du);
        modeled_check(&m, "after fills");
        uint32_t word;
        OK(gpumem_buffer_read(m.buffer, 4, &word, 4));
        cr_assert_eq(word, 0xDEADBEEFu, "read 0x%08x", word);
        /* The whole buffer. */
        fill_range(&m, 0, BIG, 0x11223344u);
        modeled_check(&m, "whole-buffer fill");
        FAILS(gpumem_buffer_fill(m.buffer, 2, 8, 1), GPUMEM_ERROR_INVALID_ARGUMENT);
        FAILS(gpumem_buffer_fill(m.buffer, 1, 4, 1), GPUMEM_ERROR_INVALID_ARGUMENT);
        FAILS(gpumem_buffer_fill(m.buffer, 4, 6, 1), GPUMEM_ERROR_INVALID_ARGUMENT);
        FAILS(gpumem_buffer_fill(m.buffer, 0, 3, 1), GPUMEM_ERROR_INVALID_ARGUMENT);
        FAILS(gpumem_buffer_fill(m.buffer, BIG, 4, 1), GPUMEM_ERROR_OUT_OF_RANGE);
        FAILS(gpumem_buffer_fill(m.buffer, 4, BIG, 1), GPUMEM_ERROR_OUT_OF_RANGE);
        modeled_check(&m, "after refused fills");
        modeled_free(&m);
        OK(gpumem_pool_destroy(pool));
    }
}

CONF_TEST(out_of_range_transfers_are_refused)
{
    uint32_t type = conf_host_visible_type();
    gpumem_pool pool = conf_type_pool(type, PAGE, 0, "ranges");
    const uint64_t n = 4096 + 3;
    modeled a = modeled_new(pool, n, 1), b = modeled_new(pool, n, 2);
    uint8_t host[16] = {0};
    const struct {
        uint64_t offset, size;
    } bad[] = {
        {n, 1}, {n + 1, 1}, {0, n + 1}, {n - 1, 2}, {UINT64_MAX, 2}, {1, UINT64_MAX},
        {UINT64_MAX - 1, 4}, {(uint64_t)1 << 63, (uint64_t)1 << 63},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t o = bad[i].offset, s = bad[i].size;
        FAILS(gpumem_buffer_write(a.buffer, o, host, s), GPUMEM_ERROR_OUT_OF_RANGE);
        FAILS(gpumem_buffer_read(a.buffer, o, host, s), GPUMEM_ERROR_OUT_OF_RANGE);
        FAILS(gpumem_buffer_copy(a.buffer, o, b.buffer, 0, s), GPUMEM_ERROR_OUT_OF_RANGE);
        FAILS(gpumem_buffer_copy(a.buffer, 0, b.buffer, o, s), GPUMEM_ERROR_OUT_OF_RANGE);
        FAILS(gpumem_buffer_flush(a.buffer, o, s), GPUMEM_ERROR_OUT_OF_RANGE);
        FAILS(gpumem_buffer_invalidate(a.buffer, o, s), GPUMEM_ERROR_OUT_OF_RANGE);
        if (o % 4 == 0 && s % 4 == 0)
            FAILS(gpumem_buffer_fill(a.buffer, o, s, 7), GPUMEM_ERROR_OUT_OF_RANGE);
    }
    gpumem_stream stream;
    OK(gpumem_stream_create(conf_dev, &stream));
    FAILS(gpumem_stream_write(stream, a.buffer, n, host, 1), GPUMEM_ERROR_OUT_OF_RANGE);
    FAILS(gpumem_stream_read(stream, a.buffer, UINT64_MAX, host, 2), GPUMEM_ERROR_OUT_OF_RANGE);
    FAILS(gpumem_stream_copy(stream, a.buffer, 0, b.buffer, 1, n), GPUMEM_ERROR_OUT_OF_RANGE);
    FAILS(gpumem_stream_fill(stream, a.buffer, 0, n + 1 + 4, 7), GPUMEM_ERROR_OUT_OF_RANGE);
    OK(gpumem_stream_synchronize(stream));
    /* The edges themselves are fine. */
    OK(gpumem_buffer_read(a.buffer, n - 1, host, 1));
    cr_assert_eq(host[0], a.model[n - 1]);
    OK(gpumem_buffer_copy(a.buffer, n - 5, b.buffer, 0, 5));
    memcpy(b.model, a.model + n - 5, 5);
    modeled_check(&a, "a after refused transfers");
    modeled_check(&b, "b after refused transfers");
    modeled_free(&a);
    modeled_free(&b);
    OK(gpumem_pool_destroy(pool));
}

/* --- pageable memory on a thread bound to few CPUs --- */

/* The path of the last host transfer, as core's debug log names it ("direct", "staged"...),
 * whether the log said it was not staged for want of CPUs, and whether core registered its
 * memory for the transfer alone. While such a transfer runs (its log comes from inside it),
 * the application's registration of the same memory is refused as busy: `busy_result`. */
static char last_path[16];
static int last_for_cpus, last_registered;
static unsigned last_pieces; /* how many pieces the log says a registered transfer was cut into */
static _Atomic int refused_registrations; /* the runtime's refusals of a transfer's registration */
/* Writes whose log said they left staging for want of CPUs, and those registered for
 * themselves, since the counts were last reset (other threads' and nested calls' logs leave
 * them be). */
static _Atomic int writes_for_cpus, writes_registered;
static gpumem_device path_device;
static const void *path_host;
static uint64_t path_size;
static gpumem_result busy_result;
static gpumem_host_registration busy_registration; /* one that should not have been made */

/* Another thread's read, started from inside a write that registered its source for itself
 * (a_write_registered_for_itself_holds_off_other_threads_transfers). */
typedef struct other_read {
    gpumem_stream stream; /* its own: the write holds the default stream's lock */
    gpumem_buffer buffer;
    uint8_t *into;
    uint64_t size;
    gpumem_result result;
    _Atomic int done;
    int started, done_during_write;
    pthread_t thread;
    /* The writing thread's own read, from the same log callback, on another stream of its own,
     * into `mine`: it must have landed when the call returns (its DMA could otherwise outlive
     * the write's registration). */
    gpumem_stream my_stream;
    uint8_t *mine, *expected;
    gpumem_result my_result;
    int mine_landed;
} other_read;
static other_read *read_during_write;

static void *run_other_read(void *arg)
{
    other_read *o = arg;
    o->result = gpumem_stream_read(o->stream, o->buffer, 0, o->into, o->size);
    if (o->result == GPUMEM_OK)
        o->result = gpumem_stream_synchronize(o->stream);
    atomic_store(&o->done, 1);
    return NULL;
}

/* Starts the other read and gives it 50 ms, in which it must not finish. */
static void read_from_another_thread(other_read *o)
{
    o->my_result = gpumem_stream_read(o->my_stream, o->buffer, 0, o->mine, o->size);
    o->mine_landed = o->my_result == GPUMEM_OK && !memcmp(o->mine, o->expected, o->size);
    cr_assert_eq(pthread_create(&o->thread, NULL, run_other_read, o), 0);
    o->started = 1;
    nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
    o->done_during_write = atomic_load(&o->done);
}

static void path_log(void *user, int32_t level, const char *message)
{
    if (level == GPUMEM_LOG_DEBUG && strstr(message, "did not register"))
        atomic_fetch_add(&refused_registrations, 1);
    const char *at = strstr(message, "': ");
    if (level == GPUMEM_LOG_DEBUG && at &&
        (!strncmp(message, "write of ", 9) || !strncmp(message, "read of ", 8))) {
        snprintf(last_path, sizeof last_path, "%.*s", (int)strcspn(at + 3, " "), at + 3);
        last_for_cpus = strstr(message, "usable CPUs") != NULL;
        static const char said[] = "registered for this ";
        const char *registered = strstr(message, said);
        last_registered = registered != NULL;
        last_pieces = 0;
        if (registered) { /* "registered for this write in 3 pieces", or read */
            const char *count = strstr(registered, " in ");
            last_pieces = count ? (unsigned)strtoul(count + 4, NULL, 10) : 0;
        }
        int write = !strncmp(message, "write of ", 9);
        if (last_for_cpus && write)
            atomic_fetch_add(&writes_for_cpus, 1);
        if (last_registered && write)
            atomic_fetch_add(&writes_registered, 1);
        if (last_registered && path_device) /* ended after the transfer, if made (not here) */
            busy_result = gpumem_host_register(path_device, (void *)(uintptr_t)path_host,
                                               path_size, 0, &busy_registration);
        if (last_registered && read_during_write && !read_during_write->started)
            read_from_another_thread(read_during_write);
    }
    conf_log(user, level, message);
}

enum {
    SYNC_WRITE, SYNC_READ, STREAM_WRITE, STREAM_READ,
    IMAGE_WRITE, IMAGE_READ, IMAGE_STREAM_WRITE, /* a whole image of IMAGE_SIDE^2 RGBA8 texels */
    TRANSFERS
};
static const char *const transfer_names[] = {"write", "read", "stream write", "stream read",
                                             "image write", "image read", "stream image write"};
#define IMAGE_SIDE 1536u /* 9 MiB, and rows of 6 KiB: a multiple of any row alignment */
#define IMAGE_BYTES ((uint64_t)IMAGE_SIDE * IMAGE_SIDE * 4)

/* What one device did with pageable writes and reads of `size` bytes (of an image's, where the
 * backend has images). */
typedef struct pageable_run {
    char path[TRANSFERS][16];
    int for_cpus[TRANSFERS];
    int registered[TRANSFERS]; /* for the transfer alone (see path_log) */
    gpumem_result result[TRANSFERS];
    int images;
    int can_register; /* the backend registers host memory (gpumem_host_register) */
} pageable_run;

/* Registers the memory and ends the registration at once: whether the backend can register
 * host memory at all (0: GPUMEM_ERROR_UNSUPPORTED), asserting that it takes the memory. A
 * registration of core's that outlived its write would have the runtime refuse it. */
static int registers(gpumem_device device, const void *host, uint64_t size, const char *when)
{
    gpumem_host_registration r;
    gpumem_result made = gpumem_host_register(device, (void *)(uintptr_t)host, size, 0, &r);
    if (made == GPUMEM_ERROR_UNSUPPORTED)
        return 0;
    cr_assert_eq(made, GPUMEM_OK, "registering the memory %s: %s (%s)", when,
                 gpumem_result_string(made), gpumem_last_error());
    OK(gpumem_host_unregister(r));
    return 1;
}

static int is_write(int which)
{
    return which == SYNC_WRITE || which == STREAM_WRITE || which == IMAGE_WRITE ||
           which == IMAGE_STREAM_WRITE;
}

static gpumem_result pageable_transfer(int which, gpumem_stream stream, gpumem_buffer buffer,
                                       gpumem_image image, uint8_t *host, uint8_t *back,
                                       uint64_t size)
{
    gpumem_image_region all = {.width = IMAGE_SIDE, .height = IMAGE_SIDE};
    gpumem_result r;
    switch (which) {
    case SYNC_WRITE: return gpumem_buffer_write(buffer, 0, host, size);
    case SYNC_READ: return gpumem_buffer_read(buffer, 0, back, size);
    case STREAM_WRITE: r = gpumem_stream_write(stream, buffer, 0, host, size); break;
    case STREAM_READ: r = gpumem_stream_read(stream, buffer, 0, back, size); break;
    case IMAGE_WRITE: return gpumem_image_write(image, &all, host);
    case IMAGE_READ: return gpumem_image_read(image, &all, back);
    default: r = gpumem_stream_image_write(stream, image, &all, host); break;
    }
    return r == GPUMEM_OK ? gpumem_stream_synchronize(stream) : r;
}

/* Opens a device with GPUMEM_STAGING=`mode`, writes and reads back `size` pageable bytes in a
 * pool that prefers device-local memory, synchronously and on a stream, and checks the bytes
 * of each write and read that succeeded. */
static pageable_run pageable_transfers(const char *mode, uint64_t size)
{
    pageable_run run;
    setenv("GPUMEM_STAGING", mode, 1);
    gpumem_device device;
    OK(conf_open(&device));
    gpumem_pool_desc pd = {.preferred_flags = GPUMEM_MEMORY_DEVICE_LOCAL,
                           .page_size = 16 * MIB,
                           .name = "pageable"};
    gpumem_pool pool;
    OK(gpumem_pool_create(device, &pd, &pool));
    gpumem_buffer_desc bd = {.size = size};
    gpumem_buffer buffer;
    OK(gpumem_buffer_create(pool, &bd, &buffer));
    gpumem_stream stream;
    OK(gpumem_stream_create(device, &stream));
    gpumem_image_desc id = {.type = GPUMEM_IMAGE_2D,
                            .format = GPUMEM_FORMAT_R8G8B8A8_UNORM,
                            .width = IMAGE_SIDE,
                            .height = IMAGE_SIDE};
    gpumem_image image = NULL;
    gpumem_result made = gpumem_image_create(pool, &id, &image);
    cr_assert(made == GPUMEM_OK || made == GPUMEM_ERROR_UNSUPPORTED, "image: %s (%s)",
              gpumem_result_string(made), gpumem_last_error());
    run.images = made == GPUMEM_OK;
    cr_assert_geq(size, IMAGE_BYTES);
    uint8_t *host = conf_alloc(size), *back = conf_alloc(size);
    run.can_register = registers(device, host, size, "before the transfers");
    path_device = device;
    path_size = size;
    for (int which = 0; which < TRANSFERS; which++) {
        path_host = is_write(which) ? host : back; /* the transfer's host memory */
        run.registered[which] = 0;
        if (which >= IMAGE_WRITE && !run.images) {
            run.result[which] = GPUMEM_ERROR_UNSUPPORTED;
            run.path[which][0] = 0;
            run.for_cpus[which] = 0;
            continue;
        }
        if (is_write(which))
            conf_pattern(host, size, 7 + (uint64_t)which);
        else
            memset(back, 0xEE, size);
        last_path[0] = 0;
        last_for_cpus = 0;
        last_registered = 0;
        busy_result = GPUMEM_OK;
        run.result[which] = pageable_transfer(which, stream, buffer, image, host, back, size);
        snprintf(run.path[which], sizeof run.path[which], "%s", last_path);
        run.for_cpus[which] = last_for_cpus;
        run.registered[which] = last_registered;
        if (last_registered) {
            if (busy_result == GPUMEM_OK)
                OK(gpumem_host_unregister(busy_registration));
            cr_assert_eq(busy_result, GPUMEM_ERROR_BAD_STATE, "GPUMEM_STAGING=%s, the %s: the "
                         "application registered the memory while core had it registered for "
                         "the transfer -> %s", mode, transfer_names[which],
                         gpumem_result_string(busy_result));
            registers(device, path_host, size, "after a transfer that registered it");
        }
        cr_assert(run.result[which] == GPUMEM_OK || run.result[which] == GPUMEM_ERROR_UNSUPPORTED,
                  "GPUMEM_STAGING=%s, the %s -> %s (%s)", mode, transfer_names[which],
                  gpumem_result_string(run.result[which]), gpumem_last_error());
        if (!is_write(which) && run.result[which] == GPUMEM_OK &&
            run.result[which - 1] == GPUMEM_OK)
            ASSERT_BYTES(back, host, which < IMAGE_WRITE ? size : IMAGE_BYTES,
                         "GPUMEM_STAGING=%s, the %s", mode, transfer_names[which]);
    }
    path_device = NULL;
    free(host);
    free(back);
    if (image)
        OK(gpumem_image_destroy(image));
    OK(gpumem_stream_destroy(stream));
    OK(gpumem_buffer_destroy(buffer));
    OK(gpumem_pool_destroy(pool));
    OK(gpumem_device_close(device));
    return run;
}

/* Binds the calling thread to the first `n` CPUs it may use, or to all it may use where that
 * is fewer; *all receives what it could use. Answers how many it is bound to. */
static int bind_to_cpus(cpu_set_t *all, int n)
{
    cpu_set_t some;
    cr_assert_eq(sched_getaffinity(0, sizeof *all, all), 0, "%s", strerror(errno));
    CPU_ZERO(&some);
    int bound = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && bound < n; cpu++)
        if (CPU_ISSET(cpu, all)) {
            CPU_SET(cpu, &some);
            bound++;
        }
    cr_assert_eq(sched_setaffinity(0, sizeof some, &some), 0, "%s", strerror(errno));
    return bound;
}

static char *saved_staging(void)
{
    const char *set = getenv("GPUMEM_STAGING");
    return set ? strdup(set) : NULL;
}

/* Sets GPUMEM_STAGING back to what saved_staging found. */
static void restore_staging(char *saved)
{
    if (saved)
        setenv("GPUMEM_STAGING", saved, 1);
    else
        unsetenv("GPUMEM_STAGING");
    free(saved);
}

static void restore_cpus(const cpu_set_t *all)
{
    cr_assert_eq(sched_setaffinity(0, sizeof *all, all), 0, "%s", strerror(errno));
}

/* Opens `backend` (NULL: the suite's) on this thread bound to `cpus` CPUs (0: all it may use),
 * so that it counts that many usable CPUs, then lets the thread use all it could again;
 * `default_mode`: with GPUMEM_STAGING unset meanwhile. Answers 0, opening nothing, where the
 * process may use fewer. */
static int open_bound(int cpus, const char *backend, int default_mode, gpumem_device *device)
{
    cpu_set_t all;
    int bound = !cpus || bind_to_cpus(&all, cpus) == cpus;
    gpumem_result opened = GPUMEM_OK;
    if (bound) {
        char *saved = default_mode ? saved_staging() : NULL;
        if (default_mode)
            unsetenv("GPUMEM_STAGING");
        opened = conf_open_backend(backend, device);
        if (default_mode)
            restore_staging(saved);
    }
    if (cpus)
        restore_cpus(&all);
    OK(opened);
    return bound;
}

/* The suite's backend in the default mode, on `cpus` CPUs (open_bound). */
static int open_on_cpus(int cpus, gpumem_device *device)
{
    return open_bound(cpus, NULL, 1, device);
}

/* pageable_transfers of 9 MiB and 12 bytes (past the 8 MiB where pageable memory may be staged)
 * with GPUMEM_STAGING auto, never and pageable, on this thread bound to `cpus` CPUs, with the
 * path log on; then the thread's CPUs, GPUMEM_STAGING and the log as they were. Answers 0,
 * running nothing, where the process may use fewer CPUs. */
static int runs_on_cpus(int cpus, pageable_run *automatic, pageable_run *never,
                        pageable_run *pageable)
{
    const uint64_t size = 9 * MIB + 12;
    cpu_set_t all;
    if (bind_to_cpus(&all, cpus) < cpus) {
        restore_cpus(&all);
        return 0;
    }
    char *saved = saved_staging();
    gpumem_log_set_callback(path_log, NULL);
    *automatic = pageable_transfers("auto", size);
    *never = pageable_transfers("never", size);
    *pageable = pageable_transfers("pageable", size);
    conf_log_restore();
    restore_staging(saved);
    restore_cpus(&all);
    return 1;
}

/* Staging pays only from two CPUs: on one, the runtime's own copy of pageable memory is faster
 * (docs/performance.md). So on a device opened by a thread bound to one CPU, in the default
 * mode, a transfer that waits for its copy (a synchronous one, or a read) takes the path it
 * takes with GPUMEM_STAGING=never, and is staged only where that path is refused. A write on a
 * stream keeps the path it has on many CPUs, where the runtime's write would wait for the
 * stream. With GPUMEM_STAGING=pageable, no transfer leaves staging for want of CPUs, and each
 * one the default mode sent to the runtime for that reason is staged. Buffers and pitched
 * images alike. A synchronous buffer write or read given to the runtime so registers its
 * memory for its length, where the backend registers host memory: the application's
 * registration of it is refused as busy meanwhile, and succeeds once the transfer has
 * returned. */
CONF_TEST(on_one_cpu_pageable_memory_is_staged_only_where_nothing_else_can_copy_it)
{
    CONF_SKIP_IF_REGISTRATION_CACHE();
    pageable_run automatic, never, pageable;
    cr_assert(runs_on_cpus(1, &automatic, &never, &pageable));
    for (int which = 0; which < TRANSFERS; which++) {
        const char *what = transfer_names[which];
        if (which >= IMAGE_WRITE && !automatic.images)
            continue; /* the backend has no images */
        cr_assert_eq(automatic.result[which], GPUMEM_OK, "the %s in the default mode", what);
        /* What the runtime copies for want of CPUs, a synchronous buffer write or read
         * registers for its length where the backend can. */
        int registers = (which == SYNC_WRITE || which == SYNC_READ) && automatic.for_cpus[which] &&
                        automatic.can_register;
        cr_assert_eq(automatic.registered[which], registers, "the %s %s registered for itself "
                     "(the backend %s host memory)", what, registers ? "was not" : "was",
                     automatic.can_register ? "registers" : "cannot register");
        cr_assert_not(never.registered[which] || pageable.registered[which],
                      "the %s was registered for itself with GPUMEM_STAGING=%s", what,
                      never.registered[which] ? "never" : "pageable");
        if (which >= IMAGE_WRITE && !automatic.path[which][0]) {
            /* The runtime's own images (not pitched in a page): core stages them whatever the
             * mode, and logs no path. */
            cr_assert_eq(pageable.result[which], GPUMEM_OK, "the %s, pageable", what);
            cr_assert_eq(never.result[which], GPUMEM_OK, "the %s, never", what);
            continue;
        }
        cr_assert_eq(pageable.result[which], GPUMEM_OK, "the %s, GPUMEM_STAGING=pageable", what);
        cr_assert_neq(automatic.path[which][0], 0, "the %s's path was not logged", what);
        cr_assert_not(pageable.for_cpus[which], "the %s, GPUMEM_STAGING=pageable, left staging "
                      "for want of CPUs", what);
        if (automatic.for_cpus[which])
            cr_assert_str_eq(pageable.path[which], "staged", "the %s with GPUMEM_STAGING="
                             "pageable, which the default mode sent to the runtime", what);
        else
            cr_assert_str_eq(pageable.path[which], automatic.path[which], "the %s", what);
        if (which == STREAM_WRITE || which == IMAGE_STREAM_WRITE) {
            cr_assert_not(automatic.for_cpus[which], "the %s left staging for want of CPUs", what);
            continue;
        }
        if (!strcmp(automatic.path[which], "staged"))
            cr_assert_eq(never.result[which], GPUMEM_ERROR_UNSUPPORTED,
                         "the %s was staged on one CPU, though with GPUMEM_STAGING=never it went "
                         "%s", what, never.path[which]);
        else
            cr_assert_str_eq(automatic.path[which], never.path[which], "the %s's path", what);
    }
}

/* From two usable CPUs staging pays for writes on a stream, but a synchronous buffer write of
 * pageable memory that would be staged registers its pages for itself instead on two and three
 * CPUs, and a synchronous buffer read on two, where the backend registers host memory (writes
 * about 2-3x the runtime's copy there, against 1.3-2.6x staged; reads 1.2-1.7x against
 * 0.8-1.6x: docs/performance.md). So in the default mode every transfer takes the path it
 * takes with GPUMEM_STAGING=pageable (where nothing leaves staging for want of CPUs), except
 * those; on four, nothing registers, and with pageable, nothing ever does. Each CPU count the
 * process may use runs (CI's two-CPU machines run two only, and log what they left out). */
CONF_TEST(on_two_and_three_cpus_synchronous_transfers_register_and_the_rest_keep_their_paths)
{
    CONF_SKIP_IF_REGISTRATION_CACHE();
    const int writes_below = 4, reads_below = 3;
    for (int cpus = 2; cpus <= writes_below; cpus++) {
        pageable_run automatic, never, pageable;
        if (!runs_on_cpus(cpus, &automatic, &never, &pageable)) {
            if (cpus == 2)
                CONF_SKIP("the process may use one CPU: the test needs two");
            cr_log_info("not run on %d usable CPUs: the process may use fewer", cpus);
            break;
        }
        for (int which = 0; which < TRANSFERS; which++) {
            const char *what = transfer_names[which];
            if (which >= IMAGE_WRITE && !automatic.images)
                continue; /* the backend has no images */
            cr_assert_eq(automatic.result[which], GPUMEM_OK, "%d CPUs: the %s in the default "
                         "mode", cpus, what);
            cr_assert_eq(pageable.result[which], GPUMEM_OK, "%d CPUs: the %s, "
                         "GPUMEM_STAGING=pageable", cpus, what);
            cr_assert_not(pageable.registered[which] || never.registered[which], "%d CPUs: the "
                          "%s was registered for itself with GPUMEM_STAGING=%s", cpus, what,
                          never.registered[which] ? "never" : "pageable");
            /* Memory that would be staged, which the runtime can copy itself (with never, the
             * transfer goes direct, and succeeds) */
            int registers = ((which == SYNC_WRITE && cpus < writes_below) ||
                             (which == SYNC_READ && cpus < reads_below)) &&
                            automatic.can_register && !strcmp(pageable.path[which], "staged") &&
                            !strcmp(never.path[which], "direct") &&
                            never.result[which] == GPUMEM_OK;
            cr_assert_eq(automatic.registered[which], registers, "%d CPUs: the %s %s registered "
                         "for itself (the backend %s host memory; GPUMEM_STAGING=pageable took "
                         "it %s, never %s)", cpus, what, registers ? "was not" : "was",
                         automatic.can_register ? "registers" : "cannot register",
                         pageable.path[which][0] ? pageable.path[which] : "on no logged path",
                         never.path[which][0] ? never.path[which] : "on no logged path");
            if (registers) {
                cr_assert_str_eq(automatic.path[which], "direct", "%d CPUs: the registered %s",
                                 cpus, what);
                continue;
            }
            cr_assert_not(automatic.for_cpus[which], "%d CPUs: the %s left staging for want "
                          "of CPUs", cpus, what);
            cr_assert_str_eq(automatic.path[which], pageable.path[which], "%d CPUs: the %s's "
                             "path", cpus, what);
        }
    }
}

/* How many pieces core cuts a registered transfer of `size` bytes into, where the backend queues
 * its copies (transfer_registration.h): one per whole 16 MiB, at most 8, and one
 * below 32 MiB. The test's own model. */
static unsigned model_pieces(uint64_t size)
{
    uint64_t pieces = size / (16 * MIB);
    return pieces < 2 ? 1 : pieces > 8 ? 8 : (unsigned)pieces;
}

/* A write or read registered for itself is cut into pieces where the backend can queue the
 * copies (a write's: queue_registered_host_to_page; a read's always), each piece registered
 * while the one before is copied, and the transfer waits once for its stream before it
 * unregisters them. Sizes around every boundary of that cut (one piece and two, a page either
 * side, 8 pieces and past 8, where they grow), from and into host memory at random offsets in
 * a page, at a random offset of the buffer: every byte lands, and none beside a read's
 * destination changes, on one, two and three usable CPUs (those the process may use). Where
 * the backend registers host memory, writes register on all three and reads on one and two;
 * the log's count of pieces is the model's (for a write, 1 where the backend's table has no
 * queue_registered_host_to_page; either, for a built-in backend, whose table the test cannot
 * read), and no registration is refused. */
CONF_TEST(a_transfer_registered_in_pieces_lands_every_byte_around_the_cuts)
{
    CONF_SKIP_IF_REGISTRATION_CACHE();
    const uint64_t least = 16 * MIB, page = (uint64_t)sysconf(_SC_PAGESIZE);
    const uint64_t sizes[] = {9 * MIB + 12,     2 * least - page - 3, 2 * least - 1,
                              2 * least,        2 * least + 1,        2 * least + page + 1,
                              3 * least - 5,    3 * least + 12,       8 * least + 1,
                              8 * least + 3 * page + 5};
    const size_t count = sizeof sizes / sizeof sizes[0];
    const uint64_t largest = 8 * least + 3 * page + 5, room = 4096;
    const int reads_below = 3;
    uint64_t seed = 0x5eed;
    int registered_on_one[sizeof sizes / sizeof sizes[0]][2]; /* the write's, the read's */
    /* Whether the backend queues a write's pieces (1), cannot (0), or is built in (-1) */
    const char *built_in;
    const gpumem_backend_vtable *table = conf_module_table(&built_in);
    int queues_writes = !table ? -1
                        : table->version < 7 ? 0 /* queue_registered_host_to_page came in 7 */
                                             : table->queue_registered_host_to_page != NULL;
    for (int cpus = 1; cpus <= 3; cpus++) {
        gpumem_device device;
        if (!open_on_cpus(cpus, &device)) {
            cr_log_info("not run on %d usable CPUs: the process may use fewer", cpus);
            break;
        }
        gpumem_log_set_callback(path_log, NULL);
        gpumem_pool_desc pd = {.preferred_flags = GPUMEM_MEMORY_DEVICE_LOCAL, .name = "pieces"};
        gpumem_pool pool;
        OK(gpumem_pool_create(device, &pd, &pool));
        gpumem_buffer buffer;
        OK(gpumem_buffer_create(pool, &(gpumem_buffer_desc){.size = largest + room}, &buffer));
        uint8_t *source = conf_alloc(largest + page), *back = conf_alloc(largest + page);
        int can_register = registers(device, source, largest, "before the transfers");
        for (size_t i = 0; i < count; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            uint64_t lead = (seed >> 21) % page, at = ((seed >> 13) % room) & ~3ull;
            uint64_t size = sizes[i], tail = largest + page - lead - size;
            uint8_t *host = source + (seed >> 33) % page, *into = back + lead;
            conf_pattern(host, size, seed);
            memset(back, 0xEE, lead + size + (tail < page ? tail : page));
            for (int read = 0; read <= 1; read++) {
                const char *what = read ? "read" : "write";
                last_path[0] = 0;
                last_registered = 0;
                last_for_cpus = 0;
                last_pieces = 0;
                atomic_store(&refused_registrations, 0);
                if (read)
                    OK(gpumem_buffer_read(buffer, at, into, size));
                else
                    OK(gpumem_buffer_write(buffer, at, host, size));
                cr_assert_neq(last_path[0], 0, "%d CPUs, %llu bytes: the %s's path was not "
                              "logged", cpus, (unsigned long long)size, what);
                /* Nothing else holds the memory: a refusal is core's (pieces sharing a page) */
                cr_assert_eq(atomic_load(&refused_registrations), 0, "%d CPUs, %llu bytes: the "
                             "runtime refused a registration of the %s's", cpus,
                             (unsigned long long)size, what);
                /* On one CPU, a transfer that the runtime can copy is registered or says it
                 * left staging for want of CPUs; on more, the same transfers register, reads
                 * below three CPUs only. */
                if (cpus == 1)
                    registered_on_one[i][read] = last_registered;
                int expected = read && cpus >= reads_below ? 0 : registered_on_one[i][read];
                cr_assert(cpus == 1 ? !(can_register && last_for_cpus && !last_registered)
                                    : last_registered == expected,
                          "%d CPUs, %llu bytes: the %s went %s %s", cpus,
                          (unsigned long long)size, what, last_path,
                          last_registered ? "registered, though not on one CPU or not here"
                                          : "unregistered, though the backend registers host "
                                            "memory");
                if (last_registered) {
                    unsigned model = read || queues_writes == 1 ? model_pieces(size) : 1;
                    cr_assert(last_pieces == model ||
                                  (queues_writes < 0 && !read && last_pieces == 1),
                              "%d CPUs, the %s of %llu bytes at %p: %u pieces, where the model "
                              "cuts %u", cpus, what, (unsigned long long)size,
                              read ? (void *)into : (void *)host, last_pieces, model);
                }
            }
            ASSERT_BYTES(into, host, size, "%d CPUs, %llu bytes from %p at %llu into %p", cpus,
                         (unsigned long long)size, (void *)host, (unsigned long long)at,
                         (void *)into);
            for (uint64_t k = 0; k < lead; k++)
                cr_assert_eq(back[k], 0xEE, "%d CPUs: the read of %llu bytes into %p wrote %llu "
                             "bytes before it", cpus, (unsigned long long)size, (void *)into,
                             (unsigned long long)(lead - k));
            for (uint64_t k = 0; k < tail && k < page; k++)
                cr_assert_eq(into[size + k], 0xEE, "%d CPUs: the read of %llu bytes into %p "
                             "wrote the byte %llu past it", cpus, (unsigned long long)size,
                             (void *)into, (unsigned long long)k);
        }
        free(source);
        free(back);
        conf_log_restore();
        OK(gpumem_pool_destroy(pool));
        OK(gpumem_device_close(device));
    }
}

/* Where the runtime refuses to register a piece of a write or read that registers itself in
 * pieces (here because the application registered a page inside the third piece itself), that
 * piece and the rest of the transfer go to the runtime's copy unregistered: every byte still
 * lands, the application's registration is untouched, and the log says what was refused. A
 * backend that cannot queue a write's pieces registers the write whole, which the runtime
 * refuses at once: the write goes unregistered. */
CONF_TEST(a_transfer_whose_later_piece_the_runtime_refuses_lands_every_byte)
{
    CONF_SKIP_IF_REGISTRATION_CACHE();
    const uint64_t size = 48 * MIB + 12, page = (uint64_t)sysconf(_SC_PAGESIZE);
    gpumem_device device;
    cr_assert(open_on_cpus(1, &device));
    gpumem_pool_desc pd = {.preferred_flags = GPUMEM_MEMORY_DEVICE_LOCAL, .name = "refused"};
    gpumem_pool pool;
    OK(gpumem_pool_create(device, &pd, &pool));
    gpumem_buffer buffer;
    OK(gpumem_buffer_create(pool, &(gpumem_buffer_desc){.size = size}, &buffer));
    uint8_t *host = conf_alloc(size), *back = conf_alloc(size);
    conf_pattern(host, size, 77);
    /* A page inside the third piece (from about 32 MiB on), of the source and of the
     * destination */
    uint8_t *taken = (uint8_t *)(((uintptr_t)host + 40 * MIB + page - 1) & ~(uintptr_t)(page - 1));
    uint8_t *taken_back =
        (uint8_t *)(((uintptr_t)back + 40 * MIB + page - 1) & ~(uintptr_t)(page - 1));
    gpumem_host_registration mine, mine_back;
    gpumem_result made = gpumem_host_register(device, taken, page, 0, &mine);
    if (made == GPUMEM_ERROR_UNSUPPORTED) {
        char why[256]; /* the closes below clear the last error */
        snprintf(why, sizeof why, "%s", gpumem_last_error());
        free(host);
        free(back);
        OK(gpumem_pool_destroy(pool));
        OK(gpumem_device_close(device));
        CONF_SKIP("the backend cannot register host memory: %s", why);
    }
    OK(made);
    OK(gpumem_host_register(device, taken_back, page, 0, &mine_back));
    gpumem_log_set_callback(path_log, NULL);
    for (int read = 0; read <= 1; read++) {
        atomic_store(&refused_registrations, 0);
        last_registered = 0;
        last_for_cpus = 0;
        if (read)
            OK(gpumem_buffer_read(buffer, 0, back, size));
        else
            OK(gpumem_buffer_write(buffer, 0, host, size));
        /* On one CPU, a read the runtime can copy itself registers (the backend registers
         * host memory), and always in pieces; a write may be registered whole and refused */
        if (read)
            cr_assert(last_registered || !last_for_cpus, "the read on one CPU went %s "
                      "unregistered, though the backend registers host memory", last_path);
        if (last_registered)
            cr_assert_geq(atomic_load(&refused_registrations), 1, "the %s registered in %u "
                          "pieces, and no piece was refused, though the application holds a "
                          "page of its third registered", read ? "read" : "write", last_pieces);
    }
    conf_log_restore();
    ASSERT_BYTES(back, host, size, "the write and the read, each with a piece refused");
    OK(gpumem_host_unregister(mine)); /* still the application's */
    OK(gpumem_host_unregister(mine_back));
    free(host);
    free(back);
    OK(gpumem_pool_destroy(pool));
    OK(gpumem_device_close(device));
}

/* The backend's own table, with failures the test turns on: a stream wait that answers a
 * failure while `wait_fails` is set, as a runtime does for an error of earlier work on the
 * stream (it waits first, so the copies are done when the failure comes back); and the
 * `copy_fails_at`-th copy between host memory and a page from now that refuses, copying
 * nothing. */
static gpumem_backend_vtable failing_table, real_table;
static atomic_int wait_fails, copy_fails_at, failures_injected;
/* The `record_fails_at`-th event record, and the `chunk_copy_fails_at`-th copy between pages,
 * from now (0: none): the steps of core's staging pipeline. */
static atomic_int record_fails_at, chunk_copy_fails_at;

static gpumem_result injected(const char *what)
{
    atomic_fetch_add(&failures_injected, 1);
    return gpumem_backend_error(GPUMEM_ERROR_BACKEND, "injected failure of %s", what);
}

/* 1 when this call is the one `countdown` names (the count then stops). */
static int fails_now(atomic_int *countdown)
{
    int left = atomic_load(countdown);
    while (left > 0 && !atomic_compare_exchange_weak(countdown, &left, left - 1))
        ;
    return left == 1;
}

/* 1 when this copy is the one to fail. */
static int copy_fails(void)
{
    return fails_now(&copy_fails_at);
}

static gpumem_result failing_event_record(gpumem_backend_device *device,
                                          gpumem_backend_stream *stream,
                                          gpumem_backend_event *event)
{
    return fails_now(&record_fails_at) ? injected("event_record")
                                       : real_table.event_record(device, stream, event);
}

static gpumem_result failing_copy_page_to_page(gpumem_backend_device *device,
                                               gpumem_backend_stream *stream,
                                               gpumem_backend_page *source, uint64_t source_offset,
                                               gpumem_backend_page *destination,
                                               uint64_t destination_offset, uint64_t size)
{
    return fails_now(&chunk_copy_fails_at)
               ? injected("copy_page_to_page")
               : real_table.copy_page_to_page(device, stream, source, source_offset, destination,
                                              destination_offset, size);
}

static gpumem_result failing_stream_synchronize(gpumem_backend_device *device,
                                                gpumem_backend_stream *stream)
{
    gpumem_result r = real_table.stream_synchronize(device, stream);
    return r != GPUMEM_OK || !atomic_load(&wait_fails) ? r : injected("the stream's wait");
}

static gpumem_result failing_copy_host_to_page(gpumem_backend_device *device,
                                               gpumem_backend_stream *stream, const void *source,
                                               gpumem_backend_page *page, uint64_t offset,
                                               uint64_t size)
{
    return copy_fails() ? injected("copy_host_to_page")
                        : real_table.copy_host_to_page(device, stream, source, page, offset, size);
}

static gpumem_result failing_copy_page_to_host(gpumem_backend_device *device,
                                               gpumem_backend_stream *stream,
                                               gpumem_backend_page *page, uint64_t offset,
                                               void *destination, uint64_t size)
{
    return copy_fails() ? injected("copy_page_to_host")
                        : real_table.copy_page_to_host(device, stream, page, offset, destination,
                                                       size);
}

static gpumem_result failing_queue_registered_host_to_page(gpumem_backend_device *device,
                                                           gpumem_backend_stream *stream,
                                                           const void *source,
                                                           gpumem_backend_page *page,
                                                           uint64_t offset, uint64_t size)
{
    return copy_fails() ? injected("queue_registered_host_to_page")
                        : real_table.queue_registered_host_to_page(device, stream, source, page,
                                                                   offset, size);
}

/* Registers the suite's backend again as "failing", its table as the module gives it but for
 * the operations above it has. Answers 0 (with *why) where it cannot: a built-in backend, a
 * module of an earlier table version, or one without stream_synchronize, whose operations are
 * done when they return. */
static int register_failing(const char **why)
{
    const gpumem_backend_vtable *own = conf_module_table(why);
    if (!own)
        return 0;
    if (own->version != GPUMEM_BACKEND_VERSION) { /* an earlier table is shorter */
        *why = "the module was built for an earlier table version than the one this test wraps";
        return 0;
    }
    if (!own->stream_synchronize) {
        *why = "the backend has no stream_synchronize: its operations are done when they return";
        return 0;
    }
    real_table = failing_table = *own;
    failing_table.stream_synchronize = failing_stream_synchronize;
    if (own->copy_host_to_page)
        failing_table.copy_host_to_page = failing_copy_host_to_page;
    if (own->copy_page_to_host)
        failing_table.copy_page_to_host = failing_copy_page_to_host;
    if (own->queue_registered_host_to_page)
        failing_table.queue_registered_host_to_page = failing_queue_registered_host_to_page;
    if (own->event_record)
        failing_table.event_record = failing_event_record;
    if (own->copy_page_to_page)
        failing_table.copy_page_to_page = failing_copy_page_to_page;
    failing_table.name = "failing";
    failing_table.priority = 0; /* never the default backend */
    OK(gpumem_backend_register(&failing_table)); /* once: each test is a process of its own */
    return 1;
}

/* The failure the next transfer meets: its stream's wait (copy 0), or its copy-th copy between
 * host memory and a page. */
static void arm(int copy)
{
    atomic_store(&failures_injected, 0);
    atomic_store(&wait_fails, copy == 0);
    atomic_store(&copy_fails_at, copy);
}

/* What the path log said of the failing transfer: its path, whether it left staging for want
 * of CPUs, and in how many pieces it was registered (0: not registered for itself). */
typedef struct failed_path {
    char path[sizeof last_path];
    int for_cpus;
    unsigned pieces;
} failed_path;

/* A write or read of `size` bytes (host memory at `host`, back into `back`) that meets the
 * failure arm(copy) sets: it answers GPUMEM_ERROR_BACKEND with the backend's message, or, where
 * it made fewer copies than `copy`, succeeds (answers 0). Nothing stays registered after it, and
 * the next write and read land every byte. Answers 1 when it failed; *said is what its log
 * said, before the next transfers log theirs. */
static int transfer_fails(gpumem_device device, gpumem_buffer buffer, uint8_t *host,
                          uint8_t *back, uint64_t size, int read, int copy, int can_register,
                          int cpus, failed_path *said)
{
    const char *what = read ? "read" : "write";
    last_path[0] = 0;
    last_registered = 0;
    last_for_cpus = 0;
    last_pieces = 0;
    arm(copy);
    gpumem_result r = read ? gpumem_buffer_read(buffer, 0, back, size)
                           : gpumem_buffer_write(buffer, 0, host, size);
    int failed = atomic_load(&failures_injected) > 0;
    arm(-1);
    memcpy(said->path, last_path, sizeof said->path);
    said->for_cpus = last_for_cpus;
    said->pieces = last_registered ? (last_pieces ? last_pieces : 1) : 0;
    if (failed) {
        cr_assert_eq(r, GPUMEM_ERROR_BACKEND, "the %s of %llu bytes on %d CPUs (0: all) whose %s "
                     "failed -> %s (%s)", what, (unsigned long long)size, cpus,
                     copy ? "copy" : "wait", gpumem_result_string(r), gpumem_last_error());
        cr_assert(strstr(gpumem_last_error(), "injected failure"),
                  "the backend's message is the call's: %s", gpumem_last_error());
    } else {
        cr_assert_eq(r, GPUMEM_OK, "the %s of %llu bytes on %d CPUs (0: all), no failure "
                     "injected -> %s (%s)", what, (unsigned long long)size, cpus,
                     gpumem_result_string(r), gpumem_last_error());
    }
    if (can_register) /* the runtime refuses pages that are registered already */
        registers(device, read ? back : host, size, "after the failed transfer");
    conf_pattern(host, size, 500 + (uint64_t)size + (uint64_t)copy);
    memset(back, 0xEE, size);
    OK(gpumem_buffer_write(buffer, 0, host, size));
    OK(gpumem_buffer_read(buffer, 0, back, size));
    ASSERT_BYTES(back, host, size, "a write and a read of %llu bytes after a failed %s",
                 (unsigned long long)size, what);
    return failed;
}

/* For tests of failed transfers: a device of "failing" on `cpus` CPUs (0: all), a pool and a
 * buffer of `size` bytes, with the path log on; 0 where the process may use fewer CPUs. */
typedef struct failing_device {
    gpumem_device device;
    gpumem_pool pool;
    gpumem_buffer buffer;
} failing_device;

static int failing_open(int cpus, uint64_t size, failing_device *f)
{
    /* In the suite's staging mode: the tests skip where it stages every transfer */
    if (!open_bound(cpus, "failing", 0, &f->device))
        return 0;
    gpumem_pool_desc pd = {.preferred_flags = GPUMEM_MEMORY_DEVICE_LOCAL, .name = "failing"};
    OK(gpumem_pool_create(f->device, &pd, &f->pool));
    OK(gpumem_buffer_create(f->pool, &(gpumem_buffer_desc){.size = size}, &f->buffer));
    gpumem_log_set_callback(path_log, NULL);
    return 1;
}

static void failing_close(failing_device *f)
{
    conf_log_restore();
    OK(gpumem_buffer_destroy(f->buffer));
    OK(gpumem_pool_destroy(f->pool));
    OK(gpumem_device_close(f->device));
}

/* A synchronous write or read whose stream wait fails returns the failure, with the backend's
 * message, and leaves nothing behind: no page of the host memory registered (on one CPU, where
 * the transfer registers it for itself, the pieces are unregistered before the call returns:
 * the application may free the memory as soon as it has the answer, and a registration that
 * outlived it would send later copies of those addresses to pages that no longer back them),
 * no staging chunk or lock held. Then the device works on: every byte of the next transfers
 * lands. Sizes below the staging threshold, above it, and large enough to be registered in
 * pieces, on one CPU and on all the process may use. */
CONF_TEST(a_transfer_whose_stream_wait_fails_says_so_and_leaves_nothing_registered)
{
    CONF_SKIP_IF_REGISTRATION_CACHE();
    const char *why = NULL;
    if (!register_failing(&why))
        CONF_SKIP("%s", why);
    /* The largest is cut into two pieces where it registers itself */
    const uint64_t sizes[] = {4096 + 12, 9 * MIB + 12, 32 * MIB + 12};
    const uint64_t largest = sizes[2];
    /* Staged always, the largest adds nothing to 9 MiB (nothing registers) */
    const char *staging = getenv("GPUMEM_STAGING");
    const size_t count = staging && !strcmp(staging, "always") ? 2 : 3;
    uint8_t *host = conf_alloc(largest), *back = conf_alloc(largest);
    int registered_pieces = 0;
    for (int cpus = 1; cpus >= 0; cpus--) {
        failing_device f;
        if (!failing_open(cpus, largest, &f))
            continue;
        int can_register = registers(f.device, host, largest, "before the transfers");
        for (size_t i = 0; i < count; i++)
            for (int read = 0; read <= 1; read++) {
                failed_path said;
                cr_assert(transfer_fails(f.device, f.buffer, host, back, sizes[i], read, 0,
                                         can_register, cpus, &said),
                          "the %s of %llu bytes waited for its stream without failing",
                          read ? "read" : "write", (unsigned long long)sizes[i]);
                registered_pieces += said.pieces > 1;
                if (cpus == 1 && read && sizes[i] == largest)
                    cr_assert(said.pieces > 1 || !said.for_cpus || !can_register,
                              "the read of %llu bytes on one CPU went %s, not registered in "
                              "pieces, though the runtime copies it itself",
                              (unsigned long long)sizes[i], said.path);
            }
        failing_close(&f);
    }
    free(host);
    free(back);
    cr_log_info("%d failed transfers were registered in pieces", registered_pieces);
}

/* A synchronous write or read whose copy between host memory and the device fails at any of its
 * copies (a transfer registered in pieces makes one a piece, the others one or none: staging
 * copies page to page) returns the failure with the backend's message, and leaves nothing
 * registered: the pieces registered before the failure are unregistered, and the one after it
 * never is. Then every byte of the next transfers lands. 32 MiB (two pieces) and 9 MiB, on
 * one CPU and on all the process may use, each copy in turn made to fail until the transfer
 * makes fewer. */
CONF_TEST(a_transfer_whose_copy_fails_at_any_piece_says_so_and_leaves_nothing_registered)
{
    CONF_SKIP_IF_REGISTRATION_CACHE();
    const char *why = NULL;
    if (!register_failing(&why))
        CONF_SKIP("%s", why);
    if (!real_table.copy_host_to_page && !real_table.copy_page_to_host)
        CONF_SKIP("the backend copies no host memory itself (no copy_host_to_page or "
                  "copy_page_to_host): core maps or stages every transfer");
    const char *staging = getenv("GPUMEM_STAGING");
    if (staging && !strcmp(staging, "always"))
        CONF_SKIP("GPUMEM_STAGING=always: every transfer is staged, and copies page to page");
    const uint64_t sizes[] = {9 * MIB + 12, 32 * MIB + 12}; /* the second: two pieces */
    const uint64_t largest = sizes[1];
    uint8_t *host = conf_alloc(largest), *back = conf_alloc(largest);
    int failed_in_pieces = 0, failed = 0;
    for (int cpus = 1; cpus >= 0; cpus--) {
        failing_device f;
        if (!failing_open(cpus, largest, &f))
            continue;
        int can_register = registers(f.device, host, largest, "before the transfers");
        for (size_t i = 0; i < 2; i++)
            for (int read = 0; read <= 1; read++) {
                /* One copy a piece where the transfer registers itself, else one (the runtime's
                 * copy of the whole) or none (staged): each fails in turn, the next succeeds */
                failed_path first = {{0}, 0, 0}, said;
                int copy = 1;
                while (copy <= 9 && transfer_fails(f.device, f.buffer, host, back, sizes[i],
                                                   read, copy, can_register, cpus, &said)) {
                    if (copy == 1)
                        first = said;
                    cr_assert_eq(said.pieces, first.pieces, "the %s of %llu bytes went in %u "
                                 "pieces, then in %u", read ? "read" : "write",
                                 (unsigned long long)sizes[i], first.pieces, said.pieces);
                    copy++;
                }
                int copies = copy - 1;
                failed += copies;
                failed_in_pieces += first.pieces > 1 ? copies : 0;
                cr_assert_eq(copies, first.pieces > 1 ? (int)first.pieces : copies ? 1 : 0,
                             "%d CPUs (0: all), the %s of %llu bytes (%s, %u pieces): %d of its "
                             "copies failed in turn", cpus, read ? "read" : "write",
                             (unsigned long long)sizes[i], first.path, first.pieces, copies);
                /* On one CPU, where the backend registers host memory, the largest read
                 * registers in pieces: every piece's copy failed once */
                if (cpus == 1 && read && sizes[i] == largest && can_register && first.for_cpus)
                    cr_assert_eq(copies, (int)model_pieces(largest), "the read of %llu bytes "
                                 "on one CPU went %s in %u pieces", (unsigned long long)largest,
                                 first.path, first.pieces);
            }
        failing_close(&f);
    }
    free(host);
    free(back);
    cr_log_info("%d transfers failed at a copy, %d of them registered in pieces", failed,
                failed_in_pieces);
    if (!failed)
        CONF_SKIP("no transfer copied between host memory and a page itself: every one was "
                  "staged (GPUMEM_STAGING=%s)", staging ? staging : "unset");
}

/* Where the runtime refuses a later piece (the application holds a page of it) and the copy of
 * the rest, which then goes unregistered, fails too, or the first piece's copy fails before: the
 * call answers the failure, the pieces core registered are unregistered, and the application's
 * registration stays the application's. 32 MiB (two pieces) on one CPU, each copy failing in
 * turn: the first piece's, then the rest's. */
CONF_TEST(a_transfer_refused_a_piece_whose_copies_then_fail_leaves_the_application_its_pages)
{
    const char *why = NULL;
    if (!register_failing(&why))
        CONF_SKIP("%s", why);
    const char *staging = getenv("GPUMEM_STAGING");
    if (staging && !strcmp(staging, "always"))
        CONF_SKIP("GPUMEM_STAGING=always: every transfer is staged, and registers nothing");
    const uint64_t size = 32 * MIB + 12, page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint8_t *host = conf_alloc(size), *back = conf_alloc(size);
    failing_device f;
    cr_assert(failing_open(1, size, &f));
    if (!registers(f.device, host, size, "before the transfers")) {
        char refused[256]; /* the close below clears the last error */
        snprintf(refused, sizeof refused, "%s", gpumem_last_error());
        failing_close(&f);
        free(host);
        free(back);
        CONF_SKIP("the backend cannot register host memory: %s", refused);
    }
    int in_pieces = 0;
    for (int read = 0; read <= 1; read++) {
        const char *what = read ? "read" : "write";
        uint8_t *memory = read ? back : host;
        /* A page of the second piece (from 16 MiB on) */
        void *held = (void *)(((uintptr_t)memory + 24 * MIB) & ~(uintptr_t)(page - 1));
        gpumem_host_registration mine;
        OK(gpumem_host_register(f.device, held, page, 0, &mine));
        failed_path first = {{0}, 0, 0}, said;
        int copy = 1, refused_at_second = 0;
        for (;; copy++) {
            cr_assert_leq(copy, 4, "the %s kept failing", what);
            atomic_store(&refused_registrations, 0);
            /* Checks of the memory's registrations come after, with the page let go */
            if (!transfer_fails(f.device, f.buffer, host, back, size, read, copy, 0, 1, &said))
                break;
            if (copy == 1)
                first = said;
            if (copy == 2)
                refused_at_second = atomic_load(&refused_registrations) > 0;
            OK(gpumem_host_unregister(mine)); /* still the application's to end */
            registers(f.device, memory, size, "after the failed transfer, the page let go");
            OK(gpumem_host_register(f.device, held, page, 0, &mine));
        }
        OK(gpumem_host_unregister(mine));
        int copies = copy - 1;
        if (first.pieces > 1) { /* the first piece registered, the rest refused */
            in_pieces++;
            cr_assert_eq(copies, 2, "the %s registered in %u pieces, one refused: %d copies "
                         "failed in turn", what, first.pieces, copies);
            cr_assert(refused_at_second, "the %s's second copy failed without a refusal "
                      "logged before it", what);
        } else {
            cr_assert_leq(copies, 1, "the %s (%s): %d copies failed in turn", what, first.path,
                          copies);
        }
    }
    failing_close(&f);
    free(host);
    free(back);
    if (!in_pieces)
        CONF_SKIP("neither transfer registered itself in pieces on one CPU");
}

/* Pool creates and destroys on another thread, beside writes (a_write_registered_...). */
static void *churn_pools(void *arg)
{
    gpumem_device device = arg;
    for (int i = 0; i < 20; i++) {
        gpumem_pool_desc pd = {.preferred_flags = GPUMEM_MEMORY_DEVICE_LOCAL, .name = "churn"};
        gpumem_pool pool;
        gpumem_buffer buffer;
        gpumem_buffer_desc bd = {.size = 4096};
        if (gpumem_pool_create(device, &pd, &pool) != GPUMEM_OK)
            return "pool create";
        if (gpumem_buffer_create(pool, &bd, &buffer) != GPUMEM_OK)
            return "buffer create";
        if (gpumem_pool_destroy(pool) != GPUMEM_OK)
            return "pool destroy";
    }
    return NULL;
}

/* While a write holds its source's pages registered for itself (on one usable CPU, where the
 * backend registers host memory), the runtime would copy other transfers of those pages by DMA
 * that could outlive the registration: so another thread's host transfer waits until the write
 * has returned. Here it is a read on a stream of its own into the bytes just past the write's
 * source, started from inside the write (its debug log), which must not finish in the 50 ms it
 * is given there and must land its bytes once the write returns. And writes beside another thread's pool creates
 * and destroys (which take the device's lock, then the streams') finish, byte-exact. On a
 * backend that does not register, the same calls run and are checked, with nothing to hold
 * off. */
CONF_TEST(a_write_registered_for_itself_holds_off_other_threads_transfers)
{
    const uint64_t size = 9 * MIB + 12, small = 4096;
    gpumem_device device;
    cr_assert(open_on_cpus(1, &device)); /* counts one usable CPU */
    gpumem_pool_desc pd = {.preferred_flags = GPUMEM_MEMORY_DEVICE_LOCAL,
                           .page_size = 16 * MIB,
                           .name = "held off"};
    gpumem_pool pool;
    OK(gpumem_pool_create(device, &pd, &pool));
    gpumem_buffer big, little;
    OK(gpumem_buffer_create(pool, &(gpumem_buffer_desc){.size = size}, &big));
    OK(gpumem_buffer_create(pool, &(gpumem_buffer_desc){.size = small}, &little));
    uint8_t *host = conf_alloc(size + small), *expected = conf_alloc(small);
    uint8_t *back = conf_alloc(size);
    conf_pattern(expected, small, 91);
    OK(gpumem_buffer_write(little, 0, expected, small));
    conf_pattern(host, size, 92);
    memset(host + size, 0, small);
    uint8_t *mine = conf_alloc(small);
    memset(mine, 0, small);
    other_read other = {
        .buffer = little, .into = host + size, .size = small, .mine = mine, .expected = expected};
    OK(gpumem_stream_create(device, &other.stream));
    OK(gpumem_stream_create(device, &other.my_stream));
    read_during_write = &other;
    gpumem_log_set_callback(path_log, NULL);
    atomic_store(&writes_for_cpus, 0);
    atomic_store(&writes_registered, 0);
    OK(gpumem_buffer_write(big, 0, host, size));
    conf_log_restore();
    read_during_write = NULL;
    /* Where the backend registers host memory and the write went to the runtime for want of
     * CPUs, it registered, and the reads ran inside it. */
    int registered = atomic_load(&writes_registered);
    if (registers(device, host, size, "after the write") && atomic_load(&writes_for_cpus))
        cr_assert(registered, "a write given to the runtime on one CPU did not register");
    cr_assert_eq(other.started, registered);
    if (other.started) {
        OK(other.my_result);
        cr_assert(other.mine_landed, "a read made inside a registered write on a stream of its "
                  "own had not landed when it returned");
        cr_assert_eq(pthread_join(other.thread, NULL), 0);
        cr_assert_not(other.done_during_write, "another thread's read finished while a write "
                      "held the pages beside it registered");
        OK(other.result);
        ASSERT_BYTES(host + size, expected, small, "the other thread's read");
    }
    OK(gpumem_stream_destroy(other.stream));
    OK(gpumem_stream_destroy(other.my_stream));
    free(mine);
    OK(gpumem_buffer_read(big, 0, back, size));
    ASSERT_BYTES(back, host, size, "the registered write");
    pthread_t churn;
    cr_assert_eq(pthread_create(&churn, NULL, churn_pools, device), 0);
    for (int round = 0; round < 10; round++) {
        conf_pattern(host, size, 100 + (uint64_t)round);
        OK(gpumem_buffer_write(big, 0, host, size));
        OK(gpumem_buffer_read(big, 0, back, size));
        ASSERT_BYTES(back, host, size, "write %d beside pool destroys", round);
    }
    void *failed;
    cr_assert_eq(pthread_join(churn, &failed), 0);
    cr_assert_null(failed, "the other thread's %s failed: %s", (const char *)failed,
                   gpumem_last_error());
    free(host);
    free(expected);
    free(back);
    OK(gpumem_pool_destroy(pool));
    OK(gpumem_device_close(device));
}

/* A staged write, read or fill (chunks of 64 KiB, five of them) that fails part way, at each of
 * its event records or copies between a chunk and the page in turn: the call answers the
 * failure, and the device's staging works on. The next transfers, of another buffer, go through
 * the same chunks; a chunk that a failed call left in use by queued copies its event does not
 * cover would take their bytes (or give its bytes to them): each next transfer's bytes are
 * checked. (Until 2026-12-05 a failed record or a fill's failed copy let the next write give
 * the failed call's buffer's bytes to another buffer.) */
CONF_TEST(a_staged_transfer_that_fails_part_way_leaves_no_chunk_in_use)
{
    const char *why = NULL;
    if (!register_failing(&why))
        CONF_SKIP("%s", why);
    char *saved = saved_staging();
    setenv("GPUMEM_STAGING", "always", 1);
    const char *chunk_was = getenv("GPUMEM_STAGING_CHUNK");
    char *chunk_saved = chunk_was ? strdup(chunk_was) : NULL;
    setenv("GPUMEM_STAGING_CHUNK", "65536", 1);
    gpumem_device device;
    OK(conf_open_backend("failing", &device));
    restore_staging(saved);
    if (chunk_saved) {
        setenv("GPUMEM_STAGING_CHUNK", chunk_saved, 1);
        free(chunk_saved);
    } else {
        unsetenv("GPUMEM_STAGING_CHUNK");
    }
    const uint64_t size = 5 * 65536;
    gpumem_pool_desc pd = {.preferred_flags = GPUMEM_MEMORY_DEVICE_LOCAL, .name = "staged"};
    gpumem_pool pool;
    OK(gpumem_pool_create(device, &pd, &pool));
    gpumem_buffer failed, other;
    OK(gpumem_buffer_create(pool, &(gpumem_buffer_desc){.size = size}, &failed));
    OK(gpumem_buffer_create(pool, &(gpumem_buffer_desc){.size = size}, &other));
    uint8_t *host = conf_alloc(size), *back = conf_alloc(size), *mine = conf_alloc(size);
    int injected_in_all = 0;
    for (int step = 0; step < 2; step++)
        for (int at = 1; at <= 6; at++)
            for (int kind = 0; kind < 3; kind++) { /* write, read, fill */
                conf_pattern(mine, size, 7000 + (uint64_t)(step * 100 + at * 10 + kind));
                OK(gpumem_buffer_write(failed, 0, mine, size));
                atomic_store(&failures_injected, 0);
                atomic_store(step ? &chunk_copy_fails_at : &record_fails_at, at);
                gpumem_result r = kind == 0   ? gpumem_buffer_write(failed, 0, mine, size)
                                  : kind == 1 ? gpumem_buffer_read(failed, 0, back, size)
                                              : gpumem_buffer_fill(failed, 0, size, 0xF111F111u);
                atomic_store(&record_fails_at, 0);
                atomic_store(&chunk_copy_fails_at, 0);
                int hit = atomic_load(&failures_injected) > 0;
                injected_in_all += hit;
                cr_assert_eq(r, hit ? GPUMEM_ERROR_BACKEND : GPUMEM_OK,
                             "%s failing at %s %d: %s (%s)",
                             kind == 0 ? "a write" : kind == 1 ? "a read" : "a fill",
                             step ? "chunk copy" : "event record", at, gpumem_result_string(r),
                             gpumem_last_error());
                /* Another buffer's transfers, through the same chunks, land every byte. */
                conf_pattern(host, size, 9000 + (uint64_t)(step * 100 + at * 10 + kind));
                OK(gpumem_buffer_write(other, 0, host, size));
                memset(back, 0xEE, size);
                OK(gpumem_buffer_read(other, 0, back, size));
                ASSERT_BYTES(back, host, size,
                             "the next write and read of another buffer after a %s that failed "
                             "at %s %d",
                             kind == 0 ? "write" : kind == 1 ? "read" : "fill",
                             step ? "chunk copy" : "event record", at);
            }
    cr_assert_gt(injected_in_all, 0, "no failure was injected: the test ran nothing");
    free(host);
    free(back);
    free(mine);
    OK(gpumem_pool_destroy(pool));
    OK(gpumem_device_close(device));
}

/* --- calls from a log callback inside a transfer ---
 * The debug message naming a host transfer's path arrives inside the transfer, which holds its
 * stream (a synchronous transfer: the device's default stream). From there a call that would
 * take that stream again (a synchronous transfer, a synchronize or an event record on it) answers
 * GPUMEM_ERROR_BAD_STATE instead of waiting forever; calls on another stream work, and the
 * transfer itself completes. Where the device has no streams nothing is held, and they all work. */
typedef struct nested_calls {
    int armed;
    gpumem_device device;
    gpumem_buffer other;
    gpumem_stream own;
    gpumem_event event;
    uint8_t *bytes, *back;
    gpumem_result sync_read, default_synchronize, default_record, own_write, own_synchronize;
} nested_calls;
static nested_calls nested;

static void calls_from_inside(void *user, int32_t level, const char *message)
{
    if (nested.armed && level == GPUMEM_LOG_DEBUG && !strncmp(message, "write of ", 9)) {
        nested.armed = 0;
        gpumem_stream default_stream;
        OK(gpumem_device_default_stream(nested.device, &default_stream));
        nested.sync_read = gpumem_buffer_read(nested.other, 0, nested.back, 4096);
        nested.default_synchronize = gpumem_stream_synchronize(default_stream);
        nested.default_record = gpumem_event_record(nested.event, default_stream);
        nested.own_write = gpumem_stream_write(nested.own, nested.other, 0, nested.bytes, 4096);
        nested.own_synchronize = gpumem_stream_synchronize(nested.own);
    }
    conf_log(user, level, message);
}

CONF_TEST(a_log_callback_inside_a_transfer_may_call_gpumem_but_not_take_its_stream)
{
    gpumem_pool pool = conf_pool(0);
    gpumem_buffer target = conf_buffer(pool, 4096, 0);
    nested = (nested_calls){.armed = 1, .device = conf_dev};
    nested.other = conf_buffer(pool, 4096, 0);
    OK(gpumem_stream_create(conf_dev, &nested.own));
    OK(gpumem_event_create(conf_dev, &nested.event));
    nested.bytes = conf_alloc(4096);
    nested.back = conf_alloc(4096);
    uint8_t *source = conf_alloc(4096), *seen = conf_alloc(4096);
    conf_pattern(nested.bytes, 4096, 71);
    conf_pattern(source, 4096, 72);
    gpumem_stream default_stream;
    uint64_t native;
    OK(gpumem_device_default_stream(conf_dev, &default_stream));
    int held = gpumem_stream_native(default_stream, &native) == GPUMEM_OK && native != 0;
    gpumem_log_set_callback(calls_from_inside, NULL);
    gpumem_result r = gpumem_buffer_write(target, 0, source, 4096);
    gpumem_log_set_callback(conf_log, NULL);
    OK(r);
    cr_assert_eq(nested.armed, 0, "no debug message named the write's path");
    /* A backend whose streams have no native handle (the host's: its stream object holds no
     * runtime queue, or an early table's) may hold them all the same: either answer, the same
     * for the three calls. */
    gpumem_result expected = nested.sync_read;
    cr_assert(expected == GPUMEM_ERROR_BAD_STATE || (!held && expected == GPUMEM_OK),
              "a synchronous read from inside: %s", gpumem_result_string(expected));
    cr_assert_eq(nested.default_synchronize, expected, "the default stream's synchronize: %s",
                 gpumem_result_string(nested.default_synchronize));
    cr_assert_eq(nested.default_record, expected, "an event record on the default stream: %s",
                 gpumem_result_string(nested.default_record));
    OK(nested.own_write);
    OK(nested.own_synchronize);
    OK(gpumem_buffer_read(target, 0, seen, 4096));
    ASSERT_BYTES(seen, source, 4096, "the write the callback ran inside");
    OK(gpumem_buffer_read(nested.other, 0, seen, 4096));
    ASSERT_BYTES(seen, nested.bytes, 4096, "the callback's write on its own stream");
    OK(gpumem_event_destroy(nested.event));
    OK(gpumem_stream_destroy(nested.own));
    free(source);
    free(seen);
    free(nested.bytes);
    free(nested.back);
}
