#include "epoch.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#endif

#include "alloc.h"
#include "backoff.h"
#include "env.h"
#include "hot.h"
#include "lock.h"
#include "log.h"
#include "thread.h"
#include "thread_hooks.h"

_Atomic uint64_t gpumem_epoch_global = 1;
#if defined(__SANITIZE_THREAD__)
_Atomic uint64_t gpumem_epoch_fence_word;
#endif
int gpumem_epoch_readers_fence;

static _Atomic(gpumem_epoch_record *) records; /* a stack that only grows */
static _Atomic uint32_t records_in_use;        /* records held by live threads */
static _Atomic uint64_t known_safe = 1;         /* see gpumem_epoch_known_safe */
static pthread_once_t setup_once = PTHREAD_ONCE_INIT;

#if defined(__linux__) && defined(__NR_membarrier)
static int membarrier_call(int command)
{
    return (int)syscall(__NR_membarrier, command, 0, 0);
}
#endif

/* At a thread's exit (thread_hooks.h): its record goes back for another thread to take. */
void gpumem_epoch_thread_exits(gpumem_thread *t)
{
    gpumem_epoch_record *record = t->record;
    if (!record)
        return;
    t->record = NULL; /* a later call (another exit handler) registers anew */
    atomic_store_explicit(&record->epoch, 0, memory_order_release);
    atomic_store_explicit(&record->in_use, 0, memory_order_release);
    atomic_fetch_sub(&records_in_use, 1);
    gpumem_lock_thread_exits();
}

/* In a child process only the forking thread lives on: the records of the others, some maybe
 * caught inside a call, would make every later wait in the child wait forever. */
void gpumem_epoch_forget_other_threads(void)
{
    uint32_t kept = 0;
    for (gpumem_epoch_record *r = atomic_load(&records); r; r = r->next) {
        if (r == gpumem_this_thread.record) {
            kept = atomic_load(&r->in_use) ? 1 : 0;
            continue;
        }
        atomic_store(&r->epoch, 0);
        /* Its thread may have been between storing a kept slot and counting it (handles.c):
         * the slots it kept are dropped (a few leak; none is handed out twice). */
        r->free_slot_count = 0;
        atomic_store(&r->in_use, 0);
    }
    atomic_store(&records_in_use, kept);
    gpumem_lock_forget_other_threads();
}

static void setup(void)
{
    gpumem_epoch_readers_fence = 1;
#if defined(__linux__) && defined(__NR_membarrier)
    int commands = gpumem_env_membarrier() ? membarrier_call(MEMBARRIER_CMD_QUERY) : 0;
    if (commands > 0 && (commands & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
        membarrier_call(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0)
        gpumem_epoch_readers_fence = 0;
#endif
    gpumem_lock_setup(!gpumem_epoch_readers_fence);
}

GPUMEM_RARE gpumem_epoch_record *gpumem_epoch_register(void)
{
    pthread_once(&setup_once, setup);
    /* The fork handler before a record is taken; the exit handler gives it back (where it
     * cannot be armed, the record is never reused unless a later arm of this thread succeeds). */
    gpumem_thread_hooks_arm(&gpumem_this_thread);
    gpumem_epoch_record *record = atomic_load_explicit(&records, memory_order_acquire);
    for (; record; record = record->next) { /* a record of a thread that exited */
        int free_record = 0;
        if (atomic_compare_exchange_strong(&record->in_use, &free_record, 1))
            break;
    }
    if (!record) {
        record = gpumem_alloc_aligned(64, sizeof *record);
        if (!record)
            return NULL;
        memset(record, 0, sizeof *record);
        atomic_init(&record->in_use, 1);
        gpumem_epoch_record *head = atomic_load_explicit(&records, memory_order_relaxed);
        do
            record->next = head;
        while (!atomic_compare_exchange_weak_explicit(&records, &head, record,
                                                      memory_order_release,
                                                      memory_order_relaxed));
    }
    /* Counted, then fenced: a writer that counted only itself (and so skipped its barrier, see
     * gpumem_epoch_oldest) had ended its handles before this count, so this thread's lookups,
     * after the fence, see them ended. */
    atomic_fetch_add(&records_in_use, 1);
    GPUMEM_FULL_FENCE();
    gpumem_this_thread.record = record;
    return record;
}

/* Once readers rely on membarrier, a fence of the caller's own would not order their accesses:
 * a failed call (the kernel may be short of memory) is made again, after a pause, until it
 * succeeds; one that cannot succeed (an error other than a shortage, which registration ruled
 * out) ends the process, rather than letting an object be freed under a call, or two threads
 * into one section. */
void gpumem_epoch_barrier(void)
{
#if defined(__linux__) && defined(__NR_membarrier)
    if (!gpumem_epoch_readers_fence) {
        for (unsigned round = 0; membarrier_call(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0;
             round++) {
            if (errno != ENOMEM && errno != EAGAIN && errno != EINTR) {
                fprintf(stderr, "gpumem: membarrier failed after it was registered (%s): "
                        "memory order between threads cannot be kept\n", strerror(errno));
                abort();
            }
            gpumem_backoff(round, 0, 0);
        }
        return;
    }
#endif
    GPUMEM_FULL_FENCE(); /* readers fence themselves */
}

/* Raises known_safe to `bound` unless another thread already raised it further. */
static void publish_safe(uint64_t bound)
{
    uint64_t seen = atomic_load_explicit(&known_safe, memory_order_relaxed);
    while (seen < bound && !atomic_compare_exchange_weak_explicit(&known_safe, &seen, bound,
                                                                  memory_order_release,
                                                                  memory_order_relaxed))
        ;
}

/* Out of line, so that a buffer's destroy (GPUMEM_FLATTEN) does not take in the barrier; not
 * GPUMEM_RARE, which would have the compiler treat the batch reclaim that follows it as cold
 * code and build it for size (24 instructions more a create+destroy pair). */
static uint64_t oldest(const gpumem_epoch_record *self, gpumem_epoch_snapshot *snapshot)
{
    uint64_t next = atomic_fetch_add(&gpumem_epoch_global, 1) + 1;
    if (snapshot) {
        snapshot->next = next;
        snapshot->count = 0;
        snapshot->complete = 1;
    }
    /* No other thread holds a record: none is in a call, and one that registers from now on
     * fences after counting itself, so it cannot find what was ended before this point. */
    if (atomic_load(&records_in_use) <= (self ? 1u : 0u)) {
        uint64_t own = self ? atomic_load_explicit(&self->epoch, memory_order_relaxed) : 0;
        publish_safe(own && own < next ? own : next);
        return next;
    }
    gpumem_epoch_barrier();
    uint64_t oldest = next, everyone = next;
    for (gpumem_epoch_record *r = atomic_load_explicit(&records, memory_order_acquire); r;
         r = r->next) {
        uint64_t epoch = atomic_load_explicit(&r->epoch, memory_order_acquire);
        if (!epoch)
            continue;
        if (epoch < everyone)
            everyone = epoch;
        if (r == self)
            continue;
        if (epoch < oldest)
            oldest = epoch;
        if (!snapshot || !snapshot->complete)
            continue;
        if (snapshot->count == GPUMEM_EPOCH_SNAPSHOT_MAX) {
            snapshot->complete = 0;
            continue;
        }
        uint32_t i = snapshot->count++; /* insertion: a handful of threads are in calls */
        for (; i > 0 && snapshot->epochs[i - 1] > epoch; i--)
            snapshot->epochs[i] = snapshot->epochs[i - 1];
        snapshot->epochs[i] = epoch;
    }
    publish_safe(everyone);
    return oldest;
}

GPUMEM_OUT_OF_LINE uint64_t gpumem_epoch_oldest(const gpumem_epoch_record *self)
{
    return oldest(self, NULL);
}

GPUMEM_OUT_OF_LINE uint64_t gpumem_epoch_oldest_snapshot(const gpumem_epoch_record *self,
                                                         gpumem_epoch_snapshot *snapshot)
{
    return oldest(self, snapshot);
}

uint64_t gpumem_epoch_known_safe(void)
{
    return atomic_load_explicit(&known_safe, memory_order_acquire);
}

int gpumem_epoch_alone(void)
{
    /* A thread that registers from now on fences after counting itself (gpumem_epoch_register),
     * so it cannot find what was ended before this load. */
    return atomic_load(&records_in_use) <= 1u;
}

uint32_t gpumem_epoch_threads(void)
{
    return atomic_load_explicit(&records_in_use, memory_order_relaxed);
}

void gpumem_epoch_wait(gpumem_epoch_record *self, uint64_t stamp)
{
    if (self)
        gpumem_epoch_leave(self);
    /* The calls being waited for are usually short: yield a few times, then sleep longer and
     * longer (up to a millisecond) while one runs on, such as a large transfer. */
    for (unsigned round = 0; gpumem_epoch_oldest(self) <= stamp; round++)
        gpumem_backoff(round, 0, 16);
}
