#include "pending.h"

#include <pthread.h>

#include "log.h"

gpumem_pending_count gpumem_threads_pending;

static pthread_once_t setup_once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key;
static int have_exit_key;

/* At a thread's exit, while its thread-locals still exist: what it holds is dropped, kept log
 * messages freed, and it leaves the count, so an exit handler of the same thread that runs later
 * reads no last error. One of those that makes a call and fails arms this handler again (the C
 * library runs handlers again for keys set meanwhile, up to PTHREAD_DESTRUCTOR_ITERATIONS
 * rounds; past them the thread stays counted, which only makes quick paths ask each thread). */
static void thread_exits(void *unused)
{
    (void)unused;
    gpumem_thread *t = &gpumem_this_thread;
    t->pending_armed = 0;
    gpumem_log_discard_kept(t);
    gpumem_pending_clear(t, (unsigned)t->error_pending);
}

/* In a child process only the forking thread lives on: the others' parts of the count go. */
static void forget_other_threads(void)
{
    atomic_store_explicit(&gpumem_threads_pending.threads,
                          gpumem_this_thread.error_pending ? 1u : 0u, memory_order_relaxed);
}

static void setup(void)
{
    have_exit_key = pthread_key_create(&exit_key, thread_exits) == 0;
    pthread_atfork(NULL, NULL, forget_other_threads);
}

void gpumem_pending_counted(gpumem_thread *t)
{
    /* The fork handler first: a fork right after the count must find it. */
    pthread_once(&setup_once, setup);
    atomic_fetch_add_explicit(&gpumem_threads_pending.threads, 1, memory_order_relaxed);
    if (t->pending_armed)
        return;
    /* Without the handler a thread that exits holding something stays counted: quick paths then
     * ask each thread for itself, as they would without the count. */
    if (have_exit_key && pthread_setspecific(exit_key, t) == 0)
        t->pending_armed = 1;
}

/* A thread exit handler pointing into an unloaded library would crash the next exiting thread. */
__attribute__((destructor)) static void forget_exit_key(void)
{
    if (have_exit_key)
        pthread_key_delete(exit_key);
    have_exit_key = 0;
}
