/* Memory gpumem did not allocate, wrapped as a buffer (gpumem_buffer_import). On every backend
 * the memory imported is another gpumem buffer's, named as the backend names memory (an address,
 * or a memory object and an offset): transfers through the import must land in that buffer and
 * the other way round, and ending the import (its destroy, its pool's, the device's close) must
 * leave the memory to its owner. On the host backend the memory is also the test's own malloc'd
 * bytes, aligned and not, which must stay valid (and unfreed: ASan would see a double free)
 * after every way an import ends. A backend without page_import must refuse with
 * GPUMEM_ERROR_UNSUPPORTED and a message: the tests then skip. */
#include <stdio.h>
#include <stdlib.h>

#include "conformance.h"

#define PAGE (1ull << 20)
#define SIZE (64u << 10)

/* The memory of a buffer as an import names it. */
static gpumem_import_desc desc_of(gpumem_buffer buffer, uint64_t size)
{
    gpumem_native_buffer n;
    OK(gpumem_buffer_native(buffer, &n));
    if (n.address)
        return (gpumem_import_desc){.address = n.address, .size = size};
    return (gpumem_import_desc){.memory = n.memory, .offset = n.offset, .size = size};
}

static uint32_t type_of(gpumem_pool pool)
{
    gpumem_pool_stats s;
    OK(gpumem_pool_stats_get(pool, &s));
    return s.memory_type;
}

/* Imports, or skips the test on a backend that cannot (after checking how it says so). The
 * caller holds only objects of conf_dev, which the skip closes. */
static gpumem_buffer import_or_skip(gpumem_pool pool, const gpumem_import_desc *desc)
{
    gpumem_buffer b = NULL;
    gpumem_result r = gpumem_buffer_import(pool, desc, &b);
    if (r == GPUMEM_ERROR_UNSUPPORTED) {
        char why[GPUMEM_REASON_SIZE];
        snprintf(why, sizeof why, "%s", gpumem_last_error());
        cr_assert_neq(why[0], '\0', "UNSUPPORTED without a message");
        cr_assert_neq(strstr(why, conf_backend()), NULL, "the message does not name '%s': %s",
                      conf_backend(), why);
        CONF_SKIP("backend %s cannot import memory: %s", conf_backend(), why);
    }
    OK(r);
    return b;
}

static void expect_bytes(gpumem_buffer buffer, uint64_t offset, const void *expected,
                         size_t size, const char *what)
{
    uint8_t *seen = conf_alloc(size);
    OK(gpumem_buffer_read(buffer, offset, seen, size));
    ASSERT_BYTES(seen, expected, size, "%s", what);
    free(seen);
}

static void fill_expected(uint8_t *bytes, size_t offset, size_t size, uint32_t pattern)
{
    for (size_t i = 0; i < size; i += 4)
        memcpy(bytes + offset + i, &pattern, 4);
}

CONF_TEST(the_memory_of_another_buffer_is_imported)
{
    /* The source lies behind another buffer, so that its offset in its memory is not 0. */
    gpumem_pool owner = conf_pool(PAGE);
    gpumem_buffer before = conf_buffer(owner, 1000, 0);
    gpumem_buffer source = conf_buffer(owner, SIZE, 0);
    gpumem_buffer other = conf_buffer(owner, SIZE, 0);
    uint32_t type = type_of(owner);
    gpumem_pool imports = conf_type_pool(type, PAGE, 0, "imports");
    gpumem_import_desc desc = desc_of(source, SIZE);
    gpumem_buffer imported = import_or_skip(imports, &desc);

    gpumem_buffer_info info;
    OK(gpumem_buffer_info_get(imported, &info));
    cr_assert_eq(info.size, SIZE);
    cr_assert_eq(info.offset, 0);
    cr_assert_eq(info.dedicated, 1);
    cr_assert_eq(info.memory_type, type);
    gpumem_native_buffer ns, ni;
    OK(gpumem_buffer_native(source, &ns));
    OK(gpumem_buffer_native(imported, &ni));
    cr_assert_eq(ni.memory, ns.address ? ns.address : ns.memory,
                 "the import's memory is not the source's");
    cr_assert_eq(ni.address, ns.address, "the import's address is not the source's");
    cr_assert_eq(ni.offset, ns.address ? 0 : ns.offset, "offset %llu in the memory object",
                 (unsigned long long)ni.offset);
    /* The memory is live in two pools: an address in it finds the buffer of the pool made
     * first (gpumem.h), the source, whichever was made later. */
    if (ns.address) {
        gpumem_buffer found;
        uint64_t offset;
        OK(gpumem_buffer_find(conf_dev, ns.address + 100, &found, &offset));
        cr_assert(found == source && offset == 100, "found %p at %llu, not the source's",
                  (void *)found, (unsigned long long)offset);
    }

    /* Each side sees what the other wrote. */
    uint8_t *model = conf_alloc(SIZE), *bytes = conf_alloc(SIZE);
    conf_pattern(model, SIZE, 1);
    OK(gpumem_buffer_write(imported, 0, model, SIZE));
    expect_bytes(source, 0, model, SIZE, "written through the import");
    conf_pattern(bytes, 4096, 2);
    OK(gpumem_buffer_write(source, 100, bytes, 4096));
    memcpy(model + 100, bytes, 4096);
    expect_bytes(imported, 0, model, SIZE, "written through the source");
    OK(gpumem_buffer_fill(imported, 8, 1024, 0xA1B2C3D4u));
    fill_expected(model, 8, 1024, 0xA1B2C3D4u);
    expect_bytes(source, 0, model, SIZE, "filled through the import");

    /* Copies in both directions, with a buffer of the owner's pool. */
    conf_pattern(bytes, SIZE, 3);
    OK(gpumem_buffer_write(other, 0, bytes, SIZE));
    OK(gpumem_buffer_copy(other, 0, imported, 256, 8192));
    memcpy(model + 256, bytes, 8192);
    expect_bytes(source, 0, model, SIZE, "copied into the import");
    OK(gpumem_buffer_copy(imported, 0, other, 4, 16384));
    memcpy(bytes + 4, model, 16384);
    expect_bytes(other, 0, bytes, SIZE, "copied out of the import");
    OK(gpumem_buffer_copy(imported, 0, imported, SIZE / 2, 4096)); /* within the import */
    memcpy(model + SIZE / 2, model, 4096);
    expect_bytes(source, 0, model, SIZE, "copied within the import");
    /* Between the import and its source the bytes are one: overlapping ranges are refused as
     * within one buffer (with addresses, where core can see it: a host memcpy over overlapping
     * ranges was undefined), and ranges apart are copied. */
    gpumem_native_buffer na;
    OK(gpumem_buffer_native(imported, &na));
    if (na.address) {
        FAILS(gpumem_buffer_copy(source, 0, imported, 8, 64), GPUMEM_ERROR_INVALID_ARGUMENT);
        cr_assert(strstr(gpumem_last_error(), "overlap"), "%s", gpumem_last_error());
        gpumem_stream default_stream;
        OK(gpumem_device_default_stream(conf_dev, &default_stream));
        FAILS(gpumem_stream_copy(default_stream, imported, 100, source, 90, 64),
              GPUMEM_ERROR_INVALID_ARGUMENT);
    }
    OK(gpumem_buffer_copy(source, 0, imported, SIZE / 2 + 8192, 64));
    memcpy(model + SIZE / 2 + 8192, model, 64);
    expect_bytes(imported, 0, model, SIZE, "copied from the source into the import apart");

    /* The stream forms. */
    gpumem_stream stream;
    OK(gpumem_stream_create(conf_dev, &stream));
    conf_pattern(bytes, SIZE, 4);
    OK(gpumem_stream_write(stream, imported, 0, bytes, SIZE));
    memcpy(model, bytes, SIZE);
    OK(gpumem_stream_fill(stream, imported, 40, 400, 0x01020304u));
    fill_expected(model, 40, 400, 0x01020304u);
    OK(gpumem_stream_copy(stream, imported, 0, other, 0, SIZE));
    uint8_t *seen = conf_alloc(SIZE);
    OK(gpumem_stream_read(stream, imported, 0, seen, SIZE));
    OK(gpumem_stream_synchronize(stream));
    ASSERT_BYTES(seen, model, SIZE, "stream read of the import");
    expect_bytes(other, 0, model, SIZE, "stream copy out of the import");
    expect_bytes(source, 0, model, SIZE, "stream writes through the import");
    OK(gpumem_stream_destroy(stream));

    /* A mapping, where the memory is host-visible; the source is left alone meanwhile (a
     * Vulkan memory object is mapped once at a time). */
    if (conf_type_flags(type) & GPUMEM_MEMORY_HOST_VISIBLE) {
        uint8_t *data;
        OK(gpumem_buffer_map(imported, (void **)&data));
        OK(gpumem_buffer_invalidate(imported, 0, SIZE));
        ASSERT_BYTES(data, model, SIZE, "the import's mapping");
        conf_pattern(data, 4096, 5);
        memcpy(model, data, 4096);
        OK(gpumem_buffer_flush(imported, 0, 4096));
        OK(gpumem_buffer_unmap(imported));
        expect_bytes(source, 0, model, SIZE, "written through the import's mapping");
    }

    /* Found by address, where memory has addresses: both buffers hold it. */
    gpumem_buffer found;
    uint64_t offset;
    if (ns.address) {
        OK(gpumem_buffer_find(conf_dev, ns.address + 8, &found, &offset));
        cr_assert(found == imported || found == source, "another buffer holds the address");
        cr_assert_eq(offset, 8);
    }

    /* Counted as used, not as reserved; dumped as imported. */
    gpumem_pool_stats stats;
    OK(gpumem_pool_stats_get(imports, &stats));
    cr_assert_eq(stats.reserved_bytes, 0);
    cr_assert_eq(stats.page_count, 0);
    cr_assert_eq(stats.used_bytes, SIZE);
    cr_assert_eq(stats.allocation_count, 1);
    conf_expect_summary_counts(imports, "imports"); /* the summary's numbers are the stats' */
    uint64_t length = 0;
    OK(gpumem_device_dump_json(conf_dev, NULL, 0, &length));
    char *dump = conf_alloc(length + 1);
    OK(gpumem_device_dump_json(conf_dev, dump, length + 1, &length));
    cr_assert_neq(strstr(dump, "\"imported\":true"), NULL, "the dump shows no imported page");
    free(dump);

    /* Ending the import leaves the memory to its owner, whichever way it ends. */
    OK(gpumem_buffer_destroy(imported));
    FAILS(gpumem_buffer_read(imported, 0, seen, 4), GPUMEM_ERROR_DESTROYED);
    OK(gpumem_pool_stats_get(imports, &stats));
    cr_assert_eq(stats.used_bytes, 0);
    cr_assert_eq(stats.allocation_count, 0);
    expect_bytes(source, 0, model, SIZE, "after the import's destroy");
    imported = import_or_skip(imports, &desc);
    OK(gpumem_pool_destroy(imports));
    FAILS(gpumem_buffer_read(imported, 0, seen, 4), GPUMEM_ERROR_DESTROYED);
    expect_bytes(source, 0, model, SIZE, "after the import's pool was destroyed");
    /* An import and its owner both alive when the device closes: the owner frees the memory
     * once (on Vulkan a second vkFreeMemory would fail the test through validation). */
    imports = conf_type_pool(type, PAGE, GPUMEM_POOL_PERSISTENT_MAP, "imports again");
    imported = import_or_skip(imports, &desc);
    expect_bytes(imported, 0, model, SIZE, "imported again");
    OK(gpumem_buffer_destroy(before));
    free(model);
    free(bytes);
    free(seen);
}

/* An import destroyed on a stream: its page waits for the stream's work like any page of its
 * own, but it is the application's memory, never a kept page for the next create of its size
 * (before the fix a create on the stream took it: a new buffer in memory the application may
 * free once that work is done). */
CONF_TEST(an_import_destroyed_on_a_stream_never_serves_a_new_buffer)
{
    const uint64_t size = 2 * PAGE; /* over the imports' page: a page of its own */
    gpumem_pool owner = conf_pool(4 * PAGE);
    gpumem_buffer source = conf_buffer(owner, size, 0);
    uint8_t *model = conf_alloc(size), *bytes = conf_alloc(size);
    conf_pattern(model, size, 21);
    OK(gpumem_buffer_write(source, 0, model, size));
    gpumem_pool imports = conf_type_pool(type_of(owner), PAGE, 0, "imports");
    gpumem_import_desc desc = desc_of(source, size);
    gpumem_buffer imported = import_or_skip(imports, &desc);

    gpumem_stream stream;
    OK(gpumem_stream_create(conf_dev, &stream));
    OK(gpumem_stream_fill(stream, imported, 0, 4096, 0x5A5A5A5Au));
    fill_expected(model, 0, 4096, 0x5A5A5A5Au);
    OK(gpumem_buffer_destroy_on_stream(imported, stream));
    gpumem_buffer_desc desc_new = {.size = size};
    gpumem_buffer fresh;
    OK(gpumem_buffer_create_on_stream(imports, &desc_new, stream, &fresh));
    /* Not in the imported memory (page ids cannot tell: a freed page's id goes to a later
     * page). */
    gpumem_native_buffer fresh_native;
    OK(gpumem_buffer_native(fresh, &fresh_native));
    if (desc.address)
        cr_expect(fresh_native.address + size <= desc.address ||
                      fresh_native.address >= desc.address + desc.size,
                  "a new buffer was placed in the imported memory");
    else
        cr_expect_neq(fresh_native.memory, desc.memory,
                      "a new buffer was placed in the imported memory");
    conf_pattern(bytes, size, 22);
    OK(gpumem_stream_write(stream, fresh, 0, bytes, size));
    OK(gpumem_stream_synchronize(stream));
    expect_bytes(source, 0, model, size, "the imported memory after a new buffer was written");
    gpumem_pool_stats stats;
    OK(gpumem_pool_stats_get(imports, &stats));
    cr_expect_geq(stats.reserved_bytes, size, "the new buffer's page is not the pool's own");
    OK(gpumem_stream_destroy(stream));
    free(model);
    free(bytes);
}

CONF_TEST(imports_refuse_bad_arguments)
{
    gpumem_pool owner = conf_pool(PAGE);
    gpumem_buffer source = conf_buffer(owner, SIZE, 0);
    gpumem_pool imports = conf_type_pool(type_of(owner), PAGE, 0, "imports");
    const gpumem_import_desc good = desc_of(source, SIZE);
    gpumem_buffer b = import_or_skip(imports, &good);
    OK(gpumem_buffer_destroy(b));

    gpumem_import_desc d;
    FAILS(gpumem_buffer_import(imports, NULL, &b), GPUMEM_ERROR_INVALID_ARGUMENT);
    FAILS(gpumem_buffer_import(imports, &good, NULL), GPUMEM_ERROR_INVALID_ARGUMENT);
    FAILS(gpumem_buffer_import(NULL, &good, &b), GPUMEM_ERROR_INVALID_HANDLE);
    d = good, d.size = 0;
    FAILS(gpumem_buffer_import(imports, &d, &b), GPUMEM_ERROR_INVALID_ARGUMENT);
    d = good, d.flags = 1;
    FAILS(gpumem_buffer_import(imports, &d, &b), GPUMEM_ERROR_INVALID_ARGUMENT);
    d = good, d.reserved = 1;
    FAILS(gpumem_buffer_import(imports, &d, &b), GPUMEM_ERROR_INVALID_ARGUMENT);
    d = good, d.size = conf_props.max_allocation_size + 1;
    FAILS(gpumem_buffer_import(imports, &d, &b), GPUMEM_ERROR_INVALID_ARGUMENT);
    d = good, d.offset += 1; /* not a multiple of min_alignment (and not 0 where unused) */
    FAILS(gpumem_buffer_import(imports, &d, &b), GPUMEM_ERROR_INVALID_ARGUMENT);
    d = good, d.offset = UINT64_MAX - UINT64_MAX % conf_props.min_alignment;
    FAILS(gpumem_buffer_import(imports, &d, &b), GPUMEM_ERROR_INVALID_ARGUMENT);
    /* Nothing that names memory, and both kinds of name at once. */
    d = (gpumem_import_desc){.size = SIZE};
    FAILS(gpumem_buffer_import(imports, &d, &b), GPUMEM_ERROR_INVALID_ARGUMENT);
    d = good;
    if (good.address)
        d.memory = good.address;
    else
        d.address = 0x10000;
    FAILS(gpumem_buffer_import(imports, &d, &b), GPUMEM_ERROR_INVALID_ARGUMENT);
    if (good.address) {
        /* A pool's buffers never share bytes: not with another import of the pool, not with
         * the pool's own pages. In another pool, the same memory is fine. */
        gpumem_buffer first;
        OK(gpumem_buffer_import(imports, &good, &first));
        d = good, d.address += 64, d.size = 64;
        FAILS(gpumem_buffer_import(imports, &d, &b), GPUMEM_ERROR_INVALID_ARGUMENT);
        FAILS(gpumem_buffer_import(owner, &good, &b), GPUMEM_ERROR_INVALID_ARGUMENT);
        OK(gpumem_buffer_destroy(first));
        OK(gpumem_buffer_import(imports, &d, &b)); /* the range is free again */
        OK(gpumem_buffer_destroy(b));
        /* d.address + size past 2^64 */
        d = good, d.address = UINT64_MAX - 16;
        FAILS(gpumem_buffer_import(imports, &d, &b), GPUMEM_ERROR_INVALID_ARGUMENT);
    }
    if (conf_props.native_pools) {
        gpumem_pool native;
        gpumem_pool_desc pd = {.kind = GPUMEM_POOL_NATIVE, .name = "native"};
        OK(gpumem_pool_create(conf_dev, &pd, &native));
        FAILS(gpumem_buffer_import(native, &good, &b), GPUMEM_ERROR_UNSUPPORTED);
    }
    /* Nothing was half done: the pool holds nothing. */
    gpumem_pool_stats stats;
    OK(gpumem_pool_stats_get(imports, &stats));
    cr_assert_eq(stats.used_bytes, 0);
    cr_assert_eq(stats.allocation_count, 0);
    cr_assert_eq(stats.reserved_bytes, 0);
    OK(gpumem_pool_destroy(imports));
    FAILS(gpumem_buffer_import(imports, &good, &b), GPUMEM_ERROR_DESTROYED);
}

/* The host backend's memory is any host pointer: the test's own, aligned and not. */
static void host_round_trips(gpumem_pool pool, uint8_t *memory, uint8_t *other_memory,
                             uint64_t seed)
{
    uint8_t *model = conf_alloc(SIZE);
    conf_pattern(memory, SIZE, seed);
    conf_pattern(other_memory, SIZE, seed + 1);
    gpumem_buffer a, b;
    gpumem_import_desc desc = {.address = (uint64_t)(uintptr_t)memory, .size = SIZE};
    OK(gpumem_buffer_import(pool, &desc, &a));
    desc.address = (uint64_t)(uintptr_t)other_memory;
    OK(gpumem_buffer_import(pool, &desc, &b));

    expect_bytes(a, 0, memory, SIZE, "read from the application's memory");
    memcpy(model, memory, SIZE);
    conf_pattern(model + 7, 1000, seed + 2);
    OK(gpumem_buffer_write(a, 7, model + 7, 1000));
    ASSERT_BYTES(memory, model, SIZE, "a write lands in the application's memory");
    OK(gpumem_buffer_fill(a, 12, 4000, 0xDEADBEEFu));
    fill_expected(model, 12, 4000, 0xDEADBEEFu);
    ASSERT_BYTES(memory, model, SIZE, "a fill lands in the application's memory");
    OK(gpumem_buffer_copy(a, 0, b, 3, SIZE - 3));
    ASSERT_BYTES(other_memory + 3, model, SIZE - 3, "a copy between two imports");
    void *data;
    OK(gpumem_buffer_map(a, &data));
    cr_assert_eq(data, (void *)memory, "the mapping is not the application's pointer");
    OK(gpumem_buffer_unmap(a));
    gpumem_native_buffer n;
    OK(gpumem_buffer_native(a, &n));
    cr_assert_eq(n.address, (uint64_t)(uintptr_t)memory);
    gpumem_buffer found;
    uint64_t offset;
    OK(gpumem_buffer_find(conf_dev, (uint64_t)(uintptr_t)memory + 5, &found, &offset));
    cr_assert_eq(found, a);
    cr_assert_eq(offset, 5);
    gpumem_stream stream;
    OK(gpumem_device_default_stream(conf_dev, &stream));
    conf_pattern(model, SIZE, seed + 3);
    OK(gpumem_stream_write(stream, b, 0, model, SIZE));
    OK(gpumem_stream_synchronize(stream));
    ASSERT_BYTES(other_memory, model, SIZE, "a stream write lands in the application's memory");

    OK(gpumem_buffer_destroy(a));
    OK(gpumem_buffer_destroy(b));
    FAILS(gpumem_buffer_find(conf_dev, (uint64_t)(uintptr_t)memory + 5, &found, &offset),
          GPUMEM_ERROR_NOT_FOUND);
    ASSERT_BYTES(other_memory, model, SIZE, "after the destroy");
    free(model);
}

CONF_TEST(host_memory_is_imported_and_never_freed)
{
    if (strcmp(conf_backend(), "host") != 0)
        CONF_SKIP("host pointers are memory of the host backend only (this is %s)",
                  conf_backend());
    uint8_t *aligned = aligned_alloc(4096, SIZE);
    uint8_t *unaligned_block = conf_alloc(SIZE + 8);
    uint8_t *unaligned = unaligned_block + 3;
    cr_assert_not_null(aligned);
    gpumem_pool pool = conf_pool(PAGE);
    host_round_trips(pool, aligned, unaligned, 10);
    host_round_trips(pool, unaligned, aligned, 20);

    /* A pool's destroy and a device's close leave the memory alone (ASan would report the
     * bytes read below after a free, and the free at the end twice). */
    gpumem_buffer b;
    gpumem_import_desc desc = {.address = (uint64_t)(uintptr_t)unaligned, .size = SIZE};
    OK(gpumem_buffer_import(pool, &desc, &b));
    OK(gpumem_buffer_fill(b, 0, SIZE, 0x5A5A5A5Au));
    OK(gpumem_pool_destroy(pool));
    for (size_t i = 0; i < SIZE; i++)
        cr_assert_eq(unaligned[i], 0x5A, "byte %zu after the pool's destroy", i);
    gpumem_device other;
    OK(conf_open(&other));
    gpumem_pool_desc pd = {.name = "other"};
    OK(gpumem_pool_create(other, &pd, &pool));
    desc.address = (uint64_t)(uintptr_t)aligned;
    OK(gpumem_buffer_import(pool, &desc, &b));
    OK(gpumem_buffer_fill(b, 0, SIZE, 0x3C3C3C3Cu));
    OK(gpumem_device_close(other));
    for (size_t i = 0; i < SIZE; i++)
        cr_assert_eq(aligned[i], 0x3C, "byte %zu after the device's close", i);
    free(aligned);
    free(unaligned_block);
}

/* --- random operations: imported memory is written only through its imports --- */

enum { REGIONS = 3, OTHERS = 8, STREAMS = 2, STEPS = 400, CHECK_EVERY = 50 };
#define REGION (2 * PAGE) /* each import lies in a region of its own: imports never overlap */

typedef struct import_churn {
    gpumem_pool imports;
    gpumem_buffer owner;     /* the memory imported */
    uint8_t *model;          /* what the owner must hold */
    gpumem_stream streams[STREAMS];
    gpumem_buffer imported[REGIONS];
    uint64_t at[REGIONS], length[REGIONS];
    int import_stream[REGIONS]; /* the stream with work queued on the import, or -1 */
    uint64_t last_import_size; /* of the last import destroyed: sizes near it are asked for */
    gpumem_buffer others[OTHERS];
    int other_stream[OTHERS];
    uint8_t *bytes;          /* a pattern for the others */
    uint64_t state;
} import_churn;

static uint64_t churn_random(import_churn *c)
{
    c->state ^= c->state << 13, c->state ^= c->state >> 7, c->state ^= c->state << 17;
    return c->state;
}

/* A stream (index < STREAMS), or -1: the host. */
static int churn_stream(import_churn *c)
{
    return (int)(churn_random(c) % (STREAMS + 1)) - 1;
}

/* Orders a use of a buffer on stream `s` (-1: the host) after the work queued on it, as an
 * application must: the stream that holds that work (*queued_on) is synchronized first unless
 * it is `s`, and then `s` holds it. */
static void churn_order(import_churn *c, int *queued_on, int s)
{
    if (*queued_on >= 0 && *queued_on != s)
        OK(gpumem_stream_synchronize(c->streams[*queued_on]));
    *queued_on = s;
}

static void churn_sync_all(import_churn *c)
{
    for (int s = 0; s < STREAMS; s++)
        OK(gpumem_stream_synchronize(c->streams[s]));
}

/* Writes `size` bytes at `offset` of `buffer`, on stream `s` or (-1) from the host. */
static void churn_write(import_churn *c, gpumem_buffer buffer, int s, uint64_t offset,
                        const void *data, uint64_t size)
{
    OK(s >= 0 ? gpumem_stream_write(c->streams[s], buffer, offset, data, size)
              : gpumem_buffer_write(buffer, offset, data, size));
}

/* Destroys *buffer on a random stream or from the host, after the work queued on it there
 * (*queued_on: churn_order), and forgets it. */
static void churn_destroy(import_churn *c, gpumem_buffer *buffer, int *queued_on)
{
    int s = churn_stream(c);
    churn_order(c, queued_on, s);
    OK(s >= 0 ? gpumem_buffer_destroy_on_stream(*buffer, c->streams[s])
              : gpumem_buffer_destroy(*buffer));
    *buffer = NULL;
}

static void churn_check(import_churn *c, const char *when, int step)
{
    churn_sync_all(c);
    uint64_t size = REGIONS * REGION;
    uint8_t *seen = conf_alloc(size);
    OK(gpumem_buffer_read(c->owner, 0, seen, size));
    ASSERT_BYTES(seen, c->model, size, "the imported memory %s (step %d)", when, step);
    free(seen);
}

/* Imports a part of region r: whole 64 KiB units, from one unit to the whole region, with the
 * streams synchronized first (earlier work through an import of the region is ordered before
 * this one's by the application, as it must be). */
static int churn_import(import_churn *c, int r)
{
    churn_sync_all(c);
    uint64_t units = REGION / SIZE;
    uint64_t length = (1 + churn_random(c) % units) * SIZE;
    uint64_t at = r * REGION + (churn_random(c) % (units - length / SIZE + 1)) * SIZE;
    gpumem_import_desc desc = desc_of(c->owner, REGIONS * REGION);
    if (desc.address)
        desc.address += at;
    else
        desc.offset += at;
    desc.size = length;
    gpumem_result result = gpumem_buffer_import(c->imports, &desc, &c->imported[r]);
    if (result == GPUMEM_ERROR_UNSUPPORTED)
        return 0;
    OK(result);
    c->at[r] = at;
    c->length[r] = length;
    c->import_stream[r] = -1;
    return 1;
}

/* Writes a pattern into part of import r, on a stream or from the host. */
static void churn_write_import(import_churn *c, int r)
{
    uint64_t offset = churn_random(c) % c->length[r];
    uint64_t size = 1 + churn_random(c) % (c->length[r] - offset);
    uint8_t *data = conf_alloc(size);
    conf_pattern(data, size, churn_random(c));
    int s = churn_stream(c);
    churn_order(c, &c->import_stream[r], s);
    churn_write(c, c->imported[r], s, offset, data, size);
    memcpy(c->model + c->at[r] + offset, data, size);
    free(data);
}

static void churn_destroy_import(import_churn *c, int r)
{
    churn_destroy(c, &c->imported[r], &c->import_stream[r]);
    c->last_import_size = c->length[r];
}

/* A buffer of the imports' pool, most often of about the size of the last import destroyed (a
 * page of its own that size, or up to a quarter less), written whole with the pattern: if it
 * were placed in imported memory, the owner's bytes would show it. */
static void churn_create_other(import_churn *c, int o)
{
    uint64_t size = c->last_import_size && churn_random(c) % 3
                        ? c->last_import_size - churn_random(c) % (c->last_import_size / 4 + 1)
                        : 1 + churn_random(c) % (3 * PAGE);
    gpumem_buffer_desc desc = {.size = size};
    int s = churn_stream(c);
    OK(s >= 0 ? gpumem_buffer_create_on_stream(c->imports, &desc, c->streams[s], &c->others[o])
              : gpumem_buffer_create(c->imports, &desc, &c->others[o]));
    churn_write(c, c->others[o], s, 0, c->bytes, size);
    c->other_stream[o] = s;
}

/* Random imports of parts of one buffer's memory, writes through them (on streams and from the
 * host), their destroys (on streams and from the host), and buffers of the same pool made,
 * written and destroyed beside them, most of about the size of an import just destroyed:
 * nothing but the imports may change the imported memory. */
CONF_TEST(imported_memory_is_written_only_through_its_imports)
{
    import_churn c = {.state = 0x9E3779B97F4A7C15ull};
    gpumem_pool owner_pool = conf_pool(REGIONS * REGION);
    c.owner = conf_buffer(owner_pool, REGIONS * REGION, 0);
    c.model = conf_alloc(REGIONS * REGION);
    conf_pattern(c.model, REGIONS * REGION, 31);
    OK(gpumem_buffer_write(c.owner, 0, c.model, REGIONS * REGION));
    c.imports = conf_type_pool(type_of(owner_pool), PAGE, 0, "imports");
    c.bytes = conf_alloc(3 * PAGE);
    conf_pattern(c.bytes, 3 * PAGE, 32);
    for (int s = 0; s < STREAMS; s++)
        OK(gpumem_stream_create(conf_dev, &c.streams[s]));
    if (!churn_import(&c, 0)) {
        for (int s = 0; s < STREAMS; s++)
            OK(gpumem_stream_destroy(c.streams[s]));
        free(c.model);
        free(c.bytes);
        CONF_SKIP("backend %s cannot import memory", conf_backend());
    }
    for (int step = 1; step <= STEPS; step++) {
        uint64_t pick = churn_random(&c);
        int r = (int)(pick % REGIONS), o = (int)(pick % OTHERS);
        switch ((pick >> 8) % 6) {
        case 0:
            if (!c.imported[r])
                cr_assert(churn_import(&c, r));
            break;
        case 1:
        case 2:
            if (c.imported[r])
                churn_write_import(&c, r);
            break;
        case 3:
            if (c.imported[r])
                churn_destroy_import(&c, r);
            break;
        case 4:
            if (c.others[o])
                churn_destroy(&c, &c.others[o], &c.other_stream[o]);
            churn_create_other(&c, o);
            break;
        case 5:
            if (c.others[o])
                churn_destroy(&c, &c.others[o], &c.other_stream[o]);
            break;
        }
        if (step % CHECK_EVERY == 0)
            churn_check(&c, "during the run", step);
    }
    for (int r = 0; r < REGIONS; r++)
        if (c.imported[r])
            churn_destroy_import(&c, r);
    for (int o = 0; o < OTHERS; o++)
        if (c.others[o])
            churn_destroy(&c, &c.others[o], &c.other_stream[o]);
    churn_check(&c, "after every import and buffer went", STEPS);
    OK(gpumem_pool_trim(c.imports));
    for (int s = 0; s < STREAMS; s++)
        OK(gpumem_stream_destroy(c.streams[s]));
    free(c.model);
    free(c.bytes);
}
