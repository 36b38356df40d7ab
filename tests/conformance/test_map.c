/* Mapping: data through mappings both ways, flush and invalidate, reference counts, and memory
 * the host cannot map. */
#include <stdio.h>
#include <stdlib.h>

#include "conformance.h"

#define PAGE (1ull << 20)

static uint32_t mapped_count(gpumem_buffer b)
{
    gpumem_buffer_info info;
    OK(gpumem_buffer_info_get(b, &info));
    return info.mapped;
}

CONF_TEST(map_write_flush_read_and_write_invalidate_read)
{
    int tested = 0;
    for (uint32_t type = 0; type < conf_props.memory_type_count; type++) {
        if (!(conf_type_flags(type) & GPUMEM_MEMORY_HOST_VISIBLE))
            continue;
        tested++;
        gpumem_pool pool = conf_type_pool(type, PAGE, 0, "map");
        const uint64_t sizes[] = {1, 4097, PAGE + 3}; /* shared page, shared page, dedicated */
        for (size_t i = 0; i < 3; i++) {
            uint64_t n = sizes[i];
            gpumem_buffer b = conf_buffer(pool, n, 0);
            uint8_t *data = conf_alloc(n), *out = conf_alloc(n);
            void *p = NULL;
            OK(gpumem_buffer_map(b, &p));
            cr_assert_not_null(p);
            cr_assert_eq(mapped_count(b), 1);
            /* Host writes through the mapping, device reads. */
            conf_pattern(data, n, 100 + i);
            memcpy(p, data, n);
            OK(gpumem_buffer_flush(b, 0, n));
            OK(gpumem_buffer_read(b, 0, out, n));
            ASSERT_BYTES(out, data, n, "type %u: mapping -> read, %llu bytes", type,
                         (unsigned long long)n);
            /* Device writes, host reads through the mapping. */
            conf_pattern(data, n, 200 + i);
            OK(gpumem_buffer_write(b, 0, data, n));
            OK(gpumem_buffer_invalidate(b, 0, n));
            ASSERT_BYTES(p, data, n, "type %u: write -> mapping, %llu bytes", type,
                         (unsigned long long)n);
            /* A partial, unaligned flush of a changed middle. */
            if (n > 100) {
                memset((uint8_t *)p + 33, 0x5A, 40);
                memset(data + 33, 0x5A, 40);
                OK(gpumem_buffer_flush(b, 33, 40));
                OK(gpumem_buffer_read(b, 0, out, n));
                ASSERT_BYTES(out, data, n, "type %u: partial flush", type);
                /* Fill through the device, invalidate a part, read it through the mapping. */
                OK(gpumem_buffer_fill(b, 64, 32, 0xCAFEF00Du));
                for (int w = 0; w < 8; w++)
                    memcpy(data + 64 + 4 * w, &(uint32_t){0xCAFEF00Du}, 4);
                OK(gpumem_buffer_invalidate(b, 64, 32));
                ASSERT_BYTES((uint8_t *)p + 64, data + 64, 32, "type %u: fill -> mapping", type);
            }
            OK(gpumem_buffer_unmap(b));
            cr_assert_eq(mapped_count(b), 0);
            free(data);
            free(out);
        }
        OK(gpumem_pool_destroy(pool));
    }
    cr_assert_gt(tested, 0, "no host-visible memory type");
}

CONF_TEST(map_is_reference_counted)
{
    uint32_t type = conf_find_type(GPUMEM_MEMORY_HOST_VISIBLE, 0);
    gpumem_pool pool = conf_type_pool(type, PAGE, 0, "refcount");
    gpumem_buffer a = conf_buffer(pool, 1000, 0), b = conf_buffer(pool, 2000, 0);
    void *p1 = NULL, *p2 = NULL, *pb = NULL;
    OK(gpumem_buffer_map(a, &p1));
    OK(gpumem_buffer_map(a, &p2));
    cr_assert_eq(p1, p2, "two maps of one buffer gave two addresses");
    cr_assert_eq(mapped_count(a), 2);
    /* Another buffer of the same page maps at its own offset. */
    OK(gpumem_buffer_map(b, &pb));
    gpumem_buffer_info ia, ib;
    OK(gpumem_buffer_info_get(a, &ia));
    OK(gpumem_buffer_info_get(b, &ib));
    if (ia.page == ib.page)
        cr_assert_eq((char *)pb - (char *)p1, (ptrdiff_t)ib.offset - (ptrdiff_t)ia.offset);
    memset(p1, 0x11, 1000);
    memset(pb, 0x22, 2000);
    OK(gpumem_buffer_flush(a, 0, 1000));
    OK(gpumem_buffer_flush(b, 0, 2000));
    OK(gpumem_buffer_unmap(a));
    cr_assert_eq(mapped_count(a), 1);
    /* Still mapped once: the mapping still works. */
    memset(p2, 0x33, 10);
    OK(gpumem_buffer_flush(a, 0, 10));
    uint8_t out[1000];
    OK(gpumem_buffer_read(a, 0, out, sizeof out));
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(out[i], i < 10 ? 0x33 : 0x11, "byte %d is 0x%02x", i, out[i]);
    OK(gpumem_buffer_unmap(a));
    FAILS(gpumem_buffer_unmap(a), GPUMEM_ERROR_BAD_STATE);
    cr_assert_eq(mapped_count(a), 0);
    /* b is unaffected by a's unmaps. */
    cr_assert_eq(mapped_count(b), 1);
    OK(gpumem_buffer_read(b, 0, out, sizeof out));
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(out[i], 0x22);
    OK(gpumem_buffer_unmap(b));
    FAILS(gpumem_buffer_unmap(b), GPUMEM_ERROR_BAD_STATE);
    /* Never mapped. */
    gpumem_buffer c = conf_buffer(pool, 10, 0);
    FAILS(gpumem_buffer_unmap(c), GPUMEM_ERROR_BAD_STATE);
    /* Destroying a mapped buffer releases its mapping; the pool goes on. */
    OK(gpumem_buffer_map(c, &p1));
    OK(gpumem_buffer_map(c, &p1));
    OK(gpumem_buffer_destroy(c));
    gpumem_buffer d = conf_buffer(pool, 10, 0);
    OK(gpumem_buffer_map(d, &p1));
    memset(p1, 0x44, 10);
    OK(gpumem_buffer_flush(d, 0, 10));
    OK(gpumem_buffer_read(d, 0, out, 10));
    cr_assert_eq(out[9], 0x44);
    OK(gpumem_buffer_unmap(d));
    OK(gpumem_pool_destroy(pool));
}

CONF_TEST(map_of_memory_the_host_cannot_see)
{
    uint32_t type = conf_find_type(0, GPUMEM_MEMORY_HOST_VISIBLE);
    if (type == UINT32_MAX) {
        conf_finish(); /* closed here, where what closing logs still counts */
        cr_skip_test("backend '%s' has no memory type without HOST_VISIBLE", conf_backend());
    }
    gpumem_pool pool = conf_type_pool(type, PAGE, 0, "device-only");
    gpumem_buffer b = conf_buffer(pool, 4096, 0);
    void *p = (void *)0x1;
    FAILS(gpumem_buffer_map(b, &p), GPUMEM_ERROR_NOT_MAPPABLE);
    cr_assert_eq(p, (void *)0x1, "output written on failure");
    FAILS(gpumem_buffer_flush(b, 0, 16), GPUMEM_ERROR_NOT_MAPPABLE);
    FAILS(gpumem_buffer_invalidate(b, 0, 16), GPUMEM_ERROR_NOT_MAPPABLE);
    FAILS(gpumem_buffer_unmap(b), GPUMEM_ERROR_BAD_STATE);
    cr_assert_eq(mapped_count(b), 0);
    /* Transfers still work: core stages them. */
    uint8_t in[4096], out[4096];
    conf_pattern(in, sizeof in, 9);
    OK(gpumem_buffer_write(b, 0, in, sizeof in));
    OK(gpumem_buffer_read(b, 0, out, sizeof out));
    ASSERT_BYTES(out, in, sizeof out);
    OK(gpumem_pool_destroy(pool));
}

/* Host memory that is itself a mapping of another buffer is fine as a transfer's source and
 * destination. On host the mapping is the buffer's native address. */
CONF_TEST(transfers_from_and_into_mapped_memory)
{
    uint32_t type = conf_find_type(GPUMEM_MEMORY_HOST_VISIBLE, 0);
    gpumem_pool pool = conf_type_pool(type, PAGE, 0, "mapped-source");
    const uint64_t n = 3 * 4096 + 5;
    gpumem_buffer src = conf_buffer(pool, n, 0), dst = conf_buffer(pool, n, 0);
    gpumem_buffer big = conf_buffer(pool, PAGE + 1, 0); /* dedicated */
    void *ps, *pd;
    OK(gpumem_buffer_map(src, &ps));
    OK(gpumem_buffer_map(dst, &pd));
    if (strcmp(conf_backend(), "host") == 0) {
        gpumem_native_buffer native;
        OK(gpumem_buffer_native(src, &native));
        cr_assert_eq(native.address, (uint64_t)(uintptr_t)ps,
                     "host: the mapping is not the buffer's address");
    }
    uint8_t *data = conf_alloc(n), *out = conf_alloc(n);
    conf_pattern(data, n, 31);
    memcpy(ps, data, n);
    OK(gpumem_buffer_flush(src, 0, n));
    OK(gpumem_buffer_write(dst, 0, ps, n)); /* from a mapping */
    OK(gpumem_buffer_invalidate(dst, 0, n));
    ASSERT_BYTES(pd, data, n, "write whose source is a mapping");
    OK(gpumem_buffer_write(big, 7, ps, n));
    memset(pd, 0, n);
    OK(gpumem_buffer_flush(dst, 0, n));
    OK(gpumem_buffer_read(big, 7, pd, n)); /* into a mapping */
    OK(gpumem_buffer_flush(dst, 0, n));
    OK(gpumem_buffer_read(dst, 0, out, n));
    ASSERT_BYTES(out, data, n, "read whose destination is a mapping");
    OK(gpumem_buffer_unmap(src));
    OK(gpumem_buffer_unmap(dst));
    OK(gpumem_pool_destroy(pool));
    free(data);
    free(out);
}

/* Guard margins: a write one byte past a buffer's end, or one byte before its start, through a
 * mapped pointer, is found by gpumem_pool_check and reported on destroy, with the buffer, the
 * pool and the offset; clean buffers pass, and their data is unharmed by the margins. */
static char margin_log[4][1024];
static int margin_logged;

static void margin_log_fn(void *user, int32_t level, const char *message)
{
    (void)user;
    if (level == GPUMEM_LOG_ERROR && margin_logged < 4)
        snprintf(margin_log[margin_logged++], sizeof margin_log[0], "%s", message);
}

CONF_TEST(guard_margins_catch_overruns_through_a_mapping)
{
    uint32_t type = conf_find_type(GPUMEM_MEMORY_HOST_VISIBLE, 0);
    cr_assert_neq(type, UINT32_MAX, "every device has host-visible memory");
    gpumem_pool pool = conf_type_pool(type, PAGE, GPUMEM_POOL_DETECT_CORRUPTION, "guarded");
    const uint64_t sizes[] = {100, 4096, PAGE}; /* two in a shared page, one dedicated */
    for (size_t i = 0; i < 3; i++) {
        uint64_t n = sizes[i];
        gpumem_buffer clean = conf_buffer(pool, n, i ? 4096 : 0);
        gpumem_buffer b = conf_buffer(pool, n, i ? 4096 : 0);
        uint8_t *data = conf_alloc(n), *out = conf_alloc(n);
        conf_pattern(data, n, 300 + i);
        OK(gpumem_buffer_write(clean, 0, data, n));
        OK(gpumem_buffer_write(b, 0, data, n));
        OK(gpumem_pool_check(pool));
        gpumem_native_buffer native;
        OK(gpumem_buffer_native(b, &native));
        if (native.address)
            cr_assert_eq(native.address % (i ? 4096 : conf_props.min_alignment), 0,
                         "margins keep the buffer aligned");
        uint8_t *p = NULL;
        OK(gpumem_buffer_map(b, (void **)&p));
        int before = i == 1; /* the second size writes before its start */
        p[before ? -1 : (ptrdiff_t)n] ^= 0xFF;
        OK(gpumem_buffer_flush(b, 0, n));
        OK(gpumem_buffer_unmap(b));
        margin_logged = 0;
        gpumem_log_set_callback(margin_log_fn, NULL); /* the overrun is logged: expected here */
        FAILS(gpumem_pool_check(pool), GPUMEM_ERROR_CORRUPTED);
        const char *message = gpumem_last_error();
        cr_assert(strstr(message, "gpumem_pool_check: "), "%s", message);
        cr_assert(strstr(message, "pool 'guarded'"), "%s", message);
        cr_assert(strstr(message, before ? "1 bytes before its start" : "0 bytes after its end"),
                  "%s", message);
        char handle[32];
        snprintf(handle, sizeof handle, "0x%llx", (unsigned long long)(uintptr_t)b);
        cr_assert(strstr(message, handle), "names buffer %s: %s", handle, message);
        /* The destroy goes through, and logs the overrun as an error. */
        OK(gpumem_buffer_destroy(b));
        conf_log_restore();
        cr_assert_eq(margin_logged, 2, "one error logged by the check, one by the destroy, not %d",
                     margin_logged);
        cr_assert(strstr(margin_log[0], "gpumem_pool_check: "), "%s", margin_log[0]);
        cr_assert(strstr(margin_log[1], "gpumem_buffer_destroy: ") &&
                      strstr(margin_log[1], "pool 'guarded'") && strstr(margin_log[1], handle),
                  "%s", margin_log[1]);
        OK(gpumem_pool_check(pool));
        OK(gpumem_buffer_read(clean, 0, out, n));
        ASSERT_BYTES(out, data, n, "a clean neighbour's data");
        OK(gpumem_buffer_destroy(clean));
        free(data);
        free(out);
    }
    OK(gpumem_pool_destroy(pool));
}
