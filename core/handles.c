#include "handles.h"

#include <pthread.h>
#include <stdatomic.h>

#include "alloc.h"
#include "epoch.h"
#include "error.h"
#include "hot.h"
#include "thread.h"

_Static_assert(sizeof(void *) == 8, "gpumem handles need 64-bit pointers");

#define CHUNK_BITS GPUMEM_HANDLE_CHUNK_BITS
#define CHUNK_SLOTS (1u << CHUNK_BITS)
#define MAX_CHUNKS GPUMEM_HANDLE_MAX_CHUNKS /* 16M live handles */
#define chunks gpumem_handle_chunks

typedef gpumem_handle_slot slot;

slot gpumem_handle_first_chunk[CHUNK_SLOTS];
_Atomic(slot *) gpumem_handle_chunks[MAX_CHUNKS] = {gpumem_handle_first_chunk};
static _Atomic uint32_t slot_count; /* slots ever handed out (the table's high-water mark) */
/* The free slots: a lock-free stack, (pops << 32) | (index + 1). The pop count in the upper half
 * makes a head that was popped and pushed back between a load and a compare-and-swap look
 * different, so the swap cannot install a stale next (the ABA problem). */
static _Atomic uint64_t free_head;
static pthread_mutex_t grow_lock = PTHREAD_MUTEX_INITIALIZER; /* new slots and chunks */

/* The slot of a handed-out index (its chunk exists). */
static slot *slot_at(uint32_t index)
{
    return gpumem_handle_slot_of((uint64_t)index + 1);
}

static int pop_free(uint32_t *index)
{
    uint64_t head = atomic_load_explicit(&free_head, memory_order_acquire);
    while ((uint32_t)head) {
        uint32_t top = (uint32_t)head - 1;
        slot *s = slot_at(top); /* a slot that was once handed out: its chunk exists */
        if (!s)
            return 0;
        uint32_t next = atomic_load_explicit(&s->next_free, memory_order_relaxed);
        uint64_t popped = ((head >> 32) + 1) << 32 | next;
        if (atomic_compare_exchange_weak_explicit(&free_head, &head, popped,
                                                  memory_order_acquire, memory_order_acquire)) {
            *index = top;
            return 1;
        }
    }
    return 0;
}

static void push_free(uint32_t index)
{
    slot *s = slot_at(index);
    uint64_t head = atomic_load_explicit(&free_head, memory_order_relaxed);
    do
        atomic_store_explicit(&s->next_free, (uint32_t)head, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&free_head, &head,
                                                  (head & ~0xffffffffull) | (index + 1),
                                                  memory_order_release, memory_order_relaxed));
}

/* A slot never used before; chunks are added as the table grows and never move. */
GPUMEM_RARE static int new_slot(uint32_t *index)
{
    pthread_mutex_lock(&grow_lock);
    uint32_t n = atomic_load_explicit(&slot_count, memory_order_relaxed);
    int ok = n < MAX_CHUNKS * CHUNK_SLOTS;
    if (ok && n < CHUNK_SLOTS) /* the static chunk: its slots start at generation 1 here */
        atomic_store_explicit(&gpumem_handle_first_chunk[n].tag, GPUMEM_HANDLE_TAG(1, 0),
                              memory_order_relaxed);
    else if (ok && (n & (CHUNK_SLOTS - 1)) == 0) {
        slot *chunk = gpumem_alloc_zeroed(CHUNK_SLOTS, sizeof *chunk);
        if ((ok = chunk != NULL)) {
            for (uint32_t i = 0; i < CHUNK_SLOTS; i++)
                atomic_init(&chunk[i].tag, GPUMEM_HANDLE_TAG(1, 0));
            atomic_store_explicit(&chunks[n >> CHUNK_BITS], chunk, memory_order_release);
        }
    }
    if (ok) {
        *index = n;
        atomic_store_explicit(&slot_count, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&grow_lock);
    return ok;
}

uint64_t gpumem_handle_create(gpumem_handle_kind kind, void *object)
{
    return gpumem_handle_create_own(kind, object, gpumem_this_thread.record, 0);
}

uint64_t gpumem_handle_create_own(gpumem_handle_kind kind, void *object, gpumem_epoch_record *own,
                                  uint64_t birth)
{
    uint32_t index;
    if (own /* its kept slots: see free_slots */ && own->free_slot_count)
        index = own->free_slots[--own->free_slot_count];
    else if (!pop_free(&index) && !new_slot(&index))
        return 0;
    slot *s = slot_at(index);
    /* Release, like the object: ordered after the end of the slot's last object
     * (gpumem_handle_get_born). */
    atomic_store_explicit(&s->birth, birth, memory_order_release);
    atomic_store_explicit(&s->object, object, memory_order_release); /* see gpumem_handle_peek */
    uint32_t generation = (uint32_t)atomic_load_explicit(&s->tag, memory_order_relaxed);
    atomic_store_explicit(&s->tag, GPUMEM_HANDLE_TAG(generation, kind), memory_order_release);
    return ((uint64_t)generation << 32) | (uint64_t)(index + 1);
}

/* Ends slot s of `handle` if its tag is still `live` (the handle's generation and kind): only
 * the one caller whose swap succeeds frees the slot; a second destroy finds a new generation
 * and no kind. Sequentially consistent: the end of a handle comes before the stamp the
 * destroyer reads next (epoch.h), which other threads' reclaims rely on too
 * (gpumem_epoch_known_safe). A slot at its last generation is retired instead of wrapping to
 * generation 1, where its first handle would come back to life. */
static int end_slot(slot *s, uint64_t handle, uint64_t live, gpumem_epoch_record *own)
{
    uint32_t generation = (uint32_t)(handle >> 32);
    int last = generation == UINT32_MAX;
    uint64_t ended = last ? GPUMEM_HANDLE_TAG(generation, GPUMEM_HANDLE_RETIRED)
                          : GPUMEM_HANDLE_TAG(generation + 1, 0);
    if (!atomic_compare_exchange_strong_explicit(&s->tag, &live, ended, memory_order_seq_cst,
                                                 memory_order_relaxed))
        return 0;
    atomic_store_explicit(&s->object, NULL, memory_order_release);
    if (last)
        return 1;
    uint32_t index = (uint32_t)handle - 1;
    if (own && own->free_slot_count < GPUMEM_EPOCH_FREE_SLOTS)
        own->free_slots[own->free_slot_count++] = index;
    else
        push_free(index);
    return 1;
}

int gpumem_handle_destroy(uint64_t handle)
{
    gpumem_handle_slot *s = gpumem_handle_slot_of(handle); /* NULL for handle 0 too */
    if (!s)
        return 0;
    /* Live with any kind: the tag read is the one the swap expects. */
    uint64_t tag = atomic_load_explicit(&s->tag, memory_order_relaxed);
    if ((tag >> 32) == 0 || (tag >> 32) == GPUMEM_HANDLE_RETIRED ||
        (uint32_t)tag != (uint32_t)(handle >> 32))
        return 0;
    return end_slot(s, handle, tag, gpumem_this_thread.record);
}

int gpumem_handle_end(uint64_t handle, gpumem_handle_kind kind, gpumem_epoch_record *own)
{
    if (kind == 0 || kind == GPUMEM_HANDLE_RETIRED) /* no live handle has them (folds away) */
        return 0;
    gpumem_handle_slot *s = gpumem_handle_slot_of(handle);
    return s && end_slot(s, handle, GPUMEM_HANDLE_TAG(handle >> 32, kind), own);
}

static const char *kind_name(gpumem_handle_kind kind)
{
    switch (kind) {
    case GPUMEM_HANDLE_DEVICE: return "device";
    case GPUMEM_HANDLE_POOL: return "pool";
    case GPUMEM_HANDLE_BUFFER: return "buffer";
    case GPUMEM_HANDLE_STREAM: return "stream";
    case GPUMEM_HANDLE_VBLOCK: return "vblock";
    case GPUMEM_HANDLE_EVENT: return "event";
    case GPUMEM_HANDLE_IMAGE: return "image";
    case GPUMEM_HANDLE_REGISTRATION: return "host registration";
    case GPUMEM_HANDLE_RETIRED: break;
    }
    return "object";
}

gpumem_result gpumem_handle_refuse(uint64_t handle, gpumem_handle_kind kind)
{
    const char *what = kind_name(kind);
    if (!handle)
        return gpumem_fail(GPUMEM_ERROR_INVALID_HANDLE, "%s handle is NULL", what);
    uint32_t index = (uint32_t)handle - 1;
    uint32_t generation = (uint32_t)(handle >> 32);
    if ((uint32_t)handle != 0 && generation != 0 &&
        index < atomic_load_explicit(&slot_count, memory_order_acquire)) {
        uint64_t tag = atomic_load_explicit(&slot_at(index)->tag, memory_order_acquire);
        /* Generations only grow: every one below the slot's current one was handed out and
         * ended, and so was every one of a retired slot. */
        if (generation < (uint32_t)tag || (tag >> 32) == GPUMEM_HANDLE_RETIRED)
            return gpumem_fail(GPUMEM_ERROR_DESTROYED, "the %s was destroyed", what);
    }
    int vowel = what[0] == 'a' || what[0] == 'e' || what[0] == 'i' || what[0] == 'o' ||
                what[0] == 'u';
    return gpumem_fail(GPUMEM_ERROR_INVALID_HANDLE, "0x%llx is not %s %s handle",
                       (unsigned long long)handle, vowel ? "an" : "a", what);
}

gpumem_result gpumem_handle_refuse_young(uint64_t handle, gpumem_handle_kind kind, int nested)
{
    const char *what = kind_name(kind);
    if (nested)
        return gpumem_fail(GPUMEM_ERROR_BAD_STATE,
                           "a call from a log callback cannot use a %s made after the call the "
                           "callback runs in began (0x%llx)",
                           what, (unsigned long long)handle);
    return gpumem_fail(GPUMEM_ERROR_INVALID_HANDLE,
                       "0x%llx is a %s made by a call that began after this one: no handle of "
                       "it can have been passed to this call",
                       (unsigned long long)handle, what);
}
