/* Pools: every memory type, statistics, trim, byte limits, empty-page policy, native pools. */
#include <stdlib.h>

#include "conformance.h"

#define PAGE (1ull << 20)

static gpumem_pool_stats stats_of(gpumem_pool pool)
{
    gpumem_pool_stats s;
    memset(&s, 0xCD, sizeof s);
    OK(gpumem_pool_stats_get(pool, &s));
    return s;
}

static void round_trip(gpumem_buffer buffer, uint64_t size, uint64_t seed)
{
    uint8_t *in = conf_alloc(size), *out = conf_alloc(size);
    conf_pattern(in, size, seed);
    memset(out, 0, size);
    OK(gpumem_buffer_write(buffer, 0, in, size));
    OK(gpumem_buffer_read(buffer, 0, out, size));
    ASSERT_BYTES(out, in, size, "seed %llu", (unsigned long long)seed);
    free(in);
    free(out);
}

CONF_TEST(pool_of_every_memory_type)
{
    for (uint32_t type = 0; type < conf_props.memory_type_count; type++) {
        gpumem_pool pool = conf_type_pool(type, PAGE, 0, "per-type");
        gpumem_pool_stats s = stats_of(pool);
        cr_assert_eq(s.memory_type, type);
        cr_assert_eq(s.kind, GPUMEM_POOL_PAGED);
        cr_assert_eq(s.page_count, 0, "a new pool holds pages");
        cr_assert_eq(s.reserved_bytes, 0);

        gpumem_buffer small = conf_buffer(pool, 4099, 0);
        gpumem_buffer big = conf_buffer(pool, PAGE + 5, 0);
        gpumem_buffer_info info;
        OK(gpumem_buffer_info_get(small, &info));
        cr_assert_eq(info.memory_type, type);
        cr_assert_eq(info.dedicated, 0);
        OK(gpumem_buffer_info_get(big, &info));
        cr_assert_eq(info.memory_type, type);
        cr_assert_eq(info.dedicated, 1);
        round_trip(small, 4099, type * 2 + 1);
        round_trip(big, PAGE + 5, type * 2 + 2);
        s = stats_of(pool);
        cr_assert_eq(s.page_count, 2, "type %u: %llu pages", type,
                     (unsigned long long)s.page_count);
        cr_assert_eq(s.allocation_count, 2);
        OK(gpumem_pool_destroy(pool));
    }
    gpumem_pool_desc bad = {.flags = GPUMEM_POOL_MEMORY_TYPE_INDEX,
                            .memory_type_index = conf_props.memory_type_count};
    gpumem_pool pool = NULL;
    FAILS(gpumem_pool_create(conf_dev, &bad, &pool), GPUMEM_ERROR_NOT_FOUND);
    cr_assert_null(pool);
}

/* Heap usage in the device's properties counts gpumem's pages: up by a page when a pool takes
 * one, back down when the pool goes. */
CONF_TEST(heap_usage_counts_pages)
{
    gpumem_pool pool = conf_pool(1 << 20);
    gpumem_pool_stats stats;
    OK(gpumem_pool_stats_get(pool, &stats));
    uint32_t heap = conf_props.memory_types[stats.memory_type].heap_index;
    gpumem_device_properties before, during, after;
    OK(gpumem_device_properties_get(conf_dev, &before));
    gpumem_buffer b = conf_buffer(pool, 4096, 0);
    OK(gpumem_device_properties_get(conf_dev, &during));
    cr_assert_geq(during.memory_heaps[heap].usage, before.memory_heaps[heap].usage + (1 << 20),
                  "usage %llu after a 1 MiB page, %llu before",
                  (unsigned long long)during.memory_heaps[heap].usage,
                  (unsigned long long)before.memory_heaps[heap].usage);
    (void)b;
    OK(gpumem_pool_destroy(pool));
    OK(gpumem_device_properties_get(conf_dev, &after));
    cr_assert_leq(after.memory_heaps[heap].usage, during.memory_heaps[heap].usage - (1 << 20));
}

CONF_TEST(pool_stats_follow_allocations)
{
    gpumem_pool pool = conf_pool(PAGE);
    gpumem_pool_stats s = stats_of(pool);
    cr_assert_eq(s.reserved_bytes, 0);
    cr_assert_eq(s.used_bytes, 0);
    cr_assert_eq(s.page_count, 0);
    cr_assert_eq(s.allocation_count, 0);
    cr_assert_eq(s.largest_free_range, 0, "no page, yet %llu bytes free",
                 (unsigned long long)s.largest_free_range);
    cr_assert_eq(s.kind, GPUMEM_POOL_PAGED);

    gpumem_buffer a = conf_buffer(pool, 1000, 0);
    gpumem_buffer_info ia;
    OK(gpumem_buffer_info_get(a, &ia));
    uint64_t page = ia.page_size;
    cr_assert_geq(page, PAGE);
    cr_assert_eq(page % conf_props.min_alignment, 0);
    s = stats_of(pool);
    cr_assert_eq(s.page_count, 1);
    cr_assert_eq(s.reserved_bytes, page);
    cr_assert_eq(s.allocation_count, 1);
    cr_assert_eq(s.used_bytes, ia.allocation_size);
    cr_assert_geq(s.used_bytes, 1000);
    cr_assert_leq(s.largest_free_range, page - s.used_bytes);
    cr_assert_geq(s.largest_free_range, page / 2, "largest free range %llu of a %llu page",
                  (unsigned long long)s.largest_free_range, (unsigned long long)page);
    /* Far less than the largest free range fits without a new page. */
    gpumem_buffer fits = conf_buffer(pool, page / 4, 0);
    gpumem_pool_stats s2 = stats_of(pool);
    cr_assert_eq(s2.page_count, 1, "a buffer of the largest free range took a new page");
    OK(gpumem_buffer_destroy(fits));

    gpumem_buffer b = conf_buffer(pool, 3 * PAGE, 0); /* dedicated */
    gpumem_buffer_info ib;
    OK(gpumem_buffer_info_get(b, &ib));
    cr_assert_eq(ib.dedicated, 1);
    s = stats_of(pool);
    cr_assert_eq(s.page_count, 2);
    cr_assert_eq(s.reserved_bytes, page + ib.page_size);
    cr_assert_eq(s.allocation_count, 2);
    cr_assert_eq(s.used_bytes, ia.allocation_size + ib.allocation_size);
    cr_assert_geq(ib.allocation_size, 3 * PAGE);

    OK(gpumem_buffer_destroy(b)); /* a dedicated page goes with its buffer */
    s = stats_of(pool);
    cr_assert_eq(s.page_count, 1);
    cr_assert_eq(s.reserved_bytes, page);
    cr_assert_eq(s.allocation_count, 1);
    cr_assert_eq(s.used_bytes, ia.allocation_size);

    OK(gpumem_buffer_destroy(a)); /* the empty page is kept (max_empty_pages 0 means 1) */
    s = stats_of(pool);
    cr_assert_eq(s.allocation_count, 0);
    cr_assert_eq(s.used_bytes, 0);
    cr_assert_eq(s.page_count, 1);
    cr_assert_eq(s.reserved_bytes, page);
    cr_assert_eq(s.largest_free_range, page, "an empty page has %llu of %llu bytes free",
                 (unsigned long long)s.largest_free_range, (unsigned long long)page);
    OK(gpumem_pool_destroy(pool));
}

/* Buffers of a quarter page each, until the pool holds `pages` pages. */
static size_t fill_pages(gpumem_pool pool, uint64_t pages, gpumem_buffer *buffers, size_t max)
{
    size_t n = 0;
    while (stats_of(pool).page_count < pages) {
        cr_assert_lt(n, max, "%zu quarter-page buffers, still fewer than %llu pages", n,
                     (unsigned long long)pages);
        buffers[n++] = conf_buffer(pool, PAGE / 4, 0);
    }
    return n;
}

CONF_TEST(trim_releases_empty_pages)
{
    gpumem_pool_desc desc = {.page_size = PAGE, .max_empty_pages = 8, .name = "trim"};
    gpumem_pool pool;
    OK(gpumem_pool_create(conf_dev, &desc, &pool));
    gpumem_buffer buffers[64];
    size_t n = fill_pages(pool, 4, buffers, 64);
    gpumem_pool_stats s = stats_of(pool);
    cr_assert_eq(s.page_count, 4);
    /* Keep the last buffer (on the last page); empty the others. */
    gpumem_buffer_info last;
    OK(gpumem_buffer_info_get(buffers[n - 1], &last));
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        gpumem_buffer_info info;
        OK(gpumem_buffer_info_get(buffers[i], &info));
        if (info.page == last.page) {
            buffers[kept++] = buffers[i];
            continue;
        }
        OK(gpumem_buffer_destroy(buffers[i]));
    }
    s = stats_of(pool);
    cr_assert_eq(s.page_count, 4, "max_empty_pages 8 keeps empty pages until trim");
    OK(gpumem_pool_trim(pool));
    s = stats_of(pool);
    cr_assert_eq(s.page_count, 1, "trim left %llu pages, one page has buffers",
                 (unsigned long long)s.page_count);
    cr_assert_eq(s.reserved_bytes, last.page_size);
    cr_assert_eq(s.allocation_count, kept);
    /* The surviving buffers still hold their data. */
    round_trip(buffers[0], PAGE / 4, 99);
    for (size_t i = 0; i < kept; i++)
        OK(gpumem_buffer_destroy(buffers[i]));
    OK(gpumem_pool_trim(pool));
    s = stats_of(pool);
    cr_assert_eq(s.page_count, 0);
    cr_assert_eq(s.reserved_bytes, 0);
    cr_assert_eq(s.largest_free_range, 0);
    /* A trimmed pool allocates again. */
    gpumem_buffer again = conf_buffer(pool, 5000, 0);
    round_trip(again, 5000, 7);
    cr_assert_eq(stats_of(pool).page_count, 1);
    OK(gpumem_pool_destroy(pool));
}

CONF_TEST(max_empty_pages_bounds_kept_pages)
{
    const uint32_t limits[] = {0, 2};
    for (size_t l = 0; l < 2; l++) {
        gpumem_pool_desc desc = {.page_size = PAGE, .max_empty_pages = limits[l]};
        gpumem_pool pool;
        OK(gpumem_pool_create(conf_dev, &desc, &pool));
        gpumem_buffer buffers[64];
        size_t n = fill_pages(pool, 4, buffers, 64);
        for (size_t i = 0; i < n; i++)
            OK(gpumem_buffer_destroy(buffers[i]));
        gpumem_pool_stats s = stats_of(pool);
        uint64_t expected = limits[l] ? limits[l] : 1;
        cr_assert_eq(s.page_count, expected, "max_empty_pages %u: %llu empty pages kept",
                     limits[l], (unsigned long long)s.page_count);
        cr_assert_eq(s.allocation_count, 0);
        cr_assert_eq(s.used_bytes, 0);
        /* Kept pages are reused before new ones are made. */
        gpumem_buffer b = conf_buffer(pool, 100, 0);
        cr_assert_eq(stats_of(pool).page_count, expected);
        OK(gpumem_buffer_destroy(b));
        OK(gpumem_pool_trim(pool));
        cr_assert_eq(stats_of(pool).page_count, 0);
        OK(gpumem_pool_destroy(pool));
    }
}

CONF_TEST(byte_limit_is_enforced_and_the_pool_keeps_working)
{
    gpumem_pool_desc desc = {.page_size = PAGE, .byte_limit = 2 * PAGE, .name = "limited"};
    gpumem_pool pool;
    OK(gpumem_pool_create(conf_dev, &desc, &pool));
    gpumem_buffer buffers[64];
    size_t n = fill_pages(pool, 2, buffers, 64);
    gpumem_buffer extra = NULL;
    /* Fill the two pages, then one more must fail. */
    gpumem_result r;
    gpumem_buffer_desc quarter = {.size = PAGE / 4};
    while ((r = gpumem_buffer_create(pool, &quarter, &extra)) == GPUMEM_OK) {
        cr_assert_lt(n, 64);
        buffers[n++] = extra;
        extra = NULL;
    }
    cr_assert_eq(r, GPUMEM_ERROR_LIMIT_EXCEEDED, "-> %s (%s)", gpumem_result_string(r),
                 gpumem_last_error());
    cr_assert_neq(gpumem_last_error()[0], '\0');
    cr_assert_null(extra, "output written on failure");
    gpumem_pool_stats s = stats_of(pool);
    cr_assert_eq(s.page_count, 2);
    cr_assert_leq(s.reserved_bytes, 2 * PAGE);
    cr_assert_eq(s.allocation_count, n);

    /* A dedicated request above the limit fails too, and changes nothing. */
    gpumem_buffer_desc big = {.size = 3 * PAGE};
    FAILS(gpumem_buffer_create(pool, &big, &extra), GPUMEM_ERROR_LIMIT_EXCEEDED);
    gpumem_pool_stats s2 = stats_of(pool);
    cr_assert_eq(s2.reserved_bytes, s.reserved_bytes);
    cr_assert_eq(s2.allocation_count, n);

    /* The pool keeps working: free one, allocate again, data intact. */
    OK(gpumem_buffer_destroy(buffers[n - 1]));
    buffers[n - 1] = conf_buffer(pool, PAGE / 4, 0);
    for (size_t i = 0; i < n; i += 3)
        round_trip(buffers[i], PAGE / 4, i + 1);
    OK(gpumem_pool_destroy(pool));

    /* A limit below one page: nothing small fits, the pool still answers. */
    gpumem_pool_desc tiny = {.page_size = PAGE, .byte_limit = PAGE / 2};
    OK(gpumem_pool_create(conf_dev, &tiny, &pool));
    FAILS(gpumem_buffer_create(pool, &(gpumem_buffer_desc){.size = 64}, &extra),
          GPUMEM_ERROR_LIMIT_EXCEEDED);
    s = stats_of(pool);
    cr_assert_eq(s.page_count, 0);
    cr_assert_eq(s.reserved_bytes, 0);
    OK(gpumem_pool_destroy(pool));
}

/* A pool at its byte limit refuses a buffer only when no page has room for it. Random creates
 * (up to an eighth of a page) and destroys keep three pages near full; every refusal is
 * checked against the largest free range the pool reports. A page remembers the least size it
 * refused until a free gives it room again (try_page in core/pool.c): a page that kept refusing
 * after a free, or skipped a size it had never refused, would turn away buffers that fit. */
CONF_TEST(a_pool_at_its_limit_refuses_only_what_does_not_fit)
{
    gpumem_pool_desc desc = {.page_size = PAGE, .byte_limit = 3 * PAGE, .name = "at its limit"};
    gpumem_pool pool;
    OK(gpumem_pool_create(conf_dev, &desc, &pool));
    uint64_t unit = conf_props.min_alignment;
    /* What a buffer takes beyond its size rounded to min_alignment: 0, or its guard margins
     * when the suite runs with them (an empty page leaves no remainder in the block). */
    gpumem_buffer probe = conf_buffer(pool, unit, 0);
    gpumem_buffer_info info;
    OK(gpumem_buffer_info_get(probe, &info));
    uint64_t extra = info.allocation_size - unit;
    OK(gpumem_buffer_destroy(probe));

    enum { SLOTS = 2048, STEPS = 20000 };
    gpumem_buffer live[SLOTS] = {0};
    uint64_t state = 0x9e3779b97f4a7c15ull;
    uint32_t refused = 0, created = 0;
    for (uint32_t step = 0; step < STEPS; step++) {
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        uint32_t k = (uint32_t)(state % SLOTS);
        if (live[k]) {
            OK(gpumem_buffer_destroy(live[k]));
            live[k] = NULL;
            continue;
        }
        /* Sizes spread over the powers of two from 1 byte to PAGE / 8. */
        uint32_t bits = (uint32_t)((state >> 16) % 18);
        uint64_t size = 1 + (state >> 32) % (1ull << bits);
        gpumem_buffer_desc d = {.size = size};
        gpumem_result r = gpumem_buffer_create(pool, &d, &live[k]);
        if (r == GPUMEM_OK) {
            created++;
            continue;
        }
        cr_assert_eq(r, GPUMEM_ERROR_LIMIT_EXCEEDED, "step %u: %s (%s)", step,
                     gpumem_result_string(r), gpumem_last_error());
        cr_assert_null(live[k]);
        refused++;
        gpumem_pool_stats s = stats_of(pool);
        uint64_t needed = (size + unit - 1) / unit * unit + extra;
        cr_assert_eq(s.page_count, 3, "step %u: refused at %llu pages", step,
                     (unsigned long long)s.page_count);
        cr_assert_lt(s.largest_free_range, needed,
                     "step %u: %llu bytes (%llu with rounding) refused, yet a page has a free "
                     "range of %llu", step, (unsigned long long)size, (unsigned long long)needed,
                     (unsigned long long)s.largest_free_range);
    }
    cr_assert_gt(refused, STEPS / 100, "only %u of the creates were refused: the trace never "
                 "kept the pool full", refused);
    cr_assert_gt(created, STEPS / 4, "only %u creates succeeded", created);
    OK(gpumem_pool_destroy(pool));
}

CONF_TEST(page_size_is_rounded_to_min_alignment)
{
    gpumem_pool_desc desc = {.page_size = PAGE + 1};
    gpumem_pool pool;
    OK(gpumem_pool_create(conf_dev, &desc, &pool));
    gpumem_buffer b = conf_buffer(pool, 10, 0);
    gpumem_buffer_info info;
    OK(gpumem_buffer_info_get(b, &info));
    cr_assert_eq(info.page_size % conf_props.min_alignment, 0);
    cr_assert_geq(info.page_size, PAGE + 1);
    cr_assert_lt(info.page_size, PAGE + 1 + conf_props.min_alignment);
    OK(gpumem_pool_destroy(pool));

    /* The default page size. */
    gpumem_pool_desc defaults = {0};
    OK(gpumem_pool_create(conf_dev, &defaults, &pool));
    b = conf_buffer(pool, 10, 0);
    OK(gpumem_buffer_info_get(b, &info));
    uint64_t expected = GPUMEM_DEFAULT_PAGE_SIZE <= conf_props.max_allocation_size
                            ? GPUMEM_DEFAULT_PAGE_SIZE
                            : conf_props.max_allocation_size & ~(conf_props.min_alignment - 1);
    cr_assert_eq(info.page_size, expected, "default page size %llu",
                 (unsigned long long)info.page_size);
    OK(gpumem_pool_destroy(pool));
}

CONF_TEST(native_pool_or_unsupported)
{
    gpumem_pool_desc desc = {.kind = GPUMEM_POOL_NATIVE, .name = "native"};
    gpumem_pool pool = NULL;
    if (!conf_props.native_pools) {
        FAILS(gpumem_pool_create(conf_dev, &desc, &pool), GPUMEM_ERROR_UNSUPPORTED);
        cr_assert_null(pool);
        return;
    }
    OK(gpumem_pool_create(conf_dev, &desc, &pool));
    gpumem_pool_stats s = stats_of(pool);
    cr_assert_eq(s.kind, GPUMEM_POOL_NATIVE);
    const uint64_t sizes[] = {1, 4097, (1 << 20) + 7};
    gpumem_buffer buffers[3];
    for (int i = 0; i < 3; i++) {
        buffers[i] = conf_buffer(pool, sizes[i], 0);
        round_trip(buffers[i], sizes[i], 40 + i);
        gpumem_buffer_info info;
        OK(gpumem_buffer_info_get(buffers[i], &info));
        cr_assert_eq(info.size, sizes[i]);
        cr_assert_eq(info.offset % conf_props.min_alignment, 0);
    }
    conf_expect_summary_counts(pool, "native"); /* no pages: the runtime's allocations */
    /* Copies between native and paged buffers. */
    gpumem_pool paged = conf_pool(PAGE);
    gpumem_buffer p = conf_buffer(paged, 4097, 0);
    OK(gpumem_buffer_copy(buffers[1], 0, p, 0, 4097));
    uint8_t expected[4097], got[4097];
    conf_pattern(expected, sizeof expected, 41);
    OK(gpumem_buffer_read(p, 0, got, sizeof got));
    ASSERT_BYTES(got, expected, sizeof got);
    s = stats_of(pool);
    cr_assert_eq(s.allocation_count, 3);
    cr_assert_eq(s.page_count, 0, "native pools hold no pages");
    OK(gpumem_buffer_destroy(buffers[0]));
    OK(gpumem_pool_trim(pool));
    cr_assert_eq(stats_of(pool).allocation_count, 2);
    OK(gpumem_pool_destroy(pool));
    FAILS(gpumem_buffer_destroy(buffers[1]), GPUMEM_ERROR_DESTROYED);
}

CONF_TEST(persistent_map_pool)
{
    uint32_t type = conf_host_visible_type(); /* skips the test when there is none */
    gpumem_pool pool = conf_type_pool(type, PAGE, GPUMEM_POOL_PERSISTENT_MAP, "persistent");
    gpumem_buffer a = conf_buffer(pool, 5000, 0), b = conf_buffer(pool, 7000, 0);
    void *pa, *pb, *pa2;
    OK(gpumem_buffer_map(a, &pa));
    OK(gpumem_buffer_map(b, &pb));
    gpumem_buffer_info ia, ib;
    OK(gpumem_buffer_info_get(a, &ia));
    OK(gpumem_buffer_info_get(b, &ib));
    if (ia.page == ib.page)
        cr_assert_eq((char *)pb - (char *)pa, (ptrdiff_t)(ib.offset - ia.offset),
                     "mappings of one page disagree with the offsets");
    uint8_t data[5000], out[5000];
    conf_pattern(data, sizeof data, 5);
    memcpy(pa, data, sizeof data);
    OK(gpumem_buffer_flush(a, 0, sizeof data));
    OK(gpumem_buffer_unmap(a));
    /* The page stays mapped: the same address again, the data still there. */
    OK(gpumem_buffer_map(a, &pa2));
    cr_assert_eq(pa2, pa, "a persistent mapping moved");
    OK(gpumem_buffer_read(a, 0, out, sizeof out));
    ASSERT_BYTES(out, data, sizeof out);
    conf_pattern(data, sizeof data, 6);
    OK(gpumem_buffer_write(a, 0, data, sizeof data));
    OK(gpumem_buffer_invalidate(a, 0, sizeof data));
    ASSERT_BYTES(pa2, data, sizeof data);
    OK(gpumem_buffer_unmap(a));
    OK(gpumem_buffer_unmap(b));
    FAILS(gpumem_buffer_unmap(a), GPUMEM_ERROR_BAD_STATE);
    OK(gpumem_pool_destroy(pool));

    /* Persistent map on memory the host cannot see: the pool works, mapping does not. */
    uint32_t hidden = conf_find_type(0, GPUMEM_MEMORY_HOST_VISIBLE);
    if (hidden == UINT32_MAX)
        return;
    pool = conf_type_pool(hidden, PAGE, GPUMEM_POOL_PERSISTENT_MAP, "persistent-hidden");
    a = conf_buffer(pool, 100, 0);
    round_trip(a, 100, 8);
    FAILS(gpumem_buffer_map(a, &pa), GPUMEM_ERROR_NOT_MAPPABLE);
    OK(gpumem_pool_destroy(pool));
}

/* The text summary names each pool with its counts, and sees free room scattered by destroys
 * as fragmentation. */
CONF_TEST(the_summary_describes_each_pool)
{
    gpumem_pool_desc desc = {.page_size = 1u << 20, .name = "summarized"};
    gpumem_pool pool;
    OK(gpumem_pool_create(conf_dev, &desc, &pool));
    gpumem_buffer buffers[8];
    for (int i = 0; i < 8; i++)
        buffers[i] = conf_buffer(pool, 100u << 10, 0);
    for (int i = 0; i < 8; i += 2) /* holes between live buffers */
        OK(gpumem_buffer_destroy(buffers[i]));
    uint64_t length = 0;
    OK(gpumem_device_summary(conf_dev, NULL, 0, &length));
    char *text = conf_alloc(length + 1);
    FAILS(gpumem_device_summary(conf_dev, text, length, &length),
          GPUMEM_ERROR_INSUFFICIENT_BUFFER);
    OK(gpumem_device_summary(conf_dev, text, length + 1, &length));
    cr_assert_eq(strlen(text), length);
    const char *mine = strstr(text, "pool 'summarized'");
    cr_assert_not_null(mine, "%s", text);
    cr_assert_not_null(strstr(mine, "in 4 allocations"), "%s", text);
    const char *fragmentation = strstr(mine, "fragmentation ");
    cr_assert_not_null(fragmentation, "%s", text);
    cr_assert_gt(strtod(fragmentation + strlen("fragmentation "), NULL), 0.0,
                 "holes between live buffers are fragmentation: %s", text);
    cr_assert_not_null(strstr(text, "total: "), "%s", text);
    gpumem_buffer own = conf_buffer(pool, 3u << 20, 0); /* a page of its own beside them */
    conf_expect_summary_counts(pool, "summarized");
    OK(gpumem_buffer_destroy(own));
    conf_expect_summary_counts(pool, "summarized");
    FAILS(gpumem_device_summary(conf_dev, NULL, 0, NULL), GPUMEM_ERROR_INVALID_ARGUMENT);
    FAILS(gpumem_device_summary(conf_dev, NULL, 5, &length), GPUMEM_ERROR_INVALID_ARGUMENT);
    free(text);
    OK(gpumem_pool_destroy(pool));
}
