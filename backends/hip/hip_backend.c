/* The HIP backend: ROCm's HIP runtime (libamdhip64.so.<major>, loaded at run time) under gpurt's
 * shared stream-ordered logic. Only the table of runtime operations is HIP's own. */
#include "gpurt.h"
#include "hip_table.h"

/* Above Vulkan (10): the native runtime of the same GPUs. */
GPURT_DEFINE_BACKEND(hip, hip_table, 20)
