/* The library's thread-exit and fork handlers (core/thread_hooks.h), and what goes through the
 * count of threads that hold something (core/pending.h) besides a failed call: messages kept for
 * a call's end, and a log callback's calls, whose errors the call's own replaces again.
 *
 * At a thread's exit its epoch record goes back and it leaves the count, whichever of the two it
 * had; an exit handler of another library that runs after the library's and makes calls (a
 * guarded one takes a record again, a failed one counts the thread again) arms the handler
 * again, so the thread still leaves nothing behind. Linked with core and the built-in backends:
 * a host device's calls take epoch records. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "epoch.h"
#include "gpumem/gpumem.h"
#include "pending.h"
#include "thread.h"

static uint32_t counted(void)
{
    return atomic_load(&gpumem_threads_pending.threads);
}

static gpumem_device device;
static gpumem_pool pool;
static gpumem_vblock vblock; /* its calls take no epoch record */

static void open_host(void)
{
    gpumem_device_desc desc = {.backend = "host"};
    cr_assert_eq(gpumem_device_open(&desc, &device), GPUMEM_OK, "%s", gpumem_last_error());
    gpumem_pool_desc pd = {.name = "hooks", .kind = GPUMEM_POOL_PAGED};
    cr_assert_eq(gpumem_pool_create(device, &pd, &pool), GPUMEM_OK, "%s", gpumem_last_error());
    cr_assert_eq(gpumem_vblock_create(1 << 20, &vblock), GPUMEM_OK);
}

static void close_host(void)
{
    gpumem_vblock_destroy(vblock);
    gpumem_pool_destroy(pool);
    gpumem_device_close(device);
}

/* A guarded call that succeeds (it takes the thread's epoch record, registering one first). */
static int guarded_call(void)
{
    gpumem_buffer b;
    gpumem_buffer_desc d = {.size = 256};
    if (gpumem_buffer_create(pool, &d, &b) != GPUMEM_OK)
        return 0;
    return gpumem_buffer_destroy(b) == GPUMEM_OK;
}

/* A call that fails, leaving its thread holding an error that names `handle`. */
static int failed_call_on(uintptr_t handle)
{
    return gpumem_buffer_destroy((gpumem_buffer)handle) != GPUMEM_OK &&
           gpumem_last_error()[0] != '\0';
}

static int failed_call(void)
{
    return failed_call_on(0x5);
}

/* What a worker does in its life and in its exit handlers' rounds, by bits. */
enum {
    CALL_IN_LIFE = 1,      /* a guarded call before it returns */
    FAIL_IN_LIFE = 2,      /* and a failed one as its last */
    CALL_AT_EXIT = 4,      /* a guarded call in a later round of exit handlers */
    FAIL_AT_EXIT = 8,      /* and a failed one there as its last */
    ROUNDS_AT_EXIT_2 = 16, /* its own handler runs two rounds, calling in each */
    COUNTED_FIRST = 32,    /* first of all a failed call that takes no record: the count arms
                            * the exit handler before any record is registered */
    PLANS = 64
};

static pthread_key_t late_key;
static _Atomic int late_calls_done, late_calls_wrong;

/* Another library's exit handler. Set again in its first round, it runs in the next one too,
 * after the library's own handler of the first round (whatever the keys' order). With
 * ROUNDS_AT_EXIT_2 a thread needs all four rounds that glibc and musl run (and POSIX's least
 * PTHREAD_DESTRUCTOR_ITERATIONS): gpumem's and this one's first; this one's calls; gpumem's and
 * this one's calls again; gpumem's. A C library with fewer rounds would fail the test. */
static void late_handler(void *value)
{
    uintptr_t v = (uintptr_t)value;
    unsigned plan = (unsigned)(v & 0xff), round = (unsigned)(v >> 8);
    if (round == 0) {
        pthread_setspecific(late_key, (void *)(v + 0x100));
        return;
    }
    if ((plan & CALL_AT_EXIT) && !guarded_call())
        atomic_fetch_add(&late_calls_wrong, 1);
    if ((plan & FAIL_AT_EXIT) && !failed_call())
        atomic_fetch_add(&late_calls_wrong, 1);
    atomic_fetch_add(&late_calls_done, 1);
    if ((plan & ROUNDS_AT_EXIT_2) && round == 1)
        pthread_setspecific(late_key, (void *)(v + 0x100));
}

static void *worker(void *arg)
{
    unsigned plan = (unsigned)(uintptr_t)arg;
    if (plan & COUNTED_FIRST) {
        if (gpumem_vblock_free(vblock, 0) != GPUMEM_ERROR_INVALID_HANDLE || counted() == 0)
            return (void *)1;
        if (gpumem_this_thread.record != NULL) /* the order this plan is about */
            return (void *)2;
    }
    if ((plan & CALL_IN_LIFE) && !guarded_call())
        return (void *)1;
    if ((plan & FAIL_IN_LIFE) && !failed_call())
        return (void *)1;
    if (plan & (CALL_AT_EXIT | FAIL_AT_EXIT))
        pthread_setspecific(late_key, (void *)(uintptr_t)plan);
    return NULL;
}

/* Every plan of calls in a thread's life and in later exit handlers, in threads that run one at a
 * time and several at once: afterwards no record is held and no thread counted. */
Test(thread_hooks, an_exiting_thread_leaves_no_record_and_no_count_whatever_it_called_when)
{
    open_host();
    cr_assert_eq(pthread_key_create(&late_key, late_handler), 0);
    cr_assert(guarded_call());
    uint32_t base_records = gpumem_epoch_threads(); /* this thread's */
    cr_assert_eq(counted(), 0);
    int expected_late = 0;
    for (int together = 0; together < 2; together++) {
        pthread_t threads[PLANS];
        for (unsigned plan = 0; plan < PLANS; plan++) {
            cr_assert_eq(pthread_create(&threads[plan], NULL, worker, (void *)(uintptr_t)plan), 0);
            if (!together) {
                void *wrong;
                pthread_join(threads[plan], &wrong);
                cr_assert_null(wrong, "plan %#x: a call in the thread's life went wrong", plan);
                cr_assert_eq(gpumem_epoch_threads(), base_records,
                             "plan %#x: %u records held after the thread exited, %u before",
                             plan, gpumem_epoch_threads(), base_records);
                cr_assert_eq(counted(), 0, "plan %#x: the exited thread is still counted", plan);
            }
            if (plan & (CALL_AT_EXIT | FAIL_AT_EXIT))
                expected_late += (plan & ROUNDS_AT_EXIT_2) ? 2 : 1;
        }
        if (together)
            for (unsigned plan = 0; plan < PLANS; plan++) {
                void *wrong;
                pthread_join(threads[plan], &wrong);
                cr_assert_null(wrong, "plan %#x: a call in the thread's life went wrong", plan);
            }
        cr_assert_eq(atomic_load(&late_calls_done), expected_late,
                     "%d calls from later exit handlers, %d planned", atomic_load(&late_calls_done),
                     expected_late);
        cr_assert_eq(atomic_load(&late_calls_wrong), 0);
        cr_assert_eq(gpumem_epoch_threads(), base_records);
        cr_assert_eq(counted(), 0);
    }
    close_host();
    pthread_key_delete(late_key);
}

/* In a child process only the forking thread holds a record and counts. */
static _Atomic int parked_release, parked_wrong;

static void *park_holding(void *arg)
{
    (void)arg;
    if (!guarded_call() || !failed_call()) {
        atomic_store(&parked_wrong, 1);
        return (void *)1;
    }
    while (!atomic_load(&parked_release))
        usleep(100);
    return NULL;
}

Test(thread_hooks, a_child_forgets_the_other_threads_records_and_counts)
{
    open_host();
    cr_assert(guarded_call());
    pthread_t others[3];
    for (int i = 0; i < 3; i++)
        cr_assert_eq(pthread_create(&others[i], NULL, park_holding, NULL), 0);
    while (counted() < 3 || gpumem_epoch_threads() < 4) {
        cr_assert_eq(atomic_load(&parked_wrong), 0, "a parked thread's calls went wrong");
        usleep(100);
    }
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        int ok = gpumem_epoch_threads() == 1 && counted() == 0;
        /* The child's own calls still work, a failed one counts, its error clears. */
        ok = ok && guarded_call() && failed_call() && counted() == 1 && guarded_call() &&
             counted() == 0;
        _exit(ok ? 0 : 1);
    }
    int status;
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the child kept other threads' records or counts");
    atomic_store(&parked_release, 1);
    for (int i = 0; i < 3; i++) {
        void *wrong;
        pthread_join(others[i], &wrong);
        cr_assert_null(wrong);
    }
    cr_assert_eq(gpumem_epoch_threads(), 1);
    cr_assert_eq(counted(), 0);
    close_host();
}

/* A log callback: what the count said while each message was delivered, and calls of its own,
 * one failing (its error must not outlive the callback), one that keeps a message for later
 * (a buffer in a pool of its own allocates a page, which is logged under the pool's lock). */
static _Atomic int outer_page_messages, counted_in_callback_wrong, callback_calls;
static int callback_makes_calls;

static void on_message(void *user, int32_t level, const char *message)
{
    (void)user;
    (void)level;
    if (strstr(message, "pool 'outer': page") != NULL)
        atomic_fetch_add(&outer_page_messages, 1);
    /* Only this thread makes calls: the count is whether it holds an error or kept messages,
     * at every message, whether sent at once or kept and sent at its call's end. */
    if (counted() != (gpumem_this_thread.error_pending != 0))
        atomic_fetch_add(&counted_in_callback_wrong, 1);
    if (!callback_makes_calls || strstr(message, "'nested'") != NULL)
        return;
    /* On every message: the call's own log line after it returned (its result saved and put
     * back around the callback) and the kept ones sent at its end (likewise). */
    atomic_fetch_add(&callback_calls, 1);
    if (!failed_call_on(0x7) || counted() != 1)
        atomic_fetch_add(&counted_in_callback_wrong, 1);
    if (strstr(message, "page") == NULL)
        return;
    /* The nested pool's page is logged under its lock inside a call from the callback: kept
     * again, for the next round of the outer call's end. */
    gpumem_pool nested;
    gpumem_pool_desc pd = {.name = "nested", .kind = GPUMEM_POOL_PAGED};
    gpumem_buffer b;
    gpumem_buffer_desc d = {.size = 4096};
    /* A callback may not destroy a buffer or a pool: the device's close frees them. */
    if (gpumem_pool_create(device, &pd, &nested) != GPUMEM_OK ||
        gpumem_buffer_create(nested, &d, &b) != GPUMEM_OK)
        atomic_fetch_add(&counted_in_callback_wrong, 1);
}

/* Calls that keep messages for their end count the thread until the messages go; a callback's
 * calls change the count only while it runs, and the call's own result stands afterwards:
 * no error after a call that succeeded, its own after one that failed. */
Test(thread_hooks, kept_messages_and_a_callback_s_calls_leave_the_count_as_the_call_left_it)
{
    open_host();
    cr_assert_eq(gpumem_log_set_callback(on_message, NULL), GPUMEM_OK);
    for (callback_makes_calls = 0; callback_makes_calls < 2; callback_makes_calls++) {
        for (int fail_after = 0; fail_after < 2; fail_after++) {
            atomic_store(&outer_page_messages, 0);
            gpumem_pool p;
            gpumem_pool_desc pd = {.name = "outer", .kind = GPUMEM_POOL_PAGED};
            cr_assert_eq(gpumem_pool_create(device, &pd, &p), GPUMEM_OK);
            gpumem_buffer b;
            gpumem_buffer_desc d = {.size = 4096};
            /* Its first buffer allocates a page, logged under the pool's lock: kept. */
            cr_assert_eq(gpumem_buffer_create(p, &d, &b), GPUMEM_OK, "%s", gpumem_last_error());
            cr_assert_str_eq(gpumem_last_error(), "",
                             "the create succeeded but left \"%s\" (callback calls: %d)",
                             gpumem_last_error(), callback_makes_calls);
            cr_assert_eq(counted(), 0, "%u counted after a create whose messages were sent",
                         counted());
            cr_assert_eq(atomic_load(&outer_page_messages), 1, "the page's message was not sent");
            if (fail_after) {
                /* Its log line's callback fails a call of its own: the call's error stands. */
                cr_assert(failed_call());
                cr_assert(strstr(gpumem_last_error(), "0x5") != NULL,
                          "the failed call's error is \"%s\"", gpumem_last_error());
                cr_assert_eq(counted(), 1);
            }
            /* The pool's destroy frees its page, logged under the lock: kept, then sent. */
            cr_assert_eq(gpumem_buffer_destroy(b), GPUMEM_OK);
            cr_assert_eq(gpumem_pool_destroy(p), GPUMEM_OK);
            cr_assert_eq(atomic_load(&outer_page_messages), 2,
                         "the freed page's message was not sent");
            cr_assert_eq(counted(), 0);
            cr_assert_str_eq(gpumem_last_error(), "");
        }
    }
    cr_assert_eq(atomic_load(&counted_in_callback_wrong), 0,
                 "%d messages found the count wrong, or the callback's calls went wrong",
                 atomic_load(&counted_in_callback_wrong));
    cr_assert_gt(atomic_load(&callback_calls), 0, "the callback never made its calls");
    cr_assert_eq(gpumem_log_set_callback(NULL, NULL), GPUMEM_OK);
    close_host();
}
