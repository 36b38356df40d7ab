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
    if (!tested)
        CONF_SKIP("backend '%s' has no host-visible memory type", conf_backend());
}

CONF_TEST(map_is_reference_counted)
{
    uint32_t type = conf_host_visible_type();
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
        CONF_SKIP("backend '%s' has no memory type without HOST_VISIBLE", conf_backend());
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
    uint32_t type = conf_host_visible_type();
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
    uint32_t type = conf_host_visible_type();
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

/* Memory types that are host-visible but not coherent, or skips the test saying so. */
static int non_coherent_types(uint32_t *types)
{
    int count = 0;
    for (uint32_t t = 0; t < conf_props.memory_type_count; t++)
        if ((conf_type_flags(t) & GPUMEM_MEMORY_HOST_VISIBLE) &&
            !(conf_type_flags(t) & GPUMEM_MEMORY_HOST_COHERENT))
            types[count++] = t;
    if (!count)
        CONF_SKIP("backend '%s' has no host-visible memory type without HOST_COHERENT",
                  conf_backend());
    return count;
}

/* A flush or invalidate acts on whole atoms: two buffers sharing one would lose each other's
 * bytes. Neighbours of odd sizes, each written by the host through its mapping or by the
 * device, then flushed and invalidated in turn. */
CONF_TEST(buffers_of_non_coherent_memory_share_no_atom)
{
    uint32_t types[GPUMEM_MAX_MEMORY_TYPES];
    int count = non_coherent_types(types);
    uint64_t atom = conf_props.non_coherent_atom_size;
    enum { N = 6 };
    const uint64_t sizes[N] = {1, 100, 255, 257, 4095, 4097};
    for (int t = 0; t < count; t++) {
        gpumem_pool pool = conf_type_pool(types[t], PAGE, 0, "atoms");
        gpumem_buffer b[N];
        uint8_t *p[N], expected[N][4097], out[4097];
        for (int i = 0; i < N; i++) {
            b[i] = conf_buffer(pool, sizes[i], 0);
            gpumem_buffer_info info;
            OK(gpumem_buffer_info_get(b[i], &info));
            cr_assert_eq(info.offset % atom, 0, "type %u: a buffer at offset %llu, atom %llu",
                         types[t], (unsigned long long)info.offset, (unsigned long long)atom);
            OK(gpumem_buffer_map(b[i], (void **)&p[i]));
        }
        for (int round = 0; round < 2; round++)
            for (int i = 0; i < N; i++) {
                conf_pattern(expected[i], sizes[i], 1000 + 10 * round + i);
                if ((i + round) % 2) { /* the device writes, the host's view is then stale */
                    OK(gpumem_buffer_write(b[i], 0, expected[i], sizes[i]));
                } else {               /* the host writes and flushes */
                    memcpy(p[i], expected[i], sizes[i]);
                    OK(gpumem_buffer_flush(b[i], 0, sizes[i]));
                }
            }
        for (int i = 0; i < N; i++) {
            OK(gpumem_buffer_invalidate(b[i], 0, sizes[i]));
            ASSERT_BYTES(p[i], expected[i], sizes[i], "type %u: buffer %d through its mapping",
                         types[t], i);
            OK(gpumem_buffer_read(b[i], 0, out, sizes[i]));
            ASSERT_BYTES(out, expected[i], sizes[i], "type %u: buffer %d read", types[t], i);
        }
        OK(gpumem_pool_destroy(pool));
    }
}

/* gpumem's own writes and fills through a mapping of non-coherent memory (large ones take
 * that path where the runtime also copies directly) cover some atoms only in part: the
 * device's bytes in the rest of those atoms must survive the flush. */
CONF_TEST(mapped_writes_keep_what_the_device_wrote_next_to_them)
{
    uint32_t types[GPUMEM_MAX_MEMORY_TYPES];
    int count = non_coherent_types(types);
    const uint64_t n = 9ull << 20, atom = conf_props.non_coherent_atom_size;
    const uint64_t starts[] = {1, 5, atom > 8 ? atom - 1 : 7, atom + 3};
    uint8_t *big = conf_alloc(n + 2 * atom), *out = conf_alloc(n + 2 * atom);
    for (int t = 0; t < count; t++) {
        gpumem_pool pool = conf_type_pool(types[t], 4 * n, 0, "edges");
        gpumem_buffer b = conf_buffer(pool, n + 2 * atom, 0);
        for (size_t k = 0; k < 2 * (sizeof starts / sizeof starts[0]); k++) {
            int fill = k % 2; /* fills start and end on multiples of 4 */
            uint64_t first = starts[k / 2], last = first + n - 9; /* neither on the atom grid */
            if (fill)
                first = (first + 3) & ~3ull, last &= ~3ull;
            uint8_t head = (uint8_t)(0x10 + k), tail = (uint8_t)(0x20 + k);
            memset(big, 0xAA, n);
            OK(gpumem_buffer_write(b, 0, big, n)); /* through the mapping */
            OK(gpumem_buffer_write(b, first - 1, &head, 1)); /* small: the runtime's copy */
            OK(gpumem_buffer_write(b, last, &tail, 1));
            if (fill) {
                OK(gpumem_buffer_fill(b, first, last - first, 0xB0B1B2B3u));
                for (uint64_t i = 0; i < last - first; i += 4)
                    memcpy(big + i, &(uint32_t){0xB0B1B2B3u}, 4);
            } else {
                conf_pattern(big, last - first, 40 + k);
                OK(gpumem_buffer_write(b, first, big, last - first)); /* the mapping again */
            }
            OK(gpumem_buffer_read(b, 0, out, n + 2 * atom));
            const char *what = fill ? "fill" : "write";
            cr_assert_eq(out[first - 1], head, "type %u: the device's byte before a %s at %llu",
                         types[t], what, (unsigned long long)first);
            cr_assert_eq(out[last], tail, "type %u: the device's byte after a %s ending at %llu",
                         types[t], what, (unsigned long long)last);
            ASSERT_BYTES(out + first, big, last - first, "type %u: the %s itself", types[t],
                         what);
        }
        OK(gpumem_pool_destroy(pool));
    }
    free(big);
    free(out);
}

/* Flush and invalidate answer by the buffer's own mapping: on every host-visible type, a mapped
 * buffer's calls succeed; an unmapped one's succeed on HOST_COHERENT memory (a no-op) and answer
 * GPUMEM_ERROR_BAD_STATE elsewhere, also while another buffer of its page is mapped. */
CONF_TEST(flush_and_invalidate_answer_by_the_buffers_own_mapping)
{
    int tested = 0;
    for (uint32_t type = 0; type < conf_props.memory_type_count; type++) {
        uint32_t flags = conf_type_flags(type);
        if (!(flags & GPUMEM_MEMORY_HOST_VISIBLE))
            continue;
        tested++;
        gpumem_pool pool = conf_type_pool(type, PAGE, 0, "coherence");
        gpumem_buffer alone = conf_buffer(pool, 256, 0), neighbour = conf_buffer(pool, 256, 0);
        void *p;
        OK(gpumem_buffer_map(neighbour, &p)); /* the page is mapped, not `alone` */
        gpumem_result expected =
            flags & GPUMEM_MEMORY_HOST_COHERENT ? GPUMEM_OK : GPUMEM_ERROR_BAD_STATE;
        cr_assert_eq(gpumem_buffer_flush(alone, 0, 256), expected, "type %u: %s", type,
                     gpumem_last_error());
        cr_assert_eq(gpumem_buffer_invalidate(alone, 0, 256), expected, "type %u: %s", type,
                     gpumem_last_error());
        OK(gpumem_buffer_map(alone, &p));
        OK(gpumem_buffer_flush(alone, 0, 256));
        OK(gpumem_buffer_invalidate(alone, 0, 256));
        OK(gpumem_buffer_unmap(alone));
        OK(gpumem_buffer_unmap(neighbour));
        OK(gpumem_pool_destroy(pool));
    }
    if (!tested)
        CONF_SKIP("backend '%s' has no host-visible memory type", conf_backend());
}
