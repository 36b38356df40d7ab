/* Stream-ordered frees in a paged pool: which streams freed ranges whose queued work may still
 * use them, and which allocating streams have waited for that work.
 *
 * A range destroyed on stream S goes back to the pool's suballocator at once (after the
 * destroying call's epoch). S may take it again at once: S's later work runs after S's earlier
 * work. Any other taker first waits for S's work queued before the free: another stream on the
 * device (gpumem_stream_follow), the host (a synchronous create) on the host. The table keeps
 * the sequence number of each stream's last free, how far the host has waited for it, and how
 * far each other stream has; a slot is taken by a stream the first time it frees into the pool
 * or waits, and is given to another stream once its frees are settled. All under the pool's
 * lock. */
#ifndef GPUMEM_CORE_STREAM_ORDER_H
#define GPUMEM_CORE_STREAM_ORDER_H

#include <stdint.h>

#define GPUMEM_ORDER_SLOTS 8

typedef struct gpumem_order_slot {
    uint64_t stream;    /* the stream's handle; 0: a free slot */
    uint64_t last_free; /* sequence number of its last free in the pool (0: none) */
    uint64_t settled;   /* its frees up to this number are done (the host waited) */
    uint64_t seen[GPUMEM_ORDER_SLOTS]; /* seen[j]: this stream waited for slot j's frees up to */
} gpumem_order_slot;

typedef struct gpumem_stream_order {
    uint64_t frees; /* stream-ordered frees so far: the sequence numbers */
    gpumem_order_slot slots[GPUMEM_ORDER_SLOTS];
} gpumem_stream_order;

/* A wait an allocation owes before it may take ranges of the pool: for the work of `stream`
 * queued before its free number `upto`. */
typedef struct gpumem_order_wait {
    uint64_t stream;
    uint64_t upto;
} gpumem_order_wait;

/* Notes a free on `stream`. 0 when every slot holds a stream with unsettled frees: the caller
 * settles one (gpumem_order_oldest) and tries again. */
int gpumem_order_note_free(gpumem_stream_order *order, uint64_t stream);

/* The stream whose unsettled frees are oldest, to settle when no slot is left. */
gpumem_order_wait gpumem_order_oldest(const gpumem_stream_order *order);

/* Gives `taker` (a stream's handle) a slot, so that its waits can be noted: the taker, or 0
 * when every slot is taken by unsettled frees (then it waits as the host does). */
uint64_t gpumem_order_track(gpumem_stream_order *order, uint64_t taker);

/* The waits that `taker` (a stream's handle; 0: the host) owes before it takes ranges; at most
 * GPUMEM_ORDER_SLOTS. */
uint32_t gpumem_order_waits(const gpumem_stream_order *order, uint64_t taker,
                            gpumem_order_wait *waits);

/* Notes that `taker` waited as `wait` says (0: the host waited: the frees are settled). */
void gpumem_order_waited(gpumem_stream_order *order, uint64_t taker, gpumem_order_wait wait);

/* 1 when some free's work may still be running: pages must not be freed yet. */
int gpumem_order_unsettled(const gpumem_stream_order *order);

#endif
