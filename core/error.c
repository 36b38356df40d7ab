#include "error.h"

#include <stdio.h>
#include <string.h>

#include "gpumem/backend.h"

#define MESSAGE_SIZE 1024

static _Thread_local char last_message[MESSAGE_SIZE];
static _Thread_local char backend_message[MESSAGE_SIZE];
_Thread_local unsigned char gpumem_error_pending __attribute__((tls_model("initial-exec")));
#define has_messages gpumem_error_pending

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
    }
    return "GPUMEM_RESULT_UNKNOWN";
}

const char *gpumem_last_error(void)
{
    return has_messages ? last_message : "";
}

void gpumem_error_reset(void)
{
    has_messages = 0;
    last_message[0] = '\0';
    backend_message[0] = '\0';
}

gpumem_result gpumem_error(gpumem_result result, const char *function, const char *format, ...)
{
    if (!has_messages) {
        has_messages = 1;
        backend_message[0] = '\0';
    }
    int n = snprintf(last_message, MESSAGE_SIZE, "%s: ", function);
    if (n < 0 || n >= MESSAGE_SIZE)
        n = 0;
    va_list args;
    va_start(args, format);
    vsnprintf(last_message + n, MESSAGE_SIZE - (size_t)n, format, args);
    va_end(args);
    return result;
}

gpumem_result gpumem_backend_error(gpumem_result result, const char *format, ...)
{
    if (!has_messages) {
        has_messages = 1;
        last_message[0] = '\0';
    }
    if (!format) { /* a backend's slip must not crash the caller */
        snprintf(backend_message, MESSAGE_SIZE, "the backend gave no message");
        return result;
    }
    va_list args;
    va_start(args, format);
    vsnprintf(backend_message, MESSAGE_SIZE, format, args);
    va_end(args);
    return result;
}

const char *gpumem_error_backend_message(void)
{
    return has_messages ? backend_message : "";
}

gpumem_result gpumem_error_from_backend(gpumem_result result, const char *function,
                                        const char *native_call)
{
    if (backend_message[0])
        return gpumem_error(result, function, "%s", backend_message);
    return gpumem_error(result, function, "%s failed (%s)", native_call,
                        gpumem_result_string(result));
}
