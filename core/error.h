/* The thread-local last error, and the messages core writes into it. */
#ifndef GPUMEM_CORE_ERROR_H
#define GPUMEM_CORE_ERROR_H

#include <stdarg.h>

#include "gpumem/gpumem.h"

/* Records "function: message" as this thread's last error and returns result. */
gpumem_result gpumem_error(gpumem_result result, const char *function, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* Clears the last error (start of every public call). */
void gpumem_error_clear(void);

/* A backend's own message, if it wrote one for this call, or "" (core then prefixes it). */
const char *gpumem_error_backend_message(void);

/* Re-tags a backend failure: "function: <backend message>" (or a generic one if it left none). */
gpumem_result gpumem_error_from_backend(gpumem_result result, const char *function,
                                        const char *native_call);

#endif
