/* Generation-checked handles: live lookups, destroyed and foreign handles, slot reuse. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "handles.h"

static int objects[64];

Test(handles, live_handle_finds_its_object)
{
    uint64_t h = gpumem_handle_create(GPUMEM_HANDLE_POOL, &objects[0]);
    cr_assert_neq(h, 0);
    void *o = NULL;
    cr_assert_eq(gpumem_handle_get(h, GPUMEM_HANDLE_POOL, &o), GPUMEM_OK);
    cr_assert_eq(o, &objects[0]);
    gpumem_handle_destroy(h);
}

Test(handles, destroyed_handle_reports_destroyed_even_after_slot_reuse)
{
    uint64_t h = gpumem_handle_create(GPUMEM_HANDLE_BUFFER, &objects[1]);
    gpumem_handle_destroy(h);
    void *o = NULL;
    cr_assert_eq(gpumem_handle_get(h, GPUMEM_HANDLE_BUFFER, &o), GPUMEM_ERROR_DESTROYED);
    cr_assert(strstr(gpumem_last_error(), "destroyed"));
    /* The slot is reused by a new object of another kind: the old handle stays dead. */
    uint64_t h2 = gpumem_handle_create(GPUMEM_HANDLE_POOL, &objects[2]);
    cr_assert_eq((uint32_t)h2, (uint32_t)h, "the freed slot should be reused");
    cr_assert_neq(h2, h);
    cr_assert_eq(gpumem_handle_get(h, GPUMEM_HANDLE_BUFFER, &o), GPUMEM_ERROR_DESTROYED);
    cr_assert_eq(gpumem_handle_get(h, GPUMEM_HANDLE_POOL, &o), GPUMEM_ERROR_DESTROYED);
    cr_assert_eq(gpumem_handle_get(h2, GPUMEM_HANDLE_POOL, &o), GPUMEM_OK);
    cr_assert_eq(o, &objects[2]);
    gpumem_handle_destroy(h2);
}

Test(handles, double_destroy_is_harmless)
{
    uint64_t h = gpumem_handle_create(GPUMEM_HANDLE_STREAM, &objects[3]);
    gpumem_handle_destroy(h);
    gpumem_handle_destroy(h); /* must not free the slot twice */
    uint64_t a = gpumem_handle_create(GPUMEM_HANDLE_STREAM, &objects[4]);
    uint64_t b = gpumem_handle_create(GPUMEM_HANDLE_STREAM, &objects[5]);
    cr_assert_neq((uint32_t)a, (uint32_t)b, "one slot handed out twice");
    gpumem_handle_destroy(a);
    gpumem_handle_destroy(b);
}

Test(handles, wrong_kind_null_and_garbage_are_invalid)
{
    uint64_t h = gpumem_handle_create(GPUMEM_HANDLE_DEVICE, &objects[6]);
    void *o = NULL;
    cr_assert_eq(gpumem_handle_get(h, GPUMEM_HANDLE_POOL, &o), GPUMEM_ERROR_INVALID_HANDLE);
    cr_assert_eq(gpumem_handle_get(0, GPUMEM_HANDLE_POOL, &o), GPUMEM_ERROR_INVALID_HANDLE);
    cr_assert_eq(gpumem_handle_get(0xdeadbeef12345678ull, GPUMEM_HANDLE_POOL, &o),
                 GPUMEM_ERROR_INVALID_HANDLE);
    cr_assert_eq(gpumem_handle_get(h + (1ull << 32), GPUMEM_HANDLE_DEVICE, &o),
                 GPUMEM_ERROR_INVALID_HANDLE, "a future generation is not a handle");
    cr_assert(strlen(gpumem_last_error()) > 0);
    gpumem_handle_destroy(h);
}

Test(handles, table_grows_past_one_chunk)
{
    enum { N = 10000 };
    static uint64_t h[N];
    for (int i = 0; i < N; i++)
        cr_assert_neq(h[i] = gpumem_handle_create(GPUMEM_HANDLE_BUFFER, &objects[i % 64]), 0);
    for (int i = 0; i < N; i++) {
        void *o;
        cr_assert_eq(gpumem_handle_get(h[i], GPUMEM_HANDLE_BUFFER, &o), GPUMEM_OK);
        cr_assert_eq(o, &objects[i % 64]);
    }
    for (int i = 0; i < N; i++)
        gpumem_handle_destroy(h[i]);
}

static void *churn(void *arg)
{
    for (int i = 0; i < 20000; i++) {
        uint64_t h = gpumem_handle_create(GPUMEM_HANDLE_BUFFER, arg);
        void *o = NULL;
        if (!h || gpumem_handle_get(h, GPUMEM_HANDLE_BUFFER, &o) != GPUMEM_OK || o != arg)
            return (void *)1;
        gpumem_handle_destroy(h);
    }
    return NULL;
}

Test(handles, concurrent_create_and_destroy)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, churn, &objects[10 + i]);
    for (int i = 0; i < 4; i++) {
        void *failed;
        pthread_join(t[i], &failed);
        cr_assert_null(failed, "thread %d saw a wrong object", i);
    }
}

/* The slot record behind a handle (the table is visible for the inline lookup). */
static gpumem_handle_slot *slot_of(uint64_t handle)
{
    uint32_t index = (uint32_t)handle - 1;
    cr_assert_lt(index, 1u << GPUMEM_HANDLE_CHUNK_BITS, "the test needs a slot of the first chunk");
    return &gpumem_handle_first_chunk[index];
}

/* Generations are 32 bits and free slots are reused last-in first-out, so one slot can be
 * destroyed 2^32 times by a long-running program. Started near the end of its range, the slot
 * must retire instead of wrapping around to generation 1, where its first handle would become
 * valid again. */
Test(handles, generations_never_wrap_and_stale_handles_stay_stale)
{
    uint64_t first = gpumem_handle_create(GPUMEM_HANDLE_BUFFER, &objects[20]);
    gpumem_handle_slot *s = slot_of(first);
    cr_assert(gpumem_handle_destroy(first));
    /* Skip ahead to two generations before the end; the slot is free, on top of the stack. */
    atomic_store(&s->tag, GPUMEM_HANDLE_TAG(UINT32_MAX - 1u, 0));
    uint64_t seen[4] = {first};
    for (int i = 1; i < 3; i++) {
        seen[i] = gpumem_handle_create(GPUMEM_HANDLE_BUFFER, &objects[20 + i]);
        cr_assert_eq((uint32_t)seen[i], (uint32_t)first, "the freed slot is reused first");
        cr_assert_eq((uint32_t)(seen[i] >> 32), UINT32_MAX - 2u + (uint32_t)i);
        cr_assert(gpumem_handle_destroy(seen[i]));
    }
    /* The slot's last generation is spent: it is never handed out again. */
    seen[3] = gpumem_handle_create(GPUMEM_HANDLE_BUFFER, &objects[23]);
    cr_assert_neq((uint32_t)seen[3], (uint32_t)first, "a retired slot was reused");
    void *o;
    for (int i = 0; i < 3; i++) {
        cr_assert_neq(seen[3], seen[i]);
        cr_assert_eq(gpumem_handle_get(seen[i], GPUMEM_HANDLE_BUFFER, &o), GPUMEM_ERROR_DESTROYED,
                     "stale handle %d (generation %u) is live again", i,
                     (uint32_t)(seen[i] >> 32));
        cr_assert_eq(gpumem_handle_destroy(seen[i]), 0);
    }
    /* Many more handles later, none of them equals a stale one. */
    uint64_t later[64];
    for (int i = 0; i < 64; i++) {
        later[i] = gpumem_handle_create(GPUMEM_HANDLE_BUFFER, &objects[i]);
        for (int k = 0; k < 3; k++)
            cr_assert_neq(later[i], seen[k]);
    }
    for (int i = 0; i < 64; i++)
        gpumem_handle_destroy(later[i]);
    gpumem_handle_destroy(seen[3]);
}

/* --- the slots a thread keeps (in its epoch record) for its next creates --- */

#include <stdint.h>

#include "epoch.h"
#include "thread.h"

/* A thread with an epoch record reuses the slot it freed last, without the shared stack, and a
 * handle of the slot's earlier life stays stale. */
Test(handles, a_thread_reuses_the_slots_it_freed_first)
{
    cr_assert_not_null(gpumem_epoch_register());
    uint64_t h[8];
    for (int i = 0; i < 8; i++)
        cr_assert_neq(h[i] = gpumem_handle_create(GPUMEM_HANDLE_BUFFER, &objects[i]), 0);
    for (int i = 0; i < 8; i++)
        cr_assert(gpumem_handle_destroy(h[i]));
    cr_expect_eq(gpumem_this_thread.record->free_slot_count, 8);
    uint64_t again[8];
    for (int i = 7; i >= 0; i--) {
        again[i] = gpumem_handle_create(GPUMEM_HANDLE_BUFFER, &objects[i]);
        cr_expect_eq((uint32_t)again[i], (uint32_t)h[i], "the slot freed last comes back first");
        cr_expect_eq(again[i] >> 32, (h[i] >> 32) + 1, "in its next generation");
    }
    cr_expect_eq(gpumem_this_thread.record->free_slot_count, 0);
    for (int i = 0; i < 8; i++) {
        void *o;
        cr_expect_eq(gpumem_handle_get(h[i], GPUMEM_HANDLE_BUFFER, &o), GPUMEM_ERROR_DESTROYED);
        cr_expect_eq(gpumem_handle_get(again[i], GPUMEM_HANDLE_BUFFER, &o), GPUMEM_OK);
        cr_expect_eq(o, &objects[i]);
        cr_assert(gpumem_handle_destroy(again[i]));
    }
}

/* Past GPUMEM_EPOCH_FREE_SLOTS, freed slots go to the shared stack, where other threads find
 * them. */
Test(handles, slots_beyond_what_a_thread_keeps_are_shared)
{
    cr_assert_not_null(gpumem_epoch_register());
    enum { MANY = GPUMEM_EPOCH_FREE_SLOTS + 10 };
    uint64_t h[MANY];
    for (int i = 0; i < MANY; i++)
        cr_assert_neq(h[i] = gpumem_handle_create(GPUMEM_HANDLE_STREAM, &objects[i % 64]), 0);
    for (int i = 0; i < MANY; i++)
        cr_assert(gpumem_handle_destroy(h[i]));
    cr_expect_eq(gpumem_this_thread.record->free_slot_count, GPUMEM_EPOCH_FREE_SLOTS);
    gpumem_epoch_record *saved = gpumem_this_thread.record;
    gpumem_this_thread.record = NULL; /* as a thread without a record: the shared stack */
    uint64_t shared = gpumem_handle_create(GPUMEM_HANDLE_STREAM, &objects[0]);
    int found = 0;
    for (int i = GPUMEM_EPOCH_FREE_SLOTS; i < MANY; i++)
        found |= (uint32_t)shared == (uint32_t)h[i];
    cr_expect(found, "the shared stack gives one of the slots the thread did not keep");
    cr_assert(gpumem_handle_destroy(shared));
    gpumem_this_thread.record = saved;
}

typedef struct churner {
    pthread_t thread;
    int id;
    int failures;
} churner;

/* Random creates and destroys, each handle checked against what this thread made: its own
 * object while live, DESTROYED after. Threads come and go, so records (and the slots kept in
 * them) pass from thread to thread. */
static void *churn_with_record(void *argument)
{
    churner *c = argument;
    cr_assert_not_null(gpumem_epoch_register());
    enum { LIVE = 48, STEPS = 20000 };
    uint64_t live[LIVE] = {0}, dead[LIVE] = {0};
    uint64_t state = 0x2545f4914f6cdd1dull * (uint64_t)(c->id + 1);
    for (int step = 0; step < STEPS; step++) {
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        int i = (int)(state % LIVE);
        void *o;
        if (live[i]) {
            if (gpumem_handle_get(live[i], GPUMEM_HANDLE_EVENT, &o) != GPUMEM_OK ||
                o != &objects[i])
                c->failures++;
            if (!gpumem_handle_destroy(live[i]))
                c->failures++;
            dead[i] = live[i];
            live[i] = 0;
        } else {
            live[i] = gpumem_handle_create(GPUMEM_HANDLE_EVENT, &objects[i]);
            if (!live[i])
                c->failures++;
        }
        if (dead[i] && gpumem_handle_get(dead[i], GPUMEM_HANDLE_EVENT, &o) != GPUMEM_ERROR_DESTROYED)
            c->failures++;
    }
    for (int i = 0; i < LIVE; i++)
        if (live[i] && !gpumem_handle_destroy(live[i]))
            c->failures++;
    return NULL;
}

Test(handles, threads_that_come_and_go_never_see_a_stale_handle_live)
{
    for (int wave = 0; wave < 4; wave++) {
        churner c[6];
        for (int i = 0; i < 6; i++) {
            c[i] = (churner){.id = wave * 6 + i};
            cr_assert_eq(pthread_create(&c[i].thread, NULL, churn_with_record, &c[i]), 0);
        }
        for (int i = 0; i < 6; i++) {
            pthread_join(c[i].thread, NULL);
            cr_expect_eq(c[i].failures, 0, "wave %d thread %d", wave, i);
        }
    }
}

/* --- ending a handle of a known kind (gpumem_handle_end) --- */

/* Random steps against a model: creates of random kinds, ends with the right kind, a wrong one
 * or a stale handle, destroys of any kind, garbage handles, with and without the thread's
 * record. Each step's result is the model's, every live handle finds its object, every ended one
 * reads DESTROYED; slots near their last generation are made to retire on the way. */
Test(handles, ending_a_handle_of_a_known_kind_matches_a_model)
{
    enum { LIVE = 64, STEPS = 200000 };
    static const gpumem_handle_kind kinds[] = {GPUMEM_HANDLE_BUFFER, GPUMEM_HANDLE_IMAGE,
                                               GPUMEM_HANDLE_POOL};
    cr_assert_not_null(gpumem_epoch_register());
    gpumem_epoch_record *record = gpumem_this_thread.record;
    uint64_t live[LIVE] = {0}, dead[LIVE] = {0};
    gpumem_handle_kind kind_of[LIVE] = {0};
    uint64_t state = 0x9e3779b97f4a7c15ull;
    int ended_last_generation = 0;
    for (int step = 0; step < STEPS; step++) {
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        int i = (int)(state % LIVE);
        uint32_t op = (uint32_t)(state >> 32) % 8u;
        gpumem_handle_kind wrong = kinds[(state >> 40) % 3u];
        gpumem_epoch_record *own = (state >> 50) & 1 ? record : NULL;
        void *o;
        if (!live[i]) {
            kind_of[i] = kinds[(state >> 44) % 3u];
            cr_assert_neq(live[i] = gpumem_handle_create(kind_of[i], &objects[i]), 0);
            /* Sometimes two generations from its last (forward only: a generation that went back
             * would make an ended handle live again). */
            if ((state >> 56) % 64u == 0 && (uint32_t)(live[i] >> 32) < UINT32_MAX - 1u) {
                gpumem_handle_slot *s = gpumem_handle_slot_of(live[i]);
                uint64_t last = (uint64_t)(UINT32_MAX - 1u);
                atomic_store(&s->tag, GPUMEM_HANDLE_TAG(last, kind_of[i]));
                live[i] = (last << 32) | (uint32_t)live[i];
            }
        } else if (op < 3) { /* the right kind: ended once */
            int last = (uint32_t)(live[i] >> 32) == UINT32_MAX;
            cr_assert_eq(gpumem_handle_end(live[i], kind_of[i], own), 1, "step %d", step);
            cr_assert_eq(gpumem_handle_end(live[i], kind_of[i], own), 0, "step %d", step);
            /* The freed slot's tag is (next generation, kind 0) or retired: kind 0 must not end
             * it again (the slot would be freed twice). */
            uint64_t next = (((live[i] >> 32) + 1) << 32) | (uint32_t)live[i];
            cr_assert_eq(gpumem_handle_end(next, 0, own), 0, "step %d", step);
            ended_last_generation += last;
            dead[i] = live[i], live[i] = 0;
        } else if (op < 5) { /* a wrong kind, then a stale handle: neither ends anything */
            cr_assert_eq(gpumem_handle_end(live[i], wrong, own), wrong == kind_of[i],
                         "step %d", step);
            if (wrong == kind_of[i]) {
                dead[i] = live[i], live[i] = 0;
            } else if (dead[i]) {
                cr_assert_eq(gpumem_handle_end(dead[i], kind_of[i], own), 0, "step %d", step);
            }
        } else if (op < 6) { /* the kind-blind destroy */
            cr_assert_eq(gpumem_handle_destroy(live[i]), 1, "step %d", step);
            cr_assert_eq(gpumem_handle_destroy(live[i]), 0, "step %d", step);
            dead[i] = live[i], live[i] = 0;
        } else { /* garbage: never a handle, in a chunk never made, or a future generation */
            uint64_t garbage[] = {0, (uint64_t)UINT32_MAX, 0xffffffff00000000ull | 0xfffffffful,
                                  (1ull << 32) | (GPUMEM_HANDLE_MAX_CHUNKS << 12),
                                  live[i] + (1ull << 32)};
            for (size_t g = 0; g < sizeof garbage / sizeof garbage[0]; g++) {
                cr_assert_eq(gpumem_handle_end(garbage[g], kind_of[i], own), 0, "step %d", step);
                cr_assert_eq(gpumem_handle_destroy(garbage[g]), 0, "step %d", step);
            }
            /* Kinds no live handle has end nothing. */
            cr_assert_eq(gpumem_handle_end(live[i], 0, own), 0, "step %d", step);
            cr_assert_eq(gpumem_handle_end(live[i], GPUMEM_HANDLE_RETIRED, own), 0);
        }
        for (int k = i; k < i + 2 && k < LIVE; k++) {
            if (live[k]) {
                cr_assert_eq(gpumem_handle_get(live[k], kind_of[k], &o), GPUMEM_OK, "step %d", step);
                cr_assert_eq(o, &objects[k]);
            }
            if (dead[k])
                cr_assert_eq(gpumem_handle_get(dead[k], kind_of[k], &o), GPUMEM_ERROR_DESTROYED,
                             "step %d: %s (handle %#llx)", step, gpumem_last_error(),
                             (unsigned long long)dead[k]);
        }
    }
    cr_expect_gt(ended_last_generation, 0, "no slot reached its last generation");
    for (int i = 0; i < LIVE; i++)
        if (live[i])
            cr_assert(gpumem_handle_destroy(live[i]));
}

/* With no destroy running beside it, the lookup for externally synchronized objects
 * (gpumem_handle_peek_synchronized) answers as the general one, for live, ended, reused,
 * wrong-kind and garbage handles alike. */
Test(handles, the_synchronized_lookup_answers_as_the_general_one)
{
    enum { LIVE = 32, STEPS = 100000 };
    static const gpumem_handle_kind kinds[] = {GPUMEM_HANDLE_VBLOCK, GPUMEM_HANDLE_BUFFER,
                                               GPUMEM_HANDLE_STREAM};
    uint64_t live[LIVE] = {0}, dead[LIVE] = {0};
    uint64_t state = 0x2545f4914f6cdd1dull;
    for (int step = 0; step < STEPS; step++) {
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        int i = (int)(state % LIVE);
        if (!live[i])
            cr_assert_neq(live[i] = gpumem_handle_create(kinds[(state >> 40) % 3u], &objects[i]),
                          0);
        else if ((state >> 32) % 4u == 0) {
            cr_assert_eq(gpumem_handle_destroy(live[i]), 1);
            dead[i] = live[i], live[i] = 0;
        }
        /* A live, an ended and a never-issued generation, handle 0, a slot of the static chunk
         * never handed out (tag 0), one of a chunk never made, random bits. */
        uint64_t asked[] = {live[i], dead[i], live[i] + (1ull << 32), 0, (uint64_t)UINT32_MAX,
                            (1ull << 32) | 4000u, (1ull << 32) | (GPUMEM_HANDLE_MAX_CHUNKS << 12),
                            state};
        for (size_t a = 0; a < sizeof asked / sizeof asked[0]; a++)
            for (size_t k = 0; k < 3; k++)
                cr_assert_eq(gpumem_handle_peek_synchronized(asked[a], kinds[k]),
                             gpumem_handle_peek(asked[a], kinds[k]),
                             "step %d, handle %zu, kind %zu", step, a, k);
        int found = 0; /* a live handle: by its own kind only, as its object */
        for (size_t k = 0; live[i] && k < 3; k++)
            if (gpumem_handle_peek_synchronized(live[i], kinds[k]) == &objects[i])
                found++;
        cr_assert_eq(found, live[i] ? 1 : 0, "step %d", step);
    }
    for (int i = 0; i < LIVE; i++)
        if (live[i])
            gpumem_handle_destroy(live[i]);
}
