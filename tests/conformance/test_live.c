/* A pool's live buffers, as every walk over them sees them: random creates and destroys (in
 * shared and dedicated pages, in a pool with one arena and in one with several, destroys in any
 * order) against a model, which after random steps must match the device dump's buffers (each
 * live buffer once, no other), the address index a pool builds at its first lookup (every live
 * buffer found, no destroyed one), and the pool's destroy (every live handle ended). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "conformance.h"

#define PAGE (1ull << 20)
#define SLOTS 160
#define STEPS 4000
#define ARENAS 3

typedef struct slot {
    gpumem_buffer buffer; /* NULL: never made */
    int live;
    int pool;
    uint64_t address, size; /* where memory has addresses */
} slot;

typedef struct churn {
    gpumem_pool pools[2];
    slot slots[SLOTS];
    unsigned seed;
} churn;

static unsigned next(churn *c)
{
    c->seed = c->seed * 1103515245u + 12345u;
    return c->seed >> 8;
}

/* The dump lists each live buffer once, no destroyed one, and nothing else as a buffer. */
static void check_dump(const churn *c, int step)
{
    char *json = conf_device_text(gpumem_device_dump_json);
    int live = 0;
    for (int i = 0; i < SLOTS; i++) {
        const slot *s = &c->slots[i];
        if (!s->buffer)
            continue;
        char entry[64];
        snprintf(entry, sizeof entry, "{\"handle\":%llu,",
                 (unsigned long long)(uintptr_t)s->buffer);
        int n = conf_count_of(json, entry);
        cr_assert_eq(n, s->live, "step %d: %s buffer of slot %d is listed %d times", step,
                     s->live ? "the live" : "the destroyed", i, n);
        live += s->live;
    }
    cr_assert_eq(conf_count_of(json, "{\"handle\":"), live, "step %d: %d live buffers", step, live);
    free(json);
}

/* A buffer in slot i, asserting nothing (it also runs on threads of the test's own, where an
 * assertion must not fail: common.c). */
static gpumem_result try_make(churn *c, int i, int pool)
{
    slot *s = &c->slots[i];
    uint64_t size = 1 + next(c) % 20000;
    gpumem_buffer_desc desc = {.size = size};
    if (next(c) % 16 == 0)
        desc.flags = GPUMEM_BUFFER_DEDICATED; /* a page of its own: another kind of record */
    gpumem_buffer buffer;
    gpumem_native_buffer native;
    gpumem_result r = gpumem_buffer_create(c->pools[pool], &desc, &buffer);
    if (r != GPUMEM_OK)
        return r;
    *s = (slot){.buffer = buffer, .live = 1, .pool = pool, .size = size};
    if ((r = gpumem_buffer_native(buffer, &native)) == GPUMEM_OK)
        s->address = native.address;
    return r;
}

static void make(churn *c, int i, int pool)
{
    OK(try_make(c, i, pool));
}

typedef struct made_on_thread {
    churn *c;
    int first, count, pool;
    gpumem_result result; /* the first failure, or GPUMEM_OK */
    char message[512];    /* its gpumem_last_error */
} made_on_thread;

static void *make_some(void *arg)
{
    made_on_thread *m = arg;
    for (int i = m->first; i < m->first + m->count && m->result == GPUMEM_OK; i++)
        if ((m->result = try_make(m->c, i, m->pool)) != GPUMEM_OK)
            snprintf(m->message, sizeof m->message, "%s", gpumem_last_error());
    return NULL;
}

/* Slots [first, first + count) made by a new thread: its own arena of a pool with arenas. */
static void make_on_thread(churn *c, int first, int count, int pool)
{
    made_on_thread m = {c, first, count, pool, GPUMEM_OK, ""};
    pthread_t thread;
    cr_assert_eq(pthread_create(&thread, NULL, make_some, &m), 0);
    cr_assert_eq(pthread_join(thread, NULL), 0);
    cr_assert_eq(m.result, GPUMEM_OK, "a create on another thread: %s (%s)",
                 gpumem_result_string(m.result), m.message);
}

/* Random creates and destroys (more creates while few are live), the dump checked now and
 * then and at the end. */
static void run_churn(churn *c, int pools, int steps)
{
    for (int step = 0; step < steps; step++) {
        int i = (int)(next(c) % SLOTS);
        slot *s = &c->slots[i];
        if (s->live) {
            OK(gpumem_buffer_destroy(s->buffer));
            s->live = 0;
        } else {
            make(c, i, (int)(next(c) % (unsigned)pools));
        }
        if (next(c) % 64 == 0)
            check_dump(c, step);
    }
    check_dump(c, steps);
}

/* gpumem_buffer_find finds every live buffer by its middle byte, and no destroyed one (where
 * memory has addresses). */
static void check_find(const churn *c)
{
    for (int i = 0; i < SLOTS; i++) {
        const slot *s = &c->slots[i];
        if (!s->buffer || !s->address)
            continue;
        gpumem_buffer found = NULL;
        uint64_t offset = 0;
        gpumem_result r = gpumem_buffer_find(conf_dev, s->address + s->size / 2, &found, &offset);
        if (s->live) {
            cr_assert_eq(r, GPUMEM_OK, "slot %d: %s", i, gpumem_last_error());
            cr_assert_eq(found, s->buffer, "slot %d: another buffer found", i);
            cr_assert_eq(offset, s->size / 2);
        } else {
            cr_assert(r == GPUMEM_ERROR_NOT_FOUND || (r == GPUMEM_OK && found != s->buffer),
                      "slot %d: a destroyed buffer found (%s)", i, gpumem_result_string(r));
        }
    }
}

CONF_TEST(every_walk_over_a_pools_buffers_sees_the_live_ones)
{
    churn *c = conf_alloc(sizeof *c);
    memset(c, 0, sizeof *c);
    c->seed = 20261202;
    c->pools[0] = conf_pool(PAGE);
    gpumem_pool_desc desc = {.page_size = PAGE, .arena_count = ARENAS, .name = "arenas"};
    OK(gpumem_pool_create(conf_dev, &desc, &c->pools[1]));
    /* Each arena of the second pool holds buffers made by a thread of its own; the churn then
     * destroys them from this thread, in any order. */
    for (int a = 0; a < ARENAS; a++)
        make_on_thread(c, a * 20, 20, 1);
    run_churn(c, 2, STEPS);

    /* The address index of a pool searched for the first time is built from its live buffers;
     * then it is kept up to date through more churn. */
    check_find(c);
    run_churn(c, 2, STEPS / 4);
    check_find(c);

    /* A pool's destroy ends each of its live buffers, and leaves the other pool's. */
    OK(gpumem_pool_destroy(c->pools[1]));
    gpumem_buffer_info info;
    for (int i = 0; i < SLOTS; i++) {
        slot *s = &c->slots[i];
        if (!s->live)
            continue;
        if (s->pool == 1) {
            FAILS(gpumem_buffer_info_get(s->buffer, &info), GPUMEM_ERROR_DESTROYED);
            s->live = 0;
        } else {
            OK(gpumem_buffer_info_get(s->buffer, &info));
        }
    }
    check_dump(c, -1);
    OK(gpumem_pool_destroy(c->pools[0]));
    free(c);
}
