/* gpumem's log: a process-wide callback, or stderr filtered by GPUMEM_LOG. */
#ifndef GPUMEM_CORE_LOG_H
#define GPUMEM_CORE_LOG_H

#include <stdatomic.h>
#include <stdint.h>

/* Sends a message to the log at once (inside a log hold, below, at its end): the callback, if
 * set, runs here, inside the call that logs, so no lock may be held (a callback may call gpumem; the conformance suite's transfer
 * tests act from inside a transfer on its debug message). */
void gpumem_log(int32_t level, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* gpumem_log for a message sent under a lock (a pool's pages made and freed, an overwritten
 * guard margin; every backend message goes this way too, gpumem_backend_log): inside a public
 * call, or a log hold, while a callback is set, it is kept and reaches the callback at the end
 * of the thread's outermost call, still inside it (its read-side section) but with no lock held,
 * so that the callback may call gpumem on what the message names (a stats or a trim of a pool
 * whose lock the call held would otherwise deadlock, or, for the lone thread, get in under its
 * own call). Otherwise, or to stderr, at once. */
void gpumem_log_after_call(int32_t level, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

struct gpumem_thread;
/* Every message sent between these (gpumem_log's too) waits as gpumem_log_after_call's do
 * inside a call, and goes at the release when the thread is in no call: for code that logs
 * under a lock outside a call's read-side section (the registry's fill and probes, a device's
 * open: GPUMEM_LOGGED_PLAIN_CALL holds its expression's log). Holds nest. */
void gpumem_log_hold(struct gpumem_thread *thread);
void gpumem_log_release(struct gpumem_thread *thread);

/* Frees the thread's kept messages unsent (at its exit, where none should be left). */
void gpumem_log_discard_kept(struct gpumem_thread *thread);

/* Sends the messages gpumem_log_after_call kept for the end of the outermost call (from its
 * gpumem_call_leave, error_pending's GPUMEM_PENDING_LOG set), and those that calls from the
 * callback keep meanwhile; the thread's last error is kept. */
void gpumem_log_flush_deferred(struct gpumem_thread *thread) __attribute__((cold));

/* The lowest level a message goes anywhere at: GPUMEM_LOG_DEBUG while a callback is set, else
 * GPUMEM_LOG's level as gpumem_log_refresh last read it. */
extern _Atomic int32_t gpumem_log_lowest;

/* 1 when a message at `level` goes anywhere: callers on hot paths ask first, so that a debug
 * message costs one load, and no formatting, when nobody reads it. */
static inline int gpumem_log_wants(int32_t level)
{
    return level >= atomic_load_explicit(&gpumem_log_lowest, memory_order_relaxed);
}

/* Reads GPUMEM_LOG again for gpumem_log_wants (each device open calls it; until the first
 * read, gpumem_log_wants says yes and gpumem_call_log reads it). */
void gpumem_log_refresh(void);

/* Marks where a public call's outputs start in the format of gpumem_call_log. */
#define GPUMEM_LOG_OUTPUTS "\x1f"

/* The debug log of a public call, as RMM's logging adaptor writes one: "gpumem_buffer_create(
 * pool 0x100000002, size 4096, ...) -> GPUMEM_OK: buffer 0x300000005", or the failure and its
 * message. `format` describes the inputs, then (after GPUMEM_LOG_OUTPUTS) the outputs, which
 * are printed only on success. */
void gpumem_call_log(const char *function, int32_t result, const char *format, ...)
    __attribute__((format(printf, 3, 4), cold));

#endif
