/* Loading the HIP runtime: plain dlsym, since HIP exports every API name once. */
#include "hip_library.h"

#include <stdio.h>
#include <stdlib.h>

#define HIP_LIBRARY_DEFAULT "libamdhip64.so"

gpurt_function hip_library_functions[GPURT_SYMBOL_COUNT];

static const gpurt_symbol symbols[GPURT_SYMBOL_COUNT] = GPURT_SYMBOLS(HIP_LIBRARY_SYMBOLS);

static gpurt_once loaded = GPURT_ONCE_INIT;

/* GPUMEM_HIP_LIBRARY picks another build of the runtime (or, in tests, a missing one). */
static const char *library_file(void)
{
    const char *file = getenv("GPUMEM_HIP_LIBRARY");
    return file && *file ? file : HIP_LIBRARY_DEFAULT;
}

static void load_once(void)
{
    void *handle;
    if (gpurt_library_load(library_file(), symbols, GPURT_SYMBOL_COUNT, NULL,
                           hip_library_functions, &handle, loaded.reason,
                           sizeof loaded.reason) != 0) {
        loaded.failed = 1;
        return;
    }
    /* Its failure is not the reason: without a GPU hipInit reports hipErrorInvalidDevice,
     * and hipGetDeviceCount, asked next by the probe, names the real cause. */
    HIP(hipInit)(0);
}

int hip_library_load(char *reason, size_t reason_size)
{
    return gpurt_once_load(&loaded, load_once, reason, reason_size);
}

const char *hip_error_name(int status)
{
    return HIP(hipGetErrorName)((hipError_t)status);
}
