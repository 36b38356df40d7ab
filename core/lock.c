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

/* Rounds of the lone thread's waits (let_others_run) that spin before they yield. */
#define SPINS 100

/* A contended lock's waiter spins before it sleeps (gpumem_lock_wait): it looks at the word,
 * then pauses for twice as long as before, up to WAIT_PAUSES_MOST pauses between looks, until it
 * takes the word or WAIT_SPIN_NS have passed since the pauses reached that bound. Then it sleeps
 * in the kernel, and when woken spins again before it sleeps again.
 *
 * Why, from docs/performance.md ("Thirty-first session"): a pool's section lasts tens of
 * nanoseconds, and calls from several threads on one pool used to hand the lock over at nearly
 * every call. A waiter that looked at the word at every pause pulled its cache line away from
 * the holder, whose next let-go then waited for it; one that slept after a hundred pauses made
 * the holder's every let-go a wake (a system call), and once woken went back to sleep at its
 * first failed try, so the next let-go woke it again. Two threads on one pool made a tenth of
 * one thread's pairs. Waiting longer between looks leaves the holder to run many calls in a row
 * with its cache lines. The spin is bounded by time rather than by tries, as a pause costs from a
 * few cycles to about 140 depending on the core; the clock is read only between the longest
 * pauses, so where a pause is slow (about 10 us for 256 of them) a waiter spins for about 40-50
 * us in all, where it is fast about 20. */
#define WAIT_PAUSES_MOST 256u
#define WAIT_SPIN_NS 20000u

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

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Spins (see WAIT_PAUSES_MOST) until the word is 0 and this thread sets it to `take_as`, 1; or
 * until WAIT_SPIN_NS have passed at the longest pauses, 0. */
static int spin_for(gpumem_lock *lock, uint32_t take_as)
{
    uint64_t start = 0;
    for (unsigned pauses = 1;; pauses = pauses < WAIT_PAUSES_MOST ? 2 * pauses : pauses) {
        uint32_t expected = 0;
        if (atomic_load_explicit(&lock->state, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_weak_explicit(&lock->state, &expected, take_as,
                                                  memory_order_acquire, memory_order_relaxed))
            return 1;
        for (unsigned p = 0; p < pauses; p++)
            gpumem_pause();
        if (pauses == WAIT_PAUSES_MOST) {
            uint64_t now = now_ns();
            if (start == 0)
                start = now;
            else if (now - start > WAIT_SPIN_NS)
                return 0;
        }
    }
}

GPUMEM_RARE void gpumem_lock_wait(gpumem_lock *lock)
{
    /* A thread that has slept takes the word as 2: it cannot know whether others still sleep,
     * and the next let-go must wake one of them. */
    for (uint32_t take_as = 1;; take_as = 2) {
        if (spin_for(lock, take_as))
            return;
        if (atomic_exchange_explicit(&lock->state, 2, memory_order_acquire) == 0)
            return;
        sleep_while_contended(lock);
    }
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
