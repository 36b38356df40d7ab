#include "lock.h"

#include <sched.h>
#include <time.h>
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "backoff.h"
#include "env.h"
#include "epoch.h"
#include "hot.h"
#include "thread.h"

_Atomic uintptr_t gpumem_lock_lone = GPUMEM_LOCK_UNCLAIMED;

/* Tries before sleeping: a pool's sections last a few hundred nanoseconds, so a waiter that
 * spins for about as long usually gets the lock without two system calls. */
#define SPINS 100

/* One round of waiting for the lone thread inside a section, or for a barrier: the lone
 * thread's section may be long (a stream's synchronize), so the wait ends in sleeps. */
static void let_others_run(unsigned round)
{
    gpumem_backoff(round, SPINS, 16);
}

static void sleep_while_contended(gpumem_lock *lock)
{
#if defined(__linux__)
    /* Returns at once when the word is no longer 2 (woken, or let go in between). */
    syscall(SYS_futex, &lock->state, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
#else
    (void)lock;
    sched_yield();
#endif
}

GPUMEM_RARE void gpumem_lock_wait(gpumem_lock *lock)
{
    for (int i = 0; i < SPINS; i++) {
        uint32_t expected = 0;
        if (atomic_load_explicit(&lock->state, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_weak_explicit(&lock->state, &expected, 1,
                                                  memory_order_acquire, memory_order_relaxed))
            return;
        gpumem_pause();
    }
    /* From here the lock is taken as 2, so that whoever lets it go next wakes a sleeper: this
     * thread cannot know whether others sleep besides it. */
    while (atomic_exchange_explicit(&lock->state, 2, memory_order_acquire) != 0)
        sleep_while_contended(lock);
}

GPUMEM_RARE void gpumem_lock_wake(gpumem_lock *lock)
{
#if defined(__linux__)
    syscall(SYS_futex, &lock->state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
#else
    (void)lock;
#endif
}

#if GPUMEM_LOCK_LONE_THREAD
/* Set once by the epochs' setup, which every thread's first call runs before it can take a
 * lock: membarrier works (ending the place needs it) and GPUMEM_LONE_THREAD is not 0. */
static int lone_allowed;

void gpumem_lock_setup(int barrier_works)
{
    /* Read once, here, rather than where the place is claimed, which is inside a section: a bad
     * value's warning may reach the log callback. */
    lone_allowed = barrier_works && gpumem_env_lone_thread();
}

/* Whether the calling thread may become the lone thread: it makes gpumem calls (it holds an
 * epoch record, so it leaves the place when it exits, and the setup above has run). */
static int may_be_lone(void)
{
    return gpumem_this_thread.record != NULL && lone_allowed;
}

GPUMEM_RARE void gpumem_lock_settle(gpumem_lock *lock)
{
    uintptr_t self = gpumem_lock_self();
    for (unsigned round = 0;; round++) {
        uintptr_t lone = atomic_load_explicit(&gpumem_lock_lone, memory_order_acquire);
        if (lone == GPUMEM_LOCK_SHARED || lone == self)
            break;
        if (lone == GPUMEM_LOCK_SHARING) { /* another thread's barrier is running */
            let_others_run(round);
            continue;
        }
        if (lone == GPUMEM_LOCK_UNCLAIMED) {
            /* Nobody enters without a word now, and nobody holds one past this step (a thread
             * that did would have claimed the place or shared the process): the first to get
             * here takes the place, or shares the process if it may not. */
            uintptr_t next = may_be_lone() ? self : GPUMEM_LOCK_SHARED;
            if (atomic_compare_exchange_strong(&gpumem_lock_lone, &lone, next))
                break;
            continue;
        }
        /* Another thread is the lone thread: the process is shared from now on. After the
         * barrier, that thread sees it before entering any section, or its entry is visible. */
        if (atomic_compare_exchange_strong(&gpumem_lock_lone, &lone, GPUMEM_LOCK_SHARING)) {
            gpumem_epoch_barrier();
            atomic_store_explicit(&gpumem_lock_lone, GPUMEM_LOCK_SHARED, memory_order_release);
            break;
        }
    }
    /* The lone thread may still be inside this lock's section, which it entered before the
     * process was shared, or backing out of an entry it began. */
    for (unsigned round = 0; atomic_load_explicit(&lock->entered_by, memory_order_acquire) != 0;
         round++)
        let_others_run(round);
}

void gpumem_lock_thread_exits(void)
{
    uintptr_t self = gpumem_lock_self();
    atomic_compare_exchange_strong(&gpumem_lock_lone, &self, GPUMEM_LOCK_UNCLAIMED);
}

void gpumem_lock_forget_other_threads(void)
{
    uintptr_t lone = atomic_load(&gpumem_lock_lone);
    if (lone != GPUMEM_LOCK_SHARED && lone != gpumem_lock_self())
        atomic_store(&gpumem_lock_lone, GPUMEM_LOCK_UNCLAIMED);
}
#else
void gpumem_lock_setup(int barrier_works)
{
    (void)barrier_works;
}

GPUMEM_RARE void gpumem_lock_settle(gpumem_lock *lock)
{
    (void)lock;
}

void gpumem_lock_thread_exits(void)
{
}

void gpumem_lock_forget_other_threads(void)
{
}
#endif
