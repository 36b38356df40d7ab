/* Epochs: objects are never freed under a call that may still use them.
 *
 * A public call that uses objects (a device, pool, buffer or stream) runs inside a read-side
 * section: on entry its thread publishes the global epoch in its record, on exit it publishes 0.
 * Destroying an object first ends its handle (from then on no call can find it), then stamps it
 * with the global epoch. Any call that found the object entered at an epoch at or below that
 * stamp; once every thread is outside a call or entered above the stamp, nothing can reach the
 * object and it is freed. Buffers are retired this way and freed in batches (pool.c) while
 * another thread holds a record (alone, a thread keeps or frees them at once); pools,
 * streams and devices wait for that moment in their destroy (gpumem_epoch_wait).
 *
 * The read side costs two plain stores: the ordering between a reader's store and its handle
 * lookup is enforced from the writer's side with membarrier(2), which makes every running thread
 * of the process execute a full barrier. Where membarrier is not available, readers issue the
 * full fence themselves (about 4 ns more per call).
 */
#ifndef GPUMEM_CORE_EPOCH_H
#define GPUMEM_CORE_EPOCH_H

#include <stdatomic.h>
#include <stdint.h>

/* Handle slots a thread keeps for its next creates (handles.c). */
#define GPUMEM_EPOCH_FREE_SLOTS 30

typedef struct gpumem_epoch_record {
    _Atomic uint64_t epoch; /* 0 outside a call; else the global epoch when the call began */
    _Atomic int in_use;     /* held by a live thread */
    struct gpumem_epoch_record *next; /* every record ever made; records are reused, not freed */
    /* Beyond the first cache line, which other threads read, what only the record's thread
     * touches: handle slots it freed, which its next creates take before the shared free stack
     * (no atomic read-modify-write for either). A record outlives its thread, so they stay
     * with it for the next thread that takes it, never lost. */
    uint32_t free_slot_count __attribute__((aligned(64)));
    uint32_t free_slots[GPUMEM_EPOCH_FREE_SLOTS];
} __attribute__((aligned(64))) gpumem_epoch_record; /* whole cache lines: no false sharing */

extern _Atomic uint64_t gpumem_epoch_global;
/* Readers fence themselves (membarrier is not available). Set once, before any record is used. */
extern int gpumem_epoch_readers_fence;

/* Orders every running thread's earlier memory accesses before the caller's next loads: one
 * membarrier (made again until it succeeds), or, where membarrier is not available, a full fence
 * (the readers fence themselves then). Also what ends the lone thread's place among core's locks
 * (lock.h). */
void gpumem_epoch_barrier(void);

/* A record for the calling thread, released when the thread exits. NULL when out of memory. */
gpumem_epoch_record *gpumem_epoch_register(void);

/* A full fence. ThreadSanitizer does not model fences (gcc warns of them under
 * -fsanitize=thread, an error with -Werror): there a sequentially consistent read-modify-write
 * of one shared word stands for it, which it does model. */
#if defined(__SANITIZE_THREAD__)
extern _Atomic uint64_t gpumem_epoch_fence_word;
#define GPUMEM_FULL_FENCE() \
    ((void)atomic_fetch_add_explicit(&gpumem_epoch_fence_word, 0, memory_order_seq_cst))
#else
#define GPUMEM_FULL_FENCE() atomic_thread_fence(memory_order_seq_cst)
#endif

static inline void gpumem_epoch_enter(gpumem_epoch_record *record)
{
    /* Acquire: the call's handle lookups must not read before the epoch does, or on a weakly
     * ordered machine (AArch64) a call could find an object, then read an epoch the object's
     * destroy bumped past its stamp, and publish that: the object would be freed under it. The
     * same instruction as a plain load on x86-64. */
    atomic_store_explicit(&record->epoch,
                          atomic_load_explicit(&gpumem_epoch_global, memory_order_acquire),
                          memory_order_relaxed);
    if (__builtin_expect(gpumem_epoch_readers_fence, 0))
        GPUMEM_FULL_FENCE();
    else
        atomic_signal_fence(memory_order_seq_cst); /* the writer's membarrier does the rest */
}

static inline void gpumem_epoch_leave(gpumem_epoch_record *record)
{
    atomic_store_explicit(&record->epoch, 0, memory_order_release);
}

/* The stamp of an object whose handle has just ended. */
static inline uint64_t gpumem_epoch_stamp(void)
{
    return atomic_load_explicit(&gpumem_epoch_global, memory_order_seq_cst);
}

/* Objects stamped below the returned epoch are reachable by no call of any thread but `self`
 * (the caller's own record, which may be NULL). Never blocks; costs one membarrier when other
 * threads have records. */
uint64_t gpumem_epoch_oldest(const gpumem_epoch_record *self);

/* The epochs of the calls in progress at a reclaim's barrier, but the caller's own, sorted. A
 * buffer or image is looked up only by calls that began no earlier than its birth
 * (gpumem_handle_get_born), and reached only by calls that began before its handle ended (its
 * stamp): one is unreachable unless some call's epoch lies between the two. So buffers that
 * lived for less than a time slice are freed while another thread, out of its core in the
 * middle of a call, holds back everything older (docs/design.md, "Lifetimes: epochs"). */
#define GPUMEM_EPOCH_SNAPSHOT_MAX 64
typedef struct gpumem_epoch_snapshot {
    /* The epoch the reclaim moved the global one to, before its barrier. Only objects stamped
     * below it had their handles ended before the barrier, so that every call that may reach
     * them is among the epochs; one stamped later may be reached by a call that began after
     * the records were read. */
    uint64_t next;
    uint32_t count;    /* epochs[0, count) */
    int complete;      /* 0: more calls than room, so only the oldest epoch may be used */
    uint64_t epochs[GPUMEM_EPOCH_SNAPSHOT_MAX];
} gpumem_epoch_snapshot;

/* gpumem_epoch_oldest, also filling `snapshot`. */
uint64_t gpumem_epoch_oldest_snapshot(const gpumem_epoch_record *self,
                                      gpumem_epoch_snapshot *snapshot);

/* The index of the first of `count` sorted epochs that is at least `epoch` (count if none). */
static inline uint32_t gpumem_epoch_lower_bound(const uint64_t *epochs, uint32_t count,
                                                uint64_t epoch)
{
    uint32_t low = 0, high = count;
    while (low < high) {
        uint32_t middle = (low + high) / 2;
        if (epochs[middle] < epoch)
            low = middle + 1;
        else
            high = middle;
    }
    return low;
}

/* The epoch of a call of `snapshot` (complete) that may reach an object born at `birth` and
 * stamped `stamp`, which must be below snapshot->next: the oldest such; 0 when none may. */
static inline uint64_t gpumem_epoch_snapshot_reaches(const gpumem_epoch_snapshot *snapshot,
                                                     uint64_t birth, uint64_t stamp)
{
    uint32_t first = gpumem_epoch_lower_bound(snapshot->epochs, snapshot->count, birth);
    return first < snapshot->count && snapshot->epochs[first] <= stamp ? snapshot->epochs[first]
                                                                       : 0;
}

/* Objects stamped below the returned epoch are reachable by no call of any thread, the caller's
 * included: the newest such bound any thread's gpumem_epoch_oldest found (it also counts its own
 * record there). One atomic load, no barrier: reclaims take what others' barriers proved before
 * paying for one of their own. */
uint64_t gpumem_epoch_known_safe(void);

/* Whether no thread but the caller's holds a record: then no other call can reach what was
 * ended before (as gpumem_epoch_oldest finds without its barrier), and the caller may reuse it
 * at once. For the caller's own call, which holds a record; one atomic load. */
int gpumem_epoch_alone(void);

/* Threads that hold a record now (each made a call and has not exited). */
uint32_t gpumem_epoch_threads(void);

/* Ends the caller's own read-side section (so waiters never wait for each other; whatever the
 * caller still uses must be kept alive by other means, such as the device's teardown count), then
 * blocks until objects stamped `stamp` are reachable by no call of any thread. The caller must
 * hold no lock that a call may wait for. */
void gpumem_epoch_wait(gpumem_epoch_record *self, uint64_t stamp);

#endif
