/* What the library does when one of its threads exits, when the process forks, and when the
 * library is unloaded: one thread-exit handler, one fork handler, one unload destructor for
 * every module that keeps state per thread (the epochs' records, epoch.h; the count of threads
 * that hold something, pending.h).
 *
 * A thread's exit handler is armed at most once at a time (gpumem_thread.exit_armed): by the
 * thread's first registration of an epoch record, or its first kept error or log message. At the
 * thread's exit, while its thread-locals still exist, it releases the thread's epoch record and
 * drops what the thread holds. An exit handler of another library that runs later and makes a
 * call arms it again (the C library runs handlers again for keys set meanwhile, up to
 * PTHREAD_DESTRUCTOR_ITERATIONS rounds; past them a thread's record is never reused and the
 * thread stays counted: memory for one record, quick paths that ask each thread, nothing wrong).
 *
 * In a child process only the forking thread lives on: the fork handler forgets the others'
 * records and counts. It is registered before the first record is taken or the first thread
 * counted (gpumem_thread_hooks_arm), so a fork right after either finds it.
 */
#ifndef GPUMEM_CORE_THREAD_HOOKS_H
#define GPUMEM_CORE_THREAD_HOOKS_H

#include "thread.h"

/* Registers the fork handler (once for the process) and arms the calling thread's exit handler
 * unless it is armed; t is the calling thread's own. Without a handler (no key could be made, or
 * setting it failed) the thread's exit leaves its record in use and the thread counted. */
void gpumem_thread_hooks_arm(gpumem_thread *t);

/* The modules' parts, called by the handlers only: at the exit of the thread t ... */
void gpumem_epoch_thread_exits(gpumem_thread *t);
void gpumem_pending_thread_exits(gpumem_thread *t);
/* ... and in a fork's child, on its one thread. */
void gpumem_epoch_forget_other_threads(void);
void gpumem_pending_forget_other_threads(void);

#endif
