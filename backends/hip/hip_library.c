/* Loading the HIP runtime: plain dlsym, since HIP exports every API name once. */
#include "hip_library.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include <hip/hip_version.h>

/* The runtime of the major release whose headers the backend was built with. ROCm's major
 * releases renumber what the backend reads (hipMemoryType: host memory is 0 in ROCm 5 and 1
 * from ROCm 6 on, where 0 is unregistered memory), so a runtime of another major would be
 * misread: pinned memory refused, pageable memory taken for pinned. The versioned name also
 * belongs to the runtime's package, where the plain libamdhip64.so comes with the headers'. */
#define HIP_STRING(x) #x
#define HIP_NUMBER_STRING(x) HIP_STRING(x)
#define HIP_LIBRARY_DEFAULT "libamdhip64.so." HIP_NUMBER_STRING(HIP_VERSION_MAJOR)
/* hipRuntimeGetVersion's encoding, as HIP_VERSION's in hip_version.h. */
#define HIP_VERSION_MAJOR_UNIT 10000000
#define HIP_VERSION_MINOR_UNIT 100000

gpurt_function hip_library_functions[GPURT_SYMBOL_COUNT];

static const gpurt_symbol symbols[GPURT_SYMBOL_COUNT] = GPURT_SYMBOLS(HIP_LIBRARY_SYMBOLS);

static gpurt_once loaded = GPURT_ONCE_INIT;

/* GPUMEM_HIP_LIBRARY picks another build of the runtime (or, in tests, a missing one). */
static const char *library_file(void)
{
    const char *file = getenv("GPUMEM_HIP_LIBRARY");
    return file && *file ? file : HIP_LIBRARY_DEFAULT;
}

/* 0 when the loaded runtime is of the headers' major release; otherwise the reason. */
static int refuse_another_major(const char *file, void *handle)
{
    int version = 0;
    hipError_t r = HIP(hipRuntimeGetVersion)(&version);
    if (r == hipSuccess && version / HIP_VERSION_MAJOR_UNIT == HIP_VERSION_MAJOR)
        return 0;
    if (r != hipSuccess)
        snprintf(loaded.reason, sizeof loaded.reason,
                 "%s: hipRuntimeGetVersion failed (hipError_t %d)", file, (int)r);
    else
        snprintf(loaded.reason, sizeof loaded.reason,
                 "%s is HIP %d.%d, but gpumem's HIP backend was built with the headers of HIP "
                 "%d.%d, and major releases number memory types differently: build gpumem "
                 "with that ROCm's headers",
                 file, version / HIP_VERSION_MAJOR_UNIT,
                 version % HIP_VERSION_MAJOR_UNIT / HIP_VERSION_MINOR_UNIT, HIP_VERSION_MAJOR,
                 HIP_VERSION_MINOR);
    dlclose(handle);
    return 1;
}

static void load_once(void)
{
    void *handle;
    const char *file = library_file();
    if (gpurt_library_load(file, symbols, GPURT_SYMBOL_COUNT, NULL, hip_library_functions,
                           &handle, loaded.reason, sizeof loaded.reason) != 0 ||
        refuse_another_major(file, handle)) {
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
