/* Buffers: ranges of a pool's pages. */
#ifndef GPUMEM_CORE_BUFFER_H
#define GPUMEM_CORE_BUFFER_H

#include <stdatomic.h>
#include <stddef.h>

#include "handles.h"
#include "pool.h"
#include "thread.h"

typedef struct gpumem_image_obj gpumem_image_obj;

/* A record is reused (gpumem_pool_record_take, or kept whole by the reuse cache,
 * pool_cache.h): gpumem_record_new sets each field, field by field, but the link, the name,
 * retired_at and the address node, and free_stream outside native pools (a kept record keeps
 * its placement: pool, page, offset, left_padding, block_size, tlsf_handle, margin,
 * cache_bin); a new field must be set there too. */
struct gpumem_buffer_obj {
    /* The first cache line (records are aligned to one) holds every field that a paged pool's
     * destroy reads, on one thread in a pool nobody searches, where the reuse cache keeps the
     * buffer (one it frees reads the second line too: native, image), and every field that a
     * create which takes a kept record reads: such a destroy reads one line of its record, such
     * a create reads and writes the first and writes the second. On gpumem-bench's pool trace
     * the records are too many for the first-level cache, and each line a call reads first is a
     * miss it waits for (docs/performance.md, "Fifty-ninth session", "Sixtieth session"). The
     * second line holds what every create writes; the third what a create that places a range
     * writes (offset, left_padding, margin), what a destroy beside other threads' calls writes
     * (retired_at), a native pool's free_stream and the start of the address node, which an
     * indexed pool's creates touch. */
    gpumem_list link; /* in pool->buffers, pool->retired or pool->spare_records */
    gpumem_pool_obj *pool;
    gpumem_page *page;
    uint64_t block_size;
    uint64_t tlsf_handle; /* 0 for dedicated pages and native allocations */
    char *name; /* the application's, copied; NULL when none (freed with the record) */
    /* The application's maps not yet unmapped. Changed under the pool's lock; read without it
     * (gpumem_buffer_info_get), so atomic, with plain loads and stores: the lock orders the
     * writers. */
    _Atomic uint32_t map_count;
    /* The reuse cache's bin a destroy would keep it in (gpumem_pool_cache_bin_of), fixed when
     * it is placed: a record taken from the cache keeps the bin it was kept in, whose least size
     * its range still holds (pool_cache.h). GPUMEM_POOL_CACHE_NO_BIN where the cache must not
     * keep it: an image's, an import, one on a page of its own or too large for the cache, one
     * in a pool without a cache, one with a native object of its own (gpumem_buffer_native). */
    uint16_t cache_bin;
    /* 1 while address_node is in pool->addresses (gpumem_buffer_index_drop). */
    uint8_t indexed;
    /* The second line. */
    uint64_t handle;
    uint64_t size;
    uint64_t born_at; /* the epoch of the call that made it (its handle slot's birth) */
    gpumem_backend_buffer *native;
    gpumem_image_obj *image; /* images: what makes the record an image (image.h); else NULL */
    void *user_data;         /* the application's */
    uint32_t usage;          /* GPUMEM_BUFFER_USAGE_* (never 0) */
    uint16_t flags;          /* GPUMEM_BUFFER_* (check_desc allows no others) */
    /* Past the first two lines: what a create that places a range writes. */
    _Alignas(64) uint64_t offset; /* in the page */
    uint64_t left_padding;
    /* Guard bytes just before offset; 0 unless the pool has GPUMEM_POOL_DETECT_CORRUPTION,
     * which gpumem_margin_check and gpumem_margin_write test first. */
    uint64_t margin;
    /* The epoch stamp of its destroy: set when it retires (gpumem_pool_retire), read only while
     * it is retired. */
    uint64_t retired_at;
    /* Native pools: the stream its destroy queued the free on; 0 otherwise (a native pool's
     * create sets it, gpumem_pool_record_take sets it for a new record). */
    uint64_t free_stream;
    /* In pool->addresses from the create after the pool's first lookup (gpumem_buffer_find)
     * until the record is freed: live, or destroyed and not found (an empty range) while the
     * reuse cache keeps it or calls may still use it. */
    gpumem_address_node address_node;
} __attribute__((aligned(64)));
_Static_assert(sizeof(void *) != 8 || offsetof(struct gpumem_buffer_obj, handle) == 64,
               "a kept buffer's destroy reads the first line of its record");
_Static_assert(sizeof(void *) != 8 || offsetof(struct gpumem_buffer_obj, offset) == 128,
               "a create that takes a kept record leaves the third line alone");

static inline uint32_t gpumem_buffer_map_count(const gpumem_buffer_obj *b)
{
    return atomic_load_explicit(&b->map_count, memory_order_relaxed);
}

/* Pool lock held. */
static inline void gpumem_buffer_set_map_count(gpumem_buffer_obj *b, uint32_t count)
{
    atomic_store_explicit(&b->map_count, count, memory_order_relaxed);
}

/* The buffer of a live handle, or the reason there is none. `t`: the calling thread
 * (GPUMEM_CALL_THREAD), or NULL to look it up (a thread-local lookup: gpumem_record_get). */
gpumem_result gpumem_buffer_get(gpumem_buffer handle, gpumem_buffer_obj **buffer,
                                const gpumem_thread *t);
/* The buffer or image (`kind`) of a handle for a call of thread `t` (NULL: the calling thread):
 * one made after the call began is refused (gpumem_handle_get_born). */
gpumem_result gpumem_record_get(uint64_t handle, gpumem_handle_kind kind, const gpumem_thread *t,
                                gpumem_buffer_obj **record);

/* Records are shared by buffers and images (records with an image, handles of kind
 * GPUMEM_HANDLE_IMAGE): what both do, for a handle of either kind. `thread` is the calling
 * thread's state (GPUMEM_CALL_THREAD). */
gpumem_result gpumem_record_destroy(uint64_t handle, gpumem_handle_kind kind,
                                    gpumem_stream stream, gpumem_thread *thread);
gpumem_result gpumem_record_info(uint64_t handle, gpumem_handle_kind kind,
                                 gpumem_buffer_info *info, const gpumem_thread *t);
gpumem_result gpumem_record_name(uint64_t handle, gpumem_handle_kind kind, char *name,
                                 size_t capacity, const gpumem_thread *t);
gpumem_result gpumem_record_user_data(uint64_t handle, gpumem_handle_kind kind,
                                      void **user_data, const gpumem_thread *t);
/* gpumem_record_destroy in two steps, for a record of a paged pool found by the call: the
 * handle ends (from then on it says DESTROYED; the record stays in its pool), and later the
 * record is retired as the destroy would retire it. Between them the caller waits for what may
 * still use the record's runtime object (an image's transfers and streams, image.c). The end
 * is refused from a log callback, as a destroy is. */
gpumem_result gpumem_record_end(gpumem_buffer_obj *b, gpumem_handle_kind kind, gpumem_thread *t);
gpumem_result gpumem_record_retire_ended(gpumem_buffer_obj *b, gpumem_thread *t);

/* Places and publishes a new record of `desc` (its alignment already what the record needs),
 * gpumem_pool_lock held. With `image`, the record is an image's: no guard margins, no address
 * index, a handle of kind GPUMEM_HANDLE_IMAGE, a dedicated page allocated for the image where
 * image->native asks, the backend's image bound to its place; the record owns `image` once the
 * call succeeds (on failure it stays the caller's). `thread` is the calling thread's state
 * (GPUMEM_CALL_THREAD). */
gpumem_result gpumem_record_new(gpumem_pool_obj *pool, const gpumem_buffer_desc *desc,
                                uint32_t usage, gpumem_image_obj *image, gpumem_buffer_obj **out,
                                gpumem_thread *thread);

/* gpumem_record_new in the calling thread's arena of `pool` (gpumem_pool_arena), its lock taken
 * for `taker` (gpumem_pool_lock_for) and let go. Where byte_limit refuses an arena of a pool
 * with arenas a page, the other arenas are trimmed (gpumem_pool_trim_others) and the create is
 * tried once more. */
gpumem_result gpumem_record_create(gpumem_pool_obj *pool, gpumem_stream_obj *taker,
                                   const gpumem_buffer_desc *desc, uint32_t usage,
                                   gpumem_image_obj *image, gpumem_buffer_obj **out,
                                   gpumem_thread *thread);

/* OK when [offset, offset + size) is a non-empty range inside the buffer; otherwise the error
 * (GPUMEM_ERROR_INVALID_ARGUMENT for size 0, GPUMEM_ERROR_OUT_OF_RANGE) with its message. */
gpumem_result gpumem_buffer_check_range(const gpumem_buffer_obj *buffer, uint64_t offset,
                                        uint64_t size);

/* Flushes (or invalidates) a range of a mapped buffer, rounded out to the atom size; a no-op
 * for coherent memory. Takes the pool lock. */
gpumem_result gpumem_buffer_coherence(gpumem_buffer_obj *buffer, uint64_t offset, uint64_t size,
                                      int flush);

/* The address index (pool lock held). A destroyed buffer's node stays in its pool's index with
 * an empty range, which no address finds, until its record is freed: a buffer that the reuse
 * cache keeps and a create takes again is found again where it was, with its new size, and the
 * pair never touches the tree (the tree's insert and remove were about 105 ns of each indexed
 * pair, docs/performance.md). gpumem_buffer_unfind empties the range at the destroy;
 * gpumem_buffer_index_drop takes the node out when the record's range goes. */
void gpumem_buffer_unfind(gpumem_buffer_obj *buffer);
void gpumem_buffer_index_drop(gpumem_pool_obj *pool, gpumem_buffer_obj *buffer);

/* Maps / unmaps for core's own use (no user-visible map count). */
gpumem_result gpumem_buffer_map_internal(gpumem_buffer_obj *buffer, char **data);
void gpumem_buffer_unmap_internal(gpumem_buffer_obj *buffer);

#endif
