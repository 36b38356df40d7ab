/* The CUDA backend: the CUDA driver API (libcuda.so.1, loaded at run time) under gpurt's
 * shared stream-ordered logic. Only the table of driver operations is CUDA's own. */
#include "cuda_table.h"
#include "gpurt.h"

/* Above Vulkan (10): the native runtime of the same GPUs. */
GPURT_DEFINE_BACKEND(cuda, cuda_table, 20)
