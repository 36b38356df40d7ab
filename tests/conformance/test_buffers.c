/* Buffers: sizes, alignment, the info fields, and that live buffers never share bytes. */
#include <pthread.h>
#include <stdlib.h>

#include "conformance.h"

#define PAGE (1ull << 20)

static void check_info(gpumem_buffer b, uint64_t size, uint64_t alignment, uint64_t page_size,
                       uint32_t type)
{
    gpumem_buffer_info info;
    memset(&info, 0xCD, sizeof info);
    OK(gpumem_buffer_info_get(b, &info));
    uint64_t align = alignment > conf_props.min_alignment ? alignment : conf_props.min_alignment;
    cr_assert_eq(info.size, size, "info.size %llu for %llu bytes", (unsigned long long)info.size,
                 (unsigned long long)size);
    /* Where memory has addresses, the address is what kernels see and what must be aligned
     * (a page's own address may be less aligned than asked); elsewhere the offset is. */
    gpumem_native_buffer native;
    OK(gpumem_buffer_native(b, &native));
    if (native.address)
        cr_assert_eq(native.address % align, 0, "size %llu: address 0x%llx is not aligned to %llu",
                     (unsigned long long)size, (unsigned long long)native.address,
                     (unsigned long long)align);
    else
        cr_assert_eq(info.offset % align, 0, "size %llu: offset %llu is not aligned to %llu",
                     (unsigned long long)size, (unsigned long long)info.offset,
                     (unsigned long long)align);
    cr_assert_leq(info.left_padding, info.offset, "padding before the page's start");
    cr_assert_geq(info.allocation_size, size + info.left_padding,
                  "size %llu: allocation of %llu bytes with %llu padding",
                  (unsigned long long)size, (unsigned long long)info.allocation_size,
                  (unsigned long long)info.left_padding);
    cr_assert_leq(info.offset - info.left_padding + info.allocation_size, info.page_size,
                  "size %llu: allocation [%llu, +%llu) beyond its page of %llu",
                  (unsigned long long)size, (unsigned long long)(info.offset - info.left_padding),
                  (unsigned long long)info.allocation_size, (unsigned long long)info.page_size);
    cr_assert_leq(info.offset + size, info.page_size);
    cr_assert_eq(info.memory_type, type);
    cr_assert_eq(info.mapped, 0);
    cr_assert(info.dedicated == 0 || info.dedicated == 1);
    if (size > page_size / 2)
        cr_assert_eq(info.dedicated, 1, "%llu bytes (more than half a %llu page) share a page",
                     (unsigned long long)size, (unsigned long long)page_size);
    if (size + align <= page_size / 4 && alignment <= page_size / 4)
        cr_assert_eq(info.dedicated, 0, "%llu bytes got a page of their own",
                     (unsigned long long)size);
    if (info.dedicated) {
        cr_assert_geq(info.page_size, size);
    } else {
        cr_assert_eq(info.page_size, page_size, "a shared page of %llu bytes, pool pages %llu",
                     (unsigned long long)info.page_size, (unsigned long long)page_size);
    }

    cr_assert_eq(native.offset, info.offset, "native offset %llu, info offset %llu",
                 (unsigned long long)native.offset, (unsigned long long)info.offset);
    cr_assert_neq(native.memory, 0, "no native allocation");
    if (strcmp(conf_backend(), "vulkan") == 0)
        cr_assert_neq(native.buffer, 0, "vulkan: no VkBuffer");
    /* Memory with addresses and no native object over the buffer: memory is the allocation's
     * base, and the buffer's address is that plus its offset. */
    if (native.address && !native.buffer)
        cr_assert_eq(native.address, native.memory + native.offset,
                     "address 0x%llx, memory 0x%llx + offset %llu",
                     (unsigned long long)native.address, (unsigned long long)native.memory,
                     (unsigned long long)native.offset);
    /* Memory with addresses (a backend with page_address): up to a small page, any runtime's
     * allocation is aligned well enough for the address to keep the alignment
     * (native_address_honours_large_alignment asks for more). Without, the address is 0. */
    uint64_t small = align < 4096 ? align : 4096;
    cr_assert_eq(native.address % small, 0, "address 0x%llx is not aligned to %llu",
                 (unsigned long long)native.address, (unsigned long long)small);
}

CONF_TEST(buffer_sizes_from_one_byte_to_dedicated_pages)
{
    const uint64_t sizes[] = {1,        2,        3,        63,           64,
                              65,       255,      4096,     4097,         65537,
                              PAGE / 4, PAGE / 2 - 2 * 4096, PAGE / 2, PAGE / 2 + 1, PAGE - 1,
                              PAGE,     PAGE + 1, 3 * PAGE + 17};
    const size_t count = sizeof sizes / sizeof sizes[0];
    for (uint32_t type = 0; type < conf_props.memory_type_count; type++) {
        gpumem_pool pool = conf_type_pool(type, PAGE, 0, "sizes");
        gpumem_buffer buffers[sizeof sizes / sizeof sizes[0]];
        for (size_t i = 0; i < count; i++) {
            buffers[i] = conf_buffer(pool, sizes[i], 0);
            check_info(buffers[i], sizes[i], 0, PAGE, type);
        }
        /* First and last byte of each are reachable. */
        for (size_t i = 0; i < count; i++) {
            uint8_t v = (uint8_t)(i + 1), w = (uint8_t)(0x80 | i), r = 0;
            OK(gpumem_buffer_write(buffers[i], 0, &v, 1));
            OK(gpumem_buffer_write(buffers[i], sizes[i] - 1, sizes[i] > 1 ? &w : &v, 1));
            OK(gpumem_buffer_read(buffers[i], 0, &r, 1));
            cr_assert_eq(r, v, "buffer %zu first byte", i);
            OK(gpumem_buffer_read(buffers[i], sizes[i] - 1, &r, 1));
            cr_assert_eq(r, sizes[i] > 1 ? w : v, "buffer %zu last byte", i);
        }
        gpumem_pool_stats s;
        OK(gpumem_pool_stats_get(pool, &s));
        cr_assert_eq(s.allocation_count, count);
        for (size_t i = 0; i < count; i += 2)
            OK(gpumem_buffer_destroy(buffers[i]));
        OK(gpumem_pool_stats_get(pool, &s));
        cr_assert_eq(s.allocation_count, count / 2);
        for (size_t i = 1; i < count; i += 2)
            OK(gpumem_buffer_destroy(buffers[i]));
        OK(gpumem_pool_stats_get(pool, &s));
        cr_assert_eq(s.allocation_count, 0);
        cr_assert_eq(s.used_bytes, 0);
        cr_assert_leq(s.page_count, 1, "%llu pages left, at most one empty page is kept",
                      (unsigned long long)s.page_count);
        OK(gpumem_pool_destroy(pool));
    }
}

CONF_TEST(dedicated_flag_gives_a_page_of_its_own)
{
    gpumem_pool pool = conf_pool(PAGE);
    gpumem_buffer_desc desc = {.size = 100, .flags = GPUMEM_BUFFER_DEDICATED};
    gpumem_buffer a, b;
    OK(gpumem_buffer_create(pool, &desc, &a));
    OK(gpumem_buffer_create(pool, &desc, &b));
    gpumem_buffer_info ia, ib;
    OK(gpumem_buffer_info_get(a, &ia));
    OK(gpumem_buffer_info_get(b, &ib));
    cr_assert_eq(ia.dedicated, 1);
    cr_assert_eq(ib.dedicated, 1);
    cr_assert_neq(ia.page, ib.page, "two dedicated buffers share page %u", ia.page);
    cr_assert_lt(ia.page_size, PAGE, "a 100-byte dedicated page of %llu bytes",
                 (unsigned long long)ia.page_size);
    gpumem_pool_stats s;
    OK(gpumem_pool_stats_get(pool, &s));
    cr_assert_eq(s.page_count, 2);
    cr_assert_eq(s.reserved_bytes, ia.page_size + ib.page_size);
    OK(gpumem_buffer_destroy(a));
    OK(gpumem_pool_stats_get(pool, &s));
    cr_assert_eq(s.page_count, 1, "a dedicated page outlived its buffer");
    OK(gpumem_pool_destroy(pool));
}

CONF_TEST(alignment_is_honoured)
{
    const uint64_t alignments[] = {1, 2, 4, 16, 64, 128, 256, 1024, 4096, 8192, 65536};
    const uint64_t sizes[] = {1, 13, 100, 4096, 10000};
    gpumem_pool pool = conf_pool(PAGE);
    gpumem_pool_stats stats;
    OK(gpumem_pool_stats_get(pool, &stats));
    gpumem_buffer filler = conf_buffer(pool, 3, 1); /* so later offsets are not all 0 */
    gpumem_buffer buffers[64];
    size_t n = 0;
    for (size_t a = 0; a < sizeof alignments / sizeof alignments[0]; a++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            gpumem_buffer b = conf_buffer(pool, sizes[s], alignments[a]);
            check_info(b, sizes[s], alignments[a], PAGE, stats.memory_type);
            buffers[n++] = b;
            if (n == 64) {
                for (size_t i = 0; i < n; i++)
                    OK(gpumem_buffer_destroy(buffers[i]));
                n = 0;
            }
        }
    (void)filler;
    OK(gpumem_pool_destroy(pool));
}

/* Intervals [start, end) of live allocations in one page must not meet. */
typedef struct span {
    uint32_t page;
    uint64_t start, end;
    uint64_t data_start, data_end;
} span;

static int by_page_then_start(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->page != y->page)
        return x->page < y->page ? -1 : 1;
    return x->start < y->start ? -1 : x->start > y->start;
}

CONF_TEST(live_buffers_never_overlap)
{
    enum { COUNT = 300 };
    gpumem_pool pool = conf_pool(PAGE);
    gpumem_buffer *buffers = conf_alloc(COUNT * sizeof *buffers);
    uint64_t *sizes = conf_alloc(COUNT * sizeof *sizes);
    uint64_t x = 0x1234567;
    /* Allocate, free every third, allocate again into the holes. */
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < COUNT; i++) {
            if (round == 1 && i % 3)
                continue;
            if (round == 1)
                OK(gpumem_buffer_destroy(buffers[i]));
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            sizes[i] = 1 + (x >> 33) % 20000;
            uint64_t alignment = 1ull << ((x >> 20) % 13);
            buffers[i] = conf_buffer(pool, sizes[i], alignment);
        }
    span *spans = conf_alloc(COUNT * sizeof *spans);
    for (int i = 0; i < COUNT; i++) {
        gpumem_buffer_info info;
        OK(gpumem_buffer_info_get(buffers[i], &info));
        cr_assert_eq(info.size, sizes[i]);
        spans[i] = (span){info.page, info.offset - info.left_padding,
                          info.offset - info.left_padding + info.allocation_size, info.offset,
                          info.offset + info.size};
        cr_assert_leq(spans[i].data_end, spans[i].end);
    }
    qsort(spans, COUNT, sizeof *spans, by_page_then_start);
    for (int i = 1; i < COUNT; i++)
        if (spans[i].page == spans[i - 1].page)
            cr_assert_leq(spans[i - 1].end, spans[i].start,
                          "page %u: [%llu, %llu) overlaps [%llu, %llu)", spans[i].page,
                          (unsigned long long)spans[i - 1].start,
                          (unsigned long long)spans[i - 1].end,
                          (unsigned long long)spans[i].start, (unsigned long long)spans[i].end);
    /* And the data says the same: each buffer keeps its own bytes. */
    uint8_t *data = conf_alloc(20000), *out = conf_alloc(20000);
    for (int i = 0; i < COUNT; i++) {
        conf_pattern(data, sizes[i], 1000 + i);
        OK(gpumem_buffer_write(buffers[i], 0, data, sizes[i]));
    }
    for (int i = 0; i < COUNT; i++) {
        conf_pattern(data, sizes[i], 1000 + i);
        OK(gpumem_buffer_read(buffers[i], 0, out, sizes[i]));
        ASSERT_BYTES(out, data, sizes[i], "buffer %d", i);
    }
    gpumem_pool_stats s;
    OK(gpumem_pool_stats_get(pool, &s));
    cr_assert_eq(s.allocation_count, COUNT);
    uint64_t used = 0;
    for (int i = 0; i < COUNT; i++)
        used += spans[i].end - spans[i].start;
    cr_assert_eq(s.used_bytes, used, "used_bytes %llu, allocations add up to %llu",
                 (unsigned long long)s.used_bytes, (unsigned long long)used);
    cr_assert_leq(s.used_bytes, s.reserved_bytes);
    OK(gpumem_pool_destroy(pool));
    free(buffers);
    free(sizes);
    free(spans);
    free(data);
    free(out);
}

CONF_TEST(page_ids_are_stable_and_distinct)
{
    gpumem_pool pool = conf_pool(PAGE);
    gpumem_buffer a = conf_buffer(pool, PAGE / 4, 0);
    gpumem_buffer big1 = conf_buffer(pool, PAGE, 0);
    gpumem_buffer big2 = conf_buffer(pool, PAGE, 0);
    gpumem_buffer_info ia, i1, i2, again;
    OK(gpumem_buffer_info_get(a, &ia));
    OK(gpumem_buffer_info_get(big1, &i1));
    OK(gpumem_buffer_info_get(big2, &i2));
    cr_assert(ia.page != i1.page && ia.page != i2.page && i1.page != i2.page,
              "pages %u %u %u", ia.page, i1.page, i2.page);
    OK(gpumem_buffer_destroy(big1));
    OK(gpumem_buffer_info_get(a, &again));
    cr_assert_eq(again.page, ia.page);
    cr_assert_eq(again.offset, ia.offset);
    OK(gpumem_buffer_info_get(big2, &again));
    cr_assert_eq(again.page, i2.page);
    OK(gpumem_pool_destroy(pool));
}

/* Page ids stay below the most pages the pool held at once, however many pages come and go:
 * a freed page's id goes to a later page (the ids would otherwise wrap around after 2^32
 * pages, which a long-running program's dedicated buffers reach), and two live buffers show one
 * id exactly when they share a page (told by its native memory). Random creates and destroys of
 * dedicated buffers (a page each) beside buffers in shared pages, in a pool of two arenas whose
 * ids are one set: every other create runs on a thread of its own, which takes the next arena
 * in turn. */
typedef struct page_id_create {
    gpumem_pool pool;
    gpumem_buffer_desc desc;
    gpumem_buffer buffer;
    gpumem_result result;
} page_id_create;

static void *create_on_another_thread(void *arg)
{
    page_id_create *c = arg;
    c->result = gpumem_buffer_create(c->pool, &c->desc, &c->buffer);
    return NULL;
}

CONF_TEST(page_ids_are_given_again_and_stay_below_the_most_pages_held)
{
    enum { LIVE = 24, STEPS = 1500 };
    gpumem_pool_desc pd = {.page_size = PAGE, .arena_count = 2, .name = "page ids"};
    gpumem_pool pool;
    OK(gpumem_pool_create(conf_dev, &pd, &pool));
    gpumem_buffer live[LIVE] = {0};
    uint64_t most_pages = 0, seed = 99;
    int dedicated_made = 0, creates = 0;
    for (int step = 0; step < STEPS; step++) {
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        uint32_t i = (uint32_t)(seed >> 40) % LIVE;
        if (live[i]) {
            OK(gpumem_buffer_destroy(live[i]));
            live[i] = NULL;
        } else {
            int dedicated = (seed >> 33) & 1;
            page_id_create c = {.pool = pool,
                                .desc = {.size = 4096u << (seed >> 61),
                                         .flags = dedicated ? GPUMEM_BUFFER_DEDICATED : 0}};
            if (creates++ % 2) {
                pthread_t other;
                cr_assert_eq(pthread_create(&other, NULL, create_on_another_thread, &c), 0);
                cr_assert_eq(pthread_join(other, NULL), 0);
            } else {
                create_on_another_thread(&c);
            }
            OK(c.result);
            live[i] = c.buffer;
            dedicated_made += dedicated;
        }
        gpumem_pool_stats st;
        OK(gpumem_pool_stats_get(pool, &st));
        most_pages = st.page_count > most_pages ? st.page_count : most_pages;
        gpumem_buffer_info info[LIVE];
        gpumem_native_buffer native[LIVE];
        for (int k = 0; k < LIVE; k++) {
            if (!live[k])
                continue;
            OK(gpumem_buffer_info_get(live[k], &info[k]));
            OK(gpumem_buffer_native(live[k], &native[k]));
            cr_assert(info[k].page < most_pages,
                      "step %d: page id %u, but the pool never held more than %llu pages", step,
                      info[k].page, (unsigned long long)most_pages);
            for (int j = 0; j < k; j++)
                cr_assert(!live[j] || (info[j].page == info[k].page) ==
                                          (native[j].memory == native[k].memory),
                          "step %d: page ids %u and %u, native memory %#llx and %#llx", step,
                          info[j].page, info[k].page, (unsigned long long)native[j].memory,
                          (unsigned long long)native[k].memory);
        }
    }
    /* Without ids given again, the ids would have reached the pages made. */
    cr_assert((uint64_t)dedicated_made > 4 * most_pages, "%d pages made, %llu held at most",
              dedicated_made, (unsigned long long)most_pages);
    OK(gpumem_pool_destroy(pool));
}

/* A user who asks for 64 KiB alignment hands the buffer's address to code that relies on it
 * (DMA, huge-page or SIMD-block kernels): the address, not only the offset in the page, must be
 * aligned. Backends without addresses (vulkan) have nothing to check. */
CONF_TEST(native_address_honours_large_alignment)
{
    gpumem_pool pool = conf_pool(4 * PAGE);
    const uint64_t alignments[] = {8192, 65536, 1 << 20};
    for (size_t i = 0; i < 3; i++)
        for (int dedicated = 0; dedicated < 2; dedicated++) {
            gpumem_buffer_desc desc = {.size = 1000, .alignment = alignments[i],
                                       .flags = dedicated ? GPUMEM_BUFFER_DEDICATED : 0};
            gpumem_buffer b;
            OK(gpumem_buffer_create(pool, &desc, &b));
            gpumem_native_buffer native;
            OK(gpumem_buffer_native(b, &native));
            if (native.address)
                cr_expect_eq(native.address % alignments[i], 0,
                             "%s buffer aligned to %llu has address 0x%llx (offset %llu)",
                             dedicated ? "dedicated" : "shared",
                             (unsigned long long)alignments[i],
                             (unsigned long long)native.address,
                             (unsigned long long)native.offset);
        }
    OK(gpumem_pool_destroy(pool));
}

/* The first buffer of a new page takes the same path as any other: an alignment above the
 * page's own (2 MiB pages on the host, runtime-aligned ones on GPUs) still aligns the address.
 * Fresh pools, so that every buffer lands on a new page. */
CONF_TEST(first_buffer_of_a_new_page_honours_large_alignment)
{
    const uint64_t alignments[] = {4ull << 20, 8ull << 20};
    for (size_t i = 0; i < 2; i++)
        for (int round = 0; round < 4; round++) {
            gpumem_pool pool = conf_pool(32ull << 20);
            gpumem_buffer b = conf_buffer(pool, 4096, alignments[i]);
            gpumem_native_buffer native;
            gpumem_buffer_info info;
            OK(gpumem_buffer_native(b, &native));
            OK(gpumem_buffer_info_get(b, &info));
            /* (Guard margins before a buffer take a whole alignment: with them, 8 MiB of
             * alignment puts the buffer over half the page, on a page of its own.) */
            if (!conf_guard_margins())
                cr_expect_eq(info.dedicated, 0, "4 KiB aligned to %llu got a page of its own",
                             (unsigned long long)alignments[i]);
            if (native.address)
                cr_expect_eq(native.address % alignments[i], 0,
                             "address 0x%llx is not aligned to %llu",
                             (unsigned long long)native.address,
                             (unsigned long long)alignments[i]);
            else
                cr_expect_eq(info.offset % alignments[i], 0);
            OK(gpumem_pool_destroy(pool));
        }
}

/* Names and user data: copied at create (the caller's string may go), cut to
 * GPUMEM_NAME_SIZE-1 bytes, "" without one, in the dump; refused arguments say why. */
CONF_TEST(buffers_keep_their_name_and_user_data)
{
    gpumem_pool pool = conf_pool(0);
    char name[200], out[GPUMEM_NAME_SIZE];
    int token = 0;
    for (int i = 0; i < 199; i++)
        name[i] = (char)('a' + i % 26);
    name[199] = 0;
    gpumem_buffer_desc desc = {.size = 100, .name = name, .user_data = &token};
    gpumem_buffer named, plain;
    OK(gpumem_buffer_create(pool, &desc, &named));
    memset(name, 'x', 10); /* gpumem kept a copy */
    OK(gpumem_buffer_name(named, out, sizeof out));
    cr_assert_eq(strlen(out), GPUMEM_NAME_SIZE - 1);
    cr_assert_eq(strncmp(out, "abcdefghijklmnopqrstuvwxyz", 26), 0, "%s", out);
    void *user = NULL;
    OK(gpumem_buffer_user_data(named, &user));
    cr_assert_eq(user, &token);
    OK(gpumem_buffer_create(pool, &(gpumem_buffer_desc){.size = 100, .name = ""}, &plain));
    OK(gpumem_buffer_name(plain, out, sizeof out));
    cr_assert_str_eq(out, "");
    OK(gpumem_buffer_user_data(plain, &user));
    cr_assert_null(user);
    FAILS(gpumem_buffer_name(named, out, 10), GPUMEM_ERROR_INSUFFICIENT_BUFFER);
    FAILS(gpumem_buffer_name(named, NULL, 10), GPUMEM_ERROR_INVALID_ARGUMENT);
    FAILS(gpumem_buffer_user_data(named, NULL), GPUMEM_ERROR_INVALID_ARGUMENT);
    char *dump = conf_device_text(gpumem_device_dump_json);
    cr_assert_not_null(strstr(dump, "\"name\":\"abcdefghijklmnopqrstuvwxyz"), "the dump has it");
    free(dump);
    OK(gpumem_buffer_destroy(named));
    FAILS(gpumem_buffer_name(named, out, sizeof out), GPUMEM_ERROR_DESTROYED);
    /* A record given back and taken again has no name left over. */
    gpumem_buffer again;
    OK(gpumem_buffer_create(pool, &(gpumem_buffer_desc){.size = 100}, &again));
    OK(gpumem_buffer_name(again, out, sizeof out));
    cr_assert_str_eq(out, "");
}

/* Records of destroyed buffers are kept and reused by the pool's next buffers: a buffer made on
 * one carries nothing of its earlier life. Each record first serves a buffer with a name, user
 * data, a mapping still held when it is destroyed, a native object, and a destroy in a stream's
 * order (every other one); once a trim has given the records back, plain buffers must look new
 * in everything the API shows, and hold their bytes. */
CONF_TEST(a_reused_record_carries_nothing_over)
{
    uint32_t type = conf_host_visible_type(); /* skips without one: the first life maps */
    gpumem_pool pool = conf_type_pool(type, PAGE, 0, "reused");
    gpumem_stream stream;
    OK(gpumem_stream_create(conf_dev, &stream));
    enum { COUNT = 96, MOST = 256 * 13 };
    gpumem_buffer buffers[COUNT];
    uint8_t data[MOST], seen[MOST];
    int token = 0;
    for (uint32_t round = 0; round < 3; round++) {
        for (uint32_t i = 0; i < COUNT; i++) {
            gpumem_buffer_desc desc = {.size = 256u * (1 + (i * 7 + round) % 13),
                                       .name = "first life",
                                       .user_data = &token};
            gpumem_native_buffer native;
            void *mapped;
            OK(gpumem_buffer_create(pool, &desc, &buffers[i]));
            OK(gpumem_buffer_map(buffers[i], &mapped));
            OK(gpumem_buffer_native(buffers[i], &native));
            OK(i % 2 ? gpumem_buffer_destroy_on_stream(buffers[i], stream)
                     : gpumem_buffer_destroy(buffers[i]));
        }
        OK(gpumem_pool_trim(pool)); /* what no call can reach goes back: the records too */
        for (uint32_t i = 0; i < COUNT; i++) {
            uint64_t size = 256u * (1 + (i * 5 + round) % 13);
            OK(gpumem_buffer_create(pool, &(gpumem_buffer_desc){.size = size}, &buffers[i]));
            check_info(buffers[i], size, 0, PAGE, type); /* not mapped, native at its offset */
            char name[16] = "stale";
            void *user = &token;
            OK(gpumem_buffer_name(buffers[i], name, sizeof name));
            cr_assert_str_eq(name, "", "round %u, buffer %u: name '%s'", round, i, name);
            OK(gpumem_buffer_user_data(buffers[i], &user));
            cr_assert_null(user, "round %u, buffer %u: user data of an earlier life", round, i);
            conf_pattern(data, size, round * COUNT + i);
            OK(gpumem_buffer_write(buffers[i], 0, data, size));
        }
        for (uint32_t i = 0; i < COUNT; i++) {
            uint64_t size = 256u * (1 + (i * 5 + round) % 13);
            conf_pattern(data, size, round * COUNT + i);
            OK(gpumem_buffer_read(buffers[i], 0, seen, size));
            ASSERT_BYTES(seen, data, size, "round %u, buffer %u", round, i);
            OK(gpumem_buffer_destroy(buffers[i]));
        }
        OK(gpumem_pool_trim(pool));
        gpumem_pool_stats s;
        OK(gpumem_pool_stats_get(pool, &s));
        cr_assert_eq(s.allocation_count, 0);
        cr_assert_eq(s.used_bytes, 0);
    }
    OK(gpumem_stream_destroy(stream));
    OK(gpumem_pool_destroy(pool));
}
