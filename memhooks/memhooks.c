/* libgpumem-memhooks (include/gpumem/memhooks.h): the functions that give host memory back,
 * each telling the listener first. Others do the work: the free and realloc that follow these
 * (the C library's, or another allocator's), the system calls themselves for the mappings (what the
 * C library's wrappers of them do on Linux), and the next definition of brk and sbrk, which keep
 * the C library's idea of the break. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
/* mmap and mmap64 are defined here under their own names: no redirection of one to the other. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gpumem/memhooks.h"

#define EXPORT __attribute__((visibility("default")))

void __libc_free(void *pointer);
void *__libc_realloc(void *pointer, size_t size);

/* The free and realloc that come after this library's: the C library's, or another allocator's
 * that the program loads (whose malloc this library does not replace, so its pointers must go
 * back to it). Found at the first free or realloc, or when the library is loaded, whichever
 * comes first: the constructors of libraries the program links run before a preloaded
 * library's, and may free what that allocator gave them. The C library's own stand in only for
 * calls made while they are being found (dlsym's own, if it frees), on that thread. */
static void (*_Atomic next_free)(void *);
static void *(*_Atomic next_realloc)(void *, size_t);
static __thread int finding __attribute__((tls_model("initial-exec")));

static void find_next(void)
{
    if (finding)
        return;
    finding = 1;
    void (*f)(void *) = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    void *(*r)(void *, size_t) = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    atomic_store_explicit(&next_realloc, r ? r : __libc_realloc, memory_order_release);
    atomic_store_explicit(&next_free, f ? f : __libc_free, memory_order_release);
    finding = 0;
}

__attribute__((constructor)) static void find_next_at_load(void)
{
    if (!atomic_load_explicit(&next_free, memory_order_acquire))
        find_next();
}

static void (*free_after(void))(void *)
{
    void (*f)(void *) = atomic_load_explicit(&next_free, memory_order_acquire);
    if (__builtin_expect(!f, 0)) {
        find_next();
        f = atomic_load_explicit(&next_free, memory_order_acquire);
    }
    return f ? f : __libc_free;
}

static void *(*realloc_after(void))(void *, size_t)
{
    void *(*r)(void *, size_t) = atomic_load_explicit(&next_realloc, memory_order_acquire);
    if (__builtin_expect(!r, 0)) {
        find_next();
        r = atomic_load_explicit(&next_realloc, memory_order_acquire);
    }
    return r ? r : __libc_realloc;
}

static _Atomic(gpumem_memhooks_listener) listener;

/* One listener at a time: a second copy of libgpumem in the process (a Python wheel's beside
 * the application's) must not take the first one's place, which would then never hear of a
 * free again while its registrations stay. */
EXPORT int gpumem_memhooks_listen(gpumem_memhooks_listener new_listener)
{
    if (!new_listener) {
        atomic_store_explicit(&listener, NULL, memory_order_release);
        return GPUMEM_MEMHOOKS_VERSION;
    }
    gpumem_memhooks_listener none = NULL;
    if (atomic_compare_exchange_strong_explicit(&listener, &none, new_listener,
                                                memory_order_acq_rel, memory_order_acquire) ||
        none == new_listener)
        return GPUMEM_MEMHOOKS_VERSION;
    return 0; /* another listener is set: left as it is */
}

static void tell(void *address, size_t size)
{
    gpumem_memhooks_listener l = atomic_load_explicit(&listener, memory_order_acquire);
    if (l && address && size)
        l(address, size);
}

/* A system call's range: the kernel acts on whole pages, so a length that ends inside a page
 * gives back the whole of that page (and a start inside one, where the call allows it, the
 * whole of the first). */
static void tell_pages(void *address, size_t length)
{
    static _Atomic uintptr_t page_size;
    uintptr_t page = atomic_load_explicit(&page_size, memory_order_relaxed);
    if (!page) {
        long p = sysconf(_SC_PAGESIZE);
        page = p > 0 ? (uintptr_t)p : 4096u;
        atomic_store_explicit(&page_size, page, memory_order_relaxed);
    }
    uintptr_t begin = (uintptr_t)address & ~(page - 1);
    uintptr_t end = (uintptr_t)address + length;
    if (end < (uintptr_t)address || end > UINTPTR_MAX - (page - 1))
        end = UINTPTR_MAX;
    else
        end = (end + page - 1) & ~(page - 1);
    if (length)
        tell((void *)begin, end - begin);
}

/* The allocation's whole usable size: an allocator may give back any of it. */
static void tell_allocation(void *pointer)
{
    if (pointer && atomic_load_explicit(&listener, memory_order_relaxed))
        tell(pointer, malloc_usable_size(pointer));
}

EXPORT void free(void *pointer)
{
    tell_allocation(pointer);
    free_after()(pointer);
}

/* Whether it moves or shrinks, the old allocation may go. */
EXPORT void *realloc(void *pointer, size_t size)
{
    tell_allocation(pointer);
    return realloc_after()(pointer, size);
}

EXPORT void *reallocarray(void *pointer, size_t count, size_t size)
{
    size_t bytes;
    if (__builtin_mul_overflow(count, size, &bytes)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(pointer, bytes);
}

EXPORT int munmap(void *address, size_t length)
{
    tell_pages(address, length);
    return (int)syscall(SYS_munmap, address, length);
}

EXPORT void *mremap(void *old_address, size_t old_size, size_t new_size, int flags, ...)
{
    void *new_address = NULL;
    if (flags & MREMAP_FIXED) {
        va_list more;
        va_start(more, flags);
        new_address = va_arg(more, void *);
        va_end(more);
        tell_pages(new_address, new_size);
    }
    tell_pages(old_address, old_size);
    return (void *)syscall(SYS_mremap, old_address, old_size, new_size, flags, new_address);
}

EXPORT int madvise(void *address, size_t length, int advice)
{
    switch (advice) {
    case MADV_DONTNEED:
    case MADV_FREE:
    case MADV_REMOVE:
#ifdef MADV_DONTNEED_LOCKED
    case MADV_DONTNEED_LOCKED:
#endif
        tell_pages(address, length);
        break;
    default:
        break;
    }
    return (int)syscall(SYS_madvise, address, length, advice);
}

EXPORT void *mmap(void *address, size_t length, int protection, int flags, int fd, off_t offset)
{
    if (flags & MAP_FIXED) /* replaces whatever was mapped there */
        tell_pages(address, length);
    return (void *)syscall(SYS_mmap, address, length, protection, flags, fd, offset);
}

EXPORT void *mmap64(void *address, size_t length, int protection, int flags, int fd,
                    off_t offset)
{
    return mmap(address, length, protection, flags, fd, offset);
}

/* The segment's size is the kernel's to know: everything from the address to the next mapping
 * may go, so the listener hears of the largest range a segment may have there. */
EXPORT int shmdt(const void *address)
{
    tell((void *)address, SIZE_MAX - (uintptr_t)address);
    return (int)syscall(SYS_shmdt, address);
}

EXPORT void *sbrk(intptr_t increment)
{
    static void *(*next)(intptr_t);
    if (!next)
        next = (void *(*)(intptr_t))dlsym(RTLD_NEXT, "sbrk");
    if (increment < 0) {
        char *end = next(0);
        tell(end + increment, (size_t)0 - (size_t)increment); /* no overflow at INTPTR_MIN */
    }
    return next(increment);
}

EXPORT int brk(void *address)
{
    static int (*next)(void *);
    if (!next)
        next = (int (*)(void *))dlsym(RTLD_NEXT, "brk");
    char *end = sbrk(0);
    if ((char *)address < end)
        tell(address, (size_t)(end - (char *)address));
    return next(address);
}
