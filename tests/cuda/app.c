#include "app.h"

#include <dlfcn.h>
#include <string.h>

#include <criterion/criterion.h>

void app_cuda_load(app_cuda *cu)
{
    void *library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(library, "dlopen(libcuda.so.1): %s", dlerror());
#define APP_CUDA_LOAD(name, parameters)                                          \
    {                                                                            \
        void *p = dlsym(library, #name);                                         \
        cr_assert_not_null(p, "libcuda.so.1 lacks %s", #name);                   \
        memcpy(&cu->name, &p, sizeof p);                                         \
    }
    APP_CUDA_SYMBOLS(APP_CUDA_LOAD)
#undef APP_CUDA_LOAD
    void *v2 = dlsym(library, "cuCtxCreate_v2"), *v4 = dlsym(library, "cuCtxCreate_v4");
    memcpy(&cu->cuCtxCreate_v2, &v2, sizeof v2);
    memcpy(&cu->cuCtxCreate_v4, &v4, sizeof v4);
    cr_assert(v2 || v4, "libcuda.so.1 exports no cuCtxCreate_v2 or _v4");
    CU_OK(cu->cuInit(0));
}

CUresult app_context_create(const app_cuda *cu, CUcontext *context, CUdevice device)
{
    return cu->cuCtxCreate_v2 ? cu->cuCtxCreate_v2(context, 0, device)
                              : cu->cuCtxCreate_v4(context, NULL, 0, device);
}
