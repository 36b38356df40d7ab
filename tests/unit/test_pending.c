/* The count of threads that hold something pending (core/pending.h): what lets a virtual block's
 * quick path skip the thread-local lookup. Each thread's part is its own: the count must equal
 * the threads that hold a last error (or kept log messages) at every quiet point, whatever the
 * threads did, exited holding or forked; and a thread's call clears its own last error whether
 * other threads hold one or not. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gpumem/gpumem.h"
#include "pending.h"

static uint32_t counted(void)
{
    return atomic_load(&gpumem_threads_pending.threads);
}

/* Until the holder thread is counted (at most about ten seconds: a count that never comes is a
 * failure, not a hang). */
static void wait_for_the_holder(void)
{
    time_t give_up = time(NULL) + 10;
    while (counted() == 0) {
        cr_assert_lt(time(NULL), give_up, "the thread holding an error was never counted");
        usleep(100);
    }
}

/* A failed call leaves its thread holding an error; a call that succeeds clears it. */
static void fail(gpumem_vblock vb)
{
    cr_assert_eq(gpumem_vblock_free(vb, 0), GPUMEM_ERROR_INVALID_HANDLE);
    cr_assert_neq(gpumem_last_error()[0], '\0');
}

static void succeed(gpumem_vblock vb)
{
    gpumem_vblock_allocation a;
    uint64_t offset;
    cr_assert_eq(gpumem_vblock_alloc(vb, 64, 0, &a, &offset), GPUMEM_OK);
    cr_assert_str_eq(gpumem_last_error(), "", "a successful alloc left \"%s\"",
                     gpumem_last_error());
    cr_assert_eq(gpumem_vblock_free(vb, a), GPUMEM_OK);
    cr_assert_str_eq(gpumem_last_error(), "");
}

enum { THREADS = 4, ROUNDS = 300 };

typedef struct worker {
    pthread_t thread;
    gpumem_vblock vb;
    unsigned seed;
    pthread_barrier_t *step;
    _Atomic int holds; /* the worker's model: its last call failed */
    int exit_holding;
} worker;

/* Each round: a random run of failing and succeeding calls on the worker's own virtual block
 * (quick ones among them), then a barrier at which the main thread compares the count with the
 * workers that hold an error, then a second barrier. */
static void *work(void *arg)
{
    worker *w = arg;
    for (int round = 0; round < ROUNDS; round++) {
        int calls = 1 + (int)(rand_r(&w->seed) % 6);
        for (int c = 0; c < calls; c++) {
            if (rand_r(&w->seed) % 2)
                fail(w->vb);
            else
                succeed(w->vb);
        }
        int holds = rand_r(&w->seed) % 3 == 0;
        if (holds)
            fail(w->vb);
        else
            succeed(w->vb);
        atomic_store(&w->holds, holds);
        pthread_barrier_wait(w->step);
        pthread_barrier_wait(w->step);
    }
    if (w->exit_holding)
        fail(w->vb);
    return NULL;
}

Test(pending, the_count_is_the_threads_that_hold_an_error)
{
    cr_assert_eq(counted(), 0, "the process starts with %u threads counted", counted());
    pthread_barrier_t step;
    pthread_barrier_init(&step, NULL, THREADS + 1);
    worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.seed = 17u * (unsigned)i + 1u, .step = &step, .exit_holding = i % 2};
        cr_assert_eq(gpumem_vblock_create(1 << 20, &w[i].vb), GPUMEM_OK);
        atomic_init(&w[i].holds, 0);
        cr_assert_eq(pthread_create(&w[i].thread, NULL, work, &w[i]), 0);
    }
    gpumem_vblock own;
    cr_assert_eq(gpumem_vblock_create(1 << 20, &own), GPUMEM_OK);
    unsigned seed = 99, held_rounds = 0;
    for (int round = 0; round < ROUNDS; round++) {
        int main_holds = rand_r(&seed) % 4 == 0;
        if (main_holds)
            fail(own);
        else
            succeed(own);
        pthread_barrier_wait(&step);
        uint32_t holding = (uint32_t)main_holds;
        for (int i = 0; i < THREADS; i++)
            holding += (uint32_t)atomic_load(&w[i].holds);
        held_rounds += holding > 0;
        cr_assert_eq(counted(), holding, "round %d: %u threads counted, %u hold an error", round,
                     counted(), holding);
        pthread_barrier_wait(&step);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(w[i].thread, NULL);
    /* Workers that exited holding an error were taken out by their exit handler. */
    succeed(own);
    cr_assert_eq(counted(), 0, "%u threads counted after every worker exited", counted());
    cr_expect_gt(held_rounds, ROUNDS / 2, "too few rounds had a thread holding an error");
    for (int i = 0; i < THREADS; i++)
        gpumem_vblock_destroy(w[i].vb);
    gpumem_vblock_destroy(own);
    pthread_barrier_destroy(&step);
}

/* A thread that holds an error makes every thread ask for itself: the others' quick calls still
 * succeed and leave no error, and a thread of its own failed call clears it at its next call. */
static _Atomic int holder_release;

static void *hold_an_error(void *arg)
{
    fail(arg);
    while (!atomic_load(&holder_release))
        ;
    return NULL;
}

Test(pending, calls_clear_their_own_thread_s_error_beside_a_thread_that_holds_one)
{
    gpumem_vblock vb, other;
    cr_assert_eq(gpumem_vblock_create(1 << 20, &vb), GPUMEM_OK);
    cr_assert_eq(gpumem_vblock_create(1 << 20, &other), GPUMEM_OK);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, hold_an_error, other), 0);
    wait_for_the_holder();
    for (int i = 0; i < 1000; i++) {
        succeed(vb);
        fail(vb);
        cr_assert_eq(counted(), 2);
        succeed(vb);
        cr_assert_eq(counted(), 1);
    }
    atomic_store(&holder_release, 1);
    pthread_join(t, NULL);
    cr_assert_eq(counted(), 0);
    gpumem_vblock_destroy(vb);
    gpumem_vblock_destroy(other);
}

/* In a child process only the forking thread counts: held errors of other threads do not keep
 * the child's quick paths asking. */
Test(pending, a_child_process_counts_only_the_forking_thread)
{
    gpumem_vblock vb, other;
    cr_assert_eq(gpumem_vblock_create(1 << 20, &vb), GPUMEM_OK);
    cr_assert_eq(gpumem_vblock_create(1 << 20, &other), GPUMEM_OK);
    atomic_store(&holder_release, 0);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, hold_an_error, other), 0);
    wait_for_the_holder();
    for (int holds = 0; holds < 2; holds++) {
        if (holds)
            fail(vb);
        pid_t child = fork();
        cr_assert_geq(child, 0);
        if (child == 0)
            _exit(counted() == (uint32_t)holds ? 0 : 10 + (int)counted());
        int status;
        cr_assert_eq(waitpid(child, &status, 0), child);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "the child counted other threads (forking thread holds: %d; exit %d)", holds,
                  WEXITSTATUS(status));
    }
    atomic_store(&holder_release, 1);
    pthread_join(t, NULL);
    succeed(vb);
    cr_assert_eq(counted(), 0);
    gpumem_vblock_destroy(vb);
    gpumem_vblock_destroy(other);
}
