/* Pools with arenas (gpumem_pool_desc.arena_count): the threads that create in a pool take its
 * arenas in turn, in the order of their first create there, each arena gets pages of its own,
 * and everything the pool answers for (stats, trim, dumps, summaries, lookups by address,
 * byte_limit, destroy) covers every arena. The tests start their threads one after another, so
 * each thread's arena is known. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "conformance.h"

#define PAGE (1ull << 20)
enum { ARENAS = 4 };

typedef struct creation {
    gpumem_pool pool;
    uint64_t size;
    int count;
    int destroy;                   /* destroy them again before the thread ends */
    const gpumem_import_desc *import; /* or import this, once */
    gpumem_buffer buffers[4];
    gpumem_result result;
    char message[512];
} creation;

static void *create_buffers(void *argument)
{
    creation *c = argument;
    for (int i = 0; i < c->count && c->result == GPUMEM_OK; i++) {
        gpumem_buffer_desc desc = {.size = c->size};
        c->result = c->import ? gpumem_buffer_import(c->pool, c->import, &c->buffers[i])
                              : gpumem_buffer_create(c->pool, &desc, &c->buffers[i]);
        if (c->result != GPUMEM_OK)
            snprintf(c->message, sizeof c->message, "%s", gpumem_last_error());
    }
    for (int i = 0; c->destroy && i < c->count && c->result == GPUMEM_OK; i++)
        c->result = gpumem_buffer_destroy(c->buffers[i]);
    return NULL;
}

/* Runs `c` on a new thread, and waits for it: its creates are the next arena's. */
static gpumem_result run_on_new_thread(creation *c, gpumem_buffer *buffers)
{
    pthread_t thread;
    cr_assert_eq(pthread_create(&thread, NULL, create_buffers, c), 0);
    pthread_join(thread, NULL);
    if (c->result != GPUMEM_OK)
        cr_assert_neq(c->message[0], '\0', "a failed create said nothing");
    for (int i = 0; buffers && i < c->count && c->result == GPUMEM_OK; i++)
        buffers[i] = c->buffers[i];
    return c->result;
}

/* `count` buffers of `size` bytes made by a new thread. */
static gpumem_result create_on_new_thread(gpumem_pool pool, uint64_t size, int count,
                                          gpumem_buffer *buffers)
{
    creation c = {.pool = pool, .size = size, .count = count};
    return run_on_new_thread(&c, buffers);
}

static gpumem_pool arena_pool(uint32_t arenas, uint64_t byte_limit)
{
    gpumem_pool_desc desc = {.page_size = PAGE, .byte_limit = byte_limit, .name = "arenas",
                             .arena_count = arenas};
    gpumem_pool pool;
    OK(gpumem_pool_create(conf_dev, &desc, &pool));
    return pool;
}

static gpumem_pool_stats stats_of(gpumem_pool pool)
{
    gpumem_pool_stats s;
    OK(gpumem_pool_stats_get(pool, &s));
    return s;
}

CONF_TEST(arenas_give_each_thread_pages_of_its_own)
{
    gpumem_pool pool = arena_pool(ARENAS, 0);
    gpumem_buffer buffers[ARENAS + 1];
    for (int i = 0; i < ARENAS; i++) {
        OK(create_on_new_thread(pool, 4096, 1, &buffers[i]));
        gpumem_pool_stats s = stats_of(pool);
        cr_assert_eq(s.page_count, (uint64_t)i + 1, "thread %d: %llu pages, not one more", i,
                     (unsigned long long)s.page_count);
        cr_assert_eq(s.allocation_count, (uint64_t)i + 1);
        cr_assert_eq(s.reserved_bytes, ((uint64_t)i + 1) * PAGE);
    }
    /* The next thread shares the first one's arena, and its page. */
    OK(create_on_new_thread(pool, 4096, 1, &buffers[ARENAS]));
    cr_assert_eq(stats_of(pool).page_count, ARENAS);

    /* One pool in the dump, its pages numbered apart; the summary names the arenas. */
    char *json = conf_device_text(gpumem_device_dump_json);
    cr_assert_eq(conf_count_of(json, "\"name\":\"arenas\""), 1, "%s", json);
    cr_assert_eq(conf_count_of(json, "{\"id\":"), ARENAS, "%s", json);
    for (int i = 0; i < ARENAS; i++) {
        char page[32];
        snprintf(page, sizeof page, "{\"id\":%d,", i);
        cr_assert_eq(conf_count_of(json, page), 1, "page id %d: %s", i, json);
    }
    free(json);
    char *summary = conf_device_text(gpumem_device_summary);
    cr_assert(strstr(summary, "4 arenas") && strstr(summary, "4 pages"), "%s", summary);
    free(summary);

    /* Every buffer holds its bytes, and is found by address, whatever its arena. */
    uint8_t data[4096], out[4096];
    for (int i = 0; i <= ARENAS; i++) {
        conf_pattern(data, sizeof data, (uint64_t)i);
        OK(gpumem_buffer_write(buffers[i], 0, data, sizeof data));
    }
    for (int i = 0; i <= ARENAS; i++) {
        conf_pattern(data, sizeof data, (uint64_t)i);
        OK(gpumem_buffer_read(buffers[i], 0, out, sizeof out));
        ASSERT_BYTES(out, data, sizeof data, "buffer %d", i);
        gpumem_native_buffer native;
        OK(gpumem_buffer_native(buffers[i], &native));
        if (!native.address)
            continue; /* memory without addresses (Vulkan) */
        gpumem_buffer found;
        uint64_t offset;
        OK(gpumem_buffer_find(conf_dev, native.address + 100, &found, &offset));
        cr_assert_eq(found, buffers[i], "buffer %d was not found by its address", i);
        cr_assert_eq(offset, 100);
    }

    /* This thread destroys them all, in arenas it never created in. */
    for (int i = 0; i <= ARENAS; i++)
        OK(gpumem_buffer_destroy(buffers[i]));
    gpumem_pool_stats s = stats_of(pool);
    cr_assert_eq(s.allocation_count, 0);
    cr_assert_eq(s.used_bytes, 0);
    cr_assert_eq(s.page_count, ARENAS, "each arena keeps its empty page (max_empty_pages 1)");
    OK(gpumem_pool_trim(pool));
    s = stats_of(pool);
    cr_assert_eq(s.page_count, 0, "trim left %llu pages", (unsigned long long)s.page_count);
    cr_assert_eq(s.reserved_bytes, 0);
    OK(gpumem_pool_destroy(pool));
}

CONF_TEST(arenas_share_the_byte_limit)
{
    gpumem_pool pool = arena_pool(ARENAS, 2 * PAGE);
    gpumem_buffer a, b, c, d;
    OK(create_on_new_thread(pool, 4096, 1, &a));
    OK(create_on_new_thread(pool, 4096, 1, &b));
    /* A third arena would take a third page. */
    cr_assert_eq(create_on_new_thread(pool, 4096, 1, &c), GPUMEM_ERROR_LIMIT_EXCEEDED);
    gpumem_pool_stats s = stats_of(pool);
    cr_assert_eq(s.reserved_bytes, 2 * PAGE);
    cr_assert_eq(s.allocation_count, 2);
    /* Room given back in one arena is room for another (its empty page goes when needed). */
    OK(gpumem_buffer_destroy(a));
    cr_assert_eq(stats_of(pool).reserved_bytes, 2 * PAGE, "the empty page is kept");
    OK(create_on_new_thread(pool, 4096, 1, &d));
    cr_assert_eq(stats_of(pool).reserved_bytes, 2 * PAGE);
    /* A page of its own counts too. */
    cr_assert_eq(create_on_new_thread(pool, PAGE, 1, &c), GPUMEM_ERROR_LIMIT_EXCEEDED);
    OK(gpumem_buffer_destroy(b));
    OK(gpumem_buffer_destroy(d));
    OK(gpumem_pool_destroy(pool));
}

/* Without a trim in between: the create that byte_limit would refuse trims the other arenas
 * (here, the empty page the first thread's arena keeps) and is tried again. */
CONF_TEST(a_create_the_byte_limit_refuses_takes_room_from_other_arenas)
{
    gpumem_pool pool = arena_pool(ARENAS, PAGE);
    creation first = {.pool = pool, .size = 4096, .count = 2, .destroy = 1};
    OK(run_on_new_thread(&first, NULL));
    gpumem_pool_stats s = stats_of(pool);
    cr_assert_eq(s.reserved_bytes, PAGE, "the first arena keeps its empty page");
    cr_assert_eq(s.allocation_count, 0);
    gpumem_buffer b;
    OK(create_on_new_thread(pool, 4096, 1, &b));
    s = stats_of(pool);
    cr_assert_eq(s.reserved_bytes, PAGE);
    cr_assert_eq(s.page_count, 1);
    /* No room anywhere: refused, saying so. */
    gpumem_buffer c;
    cr_assert_eq(create_on_new_thread(pool, 4096, 1, &c), GPUMEM_ERROR_LIMIT_EXCEEDED);
    OK(gpumem_buffer_destroy(b));
    OK(gpumem_pool_destroy(pool));
}

/* Imports all go to the first arena, and none may overlap any arena's pages. */
CONF_TEST(imports_are_checked_against_every_arena)
{
    gpumem_pool pool = arena_pool(ARENAS, 0);
    gpumem_buffer mine[2];
    OK(create_on_new_thread(pool, 64 << 10, 1, &mine[0])); /* the first thread's arena */
    OK(create_on_new_thread(pool, 64 << 10, 1, &mine[1])); /* the next */
    gpumem_native_buffer native;
    OK(gpumem_buffer_native(mine[1], &native));
    if (!native.address)
        CONF_SKIP("memory of backend %s has no addresses to overlap", conf_backend());
    /* Memory of another pool, imported by two threads: the second overlaps the first. */
    gpumem_pool other = conf_pool(PAGE);
    gpumem_buffer source = conf_buffer(other, 64 << 10, 0);
    gpumem_native_buffer src;
    OK(gpumem_buffer_native(source, &src));
    gpumem_import_desc desc = {.address = src.address, .size = 4096};
    gpumem_buffer imported;
    creation once = {.pool = pool, .count = 1, .import = &desc};
    gpumem_result r = run_on_new_thread(&once, &imported);
    if (r == GPUMEM_ERROR_UNSUPPORTED)
        CONF_SKIP("backend %s cannot import memory: %s", conf_backend(), once.message);
    OK(r);
    creation twice = {.pool = pool, .count = 1, .import = &desc};
    cr_assert_eq(run_on_new_thread(&twice, NULL), GPUMEM_ERROR_INVALID_ARGUMENT, "%s",
                 twice.message);
    /* The pool's own page in the second thread's arena. */
    gpumem_import_desc own = {.address = native.address, .size = 4096};
    FAILS(gpumem_buffer_import(pool, &own, &imported), GPUMEM_ERROR_INVALID_ARGUMENT);
    OK(gpumem_pool_destroy(pool));
    OK(gpumem_pool_destroy(other));
}

CONF_TEST(arenas_go_with_their_pool)
{
    gpumem_pool pool = arena_pool(ARENAS, 0);
    gpumem_buffer buffers[ARENAS][3];
    for (int i = 0; i < ARENAS; i++)
        OK(create_on_new_thread(pool, 1000 + (uint64_t)i, 3, buffers[i]));
    cr_assert_eq(stats_of(pool).allocation_count, ARENAS * 3);
    OK(gpumem_pool_destroy(pool));
    for (int i = 0; i < ARENAS; i++)
        for (int k = 0; k < 3; k++)
            FAILS(gpumem_buffer_destroy(buffers[i][k]), GPUMEM_ERROR_DESTROYED);
    /* And with the device: a pool left alive with buffers in every arena (the fixture closes
     * the device; the sanitizer builds find what it would leak). */
    pool = arena_pool(ARENAS, 0);
    for (int i = 0; i < ARENAS; i++)
        OK(create_on_new_thread(pool, 5000, 3, buffers[i]));
}

/* Each pool deals its own turns: threads that alternate between two pools still spread over
 * each pool's arenas. And a thread that created in more pools than it remembers takes a new
 * turn in a pool it comes back to. */
CONF_TEST(each_pool_deals_its_arenas_in_turn)
{
    gpumem_pool p = arena_pool(2, 0), q = arena_pool(2, 0);
    gpumem_buffer b[4];
    for (int i = 0; i < 4; i++)
        OK(create_on_new_thread(i % 2 ? q : p, 4096, 1, &b[i]));
    cr_assert_eq(stats_of(p).page_count, 2, "p's two threads share an arena");
    cr_assert_eq(stats_of(q).page_count, 2, "q's two threads share an arena");
    for (int i = 0; i < 4; i++)
        OK(gpumem_buffer_destroy(b[i]));
    /* This thread in six pools, then in the first again: a new turn there, the next arena. */
    gpumem_pool many[6];
    gpumem_buffer first, again;
    for (int i = 0; i < 6; i++) {
        many[i] = arena_pool(2, 0);
        gpumem_buffer x = conf_buffer(many[i], 100, 0);
        if (i == 0)
            first = x;
        else
            OK(gpumem_buffer_destroy(x));
    }
    again = conf_buffer(many[0], 100, 0);
    cr_assert_eq(stats_of(many[0]).page_count, 2);
    OK(gpumem_buffer_destroy(first));
    OK(gpumem_buffer_destroy(again));
    for (int i = 0; i < 6; i++)
        OK(gpumem_pool_destroy(many[i]));
    OK(gpumem_pool_destroy(p));
    OK(gpumem_pool_destroy(q));
}

CONF_TEST(arena_count_is_checked)
{
    gpumem_pool_desc desc = {.page_size = PAGE, .arena_count = GPUMEM_POOL_MAX_ARENAS + 1};
    gpumem_pool pool;
    FAILS(gpumem_pool_create(conf_dev, &desc, &pool), GPUMEM_ERROR_INVALID_ARGUMENT);
    desc.arena_count = UINT32_MAX;
    FAILS(gpumem_pool_create(conf_dev, &desc, &pool), GPUMEM_ERROR_INVALID_ARGUMENT);
    desc.arena_count = GPUMEM_POOL_MAX_ARENAS;
    OK(gpumem_pool_create(conf_dev, &desc, &pool));
    gpumem_buffer buffer = conf_buffer(pool, 100, 0);
    OK(gpumem_buffer_destroy(buffer));
    OK(gpumem_pool_destroy(pool));
    /* 0 and 1 are one arena. */
    for (uint32_t n = 0; n <= 1; n++) {
        desc.arena_count = n;
        OK(gpumem_pool_create(conf_dev, &desc, &pool));
        buffer = conf_buffer(pool, 100, 0);
        OK(gpumem_buffer_destroy(buffer));
        OK(gpumem_pool_destroy(pool));
    }
    if (!conf_props.native_pools)
        return;
    gpumem_pool_desc native = {.kind = GPUMEM_POOL_NATIVE, .arena_count = 2};
    FAILS(gpumem_pool_create(conf_dev, &native, &pool), GPUMEM_ERROR_INVALID_ARGUMENT);
    native.arena_count = 1;
    OK(gpumem_pool_create(conf_dev, &native, &pool));
    OK(gpumem_pool_destroy(pool));
}
