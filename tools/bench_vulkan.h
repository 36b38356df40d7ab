/* gpumem-bench's vulkan section: gpumem against plain Vulkan on the same device. */
#ifndef GPUMEM_TOOLS_BENCH_VULKAN_H
#define GPUMEM_TOOLS_BENCH_VULKAN_H

#include "bench.h"
#include "gpumem/gpumem.h"

/* Runs the section on `device` (a vulkan device) and reports through bench_result:
 * - create_destroy_gpumem / create_destroy_vulkan (ns/pair) and create_destroy_speedup (x):
 *   buffers of the same random sizes from a gpumem pool against one vkAllocateMemory +
 *   vkCreateBuffer + vkBindBufferMemory each (and destroy + free);
 *   create_native_destroy_gpumem and create_native_destroy_speedup: the same with
 *   gpumem_buffer_native asked of each buffer after its create;
 * - write_gpumem / write_memcpy, read_gpumem / read_memcpy (GB/s) and write_ratio / read_ratio
 *   (%): gpumem_buffer_write/read of options->transfer_size bytes into a pool buffer against a
 *   memcpy into a mapped VkDeviceMemory of the same memory type.
 * Failures are printed on stderr; the section then reports what it measured, and returns 1
 * (0 when everything was measured). */
int bench_vulkan(gpumem_device device, const bench_options *options);

#endif
