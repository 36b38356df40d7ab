/* The thread-local last error, and the messages core writes into it. */
#ifndef GPUMEM_CORE_ERROR_H
#define GPUMEM_CORE_ERROR_H

#include <stdarg.h>

#include "gpumem/gpumem.h"

/* Records "function: message" as this thread's last error and returns result. */
gpumem_result gpumem_error(gpumem_result result, const char *function, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* Non-zero while this thread holds an error message. Every public call clears the error first,
 * so clearing must be cheap: a one-byte initial-exec flag is read inline (no __tls_get_addr);
 * the message buffers stay general-dynamic, since 2 KiB of static TLS would make dlopen of
 * libgpumem, as Python's ctypes does, fail. */
extern _Thread_local unsigned char gpumem_error_pending __attribute__((tls_model("initial-exec")));
void gpumem_error_reset(void);

/* Clears the last error (start of every public call). */
static inline void gpumem_error_clear(void)
{
    if (gpumem_error_pending)
        gpumem_error_reset();
}

/* A backend's own message, if it wrote one for this call, or "" (core then prefixes it). */
const char *gpumem_error_backend_message(void);

/* Re-tags a backend failure: "function: <backend message>" (or a generic one if it left none). */
gpumem_result gpumem_error_from_backend(gpumem_result result, const char *function,
                                        const char *native_call);

#endif
