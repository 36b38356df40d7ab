/* What gpumem keeps per thread: the last error, and the thread's place in the epoch scheme that
 * protects objects from being freed under a call (epoch.h). One thread-local block, so that a
 * public call computes one thread-local address.
 *
 * The block uses the general-dynamic model (with TLS descriptors where the compiler has them,
 * which makes the access about as cheap as initial-exec): an initial-exec thread-local would force
 * libgpumem's whole thread-local block into static TLS, and a dlopen of libgpumem (Python's
 * ctypes, Julia, plugin hosts) would then fail with "cannot allocate memory in static TLS block".
 */
#ifndef GPUMEM_CORE_THREAD_H
#define GPUMEM_CORE_THREAD_H

#include <stdint.h>

#define GPUMEM_MESSAGE_SIZE 1024
#define GPUMEM_THREAD_ARENA_SLOTS 4
/* error_pending's bits: a message (gpumem_last_error), and log messages waiting for the end of
 * the call (log.h, gpumem_log_after_call). */
#define GPUMEM_PENDING_ERROR 1u
#define GPUMEM_PENDING_LOG 2u

struct gpumem_epoch_record;

typedef struct gpumem_thread {
    /* GPUMEM_PENDING_ERROR: message or backend_message holds something; GPUMEM_PENDING_LOG:
     * deferred_log does. */
    unsigned char error_pending; /* changed only through pending.h */
    unsigned char exit_armed;    /* the thread's exit handler is set (thread_hooks.h) */
    unsigned char logging_call;  /* gpumem_call_log runs: calls from its callback are not logged */
    uint32_t depth;              /* public calls in progress (more than 1 only through callbacks) */
    uint32_t log_holds;          /* gpumem_log_hold without its release (log.h) */
    uint32_t arena_slot_next;    /* the arena_slots entry the next new pool takes */
    /* The thread's arena in the last pools with arenas it created in (gpumem_pool_arena), by
     * pool handle (handles are never reused). */
    struct {
        uint64_t pool;
        uint32_t index;
    } arena_slots[GPUMEM_THREAD_ARENA_SLOTS];
    struct gpumem_epoch_record *record; /* registered at the thread's first guarded call */
    /* The stream the thread's innermost transfer holds (gpumem_transfer_enter), or NULL: a call
     * from a log callback inside that transfer that would take it again is refused. */
    struct gpumem_stream_obj *held_stream;
    char message[GPUMEM_MESSAGE_SIZE];         /* what gpumem_last_error() returns */
    char backend_message[GPUMEM_MESSAGE_SIZE]; /* a backend's detail, for core to wrap */
    /* Log messages sent under a lock inside a call, for the call's end (gpumem_log_after_call):
     * each its level (an int32_t) and a NUL-terminated text, in memory of the C library's (not
     * core's allocator, whose failures tests inject) that the call's end frees; those that found
     * no memory are counted. */
    char *deferred_log;
    uint32_t deferred_log_used;
    uint32_t deferred_log_capacity;
    uint32_t deferred_log_dropped;
} gpumem_thread;

extern _Thread_local gpumem_thread gpumem_this_thread;

#endif
