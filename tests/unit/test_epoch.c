/* core's epochs (epoch.h): an object ended and stamped is reported unreachable only once no call
 * that could have found it is still running: calls that entered without a fence of their own
 * (where membarrier works, the reclaim's membarrier orders them), calls of threads that
 * registered before or after the reclaiming thread, calls begun while their thread was alone. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "epoch.h"
#include "store_buffer.h"
#include "thread.h"

/* What a second thread saw: oldest bounds with the main thread's call open and after it. */
static _Atomic int main_call_open = 1;
static _Atomic int reclaimed_while_open; /* 1: the bound below is there; -1: no record */
static uint64_t stamp_seen, oldest_while_open, oldest_after;

static void *register_and_reclaim(void *arg)
{
    (void)arg;
    gpumem_epoch_record *self = gpumem_epoch_register();
    if (!self) {
        atomic_store(&reclaimed_while_open, -1);
        return NULL;
    }
    stamp_seen = gpumem_epoch_stamp();
    oldest_while_open = gpumem_epoch_oldest(self);
    atomic_store(&reclaimed_while_open, 1);
    while (atomic_load(&main_call_open))
        sched_yield(); /* a few microseconds */
    oldest_after = gpumem_epoch_oldest(self);
    return NULL;
}

/* A call entered while its thread held the only record holds back what a thread registered
 * after it finds safe: objects the new thread stamps after the call began are not proven
 * unreachable until the call ends. */
Test(epoch, a_call_begun_alone_holds_back_a_later_threads_reclaim)
{
    gpumem_epoch_record *self = gpumem_epoch_register();
    cr_assert_not_null(self);
    cr_assert_eq(gpumem_epoch_threads(), 1);
    gpumem_epoch_enter(self);
    uint64_t entered = atomic_load(&self->epoch);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, register_and_reclaim, NULL), 0);
    while (!atomic_load(&reclaimed_while_open))
        sched_yield(); /* a few microseconds */
    int registered = atomic_load(&reclaimed_while_open) == 1;
    if (registered)
        cr_assert_eq(gpumem_epoch_threads(), 2);
    gpumem_epoch_leave(self);
    atomic_store(&main_call_open, 0);
    pthread_join(t, NULL);
    cr_assert(registered, "the second thread could not register");
    cr_assert_geq(stamp_seen, entered);
    cr_assert_leq(oldest_while_open, entered,
                  "a reclaim proved epoch %llu safe under a call that entered at %llu",
                  (unsigned long long)oldest_while_open, (unsigned long long)entered);
    cr_assert_gt(oldest_after, stamp_seen, "the ended call still held the reclaim back");
}

/* The class under load. Readers look up the current object and read it twice across a random
 * pause; a writer replaces the object, waits until the old one's stamp is safe, and poisons it. A
 * reader that reads poison had its object freed under its call. Threads come and go, so that
 * registrations happen while others are inside calls: first READERS readers at a time (each
 * makes READS calls and exits) beside one writer; then one reader beside writers that come and
 * go (each makes WRITES replacements and exits), so that a reader's call is often in flight when
 * a writer registers. Each call's store of its epoch is held back (store_buffer.h): a library
 * whose writers run no membarrier (only a fence of their own, while readers do not fence) fails
 * every run on the 2-core machine (13 of 13, one load test or both reading reclaimed objects
 * 1 to 260 times a run). */
enum { READERS = 3, WAVES = 40, READS = 20000, WRITES = 200, POISON = 0xdead };

typedef struct object {
    _Atomic int value; /* 1 while reachable; POISON once reclaimed */
} object;

static object objects[2];
static _Atomic(object *) current = &objects[0];
static _Atomic int stop;
static _Atomic uint64_t poison_seen, replacements, reads;

/* arg: a seed, for READS calls; 0 for calls until `stop`. */
static void *read_calls(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    gpumem_epoch_record *self = gpumem_epoch_register();
    cr_assert_not_null(self);
    test_store_buffer before;
    cr_assert(test_store_buffer_init(&before, seed));
    for (int i = 0; seed ? i < READS : !atomic_load(&stop); i++) {
        test_store_buffer_fill(&before); /* the epoch's store waits behind these */
        gpumem_epoch_enter(self);
        object *o = atomic_load_explicit(&current, memory_order_acquire);
        int first = atomic_load_explicit(&o->value, memory_order_relaxed);
        unsigned r = (unsigned)i * 2654435761u + seed;
        for (volatile unsigned spin = (r >> 16) % 200; spin > 0; spin--)
            ;
        int second = atomic_load_explicit(&o->value, memory_order_relaxed);
        if (first == POISON || second == POISON)
            atomic_fetch_add(&poison_seen, 1);
        gpumem_epoch_leave(self);
        atomic_fetch_add_explicit(&reads, 1, memory_order_relaxed);
    }
    test_store_buffer_free(&before);
    return NULL;
}

static void *write_calls(void *arg)
{
    unsigned writes = (unsigned)(uintptr_t)arg; /* 0: until stopped */
    gpumem_epoch_record *self = gpumem_epoch_register();
    cr_assert_not_null(self);
    for (unsigned n = 0; writes ? n < writes : !atomic_load(&stop); n++) {
        object *old = atomic_load(&current);
        object *next = old == &objects[0] ? &objects[1] : &objects[0];
        atomic_store(&next->value, 1);
        atomic_store(&current, next); /* the handle's end */
        uint64_t stamp = gpumem_epoch_stamp();
        while (gpumem_epoch_oldest(self) <= stamp)
            sched_yield();
        atomic_store_explicit(&old->value, POISON, memory_order_relaxed);
        atomic_fetch_add(&replacements, 1);
    }
    return NULL;
}

static void start(pthread_t *t, void *(*body)(void *), unsigned arg)
{
    cr_assert_eq(pthread_create(t, NULL, body, (void *)(uintptr_t)arg), 0);
}

/* Criterion runs each test in a process of its own; set anyway, so that neither depends on it. */
static void start_afresh(void)
{
    atomic_store(&objects[0].value, 1);
    atomic_store(&objects[1].value, 1);
    atomic_store(&current, &objects[0]);
    atomic_store(&stop, 0);
    atomic_store(&poison_seen, 0);
    atomic_store(&replacements, 0);
    atomic_store(&reads, 0);
}

static void check_no_poison_read(void)
{
    cr_assert_gt(atomic_load(&replacements), 0, "the writers replaced nothing");
    cr_assert_gt(atomic_load(&reads), 0, "the readers read nothing");
    cr_assert_eq(atomic_load(&poison_seen), 0, "%llu reads of a reclaimed object",
                 (unsigned long long)atomic_load(&poison_seen));
}

Test(epoch, no_call_reads_an_object_reclaimed_while_readers_come_and_go)
{
    start_afresh();
    pthread_t writer;
    start(&writer, write_calls, 0);
    for (unsigned wave = 0; wave < WAVES; wave++) {
        pthread_t t[READERS];
        for (unsigned i = 0; i < READERS; i++)
            start(&t[i], read_calls, wave * READERS + i + 1);
        for (unsigned i = 0; i < READERS; i++)
            pthread_join(t[i], NULL);
    }
    atomic_store(&stop, 1);
    pthread_join(writer, NULL);
    check_no_poison_read();
}

Test(epoch, no_call_begun_alone_reads_an_object_a_newcomer_reclaimed)
{
    start_afresh();
    pthread_t reader;
    start(&reader, read_calls, 0);
    for (unsigned wave = 0; wave < WAVES * 10; wave++) {
        pthread_t writer;
        start(&writer, write_calls, WRITES);
        pthread_join(writer, NULL);
    }
    atomic_store(&stop, 1);
    pthread_join(reader, NULL);
    check_no_poison_read();
}
