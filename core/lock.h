/* A mutual-exclusion lock for the hottest sections: a pool's (every buffer create and destroy
 * takes it) and a stream's.
 *
 * One word, taken with one compare-and-swap and given back with one exchange, both inline; only
 * a contended lock calls out (lock.c), where it spins briefly and then sleeps in the kernel
 * (futex on Linux). A pthread mutex does the same two atomic operations but reaches them through
 * two library calls that check its type, owner and user count: about 70 instructions per lock
 * and unlock, a tenth of a buffer create+destroy pair (docs/performance.md).
 *
 * Not recursive, no owner checks, no condition variables: sections that need those use pthread
 * mutexes. Zero-initialized is unlocked.
 *
 * A lock of an object whose device the application synchronizes itself
 * (GPUMEM_DEVICE_OPEN_EXTERNALLY_SYNCHRONIZED) is made `unshared`: taking and giving it back do
 * nothing, as no other call can be inside: a buffer create and destroy then runs none of its
 * four locked instructions (what that saves: docs/performance.md). The test for it is one load
 * of the word beside, and a branch that always goes one way for a given lock.
 */
#ifndef GPUMEM_CORE_LOCK_H
#define GPUMEM_CORE_LOCK_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct gpumem_lock {
    /* 0: free; 1: held, nobody sleeps on it; 2: held, and a thread may sleep on it (its
     * holder wakes one when it lets go). */
    _Atomic uint32_t state;
    uint32_t unshared; /* set once, before the object is reachable: never taken */
} gpumem_lock;

#define GPUMEM_LOCK_INIT {0, 0}

/* The contended halves (lock.c). */
void gpumem_lock_wait(gpumem_lock *lock);
void gpumem_lock_wake(gpumem_lock *lock);

/* unshared: 1 for an object of an externally synchronized device (see above). */
static inline void gpumem_lock_init(gpumem_lock *lock, int unshared)
{
    atomic_init(&lock->state, 0);
    lock->unshared = unshared != 0;
}

static inline void gpumem_lock_acquire(gpumem_lock *lock)
{
    if (__builtin_expect(lock->unshared, 0))
        return;
    uint32_t expected = 0;
    if (__builtin_expect(!atomic_compare_exchange_strong_explicit(
                             &lock->state, &expected, 1, memory_order_acquire,
                             memory_order_relaxed),
                         0))
        gpumem_lock_wait(lock);
}

static inline void gpumem_lock_release(gpumem_lock *lock)
{
    if (__builtin_expect(lock->unshared, 0))
        return;
    if (__builtin_expect(atomic_exchange_explicit(&lock->state, 0, memory_order_release) == 2, 0))
        gpumem_lock_wake(lock);
}

#endif
