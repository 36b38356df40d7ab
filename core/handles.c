#include "handles.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "error.h"

_Static_assert(sizeof(void *) == 8, "gpumem handles need 64-bit pointers");

#define CHUNK_BITS GPUMEM_HANDLE_CHUNK_BITS
#define CHUNK_SLOTS (1u << CHUNK_BITS)
#define MAX_CHUNKS GPUMEM_HANDLE_MAX_CHUNKS /* 16M live handles */
#define chunks gpumem_handle_chunks

typedef gpumem_handle_slot slot;

_Atomic(slot *) gpumem_handle_chunks[MAX_CHUNKS];
static _Atomic uint32_t slot_count; /* slots ever handed out (the table's high-water mark) */
static uint32_t free_head;          /* index + 1 */
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static slot *slot_at(uint32_t index)
{
    slot *chunk = atomic_load_explicit(&chunks[index >> CHUNK_BITS], memory_order_acquire);
    return chunk ? &chunk[index & (CHUNK_SLOTS - 1)] : NULL;
}

static int take_slot(uint32_t *index)
{
    if (free_head) {
        *index = free_head - 1;
        free_head = slot_at(*index)->next_free;
        return 1;
    }
    uint32_t n = atomic_load_explicit(&slot_count, memory_order_relaxed);
    if (n >= MAX_CHUNKS * CHUNK_SLOTS)
        return 0;
    if ((n & (CHUNK_SLOTS - 1)) == 0) {
        slot *chunk = calloc(CHUNK_SLOTS, sizeof *chunk);
        if (!chunk)
            return 0;
        for (uint32_t i = 0; i < CHUNK_SLOTS; i++)
            atomic_init(&chunk[i].generation, 1);
        atomic_store_explicit(&chunks[n >> CHUNK_BITS], chunk, memory_order_release);
    }
    *index = n;
    atomic_store_explicit(&slot_count, n + 1, memory_order_release);
    return 1;
}

uint64_t gpumem_handle_create(gpumem_handle_kind kind, void *object)
{
    pthread_mutex_lock(&table_lock);
    uint32_t index;
    if (!take_slot(&index)) {
        pthread_mutex_unlock(&table_lock);
        return 0;
    }
    slot *s = slot_at(index);
    atomic_store_explicit(&s->object, object, memory_order_relaxed);
    atomic_store_explicit(&s->kind, (uint32_t)kind, memory_order_release);
    uint32_t generation = atomic_load_explicit(&s->generation, memory_order_relaxed);
    pthread_mutex_unlock(&table_lock);
    return ((uint64_t)generation << 32) | (uint64_t)(index + 1);
}

void gpumem_handle_destroy(uint64_t handle)
{
    uint32_t index = (uint32_t)handle - 1;
    uint32_t generation = (uint32_t)(handle >> 32);
    pthread_mutex_lock(&table_lock);
    slot *s = (uint32_t)handle && index < slot_count ? slot_at(index) : NULL;
    if (s && atomic_load_explicit(&s->generation, memory_order_relaxed) == generation &&
        atomic_load_explicit(&s->kind, memory_order_relaxed) != 0) {
        atomic_store_explicit(&s->kind, 0, memory_order_relaxed);
        atomic_store_explicit(&s->object, NULL, memory_order_relaxed);
        /* Generation 0 is skipped so that no handle value is ever 0 in its upper half. */
        uint32_t next = generation + 1 ? generation + 1 : 1;
        atomic_store_explicit(&s->generation, next, memory_order_release);
        s->next_free = free_head;
        free_head = index + 1;
    }
    pthread_mutex_unlock(&table_lock);
}

static const char *kind_name(gpumem_handle_kind kind)
{
    switch (kind) {
    case GPUMEM_HANDLE_DEVICE: return "device";
    case GPUMEM_HANDLE_POOL: return "pool";
    case GPUMEM_HANDLE_BUFFER: return "buffer";
    case GPUMEM_HANDLE_STREAM: return "stream";
    case GPUMEM_HANDLE_VBLOCK: return "vblock";
    }
    return "object";
}

gpumem_result gpumem_handle_get(uint64_t handle, gpumem_handle_kind kind, const char *function,
                                void **object)
{
    const char *what = kind_name(kind);
    if (!handle)
        return gpumem_error(GPUMEM_ERROR_INVALID_HANDLE, function, "%s handle is NULL", what);
    uint32_t index = (uint32_t)handle - 1;
    uint32_t generation = (uint32_t)(handle >> 32);
    if ((uint32_t)handle == 0 || generation == 0 ||
        index >= atomic_load_explicit(&slot_count, memory_order_acquire))
        return gpumem_error(GPUMEM_ERROR_INVALID_HANDLE, function,
                            "0x%llx is not a %s handle", (unsigned long long)handle, what);
    slot *s = slot_at(index);
    uint32_t current = atomic_load_explicit(&s->generation, memory_order_acquire);
    if (current == generation) {
        void *o = atomic_load_explicit(&s->object, memory_order_relaxed);
        if (atomic_load_explicit(&s->kind, memory_order_relaxed) == (uint32_t)kind && o) {
            *object = o;
            return GPUMEM_OK;
        }
        return gpumem_error(GPUMEM_ERROR_INVALID_HANDLE, function,
                            "0x%llx is not a %s handle", (unsigned long long)handle, what);
    }
    if (generation < current)
        return gpumem_error(GPUMEM_ERROR_DESTROYED, function, "the %s was destroyed", what);
    return gpumem_error(GPUMEM_ERROR_INVALID_HANDLE, function, "0x%llx is not a %s handle",
                        (unsigned long long)handle, what);
}
