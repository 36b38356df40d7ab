#include "lock.h"

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#else
#include <sched.h>
#endif

#include "hot.h"

/* Tries before sleeping: a pool's sections last a few hundred nanoseconds, so a waiter that
 * spins for about as long usually gets the lock without two system calls. */
#define SPINS 100

static void pause_briefly(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
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
        pause_briefly();
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
