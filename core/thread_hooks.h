/* What the library does when one of its threads exits, when the process forks, and when the
 * library is unloaded: one thread-exit handler, one fork handler, one unload destructor for the
 * state core keeps per thread (the epochs' records, epoch.h; the count of threads that hold
 * something, pending.h). Modules with fork handlers of their own for other state (copy
 * threads, host_copy.c; the registration cache, registration_cache.c) keep them.
 *
 * A thread's exit handler is armed at most once at a time (gpumem_thread.exit_armed): by the
 * thread's first registration of an epoch record, or its first kept error or log message. At the
 * thread's exit, while its thread-locals still exist, it releases the thread's epoch record and
 * drops what the thread holds. An exit handler of another library that runs later and makes a
 * call arms it again (the C library runs handlers again for keys set meanwhile, up to
 * PTHREAD_DESTRUCTOR_ITERATIONS rounds). Past those rounds, or where the handler could not be
 * armed, the thread's record stays in use and the thread counted: slower, never wrong. Quick
 * paths then ask each thread; no other thread is ever alone again (epoch.h, gpumem_epoch_alone),
 * so destroyed buffers wait for batches and barriers; and where the thread held the lone
 * thread's place (lock.h), the next thread that takes a lock ends it with a barrier.
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
