/* The public-call boundary: every exported function enters and leaves through here.
 *
 * Entering clears the thread's last error and, for calls that use objects (devices, pools,
 * buffers, streams), opens the thread's read-side section (epoch.h), so that no object the call
 * finds is freed before it returns. Leaving closes the section and, on failure, puts the public
 * function's name in front of the message. Internal functions never call exported ones, so the
 * name is added exactly once.
 *
 *     gpumem_result gpumem_pool_trim(gpumem_pool pool)
 *     {
 *         GPUMEM_LOGGED_CALL(pool_trim(pool), "pool %#llx", GPUMEM_LOG_HANDLE(pool));
 *     }
 *
 * The arguments after the expression describe the call for its debug log (gpumem_call_log).
 */
#ifndef GPUMEM_CORE_CALL_H
#define GPUMEM_CORE_CALL_H

#include "epoch.h"
#include "error.h"
#include "log.h"
#include "pending.h"

typedef struct gpumem_call {
    gpumem_thread *thread;
    const char *function;
    /* A nested call (a log callback's) that opened a read-side section of its own, because the
     * call it runs in had left its own to wait (a teardown: gpumem_epoch_wait). */
    int opened_own;
} gpumem_call;

/* Clears the last error. For calls that use no object (registry, virtual blocks, pure
 * functions). */
static inline void gpumem_call_begin(gpumem_call *call, const char *function)
{
    gpumem_thread *t = &gpumem_this_thread;
    /* Computed once: without this, compilers recompute the thread-local address (a call through
     * the TLS descriptor) at every use rather than keep it in a register. */
    __asm__("" : "+r"(t));
    call->thread = t;
    call->function = function;
    call->opened_own = 0;
    if (t->error_pending)
        gpumem_error_reset(t);
}

/* gpumem_call_enter's rare cases, out of line (error.c), with the thread's depth already
 * counted. A thread with no record yet (its first guarded call, or a later one after that
 * call's registration failed) registers one and opens the section; only a failed registration
 * fails the call. Not marked cold: with them cold, GCC 12 compiled buffer create and destroy as
 * cold throughout (5% more instructions a pool pair); with the registration's failure inline
 * and cold, as before, it had moved the usual entry of those two among their cold paths, three
 * jumps there and back on every call. */
gpumem_result gpumem_call_enter_unregistered(void) __attribute__((noinline));
/* A nested call (in a log callback): 1 when the outer call had left its section and this one
 * opened its own, which it must close. */
int gpumem_call_enter_nested(gpumem_thread *t) __attribute__((noinline));

/* Clears the last error and opens the read-side section. Fails only when a thread with no
 * record yet finds no memory for one. Either way, gpumem_call_leave ends the call. The
 * usual call, the outermost of a thread that has its record, is all here; with the rest out of
 * line, compilers lay it out straight rather than among the cold paths. */
static inline gpumem_result gpumem_call_enter(gpumem_call *call, const char *function)
{
    gpumem_call_begin(call, function);
    gpumem_thread *t = call->thread;
    gpumem_epoch_record *record = t->record;
    uint32_t depth = t->depth++;
    if (__builtin_expect((depth == 0) & (record != NULL), 1)) {
        gpumem_epoch_enter(record);
        return GPUMEM_OK;
    }
    if (depth == 0)
        return gpumem_call_enter_unregistered();
    call->opened_own = gpumem_call_enter_nested(t);
    return GPUMEM_OK;
}

/* Names a failure after the public function; returns `result`. A success leaves no message,
 * even where an internal step failed and core recovered (a retry after reclaiming room). */
static inline gpumem_result gpumem_call_end(gpumem_call *call, gpumem_result result)
{
    gpumem_thread *t = call->thread;
    if (__builtin_expect(result == GPUMEM_OK, 1)) {
        if (__builtin_expect(t->error_pending, 0))
            gpumem_error_reset(t); /* keeps deferred log messages (gpumem_call_leave) */
        return result;
    }
    return gpumem_error_name(t, call->function, result);
}

/* Closes the read-side section opened by gpumem_call_enter. */
static inline void gpumem_call_close(gpumem_thread *t, int opened_own)
{
    gpumem_epoch_record *record = t->record; /* NULL when the thread could not register */
    if ((--t->depth == 0 || __builtin_expect(opened_own, 0)) && record)
        gpumem_epoch_leave(record);
}

/* gpumem_call_leave where the call failed or left something pending: the log messages kept
 * for the end of the outermost call (log.h) go first, still inside its read-side section but
 * with no lock held, as a callback for a message sent during the call always runs. The call's
 * fields by value, so that the call stays in registers on the usual path. */
gpumem_result gpumem_call_leave_pending(gpumem_thread *thread, const char *function,
                                        int opened_own, gpumem_result result)
    __attribute__((noinline));

/* Closes the read-side section opened by gpumem_call_enter, then as gpumem_call_end. */
static inline gpumem_result gpumem_call_leave(gpumem_call *call, gpumem_result result)
{
    gpumem_thread *t = call->thread;
    if (__builtin_expect(t->error_pending, 0))
        return gpumem_call_leave_pending(t, call->function, call->opened_own, result);
    gpumem_call_close(t, call->opened_own);
    return __builtin_expect(result == GPUMEM_OK, 1) ? result
                                                    : gpumem_error_name(t, call->function, result);
}

/* 1 when the call runs inside another gpumem call on this thread (a log callback's). */
static inline int gpumem_call_is_nested(const gpumem_call *call)
{
    return call->thread->depth > 1;
}

/* The debug log of a call that ended with `result` (gpumem_call_log): not for calls made from
 * a log callback inside another call, whose own log would call the callback again. Costs one
 * load when nobody reads debug messages. */
#define GPUMEM_CALL_LOG(call, result, ...)                                               \
    do {                                                                                 \
        if (__builtin_expect(gpumem_log_wants(GPUMEM_LOG_DEBUG), 0) &&                   \
            (call).thread->depth == 0 && !(call).thread->logging_call)                  \
            gpumem_call_log((call).function, (result), __VA_ARGS__);                     \
    } while (0)

/* An output of a public call for its log: the value a handle pointer received, or 0 when the
 * call failed (outputs are written only on success) or the pointer is NULL. For use in the
 * log arguments of the macros below, where gpumem_r_ is the call's result. */
#define GPUMEM_LOG_OUT(pointer) \
    (gpumem_r_ == GPUMEM_OK && (pointer) ? (unsigned long long)(uintptr_t)*(pointer) : 0ull)
#define GPUMEM_LOG_HANDLE(handle) ((unsigned long long)(uintptr_t)(handle))
/* A field of an input struct (0 for a NULL pointer), and of an output struct (0 unless the call
 * succeeded), for %llu and %#llx. */
#define GPUMEM_LOG_FIELD(pointer, field) ((pointer) ? (unsigned long long)(pointer)->field : 0ull)
#define GPUMEM_LOG_OUT_FIELD(pointer, field) \
    (gpumem_r_ == GPUMEM_OK && (pointer) ? (unsigned long long)(pointer)->field : 0ull)
/* A string argument, "(null)" for NULL. */
#define GPUMEM_LOG_TEXT(text) ((text) ? (const char *)(text) : "(null)")

/* 1 when a public call may finish on a fast path of its own, skipping gpumem_call_begin and the
 * call log: the thread holds no error that the call would have to clear (asked of the count of
 * threads that hold any, pending.h, and of the thread only where some do), and nobody reads the
 * debug log (which would want this call in it). A fast path returns only its successes; it
 * hands everything else to the full call, before changing anything or with the failure it met
 * (which the full call reports, rather than trying again), so the two cannot differ in what the
 * caller sees. */
static inline int gpumem_call_may_be_quick(void)
{
    return gpumem_pending_none() && !gpumem_log_wants(GPUMEM_LOG_DEBUG);
}

/* The end of a public call written out by hand (enter, steps, leave): leaves, logs, returns. */
#define GPUMEM_LOGGED_LEAVE(call, result, ...)                          \
    do {                                                                \
        gpumem_result gpumem_r_ = gpumem_call_leave(&(call), (result)); \
        GPUMEM_CALL_LOG(call, gpumem_r_, __VA_ARGS__);                  \
        return gpumem_r_;                                               \
    } while (0)

/* The body of an exported function that uses objects: `return` of `expression` between enter
 * and leave, and the call's debug log, whose format (inputs, GPUMEM_LOG_OUTPUTS, outputs) and
 * values follow the expression. */
#define GPUMEM_LOGGED_CALL(expression, ...)                                               \
    do {                                                                                  \
        gpumem_call gpumem_call_;                                                         \
        gpumem_result gpumem_entered_ = gpumem_call_enter(&gpumem_call_, __func__);       \
        GPUMEM_LOGGED_LEAVE(gpumem_call_,                                                 \
                            gpumem_entered_ == GPUMEM_OK ? (expression) : gpumem_entered_, \
                            __VA_ARGS__);                                                 \
    } while (0)

/* The calling thread's state, for use in the expression of GPUMEM_LOGGED_CALL: the call's one
 * thread-local lookup, passed to steps that need it rather than made again (each lookup is a
 * call through the TLS descriptor that compilers do not merge). */
#define GPUMEM_CALL_THREAD (gpumem_call_.thread)

/* The same for an exported function that uses no object (no read-side section). Its log is
 * held (log.h) for the expression: what it logs, itself or in a backend's probe or device
 * open, under the registry's locks or not, reaches a callback once the expression is done. */
#define GPUMEM_LOGGED_PLAIN_CALL(expression, ...) \
    GPUMEM_LOGGED_PLAIN_CALL_AS(__func__, expression, __VA_ARGS__)

/* GPUMEM_LOGGED_PLAIN_CALL in a helper of the exported function `name` (its full call, out of
 * line behind a quick path), whose errors and log carry that name. */
#define GPUMEM_LOGGED_PLAIN_CALL_AS(name, expression, ...)                    \
    do {                                                                      \
        gpumem_call gpumem_call_;                                             \
        gpumem_call_begin(&gpumem_call_, name);                               \
        gpumem_log_hold(gpumem_call_.thread);                                 \
        gpumem_result gpumem_r_ = (expression);                               \
        gpumem_log_release(gpumem_call_.thread);                              \
        gpumem_r_ = gpumem_call_end(&gpumem_call_, gpumem_r_);                \
        GPUMEM_CALL_LOG(gpumem_call_, gpumem_r_, __VA_ARGS__);                \
        return gpumem_r_;                                                     \
    } while (0)

#endif
