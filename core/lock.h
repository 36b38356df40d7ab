/* A mutual-exclusion lock for the hottest sections: a pool's (every buffer create and destroy
 * takes it) and a stream's.
 *
 * One word, taken with one compare-and-swap and given back with one exchange, both inline; only
 * a contended lock calls out (lock.c), where it spins with growing pauses for a bounded time
 * and then sleeps in the kernel (futex on Linux). A pthread mutex does the same two atomic
 * operations but reaches them through two library calls that check its type, owner and user
 * count: about 70 instructions per lock and unlock, a tenth of a buffer create+destroy pair
 * (docs/performance.md).
 *
 * Not recursive, no owner checks, no condition variables: sections that need those use pthread
 * mutexes. Zero-initialized is unlocked.
 *
 * A lock of an object whose device the application synchronizes itself
 * (GPUMEM_DEVICE_OPEN_EXTERNALLY_SYNCHRONIZED) is made `unshared`: taking and giving it back do
 * nothing, as no other call can be inside: a buffer create and destroy then runs none of its
 * four locked instructions (what that saves: docs/performance.md). The test for it is one load
 * of the word beside, and a branch that always goes one way for a given lock.
 *
 * The lone thread. While one thread alone has taken core's locks (the common program that calls
 * gpumem from one thread), it enters their sections without the word's locked instructions: it
 * writes its thread pointer into the lock's `entered_by`, then checks that it is still the lone
 * thread, and clears `entered_by` when it lets go. The first thread that takes any lock the
 * usual way while another is the lone thread ends this for the process, for good
 * (gpumem_lock_settle, lock.c): it marks the process shared, runs membarrier(2) (epoch.c), which
 * makes every running thread execute a full barrier, and then waits until the lone thread's
 * `entered_by` is gone from the lock it holds. The barrier is what makes the lone thread's plain
 * store and load safe: after it, the lone thread either sees the process shared before entering,
 * or its mark is visible to the waiter. The same asymmetric barrier guards the epochs (epoch.h).
 * A thread that takes the word always looks at `entered_by` afterwards, so none enters while the
 * lone thread is inside. Without membarrier there is no lone thread: every lock takes its word.
 */
#ifndef GPUMEM_CORE_LOCK_H
#define GPUMEM_CORE_LOCK_H

#include <stdatomic.h>
#include <stdint.h>

/* Thread pointers (gpumem_lock_self) are addresses, never these. */
#define GPUMEM_LOCK_SHARED 0u    /* for good: every lock takes its word */
#define GPUMEM_LOCK_UNCLAIMED 1u /* no lone thread yet: the next thread that takes a lock is one */
#define GPUMEM_LOCK_SHARING 2u   /* being made shared: wait until it is */

/* Linux (membarrier), on x86-64 or AArch64 (a thread pointer in one instruction). */
#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__)) && \
    (defined(__GNUC__) || defined(__clang__))
#define GPUMEM_LOCK_LONE_THREAD 1
#else
#define GPUMEM_LOCK_LONE_THREAD 0 /* every lock takes its word */
#endif

typedef struct gpumem_lock {
    /* 0: free; 1: held, nobody sleeps on it; 2: held, and a thread may sleep on it (its
     * holder wakes one when it lets go). */
    _Atomic uint32_t state;
    uint32_t unshared; /* set once, before the object is reachable: never taken */
    /* The lone thread while it is inside (or about to enter) without the word; else 0. */
    _Atomic uintptr_t entered_by;
} gpumem_lock;

#define GPUMEM_LOCK_INIT {0, 0, 0}

/* The lone thread's pointer, or one of GPUMEM_LOCK_SHARED, _UNCLAIMED, _SHARING (lock.c). */
extern _Atomic uintptr_t gpumem_lock_lone;

/* The contended halves, and the rare step after taking a word (lock.c). */
void gpumem_lock_wait(gpumem_lock *lock);
void gpumem_lock_wake(gpumem_lock *lock);
/* After taking the word while the process is not shared for good, or the lone thread may be
 * inside: claims the lone thread's place, or ends it and waits until it has left `lock`. */
void gpumem_lock_settle(gpumem_lock *lock);
/* From the epochs' setup, once, before any thread can take a lock: whether membarrier works
 * (without it there is no lone thread; GPUMEM_LONE_THREAD=0 turns it off too). */
void gpumem_lock_setup(int barrier_works);
/* From the epochs' parts of the thread-exit and fork handlers (epoch.c, thread_hooks.h): an
 * exiting lone thread leaves its place to the next thread that takes a lock; a child process's
 * only thread is not kept waiting by a parent thread that was making the process shared. A fork
 * while another thread is inside a section is undefined, with or without the lone thread: the
 * child would wait for a word that thread held for ever, or may now enter over the mark of a
 * lone thread that was inside. */
void gpumem_lock_thread_exits(void);
void gpumem_lock_forget_other_threads(void);

/* The calling thread's pointer: one load on x86-64 (the thread control block's pointer to
 * itself, at %fs:0) and a register read on AArch64. The builtin where the compiler has it (GCC
 * 11 and clang 14 on: earlier ones reject it or crash on it for x86-64), as the compiler folds
 * it into the compare (8 fewer instructions a buffer create and destroy than the assembly);
 * else written out, not volatile: the value never changes for a thread. */
#if defined(GPUMEM_LOCK_HAS_THREAD_POINTER)
/* given: 0 builds the assembly (tests/unit/test_lock_asm.c) */
#elif defined(__clang__)
#define GPUMEM_LOCK_HAS_THREAD_POINTER (__clang_major__ >= 14)
#elif defined(__GNUC__)
#define GPUMEM_LOCK_HAS_THREAD_POINTER (__GNUC__ >= 11)
#else
#define GPUMEM_LOCK_HAS_THREAD_POINTER 0
#endif

static inline uintptr_t gpumem_lock_self(void)
{
#if GPUMEM_LOCK_LONE_THREAD && GPUMEM_LOCK_HAS_THREAD_POINTER
    return (uintptr_t)__builtin_thread_pointer();
#elif GPUMEM_LOCK_LONE_THREAD && defined(__x86_64__)
    uintptr_t self;
    __asm__("mov{q} {%%fs:0, %0|%0, QWORD PTR fs:0}" : "=r"(self)); /* AT&T or -masm=intel */
    return self;
#elif GPUMEM_LOCK_LONE_THREAD
    uintptr_t self;
    __asm__("mrs %0, tpidr_el0" : "=r"(self));
    return self;
#else
    return GPUMEM_LOCK_SHARED;
#endif
}

/* unshared: 1 for an object of an externally synchronized device (see above). */
static inline void gpumem_lock_init(gpumem_lock *lock, int unshared)
{
    atomic_init(&lock->state, 0);
    lock->unshared = unshared != 0;
    atomic_init(&lock->entered_by, 0);
}

/* Always inlined: the compiler's own choice has varied with the size of the files that use the
 * lock, and a create that called its pool's lock out of line ran 9 more instructions
 * (thirty-seventh session). */
static inline __attribute__((always_inline)) void gpumem_lock_acquire(gpumem_lock *lock)
{
    if (__builtin_expect(lock->unshared, 0))
        return;
#if GPUMEM_LOCK_LONE_THREAD
    uintptr_t self = gpumem_lock_self();
    if (__builtin_expect(atomic_load_explicit(&gpumem_lock_lone, memory_order_relaxed) == self,
                         1)) {
        atomic_store_explicit(&lock->entered_by, self, memory_order_relaxed);
        /* Store, then load: the order a membarrier in gpumem_lock_settle enforces. */
        atomic_signal_fence(memory_order_seq_cst);
        if (__builtin_expect(
                atomic_load_explicit(&gpumem_lock_lone, memory_order_relaxed) == self, 1))
            return;
        atomic_store_explicit(&lock->entered_by, 0, memory_order_release);
    }
#endif
    uint32_t expected = 0;
    if (__builtin_expect(!atomic_compare_exchange_strong_explicit(
                             &lock->state, &expected, 1, memory_order_acquire,
                             memory_order_relaxed),
                         0))
        gpumem_lock_wait(lock);
#if GPUMEM_LOCK_LONE_THREAD
    /* The place first, with acquire, then the mark: a place read as shared was stored after the
     * barrier that made any lone thread's mark visible (or, shared from unclaimed, when there
     * was no lone thread), so the mark read after it is current. */
    uintptr_t lone = atomic_load_explicit(&gpumem_lock_lone, memory_order_acquire);
    uintptr_t mark = atomic_load_explicit(&lock->entered_by, memory_order_acquire);
    if (__builtin_expect((lone | mark) != 0, 0))
        gpumem_lock_settle(lock);
#endif
}

static inline __attribute__((always_inline)) void gpumem_lock_release(gpumem_lock *lock)
{
    if (__builtin_expect(lock->unshared, 0))
        return;
#if GPUMEM_LOCK_LONE_THREAD
    /* Another thread's pointer there is the lone thread's, backing out of its entry: not ours. */
    if (__builtin_expect(atomic_load_explicit(&lock->entered_by, memory_order_relaxed) ==
                             gpumem_lock_self(),
                         1)) {
        atomic_store_explicit(&lock->entered_by, 0, memory_order_release);
        return;
    }
#endif
    if (__builtin_expect(atomic_exchange_explicit(&lock->state, 0, memory_order_release) == 2, 0))
        gpumem_lock_wake(lock);
}

#endif
