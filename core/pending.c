#include "pending.h"

#include "thread_hooks.h"

gpumem_pending_count gpumem_threads_pending;

/* At a thread's exit (thread_hooks.h), after its kept log messages were freed: it leaves the
 * count, so an exit handler of the same thread that runs later reads no last error. */
void gpumem_pending_thread_exits(gpumem_thread *t)
{
    gpumem_pending_clear(t, (unsigned)t->error_pending);
}

/* In a child process only the forking thread lives on: the others' parts of the count go. */
void gpumem_pending_forget_other_threads(void)
{
    atomic_store_explicit(&gpumem_threads_pending.threads,
                          gpumem_this_thread.error_pending ? 1u : 0u, memory_order_relaxed);
}

void gpumem_pending_counted(gpumem_thread *t)
{
    /* The fork handler first: a fork right after the count must find it. */
    gpumem_thread_hooks_arm(t);
    atomic_fetch_add_explicit(&gpumem_threads_pending.threads, 1, memory_order_relaxed);
}
