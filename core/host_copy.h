/* Large host-side copies spread over worker threads: one core cannot reach the memory
 * bandwidth that staging and mapped transfers need. Small copies stay a plain memcpy. */
#ifndef GPUMEM_CORE_HOST_COPY_H
#define GPUMEM_CORE_HOST_COPY_H

#include <stddef.h>
#include <stdint.h>

/* Below this many bytes a copy stays on the calling thread: handing pieces to others costs more
 * than it saves. */
#define GPUMEM_HOST_COPY_PARALLEL_MIN ((size_t)4 << 20)

/* Large copies use one copier for each CPU that the thread of the first such copy may use
 * (gpumem_usable_cpus), up to 8: the calling thread and helpers started then.
 * GPUMEM_COPY_THREADS overrides. */
void gpumem_host_copy(void *destination, const void *source, size_t size);

/* Reads whose whole size is at least this stream into the application's memory: such a read ends
 * far past what the caches keep of it, and ordinary stores would first read every destination
 * line from memory. Smaller reads leave their bytes in the caches, where the application usually
 * reads them next. */
#define GPUMEM_HOST_COPY_STREAMED_READ (32ull << 20)

/* One copy of a read into the application's memory (`destination`), a piece of a read of `total`
 * bytes. From GPUMEM_HOST_COPY_STREAMED_READ bytes of total, on x86-64, the bytes go out with
 * non-temporal (streaming) stores, which skip the read of each destination line that an
 * ordinary store makes first and leave the caches to others; otherwise it is gpumem_host_copy.
 * The bytes are visible to other threads when it returns. */
void gpumem_host_copy_read(void *destination, const void *source, size_t size, uint64_t total);

/* Fills with a 32-bit pattern; size is a multiple of 4. */
void gpumem_host_fill(void *destination, uint32_t pattern, size_t size);

#endif
