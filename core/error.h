/* The thread-local last error, and the messages core writes into it.
 *
 * Inside core a failure records only its detail (gpumem_fail: "range [8, +16) is outside the
 * buffer's 16 bytes"); the public function's name is put in front once, when the call returns
 * (call.h), so no internal function needs to know which public call it serves.
 */
#ifndef GPUMEM_CORE_ERROR_H
#define GPUMEM_CORE_ERROR_H

#include <stdarg.h>

#include "gpumem/gpumem.h"
#include "thread.h"

/* Records the detail of a failure and returns result. */
gpumem_result gpumem_fail(gpumem_result result, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* A backend operation failed: its own message (gpumem_backend_error), or, when it left none,
 * "<operation> failed (<result name>)". Returns result. */
gpumem_result gpumem_fail_backend(gpumem_result result, const char *operation);

/* Clears the last error; every public call starts with it, so the common case (no error held)
 * is one thread-local load, inline. */
void gpumem_error_reset(gpumem_thread *thread);
static inline void gpumem_error_clear(void)
{
    gpumem_thread *t = &gpumem_this_thread;
    if (t->error_pending)
        gpumem_error_reset(t);
}

/* A thread's last error, kept across code that may make gpumem calls (a log callback). */
typedef struct {
    int held;
    char message[GPUMEM_MESSAGE_SIZE];
    char backend_message[GPUMEM_MESSAGE_SIZE];
} gpumem_error_saved;
void gpumem_error_save(const gpumem_thread *thread, gpumem_error_saved *saved);
/* Puts the saved error back, or none where none was held (kept log messages stay). */
void gpumem_error_restore(gpumem_thread *thread, const gpumem_error_saved *saved);

/* At the end of a failed public call: makes the message "function: detail" (a detail that is
 * missing becomes the backend's message, or the result's name). Returns result. */
gpumem_result gpumem_error_name(gpumem_thread *thread, const char *function,
                                gpumem_result result);

#endif
