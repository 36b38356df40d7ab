/* What a thread holds for later (gpumem_thread.error_pending: a last error, log messages kept
 * for the end of its call), and how many threads hold anything.
 *
 * A public call's quick path (call.h, gpumem_call_may_be_quick) may skip the call's start only
 * where the calling thread holds nothing. Asking the thread costs a thread-local lookup, which in
 * a shared library is a call through the TLS descriptor (thread.h says why that model); where no
 * thread holds anything, one load of the count answers for every thread. Each thread adds itself
 * when it comes to hold something and takes itself out when it holds nothing again, both by its
 * own atomic update of the count, so the count a thread reads includes its own part (a thread
 * never reads a value of a variable older than its own last write of it): zero says that this
 * thread holds nothing, whatever other threads do meanwhile. A thread that exits holding
 * something drops it and is taken out by the thread-exit handler (thread_hooks.h); in a child
 * process only the forking thread counts.
 *
 * Every change of error_pending goes through gpumem_pending_set and gpumem_pending_clear.
 */
#ifndef GPUMEM_CORE_PENDING_H
#define GPUMEM_CORE_PENDING_H

#include <stdatomic.h>
#include <stdint.h>

#include "thread.h"

/* Threads whose error_pending is not empty, on a cache line of its own: every guarded call
 * reads variables that would otherwise share it (the epochs' fence flag), and the count changes
 * whenever a thread fails a call. */
typedef struct gpumem_pending_count {
    _Alignas(64) _Atomic uint32_t threads;
    char rest_of_the_line[64 - sizeof(uint32_t)];
} gpumem_pending_count;
extern gpumem_pending_count gpumem_threads_pending;

/* Counts a thread that is about to hold something (out of line: it also arms the thread's exit
 * handler, once). */
void gpumem_pending_counted(gpumem_thread *t);

static inline void gpumem_pending_set(gpumem_thread *t, unsigned bits)
{
    if (!t->error_pending)
        gpumem_pending_counted(t);
    t->error_pending |= (unsigned char)bits;
}

static inline void gpumem_pending_clear(gpumem_thread *t, unsigned bits)
{
    unsigned char held = t->error_pending;
    t->error_pending = (unsigned char)(held & ~bits);
    if (held && !t->error_pending)
        atomic_fetch_sub_explicit(&gpumem_threads_pending.threads, 1, memory_order_relaxed);
}

/* 1 when the calling thread holds nothing: the count alone where no thread holds anything, the
 * thread's own state (a thread-local lookup) otherwise. */
static inline int gpumem_pending_none(void)
{
    return __builtin_expect(
               atomic_load_explicit(&gpumem_threads_pending.threads, memory_order_relaxed) == 0,
               1) ||
           !gpumem_this_thread.error_pending;
}

#endif
