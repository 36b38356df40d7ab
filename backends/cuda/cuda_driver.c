/* Loading libcuda.so.1: cuGetProcAddress where the driver has it (it picks the ABI version
 * asked for), dlsym of the exported name where it does not. */
#include "cuda_driver.h"

#include <stdio.h>
#include <string.h>

#define CUDA_LIBRARY "libcuda.so.1"

gpurt_function cuda_driver_functions[GPURT_SYMBOL_COUNT];

static const gpurt_symbol symbols[GPURT_SYMBOL_COUNT] = GPURT_SYMBOLS(CUDA_DRIVER_SYMBOLS);

/* cuGetProcAddress as CUDA 11.3 to 12 export it; 12 added _v2 with a status output. */
typedef CUresult (*get_proc_v1)(const char *name, void **function, int version,
                                cuuint64_t flags);
typedef CUresult (*get_proc_v2)(const char *name, void **function, int version,
                                cuuint64_t flags, CUdriverProcAddressQueryResult *status);

static gpurt_once loaded = GPURT_ONCE_INIT;

static struct {
    int looked_up;            /* for cuGetProcAddress, once */
    gpurt_function get_proc;  /* get_proc_v1 */
    gpurt_function get_proc2; /* get_proc_v2 */
} driver;

static gpurt_function from_get_proc(const gpurt_symbol *symbol)
{
    void *p = NULL;
    /* Legacy-stream variants: gpumem passes explicit streams, never the default one. */
    cuuint64_t flags = CU_GET_PROC_ADDRESS_LEGACY_STREAM;
    CUresult r =
        driver.get_proc2
            ? ((get_proc_v2)driver.get_proc2)(symbol->name, &p, symbol->version, flags, NULL)
            : ((get_proc_v1)driver.get_proc)(symbol->name, &p, symbol->version, flags);
    gpurt_function f;
    memcpy(&f, &p, sizeof f);
    return r == CUDA_SUCCESS ? f : NULL;
}

static gpurt_function resolve(void *library, const gpurt_symbol *symbol)
{
    if (!driver.looked_up) {
        driver.get_proc2 = gpurt_dlsym(library, "cuGetProcAddress_v2");
        driver.get_proc = gpurt_dlsym(library, "cuGetProcAddress");
        driver.looked_up = 1;
    }
    gpurt_function f = (driver.get_proc || driver.get_proc2) ? from_get_proc(symbol) : NULL;
    return f ? f : gpurt_dlsym(library, symbol->exported);
}

static void load_once(void)
{
    void *library;
    if (gpurt_library_load(CUDA_LIBRARY, symbols, GPURT_SYMBOL_COUNT, resolve,
                           cuda_driver_functions, &library, loaded.reason,
                           sizeof loaded.reason) != 0) {
        loaded.failed = 1;
        return;
    }
    /* Stays loaded for the life of the process: tables and contexts point into it. */
    CUresult r = CU(cuInit)(0);
    if (r != CUDA_SUCCESS) {
        const char *error = cuda_error_name(r);
        if (error)
            snprintf(loaded.reason, sizeof loaded.reason, "cuInit: %s", error);
        else
            snprintf(loaded.reason, sizeof loaded.reason, "cuInit: CUresult %d", (int)r);
        loaded.failed = 1;
    }
}

const char *cuda_error_name(int status)
{
    const char *name = NULL;
    return CU(cuGetErrorName)((CUresult)status, &name) == CUDA_SUCCESS ? name : NULL;
}

int cuda_driver_load(char *reason, size_t reason_size)
{
    return gpurt_once_load(&loaded, load_once, reason, reason_size);
}
