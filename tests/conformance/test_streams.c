/* Streams: asynchronous transfers run in submission order; several streams; the default
 * stream; destruction. */
#include <stdlib.h>

#include "conformance.h"

#define MIB (1ull << 20)
#define PAGE (4 * MIB)

static void put32(uint8_t *p, uint64_t size, uint32_t pattern)
{
    for (uint64_t i = 0; i < size; i += 4)
        memcpy(p + i, &pattern, 4);
}

CONF_TEST(stream_work_completes_in_order)
{
    const uint64_t n = 2 * MIB + 12;
    uint8_t *src = conf_alloc(n), *expect_a = conf_alloc(n), *expect_b = conf_alloc(n);
    uint8_t *ha = conf_alloc(n), *hb = conf_alloc(n);
    uint8_t small[13];
    gpumem_stream s;
    OK(gpumem_stream_create(conf_dev, &s));
    for (uint32_t type = 0; type < conf_props.memory_type_count; type++) {
        gpumem_pool pool = conf_type_pool(type, PAGE, 0, "stream-order");
        gpumem_buffer a = conf_buffer(pool, n, 0), b = conf_buffer(pool, n, 0);
        conf_pattern(src, n, 10 + type);
        memcpy(expect_a, src, n);
        memcpy(expect_b, src, n);
        conf_pattern(small, sizeof small, 20 + type);
        memset(ha, 0xEE, n);
        memset(hb, 0xEE, n);

        OK(gpumem_stream_write(s, a, 0, src, n));
        memset(src, 0, n); /* a write has read its data when it returns */
        OK(gpumem_stream_copy(s, a, 0, b, 0, n));
        OK(gpumem_stream_fill(s, a, 4096, 3 * 65536, 0x77777777u ^ type));
        put32(expect_a + 4096, 3 * 65536, 0x77777777u ^ type);
        OK(gpumem_stream_write(s, a, 8, small, sizeof small));
        memcpy(expect_a + 8, small, sizeof small);
        memset(small, 0, sizeof small);
        OK(gpumem_stream_read(s, b, 0, hb, n));
        OK(gpumem_stream_read(s, a, 0, ha, n));
        OK(gpumem_stream_synchronize(s));
        ASSERT_BYTES(hb, expect_b, n, "type %u: B = the first write, copied before the fill",
                     type);
        ASSERT_BYTES(ha, expect_a, n, "type %u: A = write, fill, small write", type);
        OK(gpumem_pool_destroy(pool));
    }
    OK(gpumem_stream_destroy(s));
    free(src);
    free(expect_a);
    free(expect_b);
    free(ha);
    free(hb);
}

CONF_TEST(many_small_async_writes_from_one_reused_host_buffer)
{
    enum { CHUNK = 1000, COUNT = 300 };
    gpumem_pool pool = conf_pool(PAGE);
    gpumem_buffer b = conf_buffer(pool, CHUNK * COUNT, 0);
    gpumem_stream s;
    OK(gpumem_stream_create(conf_dev, &s));
    uint8_t staging[CHUNK];
    uint8_t *expect = conf_alloc(CHUNK * COUNT), *out = conf_alloc(CHUNK * COUNT);
    for (int i = 0; i < COUNT; i++) {
        conf_pattern(staging, CHUNK, 7000 + i);
        memcpy(expect + i * CHUNK, staging, CHUNK);
        OK(gpumem_stream_write(s, b, (uint64_t)i * CHUNK, staging, CHUNK));
    }
    OK(gpumem_stream_read(s, b, 0, out, CHUNK * COUNT));
    OK(gpumem_stream_synchronize(s));
    ASSERT_BYTES(out, expect, CHUNK * COUNT);
    OK(gpumem_stream_destroy(s));
    OK(gpumem_pool_destroy(pool));
    free(expect);
    free(out);
}

CONF_TEST(two_streams)
{
    const uint64_t n = MIB + 4;
    gpumem_pool pool = conf_pool(PAGE);
    gpumem_buffer a = conf_buffer(pool, n, 0), b = conf_buffer(pool, n, 0);
    gpumem_buffer c = conf_buffer(pool, n, 0), d = conf_buffer(pool, n, 0);
    gpumem_stream s1, s2;
    OK(gpumem_stream_create(conf_dev, &s1));
    OK(gpumem_stream_create(conf_dev, &s2));
    cr_assert_neq(s1, s2);
    uint8_t *x = conf_alloc(n), *y = conf_alloc(n), *ox = conf_alloc(n), *oy = conf_alloc(n);
    conf_pattern(x, n, 1);
    conf_pattern(y, n, 2);
    /* Interleaved submissions on independent buffers. */
    OK(gpumem_stream_write(s1, a, 0, x, n));
    OK(gpumem_stream_write(s2, b, 0, y, n));
    OK(gpumem_stream_copy(s1, a, 0, c, 0, n));
    OK(gpumem_stream_fill(s2, b, 0, 64, 0x01010101u));
    OK(gpumem_stream_read(s1, c, 0, ox, n));
    OK(gpumem_stream_read(s2, b, 0, oy, n));
    OK(gpumem_stream_synchronize(s2));
    OK(gpumem_stream_synchronize(s1));
    ASSERT_BYTES(ox, x, n, "stream 1");
    put32(y, 64, 0x01010101u);
    ASSERT_BYTES(oy, y, n, "stream 2");
    /* One stream's finished work is visible to the other. */
    OK(gpumem_stream_copy(s2, c, 0, d, 0, n));
    OK(gpumem_stream_read(s2, d, 0, oy, n));
    OK(gpumem_stream_synchronize(s2));
    ASSERT_BYTES(oy, x, n, "stream 2 copy of stream 1's data");

    uint64_t native = 0;
    OK(gpumem_stream_native(s1, &native));
    if (strcmp(conf_backend(), "host") == 0)
        cr_assert_eq(native, 0);
    else if (strcmp(conf_backend(), "vulkan") == 0)
        cr_assert_neq(native, 0, "vulkan: no VkQueue");
    OK(gpumem_stream_native(s2, &native));
    gpumem_stream def;
    OK(gpumem_device_default_stream(conf_dev, &def));
    OK(gpumem_stream_native(def, &native));
    OK(gpumem_stream_destroy(s1));
    OK(gpumem_stream_destroy(s2));
    OK(gpumem_pool_destroy(pool));
    free(x);
    free(y);
    free(ox);
    free(oy);
}

CONF_TEST(default_stream_orders_with_synchronous_transfers)
{
    const uint64_t n = MIB + 8;
    gpumem_pool pool = conf_pool(PAGE);
    gpumem_buffer a = conf_buffer(pool, n, 0);
    gpumem_stream def;
    OK(gpumem_device_default_stream(conf_dev, &def));
    uint8_t *x = conf_alloc(n), *out = conf_alloc(n);
    conf_pattern(x, n, 3);
    OK(gpumem_stream_write(def, a, 0, x, n));
    OK(gpumem_stream_fill(def, a, 16, 16, 0x99999999u));
    put32(x + 16, 16, 0x99999999u);
    /* A synchronous read goes on the default stream, after the work above. */
    OK(gpumem_buffer_read(a, 0, out, n));
    ASSERT_BYTES(out, x, n);
    FAILS(gpumem_stream_destroy(def), GPUMEM_ERROR_BAD_STATE);
    /* ... and it still works. */
    OK(gpumem_stream_write(def, a, 0, "xyz", 3));
    OK(gpumem_stream_synchronize(def));
    OK(gpumem_buffer_read(a, 0, out, 3));
    cr_assert_eq(memcmp(out, "xyz", 3), 0);
    OK(gpumem_pool_destroy(pool));
    free(x);
    free(out);
}

CONF_TEST(stream_destroy_waits_for_its_work)
{
    const uint64_t n = 9 * MIB;
    gpumem_pool pool = conf_pool(PAGE);
    gpumem_buffer a = conf_buffer(pool, n, 0);
    uint8_t *x = conf_alloc(n), *out = conf_alloc(n);
    conf_pattern(x, n, 4);
    memset(out, 0, n);
    gpumem_stream s;
    OK(gpumem_stream_create(conf_dev, &s));
    OK(gpumem_stream_write(s, a, 0, x, n));
    OK(gpumem_stream_read(s, a, 0, out, n));
    OK(gpumem_stream_destroy(s)); /* no synchronize: destroy waits */
    ASSERT_BYTES(out, x, n);
    FAILS(gpumem_stream_synchronize(s), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_stream_write(s, a, 0, x, 1), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_stream_native(s, &(uint64_t){0}), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_stream_destroy(s), GPUMEM_ERROR_DESTROYED);
    OK(gpumem_pool_destroy(pool));
    free(x);
    free(out);
}

CONF_TEST(pool_destroy_waits_for_stream_work_on_its_buffers)
{
    const uint64_t n = MIB; /* small enough for the runtime's own queued copies */
    gpumem_pool pool = conf_pool(PAGE), kept = conf_pool(PAGE);
    gpumem_buffer a = conf_buffer(pool, n, 0), b = conf_buffer(pool, n, 0);
    gpumem_buffer c = conf_buffer(kept, n, 0);
    uint8_t *x = conf_alloc(n), *out = conf_alloc(n), *expected = conf_alloc(n);
    conf_pattern(x, n, 5);
    memcpy(expected, x, n);
    put32(expected + 4096, 65536, 0x5EED5EEDu);
    gpumem_stream s;
    OK(gpumem_stream_create(conf_dev, &s));
    OK(gpumem_stream_write(s, a, 0, x, n));
    OK(gpumem_stream_fill(s, a, 4096, 65536, 0x5EED5EEDu));
    OK(gpumem_stream_copy(s, a, 0, b, 0, n));
    OK(gpumem_stream_copy(s, b, 0, c, 0, n));
    /* No synchronize: the pool's pages go only after the device's streams are done with them,
     * so the copies out of them into the other pool still find their bytes. */
    OK(gpumem_pool_destroy(pool));
    FAILS(gpumem_stream_write(s, a, 0, x, 1), GPUMEM_ERROR_DESTROYED);
    OK(gpumem_stream_read(s, c, 0, out, n));
    OK(gpumem_stream_synchronize(s));
    ASSERT_BYTES(out, expected, n, "copied out of a pool destroyed while the copies were queued");
    OK(gpumem_stream_destroy(s));
    OK(gpumem_pool_destroy(kept));
    free(x);
    free(out);
    free(expected);
}

CONF_TEST(many_streams_created_and_destroyed)
{
    gpumem_pool pool = conf_pool(PAGE);
    gpumem_buffer a = conf_buffer(pool, 4096, 0);
    gpumem_stream streams[16];
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 16; i++) {
            OK(gpumem_stream_create(conf_dev, &streams[i]));
            uint32_t v = (uint32_t)(round * 100 + i);
            OK(gpumem_stream_write(streams[i], a, 4 * (uint64_t)i, &v, 4));
        }
        for (int i = 0; i < 16; i += 2)
            OK(gpumem_stream_synchronize(streams[i]));
        for (int i = 0; i < 16; i++)
            OK(gpumem_stream_destroy(streams[i]));
        uint32_t out[16];
        OK(gpumem_buffer_read(a, 0, out, sizeof out));
        for (int i = 0; i < 16; i++)
            cr_assert_eq(out[i], (uint32_t)(round * 100 + i));
    }
    OK(gpumem_pool_destroy(pool));
}

/* A read queued before a write sees the old bytes; one queued after sees the new ones. */
CONF_TEST(reads_and_writes_on_one_stream_do_not_pass_each_other)
{
    const uint64_t n = MIB + 20;
    gpumem_stream s;
    OK(gpumem_stream_create(conf_dev, &s));
    uint8_t *old = conf_alloc(n), *fresh = conf_alloc(n), *first = conf_alloc(n);
    uint8_t *second = conf_alloc(n), *third = conf_alloc(n);
    for (uint32_t type = 0; type < conf_props.memory_type_count; type++) {
        gpumem_pool pool = conf_type_pool(type, PAGE, 0, "read-write-order");
        gpumem_buffer a = conf_buffer(pool, n, 0);
        conf_pattern(old, n, 60 + type);
        conf_pattern(fresh, n, 70 + type);
        OK(gpumem_buffer_write(a, 0, old, n));
        OK(gpumem_stream_read(s, a, 0, first, n));
        OK(gpumem_stream_write(s, a, 0, fresh, n));
        OK(gpumem_stream_read(s, a, 0, second, n));
        OK(gpumem_stream_fill(s, a, 0, n, 0x5EEDF00Du));
        OK(gpumem_stream_read(s, a, 0, third, n));
        OK(gpumem_stream_synchronize(s));
        ASSERT_BYTES(first, old, n, "type %u: read before the write", type);
        ASSERT_BYTES(second, fresh, n, "type %u: read after the write", type);
        put32(fresh, n, 0x5EEDF00Du);
        ASSERT_BYTES(third, fresh, n, "type %u: read after the fill", type);
        OK(gpumem_pool_destroy(pool));
    }
    OK(gpumem_stream_destroy(s));
    free(old);
    free(fresh);
    free(first);
    free(second);
    free(third);
}
