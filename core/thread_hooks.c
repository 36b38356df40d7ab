#include "thread_hooks.h"

#include <pthread.h>

#include "log.h"

static pthread_once_t setup_once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key;
static int have_exit_key;

static void thread_exits(void *unused)
{
    (void)unused;
    gpumem_thread *t = &gpumem_this_thread;
    t->exit_armed = 0; /* a call from a later exit handler arms it again */
    gpumem_epoch_thread_exits(t);
    gpumem_log_discard_kept(t);
    gpumem_pending_thread_exits(t);
}

static void forget_other_threads(void)
{
    gpumem_epoch_forget_other_threads();
    gpumem_pending_forget_other_threads();
}

static void setup(void)
{
    have_exit_key = pthread_key_create(&exit_key, thread_exits) == 0;
    pthread_atfork(NULL, NULL, forget_other_threads);
}

void gpumem_thread_hooks_arm(gpumem_thread *t)
{
    pthread_once(&setup_once, setup);
    /* The key's value only has to be other than NULL for the handler to run. */
    if (!t->exit_armed && have_exit_key && pthread_setspecific(exit_key, t) == 0)
        t->exit_armed = 1;
}

/* A thread exit handler pointing into an unloaded library would crash the next exiting thread. */
__attribute__((destructor)) static void forget_exit_key(void)
{
    if (have_exit_key)
        pthread_key_delete(exit_key);
    have_exit_key = 0;
}
