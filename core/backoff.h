/* Waiting for another thread that runs on without waiting for us: round by round, spin briefly,
 * then yield a few times, then sleep longer and longer (1 us doubling up to 1.024 ms), so that a
 * long wait (a large transfer, a stream's synchronize) does not keep a core busy. One schedule
 * for every such wait in core: the epochs' (epoch.c), the lone thread's (lock.c). */
#ifndef GPUMEM_CORE_BACKOFF_H
#define GPUMEM_CORE_BACKOFF_H

#include <sched.h>
#include <time.h>

/* One round of a spin: tells the core that this thread only waits. */
static inline void gpumem_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Round `round` (from 0) of a wait that spins `spins` rounds, then yields `yields`. */
static inline void gpumem_backoff(unsigned round, unsigned spins, unsigned yields)
{
    if (round < spins) {
        gpumem_pause();
        return;
    }
    if (round < spins + yields) {
        sched_yield();
        return;
    }
    unsigned doublings = round - (spins + yields);
    struct timespec nap = {.tv_sec = 0, .tv_nsec = 1000L << (doublings < 10 ? doublings : 10)};
    nanosleep(&nap, NULL);
}

#endif
