#include "error.h"

#include <stdio.h>
#include <string.h>

#include "call.h"
#include "gpumem/backend.h"
#include "hot.h"
#include "log.h"
#include "pending.h"

_Thread_local gpumem_thread gpumem_this_thread;

const char *gpumem_result_string(gpumem_result result)
{
    switch (result) {
    case GPUMEM_OK: return "GPUMEM_OK";
    case GPUMEM_ERROR_INVALID_ARGUMENT: return "GPUMEM_ERROR_INVALID_ARGUMENT";
    case GPUMEM_ERROR_INVALID_HANDLE: return "GPUMEM_ERROR_INVALID_HANDLE";
    case GPUMEM_ERROR_DESTROYED: return "GPUMEM_ERROR_DESTROYED";
    case GPUMEM_ERROR_OUT_OF_HOST_MEMORY: return "GPUMEM_ERROR_OUT_OF_HOST_MEMORY";
    case GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY: return "GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY";
    case GPUMEM_ERROR_UNSUPPORTED: return "GPUMEM_ERROR_UNSUPPORTED";
    case GPUMEM_ERROR_UNAVAILABLE: return "GPUMEM_ERROR_UNAVAILABLE";
    case GPUMEM_ERROR_NOT_FOUND: return "GPUMEM_ERROR_NOT_FOUND";
    case GPUMEM_ERROR_LIMIT_EXCEEDED: return "GPUMEM_ERROR_LIMIT_EXCEEDED";
    case GPUMEM_ERROR_OUT_OF_RANGE: return "GPUMEM_ERROR_OUT_OF_RANGE";
    case GPUMEM_ERROR_NOT_MAPPABLE: return "GPUMEM_ERROR_NOT_MAPPABLE";
    case GPUMEM_ERROR_BAD_STATE: return "GPUMEM_ERROR_BAD_STATE";
    case GPUMEM_ERROR_BACKEND: return "GPUMEM_ERROR_BACKEND";
    case GPUMEM_ERROR_ABI_MISMATCH: return "GPUMEM_ERROR_ABI_MISMATCH";
    case GPUMEM_ERROR_INSUFFICIENT_BUFFER: return "GPUMEM_ERROR_INSUFFICIENT_BUFFER";
    case GPUMEM_ERROR_CORRUPTED: return "GPUMEM_ERROR_CORRUPTED";
    }
    return "GPUMEM_RESULT_UNKNOWN";
}

const char *gpumem_last_error(void)
{
    gpumem_thread *t = &gpumem_this_thread;
    return t->error_pending & GPUMEM_PENDING_ERROR ? t->message : "";
}

void gpumem_error_reset(gpumem_thread *t)
{
    gpumem_pending_clear(t, GPUMEM_PENDING_ERROR); /* kept log messages wait for the call's end */
    t->message[0] = '\0';
    t->backend_message[0] = '\0';
}

void gpumem_error_save(const gpumem_thread *t, gpumem_error_saved *saved)
{
    saved->held = (t->error_pending & GPUMEM_PENDING_ERROR) != 0;
    if (saved->held) {
        memcpy(saved->message, t->message, sizeof saved->message);
        memcpy(saved->backend_message, t->backend_message, sizeof saved->backend_message);
    }
}

void gpumem_error_restore(gpumem_thread *t, const gpumem_error_saved *saved)
{
    if (!saved->held) {
        gpumem_error_reset(t);
        return;
    }
    memcpy(t->message, saved->message, sizeof t->message);
    memcpy(t->backend_message, saved->backend_message, sizeof t->backend_message);
    gpumem_pending_set(t, GPUMEM_PENDING_ERROR);
}

/* Marks the thread as holding an error, clearing what an earlier call left. */
static gpumem_thread *begin_error(void)
{
    gpumem_thread *t = &gpumem_this_thread;
    if (!(t->error_pending & GPUMEM_PENDING_ERROR)) {
        gpumem_pending_set(t, GPUMEM_PENDING_ERROR);
        t->message[0] = '\0';
        t->backend_message[0] = '\0';
    }
    return t;
}

gpumem_result gpumem_fail(gpumem_result result, const char *format, ...)
{
    gpumem_thread *t = begin_error();
    va_list args;
    va_start(args, format);
    vsnprintf(t->message, GPUMEM_MESSAGE_SIZE, format, args);
    va_end(args);
    return result;
}

GPUMEM_RARE gpumem_result gpumem_fail_backend(gpumem_result result, const char *operation)
{
    gpumem_thread *t = &gpumem_this_thread;
    if ((t->error_pending & GPUMEM_PENDING_ERROR) && t->backend_message[0])
        return gpumem_fail(result, "%s", t->backend_message);
    return gpumem_fail(result, "%s failed (%s)", operation, gpumem_result_string(result));
}

GPUMEM_RARE gpumem_result gpumem_error_name(gpumem_thread *t, const char *function,
                                          gpumem_result result)
{
    char detail[GPUMEM_MESSAGE_SIZE];
    int pending = (t->error_pending & GPUMEM_PENDING_ERROR) != 0;
    if (pending && t->message[0])
        memcpy(detail, t->message, sizeof detail);
    else if (pending && t->backend_message[0])
        memcpy(detail, t->backend_message, sizeof detail);
    else
        snprintf(detail, sizeof detail, "%s", gpumem_result_string(result));
    begin_error();
    /* Cut to fit: a function name and the detail can together exceed the message's size. */
    size_t n = (size_t)snprintf(t->message, GPUMEM_MESSAGE_SIZE, "%s: ", function);
    if (n < GPUMEM_MESSAGE_SIZE)
        memcpy(t->message + n, detail, GPUMEM_MESSAGE_SIZE - n - 1);
    t->message[GPUMEM_MESSAGE_SIZE - 1] = '\0';
    return result;
}

gpumem_result gpumem_call_leave_pending(gpumem_thread *t, const char *function, int opened_own,
                                        gpumem_result result)
{
    if ((t->error_pending & GPUMEM_PENDING_LOG) && t->depth == 1)
        gpumem_log_flush_deferred(t);
    gpumem_call_close(t, opened_own);
    gpumem_call call = {.thread = t, .function = function, .opened_own = opened_own};
    return gpumem_call_end(&call, result);
}

gpumem_result gpumem_call_enter_unregistered(void)
{
    gpumem_epoch_record *record = gpumem_epoch_register();
    if (!record)
        return gpumem_fail(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "no memory for this thread's record");
    gpumem_epoch_enter(record);
    return GPUMEM_OK;
}

int gpumem_call_enter_nested(gpumem_thread *t)
{
    if (!t->record || atomic_load_explicit(&t->record->epoch, memory_order_relaxed))
        return 0;
    /* The outer call left its section to wait, and logs on: what this call finds must be kept
     * alive for it as for any call. */
    gpumem_epoch_enter(t->record);
    return 1;
}

gpumem_result gpumem_backend_error(gpumem_result result, const char *format, ...)
{
    gpumem_thread *t = begin_error();
    if (!format) { /* a backend's slip must not crash the caller */
        snprintf(t->backend_message, GPUMEM_MESSAGE_SIZE, "the backend gave no message");
        return result;
    }
    va_list args;
    va_start(args, format);
    vsnprintf(t->backend_message, GPUMEM_MESSAGE_SIZE, format, args);
    va_end(args);
    return result;
}
