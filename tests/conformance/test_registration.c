/* Host memory registration (gpumem_host_register) on every backend: registered memory keeps
 * every transfer byte-exact, synchronous and on streams, at the sizes where core would stage
 * pageable memory; it ends with its unregister or the device's close; overlapping ranges and
 * bad arguments are refused; a backend that cannot register says so. Whether registered memory
 * then goes by DMA is the runtime's to show (tests/cuda). */
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conformance.h"

#define MIB (1ull << 20)

/* The registration, or a skip for a backend that cannot register (after checking it says so). */
static gpumem_host_registration register_or_skip(void *host, uint64_t size)
{
    gpumem_host_registration registration;
    gpumem_result r = gpumem_host_register(conf_dev, host, size, 0, &registration);
    if (r == GPUMEM_ERROR_UNSUPPORTED) {
        char why[512];
        snprintf(why, sizeof why, "%s", gpumem_last_error()); /* the close below clears it */
        cr_assert(strstr(why, conf_backend()), "%s", why);
        free(host);
        CONF_SKIP("%s", why);
    }
    OK(r);
    return registration;
}

CONF_TEST(registered_host_memory_transfers_byte_exact)
{
    const uint64_t size = 24 * MIB + 4096 + 12; /* past the 8 MiB where pageable is staged */
    uint8_t *host = conf_alloc(size);
    gpumem_host_registration registration = register_or_skip(host, size);
    gpumem_pool pool = conf_pool(32 * MIB);
    gpumem_buffer buffer = conf_buffer(pool, size, 0);
    uint8_t *back = conf_alloc(size);
    gpumem_stream stream;
    OK(gpumem_stream_create(conf_dev, &stream));
    for (int round = 0; round < 4; round++) {
        conf_pattern(host, size, 40 + (uint64_t)round);
        uint64_t offset = round * 4096 + (uint64_t)round; /* inside the range, unaligned */
        uint64_t n = size - offset - 7 * (uint64_t)round;
        if (round % 2) {
            OK(gpumem_stream_write(stream, buffer, 0, host + offset, n));
            OK(gpumem_stream_synchronize(stream));
        } else {
            OK(gpumem_buffer_write(buffer, 0, host + offset, n));
        }
        OK(gpumem_buffer_read(buffer, 0, back, n));
        ASSERT_BYTES(back, host + offset, n, "written from registered memory, round %d", round);
        memset(host, 0, size);
        if (round % 2) {
            OK(gpumem_stream_read(stream, buffer, 0, host + offset, n));
            OK(gpumem_stream_synchronize(stream));
        } else {
            OK(gpumem_buffer_read(buffer, 0, host + offset, n));
        }
        ASSERT_BYTES(host + offset, back, n, "read into registered memory, round %d", round);
    }
    OK(gpumem_host_unregister(registration));
    FAILS(gpumem_host_unregister(registration), GPUMEM_ERROR_DESTROYED);
    /* The same memory, no longer registered, still transfers. */
    conf_pattern(host, size, 99);
    OK(gpumem_buffer_write(buffer, 0, host, size));
    OK(gpumem_buffer_read(buffer, 0, back, size));
    ASSERT_BYTES(back, host, size, "after the unregister");
    OK(gpumem_stream_destroy(stream));
    free(host);
    free(back);
}

CONF_TEST(registrations_refuse_overlaps_and_bad_arguments_and_end_with_the_device)
{
    const uint64_t size = 4 * MIB;
    uint8_t *host = conf_alloc(2 * size);
    gpumem_host_registration first = register_or_skip(host, size), other;
    FAILS(gpumem_host_register(conf_dev, host + size / 2, size, 0, &other),
          GPUMEM_ERROR_INVALID_ARGUMENT);
    FAILS(gpumem_host_register(conf_dev, host, 1, 0, &other), GPUMEM_ERROR_INVALID_ARGUMENT);
    FAILS(gpumem_host_register(conf_dev, NULL, size, 0, &other), GPUMEM_ERROR_INVALID_ARGUMENT);
    FAILS(gpumem_host_register(conf_dev, host + size, 0, 0, &other),
          GPUMEM_ERROR_INVALID_ARGUMENT);
    FAILS(gpumem_host_register(conf_dev, host + size, size, 1, &other),
          GPUMEM_ERROR_INVALID_ARGUMENT);
    FAILS(gpumem_host_register(conf_dev, host + size, size, 0, NULL),
          GPUMEM_ERROR_INVALID_ARGUMENT);
    FAILS(gpumem_host_register(conf_dev, (void *)(uintptr_t)(UINTPTR_MAX - 4095), 8192, 0,
                               &other),
          GPUMEM_ERROR_INVALID_ARGUMENT);
    FAILS(gpumem_host_register(NULL, host + size, size, 0, &other), GPUMEM_ERROR_INVALID_HANDLE);
    FAILS(gpumem_host_unregister(NULL), GPUMEM_ERROR_INVALID_HANDLE);
    /* The range next to it is free to register, and an ended registration's range again. */
    OK(gpumem_host_register(conf_dev, host + size, size, 0, &other));
    OK(gpumem_host_unregister(first));
    OK(gpumem_host_register(conf_dev, host, size, 0, &first));
    /* Closing the device ends both. */
    conf_finish();
    FAILS(gpumem_host_unregister(first), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_host_unregister(other), GPUMEM_ERROR_DESTROYED);
    free(host);
}

/* The application registers memory that a read queued on a stream is filling: it must fill it
 * all the same. With the registration cache on (GPUMEM_REGISTRATION_CACHE, libgpumem-memhooks
 * preloaded: simgpu's configuration "registration-cache", or a CUDA run with the cache), the
 * synchronous write below registers the memory's pages for the cache, the queued read (of all
 * of the memory: a part would go by the CPU, registration_cache.h) goes into it as into pinned
 * memory, and the application's registration takes the cache's place: it must not end the
 * cache's registration under that read (simgpu checks the queued read's memory is registered
 * still when it runs). Elsewhere the same calls, checked byte for byte. */
CONF_TEST(registering_memory_that_queued_reads_fill_leaves_them_their_memory)
{
    const uint64_t size = 16 * MIB, part = MIB;
    uint8_t *host = conf_alloc(size), *expected = conf_alloc(size);
    gpumem_pool pool = conf_pool(32 * MIB);
    gpumem_buffer buffer = conf_buffer(pool, size, 0);
    gpumem_stream stream;
    OK(gpumem_stream_create(conf_dev, &stream));
    for (int round = 0; round < 3; round++) {
        conf_pattern(expected, size, 300 + (uint64_t)round);
        OK(gpumem_buffer_write(buffer, 0, expected, size));
        memset(host, 0, size);
        OK(gpumem_buffer_write(buffer, 0, host, size)); /* the cache registers host */
        OK(gpumem_buffer_write(buffer, 0, expected, size));
        OK(gpumem_stream_read(stream, buffer, 0, host, size));
        /* A page near the start, and one in the middle. */
        uint64_t page = round == 1 ? size / 2 : part / 2;
        uint8_t *start = (uint8_t *)(((uintptr_t)host + page) & ~(uintptr_t)4095);
        gpumem_host_registration registration;
        gpumem_result r = gpumem_host_register(conf_dev, start, 4096, 0, &registration);
        if (r != GPUMEM_ERROR_UNSUPPORTED)
            OK(r);
        OK(gpumem_stream_synchronize(stream));
        ASSERT_BYTES(host, expected, size, "queued read, round %d", round);
        if (r == GPUMEM_OK)
            OK(gpumem_host_unregister(registration));
    }
    OK(gpumem_stream_destroy(stream));
    free(host);
    free(expected);
}

/* With the registration cache on, a large synchronous transfer registers its memory's whole
 * pages, and the runtime then copies other memory on those pages by DMA as pinned memory, also
 * after a transfer on a stream has returned. The registration ends when any of the bytes it was
 * made for go; so memory on its pages that does not hold all of those bytes must not be left to
 * the runtime's copy. Two ways: a neighbouring heap block on the registration's last page, whose
 * registration's own memory is freed (`neighbour`); and a part of an array copied on a stream
 * while another part is unmapped (`part`). Reads and writes, checked byte for byte. The reads
 * find the defect on simgpu's configuration "registration-cache", which aborts when a read
 * queued into registered memory runs after its registration ended; simgpu takes a write's bytes
 * at once, and on CUDA the pages stay mapped, so the writes' checks pass either way. With the
 * cache on, the test checks that the cache registered the memory (its debug message), or it
 * would test nothing. Without the cache, the same calls. */
static _Atomic int cache_registered;
static void count_registrations(void *user, int32_t level, const char *message)
{
    if (strncmp(message, "registration cache: registered ", 31) == 0)
        atomic_fetch_add(&cache_registered, 1);
    conf_log(user, level, message);
}

static void queue_transfer(gpumem_stream stream, gpumem_buffer buffer, uint64_t at,
                           uint8_t *host, const uint8_t *expected, uint64_t size, int read)
{
    if (read) {
        memset(host, 0, size);
        OK(gpumem_stream_read(stream, buffer, at, host, size));
    } else {
        memcpy(host, expected + at, size);
        OK(gpumem_stream_write(stream, buffer, at, host, size));
    }
}

CONF_TEST(transfers_queued_beside_registered_bytes_outlive_those_bytes_going)
{
    const uint64_t size = 8 * MIB, small = 1000, part = 64 * 1024;
    long page = sysconf(_SC_PAGESIZE);
    uint8_t *expected = conf_alloc(size), *back = conf_alloc(size);
    gpumem_pool pool = conf_pool(32 * MIB);
    gpumem_buffer buffer = conf_buffer(pool, size, 0);
    gpumem_stream stream;
    OK(gpumem_stream_create(conf_dev, &stream));
    gpumem_log_set_callback(count_registrations, NULL);
    /* Heap blocks side by side, as the neighbour's case needs (a sanitizer's allocator takes no
     * such advice: its rounds then look for a neighbour all the same). */
    mallopt(M_MMAP_THRESHOLD, 512 << 20);
    int checked = 0;
    for (int round = 0; round < 4; round++) {
        int read = round % 2, neighbour = round < 2;
        conf_pattern(expected, size, 500 + (uint64_t)round);
        OK(gpumem_buffer_write(buffer, 0, expected, size));
        uint8_t *target, *memory;
        uint64_t target_size, at;
        void *neighbours[64] = {0};
        if (neighbour) {
            memory = malloc(size);
            cr_assert_not_null(memory);
            uintptr_t last = ((uintptr_t)memory + size - 1) / (uintptr_t)page;
            target = NULL;
            for (int i = 0; i < 64; i++) {
                neighbours[i] = malloc(small);
                cr_assert_not_null(neighbours[i]);
                if (!target && (uintptr_t)neighbours[i] / (uintptr_t)page == last)
                    target = neighbours[i];
            }
            target_size = small;
            at = 3 * MIB;
        } else {
            memory = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                          0);
            cr_assert_neq(memory, MAP_FAILED);
            target = memory + size - part; /* its last pages; the first half is unmapped */
            target_size = part;
            at = size - part;
        }
        if (target) {
            checked++;
            int registered = atomic_load(&cache_registered);
            OK(gpumem_buffer_read(buffer, 0, memory, size)); /* the cache registers its pages */
            if (conf_registration_cache_on())
                cr_expect_gt(atomic_load(&cache_registered), registered,
                             "round %d: the cache did not register the memory", round);
            queue_transfer(stream, buffer, at, target, expected, target_size, read);
            if (neighbour)
                free(memory);
            else
                munmap(memory, size / 2);
            OK(gpumem_stream_synchronize(stream));
            if (read) {
                ASSERT_BYTES(target, expected + at, target_size, "round %d", round);
            } else {
                OK(gpumem_buffer_read(buffer, at, back, target_size));
                ASSERT_BYTES(back, expected + at, target_size, "round %d", round);
            }
        } else if (neighbour) {
            free(memory);
        }
        if (!neighbour)
            munmap(memory + size / 2, size / 2);
        for (int i = 0; i < 64; i++)
            free(neighbours[i]);
    }
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    conf_log_restore();
    OK(gpumem_stream_destroy(stream));
    free(expected);
    free(back);
    cr_expect_geq(checked, 2, "the rounds of unmapped parts always run");
}
