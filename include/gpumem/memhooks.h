/* libgpumem-memhooks: tells a listener about host memory that is about to be given back.
 *
 * Linked into a program (ahead of the C library) or preloaded (LD_PRELOAD), the library stands
 * in for free, realloc, munmap, mremap, madvise (the advice that drops pages), mmap over a fixed
 * address, brk and sbrk, and calls the listener with the range each is about to free or remap,
 * before the memory goes: an allocation's usable bytes, or a system call's range rounded out to
 * whole pages (the kernel acts on whole pages). gpumem's registration cache (GPUMEM_REGISTRATION_CACHE, see
 * docs/performance.md) listens, so that it never transfers through a registration whose memory
 * the application has since freed. Calls made around these functions (raw system calls, an
 * allocator linked statically with its own) are not seen.
 *
 * The listener runs inside the application's free and munmap, before they do their work: it
 * must not block on anything that a caller of free may hold. gpumem's listener ends, there, the
 * registrations it made of the bytes that go (a call into the GPU runtime, which may allocate):
 * at the first giving back of memory a transfer registered, which is the application's own free
 * or unmap, or a pool allocator's unmap of those bytes.
 */
#ifndef GPUMEM_MEMHOOKS_H
#define GPUMEM_MEMHOOKS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GPUMEM_MEMHOOKS_VERSION 2 /* 2: a second listener is refused (1 replaced the first) */

typedef void (*gpumem_memhooks_listener)(void *address, size_t size);

/* Sets the one listener: GPUMEM_MEMHOOKS_VERSION when `listener` is now the listener (none was
 * set, or this one was), 0 when another one is set, which stays (a second copy of libgpumem in
 * the process: its registration cache stays off). NULL takes the listener away (only its owner
 * should: GPUMEM_MEMHOOKS_VERSION). */
__attribute__((visibility("default"))) int gpumem_memhooks_listen(
    gpumem_memhooks_listener listener);

/* The name core looks the function up by (dlsym), so that it needs no link to the library. */
#define GPUMEM_MEMHOOKS_LISTEN_SYMBOL "gpumem_memhooks_listen"

#ifdef __cplusplus
}
#endif

#endif
