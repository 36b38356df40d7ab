/* Host memory registration (gpumem_host_register) on every backend: registered memory keeps
 * every transfer byte-exact, synchronous and on streams, at the sizes where core would stage
 * pageable memory; it ends with its unregister or the device's close; overlapping ranges and
 * bad arguments are refused; a backend that cannot register says so. Whether registered memory
 * then goes by DMA is the runtime's to show (tests/cuda). */
#include <stdio.h>
#include <stdlib.h>

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

/* The application registers memory that reads queued on streams are filling: they must fill it
 * all the same. With the registration cache on (GPUMEM_REGISTRATION_CACHE, libgpumem-memhooks
 * preloaded: simgpu's configuration "registration-cache", or a CUDA run with the cache), the
 * synchronous write below registers the memory's pages for the cache, the queued reads go into
 * it as into pinned memory, and the application's registration takes the cache's place: it
 * must not end the cache's registration under those reads (simgpu checks each queued read's
 * memory is registered still when it runs). Elsewhere the same calls, checked byte for byte. */
CONF_TEST(registering_memory_that_queued_reads_fill_leaves_them_their_memory)
{
    const uint64_t size = 16 * MIB, part = MIB; /* the reads: below the staging threshold */
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
        for (uint64_t at = 0; at < size; at += 4 * part)
            OK(gpumem_stream_read(stream, buffer, at, host + at, part));
        /* A page inside the first read, and one between reads. */
        uint64_t page = round == 1 ? 5 * part / 2 : part / 2;
        uint8_t *start = (uint8_t *)(((uintptr_t)host + page) & ~(uintptr_t)4095);
        gpumem_host_registration registration;
        gpumem_result r = gpumem_host_register(conf_dev, start, 4096, 0, &registration);
        if (r != GPUMEM_ERROR_UNSUPPORTED)
            OK(r);
        OK(gpumem_stream_synchronize(stream));
        for (uint64_t at = 0; at < size; at += 4 * part)
            ASSERT_BYTES(host + at, expected + at, part, "queued read at %llu, round %d",
                         (unsigned long long)at, round);
        if (r == GPUMEM_OK)
            OK(gpumem_host_unregister(registration));
    }
    OK(gpumem_stream_destroy(stream));
    free(host);
    free(expected);
}
