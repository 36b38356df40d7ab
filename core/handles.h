/* Generation-checked handles: an index into a table of slots plus the slot's generation.
 *
 * Destroying an object bumps its slot's generation, so every later use of the old handle is
 * recognised as destroyed instead of reaching freed memory. Generations never wrap: a slot whose
 * generation reaches its last value is retired for good, so a stale handle stays stale for the
 * life of the process. Slots live in chunks that never move, so a lookup takes no lock. A lookup
 * only finds the object; keeping it alive while the call uses it is the epochs' work (epoch.h).
 */
#ifndef GPUMEM_CORE_HANDLES_H
#define GPUMEM_CORE_HANDLES_H

#include <stdatomic.h>
#include <stdint.h>

#include "gpumem/gpumem.h"

typedef enum gpumem_handle_kind {
    GPUMEM_HANDLE_DEVICE = 1,
    GPUMEM_HANDLE_POOL = 2,
    GPUMEM_HANDLE_BUFFER = 3,
    GPUMEM_HANDLE_STREAM = 4,
    GPUMEM_HANDLE_VBLOCK = 5,
    GPUMEM_HANDLE_EVENT = 6,
    GPUMEM_HANDLE_IMAGE = 7,
    GPUMEM_HANDLE_REGISTRATION = 8,
    GPUMEM_HANDLE_RETIRED = 0xffff, /* the kind of a slot whose generations are used up */
} gpumem_handle_kind;

/* A new handle for object, or 0 when the table is full or out of memory. */
uint64_t gpumem_handle_create(gpumem_handle_kind kind, void *object);

/* Ends a handle: from now on lookups of it report GPUMEM_ERROR_DESTROYED. Returns 1 for the one
 * caller that ended it, 0 when it was not live (already ended, or never a handle). */
int gpumem_handle_destroy(uint64_t handle);

struct gpumem_epoch_record;
/* gpumem_handle_destroy for a handle whose kind the caller knows (a live handle of another kind
 * is not ended; kind 0 and GPUMEM_HANDLE_RETIRED end nothing), `own` the calling thread's epoch
 * record (NULL if it has none), which keeps the freed slot for the thread's next create: no
 * thread-local lookup of its own. */
int gpumem_handle_end(uint64_t handle, gpumem_handle_kind kind, struct gpumem_epoch_record *own);
/* gpumem_handle_create with the calling thread's epoch record given (NULL if it has none), whose
 * kept slots it takes first, and the object's birth (see gpumem_handle_slot). */
uint64_t gpumem_handle_create_own(gpumem_handle_kind kind, void *object,
                                  struct gpumem_epoch_record *own, uint64_t birth);

/* Why a handle is not a live one of `kind`: records the reason ("the buffer was destroyed") as
 * the last error and returns GPUMEM_ERROR_INVALID_HANDLE or GPUMEM_ERROR_DESTROYED. */
gpumem_result gpumem_handle_refuse(uint64_t handle, gpumem_handle_kind kind);

/* The table, visible here only for the inline lookup below. */
#define GPUMEM_HANDLE_CHUNK_BITS 12
#define GPUMEM_HANDLE_MAX_CHUNKS 4096u

typedef struct gpumem_handle_slot {
    /* The slot's generation (low half: starts at 1, bumped when the handle is destroyed) and the
     * kind of its object (high half: 0 while the slot is free), in one word: a lookup checks both
     * with one load and one compare, and destroy bumps the one and clears the other with one
     * compare-and-swap. */
    _Atomic uint64_t tag;
    _Atomic(void *) object;
    /* The epoch of the call that made the object (0: older than every call). A lookup of a
     * buffer or image (gpumem_handle_get_born) refuses one born after the looking call began:
     * no such call can have had its handle when it began, so a reclaim need not wait for calls
     * that began before the buffer was born (gpumem_epoch_snapshot). */
    _Atomic uint64_t birth;
    _Atomic uint32_t next_free; /* index + 1 of the next free slot, 0 at the end */
} gpumem_handle_slot;

#define GPUMEM_HANDLE_TAG(generation, kind) \
    ((uint64_t)(uint32_t)(generation) | (uint64_t)(kind) << 32)

extern _Atomic(gpumem_handle_slot *) gpumem_handle_chunks[GPUMEM_HANDLE_MAX_CHUNKS];
/* The first chunk is static, so the first 4096 handles (most programs never have more live at
 * once) are found without loading a chunk pointer: one dependent load fewer on every call. */
extern gpumem_handle_slot gpumem_handle_first_chunk[1u << GPUMEM_HANDLE_CHUNK_BITS];

/* The slot of a handle, or NULL where the table has none (such a handle was never given out). */
static inline gpumem_handle_slot *gpumem_handle_slot_of(uint64_t handle)
{
    uint32_t index = (uint32_t)handle - 1;
    if (__builtin_expect(index < (1u << GPUMEM_HANDLE_CHUNK_BITS), 1))
        return &gpumem_handle_first_chunk[index];
    if ((index >> GPUMEM_HANDLE_CHUNK_BITS) >= GPUMEM_HANDLE_MAX_CHUNKS)
        return NULL;
    gpumem_handle_slot *chunk = atomic_load_explicit(
        &gpumem_handle_chunks[index >> GPUMEM_HANDLE_CHUNK_BITS], memory_order_acquire);
    return chunk ? &chunk[index & ((1u << GPUMEM_HANDLE_CHUNK_BITS) - 1)] : NULL;
}

/* The object of a live handle of `kind`, or NULL (then gpumem_handle_get says why); with
 * `birth` not NULL, also the object's birth (gpumem_handle_get_born). */
static inline void *gpumem_handle_peek_birth(uint64_t handle, gpumem_handle_kind kind,
                                             uint64_t *birth)
{
    gpumem_handle_slot *s = gpumem_handle_slot_of(handle);
    if (!s)
        return NULL;
    uint64_t expected = GPUMEM_HANDLE_TAG(handle >> 32, kind);
    if (atomic_load_explicit(&s->tag, memory_order_acquire) != expected)
        return NULL;
    /* Between the check and this load, the handle may have been destroyed and its slot given
     * to a new object: the tag is checked again after the object is read. The object is stored
     * with release after the slot was taken from the destroyer, so a new object read here
     * implies a new tag read below. */
    void *object = atomic_load_explicit(&s->object, memory_order_acquire);
    if (birth) /* between the object and the second tag read: see gpumem_handle_get_born */
        *birth = atomic_load_explicit(&s->birth, memory_order_acquire);
    if (atomic_load_explicit(&s->tag, memory_order_relaxed) != expected)
        return NULL;
    return object;
}

static inline void *gpumem_handle_peek(uint64_t handle, gpumem_handle_kind kind)
{
    return gpumem_handle_peek_birth(handle, kind, NULL);
}

/* gpumem_handle_peek for an object the application synchronizes externally (a virtual block):
 * no destroy of it can run during the call, so the tag is not read again after the object.
 * Stale, wrong-kind and garbage handles are refused alike: generations only grow, and a slot
 * never handed out has kind 0. The object was stored before the tag was (with release), so
 * after the tag's acquire a relaxed read finds it. A destroy that broke the contract and ran
 * during the call could make this return another object; gpumem_handle_peek would not. */
static inline void *gpumem_handle_peek_synchronized(uint64_t handle, gpumem_handle_kind kind)
{
    gpumem_handle_slot *s = gpumem_handle_slot_of(handle);
    if (!s || atomic_load_explicit(&s->tag, memory_order_acquire) !=
                  GPUMEM_HANDLE_TAG(handle >> 32, kind))
        return NULL;
    return atomic_load_explicit(&s->object, memory_order_relaxed);
}

/* The object behind a live handle of `kind`, or the reason it is not one (see
 * gpumem_handle_refuse). Inline: every public call starts with it. */
static inline gpumem_result gpumem_handle_get(uint64_t handle, gpumem_handle_kind kind,
                                              void **object)
{
    void *o = gpumem_handle_peek(handle, kind);
    *object = o;
    return __builtin_expect(o != NULL, 1) ? GPUMEM_OK : gpumem_handle_refuse(handle, kind);
}

/* Why a live handle's object is refused to a call that began at `epoch`, before the object was
 * born (see gpumem_handle_slot); `nested`: the call runs in a log callback. */
gpumem_result gpumem_handle_refuse_young(uint64_t handle, gpumem_handle_kind kind, int nested)
    __attribute__((cold));

/* gpumem_handle_get for a buffer or an image, by a call that began at `epoch` (its epoch record's)
 * and runs at `depth`: an object born after the call began is refused. The birth is read with
 * acquire after the object and before the tag is read again. It is stored with release after
 * the slot was taken from the object's destroy (gpumem_handle_create_own), so a birth of a
 * later object in the slot (which may be smaller: a long call's create can take a younger
 * buffer's slot) orders that destroy's end before the second tag read, which then fails: the
 * birth compared is the returned object's. */
static inline gpumem_result gpumem_handle_get_born(uint64_t handle, gpumem_handle_kind kind,
                                                   uint64_t epoch, uint32_t depth,
                                                   void **object)
{
    uint64_t birth = 0;
    void *o = gpumem_handle_peek_birth(handle, kind, &birth);
    *object = NULL;
    if (__builtin_expect(!o, 0))
        return gpumem_handle_refuse(handle, kind);
    if (__builtin_expect(birth > epoch, 0))
        return gpumem_handle_refuse_young(handle, kind, depth > 1);
    *object = o;
    return GPUMEM_OK;
}

/* The handle value behind a public handle type. */
#define GPUMEM_HANDLE_OF(h) ((uint64_t)(uintptr_t)(h))

#endif
