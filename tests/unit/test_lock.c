/* core's lock (lock.h): exclusion under contention, sleepers woken by whoever lets go, and the
 * unshared lock of an externally synchronized device, which is never taken. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <time.h>

#include "lock.h"

enum { THREADS = 8, ROUNDS = 200000 };

static gpumem_lock counter_lock = GPUMEM_LOCK_INIT;
static uint64_t counter; /* plain: only the lock keeps the increments from being lost */

static void *count(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        gpumem_lock_acquire(&counter_lock);
        uint64_t v = counter;
        /* Now and then a longer section, so that waiters run out of spins and sleep. */
        if ((i & 1023) == 0)
            for (volatile int k = 0; k < 20000; k++)
                ;
        counter = v + 1;
        gpumem_lock_release(&counter_lock);
    }
    return NULL;
}

Test(lock, no_increment_is_lost_under_contention)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, count, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(counter, (uint64_t)THREADS * ROUNDS, "%llu increments of %llu",
                 (unsigned long long)counter, (unsigned long long)THREADS * ROUNDS);
    cr_assert_eq(atomic_load(&counter_lock.state), 0, "the lock is not free at the end");
}

static gpumem_lock held = GPUMEM_LOCK_INIT;
static _Atomic int entered;

static void *wait_for_it(void *arg)
{
    (void)arg;
    gpumem_lock_acquire(&held);
    atomic_fetch_add(&entered, 1);
    gpumem_lock_release(&held);
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waiters that find the lock held for long go to sleep (the word reads 2); letting go wakes
 * them one after another, and each gets in. Without the wake they would sleep for ever (until
 * meson's timeout for the test). */
Test(lock, sleepers_are_woken_when_it_is_let_go)
{
    gpumem_lock_acquire(&held);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, wait_for_it, NULL), 0);
    /* Until a waiter has run out of spins (on a loaded machine the threads may start late),
     * then a while longer for the others. */
    for (int ms = 0; ms < 10000 && atomic_load(&held.state) != 2; ms += 10)
        sleep_ms(10);
    sleep_ms(100);
    cr_assert_eq(atomic_load(&entered), 0, "a waiter got a held lock");
    cr_assert_eq(atomic_load(&held.state), 2, "no waiter went to sleep within 10 s (state %u)",
                 atomic_load(&held.state));
    gpumem_lock_release(&held);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(atomic_load(&entered), 4);
    cr_assert_eq(atomic_load(&held.state), 0);
}

Test(lock, uncontended_takes_and_frees)
{
    gpumem_lock l;
    gpumem_lock_init(&l, 0);
    for (int i = 0; i < 3; i++) {
        gpumem_lock_acquire(&l);
        cr_assert_eq(atomic_load(&l.state), 1);
        gpumem_lock_release(&l);
        cr_assert_eq(atomic_load(&l.state), 0);
    }
}

/* An unshared lock is never taken: its word stays 0, and taking it again while "held" returns
 * at once (a shared lock would wait for ever there). */
Test(lock, unshared_is_never_taken)
{
    gpumem_lock l;
    gpumem_lock_init(&l, 1);
    gpumem_lock_acquire(&l);
    cr_assert_eq(atomic_load(&l.state), 0);
    gpumem_lock_acquire(&l);
    gpumem_lock_release(&l);
    gpumem_lock_release(&l);
    cr_assert_eq(atomic_load(&l.state), 0);
    /* Nor is its word written when it is let go (no exchange, which would be a locked
     * instruction): a value put there stays. */
    atomic_store(&l.state, 2);
    gpumem_lock_release(&l);
    cr_assert_eq(atomic_load(&l.state), 2);
    /* init makes it shared again, whatever it was */
    gpumem_lock_init(&l, 0);
    gpumem_lock_acquire(&l);
    cr_assert_eq(atomic_load(&l.state), 1);
    gpumem_lock_release(&l);
}
