#include "gpurt_error.h"

#include <stdarg.h>
#include <stdio.h>

const char *gpurt_status_name(const gpurt_runtime *rt, gpurt_status status, char *buffer,
                              size_t size)
{
    const char *name = rt->error_name ? rt->error_name(status) : NULL;
    if (name)
        return name;
    snprintf(buffer, size, "error %d", (int)status);
    return buffer;
}

static gpumem_result fail(const gpurt_runtime *rt, gpurt_call call, gpurt_status status,
                          gpumem_result out_of_memory, const char *detail)
{
    char buffer[32];
    gpumem_result result = status == rt->out_of_memory ? out_of_memory : GPUMEM_ERROR_BACKEND;
    return gpumem_backend_error(result, "%s: %s%s", rt->calls[call],
                                gpurt_status_name(rt, status, buffer, sizeof buffer), detail);
}

gpumem_result gpurt_fail(const gpurt_runtime *rt, gpurt_call call, gpurt_status status)
{
    return fail(rt, call, status, GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY, "");
}

gpumem_result gpurt_failf(const gpurt_runtime *rt, gpurt_call call, gpurt_status status,
                          gpumem_result out_of_memory, const char *format, ...)
{
    char detail[160];
    va_list args;
    va_start(args, format);
    vsnprintf(detail, sizeof detail, format, args);
    va_end(args);
    return fail(rt, call, status, out_of_memory, detail);
}

gpumem_result gpurt_fail_allocation(const gpurt_runtime *rt, gpurt_call call,
                                    gpurt_status status, gpumem_result out_of_memory,
                                    uint64_t size)
{
    return gpurt_failf(rt, call, status, out_of_memory, " for %llu bytes",
                       (unsigned long long)size);
}
