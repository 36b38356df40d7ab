/* The HIP runtime of another major release, as the backend would meet it: this library links
 * the real runtime (so that every other name resolves to it through its dependency) and answers
 * hipRuntimeGetVersion for HIP 6.2. The backend must refuse it rather than read ROCm 6's
 * numbering with ROCm 5's headers. */
#include <hip/hip_runtime_api.h>

hipError_t hipRuntimeGetVersion(int *version)
{
    *version = 6 * 10000000 + 2 * 100000 + 41133;
    return hipSuccess;
}
