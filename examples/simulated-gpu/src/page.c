/* Pages: one native allocation each, of one memory type.
 *
 * The device's bytes are anonymous host memory (mmap: zero, and only touched pages cost
 * anything). What differs between the memory types is how the host reaches them:
 *
 * - device-local: not at all. page_map is never called for such a page (core stages its
 *   transfers through host-visible memory instead, and answers GPUMEM_ERROR_NOT_MAPPABLE).
 * - host-visible and coherent: the mapping is the device's bytes themselves.
 * - host-visible, not coherent (SIMGPU_NONCOHERENT): the mapping is a separate copy, the host's
 *   view, as a CPU cache that the device does not snoop would be. page_flush writes the host's
 *   view back to the device's bytes, page_invalidate reloads it from them, both by whole atoms
 *   of non_coherent_atom_size, as the Vulkan specification describes vkFlushMappedMemoryRanges
 *   and vkInvalidateMappedMemoryRanges: an atom is written back when the host wrote any byte
 *   of it since the last flush or invalidate (all of the atom, also the bytes the host did not
 *   write), and atoms the host did not write are left alone. Where the device writes, the
 *   host's view turns to garbage until the host invalidates it (copy.c; a real cache would
 *   show the old bytes: both are what Vulkan leaves undefined). So a missing flush leaves the
 *   device with old bytes, a missing invalidate the host with garbage, and a host write into
 *   part of an atom the device wrote since the host last invalidated it writes garbage over
 *   the device's bytes: each is wrong bytes in a test.
 *
 *   "The host wrote the atom" is seen as "the atom differs from what the view held at the last
 *   flush or invalidate, or from the garbage the device left in it". A write of the very bytes
 *   the view already held goes unseen, which changes nothing: they are the device's bytes too
 *   (where the device wrote since, the view holds garbage, and a write differs from it). With
 *   atoms of a few bytes a write could equal the garbage by chance, so SIMGPU_ATOM_SIZE is at
 *   least 4. A write into part of an atom the device wrote since the host's last invalidate
 *   (what gpumem.h tells applications not to do) is seen only where it differs from the
 *   garbage: a one-byte part goes unseen once in 256 times, and the device keeps its byte.
 *
 * Addresses: a discrete GPU's pages have device addresses, not host pointers. Each page gets one
 * from the device's address space, aligned to SIMGPU_PAGE_ALIGNMENT and no more (an odd multiple
 * of it), so that core cannot rely on more alignment than backend.h promises (min_alignment). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "simgpu.h"

/* A GPU's memory comes in pieces of 2 MiB: bytes of 2 MiB or more are advised for transparent
 * huge pages, so that first touches fault 2 MiB at a time (a hint, which the kernel's settings
 * decide; the default configuration of run-conformance.sh took 0.82 million page faults with it
 * against 1.13 million without). */
static void *map_zeroed(uint64_t size)
{
    void *p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (size >= (2u << 20))
        madvise(p, (size_t)size, MADV_HUGEPAGE);
    return p;
}

static void unmap_bytes(void *p, uint64_t size)
{
    if (p)
        munmap(p, (size_t)size);
}

static const char *const heap_names[SIM_HEAP_COUNT] = {"device memory", "host memory"};

/* Takes `size` bytes of a heap, as a runtime would refuse an allocation past its memory. */
static gpumem_result heap_take(sim_device *d, uint32_t heap, uint64_t size)
{
    uint64_t used = atomic_fetch_add(&d->heap_used[heap], size);
    if (used + size <= d->heap_size[heap] && used + size >= used)
        return GPUMEM_OK;
    atomic_fetch_sub(&d->heap_used[heap], size);
    return gpumem_backend_error(GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY,
                                "simgpu: %llu bytes do not fit heap %u (%s: %llu of %llu bytes "
                                "in use)",
                                (unsigned long long)size, heap, heap_names[heap],
                                (unsigned long long)used, (unsigned long long)d->heap_size[heap]);
}

/* An address aligned to the page alignment N and not to 2N, in a range no other page uses. */
static int address_take(sim_device *d, uint64_t size, uint64_t *address)
{
    uint64_t n = sim_cfg.page_alignment;
    uint64_t span = ((size + 2 * n - 1) & ~(2 * n - 1)) + 2 * n;
    uint64_t start = atomic_fetch_add(&d->next_address, span);
    uint64_t end_of_range = SIM_ADDRESS_BASE + (uint64_t)(d->index + 1) * SIM_ADDRESS_RANGE;
    if (start + span > end_of_range)
        return 0; /* 4 PiB of pages in one process: never, short of a bug */
    *address = start + n; /* start is a multiple of 2N: the address is N past it */
    return 1;
}

static void page_release(sim_page *p)
{
    unmap_bytes(p->bytes, p->size);
    unmap_bytes(p->host_view, p->size);
    unmap_bytes(p->known, p->size);
    free(p);
}

gpumem_result sim_page_create(sim_device *d, uint32_t memory_type, uint64_t size,
                              sim_page **out)
{
    uint32_t heap = d->types[memory_type].heap_index;
    gpumem_result r = heap_take(d, heap, size);
    if (r != GPUMEM_OK)
        return r;
    sim_page *p = calloc(1, sizeof *p);
    if (!p) {
        atomic_fetch_sub(&d->heap_used[heap], size);
        return gpumem_backend_error(GPUMEM_ERROR_OUT_OF_HOST_MEMORY,
                                    "simgpu: no memory for a page record");
    }
    p->device = d;
    p->type = memory_type;
    p->flags = d->types[memory_type].flags;
    p->size = size;
    int noncoherent = (p->flags & GPUMEM_MEMORY_HOST_VISIBLE) &&
                      !(p->flags & GPUMEM_MEMORY_HOST_COHERENT);
    int ok = (p->bytes = map_zeroed(size)) != NULL;
    if (ok && noncoherent)
        ok = (p->host_view = map_zeroed(size)) && (p->known = map_zeroed(size));
    if (ok && !address_take(d, size, &p->address)) {
        page_release(p);
        atomic_fetch_sub(&d->heap_used[heap], size);
        return gpumem_backend_error(GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY,
                                    "simgpu: device %u's address space is used up", d->index);
    }
    if (!ok) {
        int e = errno;
        page_release(p);
        atomic_fetch_sub(&d->heap_used[heap], size);
        return gpumem_backend_error(GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY,
                                    "simgpu: mmap of %llu bytes for memory type %u: %s",
                                    (unsigned long long)size, memory_type, strerror(e));
    }
    atomic_fetch_add(&d->pages, 1);
    *out = p;
    return GPUMEM_OK;
}

gpumem_result sim_page_allocate(gpumem_backend_device *device, uint32_t memory_type,
                                uint64_t size, gpumem_backend_page **out)
{
    sim_device *d = (sim_device *)device;
    SIM_EXPECT(memory_type < d->type_count, "page_allocate", "memory type %u of %u",
               memory_type, d->type_count);
    SIM_EXPECT(size > 0 && size % sim_cfg.min_alignment == 0 && size <= d->max_allocation,
               "page_allocate",
               "%llu bytes: not a multiple of min_alignment %llu, or above the largest "
               "allocation (%llu)",
               (unsigned long long)size, (unsigned long long)sim_cfg.min_alignment,
               (unsigned long long)d->max_allocation);
    return sim_page_create(d, memory_type, size, (sim_page **)out);
}

void sim_page_free(gpumem_backend_device *device, gpumem_backend_page *page)
{
    sim_device *d = (sim_device *)device;
    sim_page *p = (sim_page *)page;
    sim_page_enter(p, "page_free");
    SIM_EXPECT(!p->mapped, "page_free", "page %p (%llu bytes) is still mapped", (void *)p,
               (unsigned long long)p->size);
    int64_t pending = atomic_load(&p->pending);
    SIM_EXPECT(pending == 0, "page_free",
               "page %p (%llu bytes, memory type %u) has %lld operations still queued on "
               "streams: they would run on freed memory",
               (void *)p, (unsigned long long)p->size, p->type, (long long)pending);
    atomic_fetch_sub(&d->heap_used[d->types[p->type].heap_index], p->size);
    atomic_fetch_sub(&d->pages, 1);
    page_release(p); /* no sim_page_leave: the page is gone */
}

gpumem_result sim_page_map(gpumem_backend_device *device, gpumem_backend_page *page,
                           void **data)
{
    sim_page *p = (sim_page *)page;
    sim_page_enter(p, "page_map");
    SIM_EXPECT(p->flags & GPUMEM_MEMORY_HOST_VISIBLE, "page_map",
               "page %p of memory type %u is not host-visible (flags 0x%x)", (void *)p, p->type,
               p->flags);
    SIM_EXPECT(!p->mapped, "page_map",
               "page %p is mapped already: core counts mappings and maps once", (void *)p);
    p->mapped = 1;
    *data = p->host_view ? p->host_view : p->bytes;
    sim_page_leave(p);
    return GPUMEM_OK;
}

/* Ends the mapping. Like vkUnmapMemory, it flushes nothing: what the host wrote and did not
 * flush stays in its view, and is not the device's. */
void sim_page_unmap(gpumem_backend_device *device, gpumem_backend_page *page)
{
    sim_page *p = (sim_page *)page;
    sim_page_enter(p, "page_unmap");
    SIM_EXPECT(p->mapped, "page_unmap", "page %p is not mapped", (void *)p);
    p->mapped = 0;
    sim_page_leave(p);
}

/* The promises for both: a mapped, non-coherent page, a range of whole atoms (or reaching the
 * page's end) inside it. */
static void expect_coherence_range(const char *operation, const sim_page *p, uint64_t offset,
                                   uint64_t size)
{
    uint64_t atom = sim_cfg.atom_size;
    sim_expect_range(operation, p, offset, size);
    SIM_EXPECT(p->host_view, operation, "page %p of memory type %u is coherent (flags 0x%x)",
               (const void *)p, p->type, p->flags);
    SIM_EXPECT(p->mapped, operation, "page %p is not mapped", (const void *)p);
    SIM_EXPECT(offset % atom == 0 && ((offset + size) % atom == 0 || offset + size == p->size),
               operation,
               "range [%llu, +%llu) of a %llu-byte page is not rounded out to the %llu-byte "
               "atom",
               (unsigned long long)offset, (unsigned long long)size,
               (unsigned long long)p->size, (unsigned long long)atom);
}

gpumem_result sim_page_flush(gpumem_backend_device *device, gpumem_backend_page *page,
                             uint64_t offset, uint64_t size)
{
    sim_page *p = (sim_page *)page;
    sim_page_enter(p, "page_flush");
    expect_coherence_range("page_flush", p, offset, size);
    uint64_t atom = sim_cfg.atom_size;
    for (uint64_t at = offset; p->host_view && at < offset + size; at += atom) {
        size_t n = (size_t)(offset + size - at < atom ? offset + size - at : atom);
        if (memcmp(p->host_view + at, p->known + at, n) == 0)
            continue; /* the host wrote nothing here: the device's bytes stay */
        memcpy(p->bytes + at, p->host_view + at, n);
        memcpy(p->known + at, p->host_view + at, n);
    }
    sim_page_leave(p);
    return GPUMEM_OK;
}

gpumem_result sim_page_invalidate(gpumem_backend_device *device, gpumem_backend_page *page,
                                  uint64_t offset, uint64_t size)
{
    sim_page *p = (sim_page *)page;
    sim_page_enter(p, "page_invalidate");
    expect_coherence_range("page_invalidate", p, offset, size);
    /* What the host wrote here and did not flush is lost, as Vulkan leaves it undefined. */
    if (p->host_view) { /* (coherent memory only when core broke the contract) */
        memcpy(p->host_view + offset, p->bytes + offset, (size_t)size);
        memcpy(p->known + offset, p->bytes + offset, (size_t)size);
    }
    sim_page_leave(p);
    return GPUMEM_OK;
}

uint64_t sim_page_address(gpumem_backend_device *device, gpumem_backend_page *page)
{
    return ((const sim_page *)page)->address;
}

/* SIMGPU_NO_ADDRESSES: pages have no addresses, so each buffer that is asked for its native
 * form gets a native object over its range (as Vulkan's VkBuffer), kept in core's per-buffer
 * slot and released with the buffer. */
gpumem_result sim_native_buffer(gpumem_backend_device *device, gpumem_backend_page *page,
                                uint64_t offset, uint64_t size, gpumem_backend_buffer **cache,
                                gpumem_native_buffer *native)
{
    sim_device *d = (sim_device *)device;
    sim_page *p = (sim_page *)page;
    sim_expect_range("native_buffer", p, offset, size);
    sim_view *view = (sim_view *)*cache;
    if (!view) {
        if (!(view = malloc(sizeof *view)))
            return gpumem_backend_error(GPUMEM_ERROR_OUT_OF_HOST_MEMORY,
                                        "simgpu: no memory for a native buffer");
        *view = (sim_view){p, offset, size};
        atomic_fetch_add(&d->views, 1);
        *cache = (gpumem_backend_buffer *)view;
    }
    native->memory = (uint64_t)(uintptr_t)p; /* the allocation, as a VkDeviceMemory */
    native->buffer = (uint64_t)(uintptr_t)view;
    native->address = 0;
    return GPUMEM_OK;
}

/* Logged at debug level with the operations still queued on the object's page, so that a test
 * can see whether core released it under work that may use it: work queued on a stream before
 * a destroy on it may (gpumem.h), so the object must wait for that work
 * (tests/conformance/test_stream_order.c). Not a contract check: work queued after the destroy,
 * on a range of the page taken again, may be queued too. */
void sim_native_buffer_release(gpumem_backend_device *device, gpumem_backend_buffer *cache)
{
    const sim_view *view = (const sim_view *)cache;
    gpumem_backend_log(GPUMEM_LOG_DEBUG,
                       "simgpu: native buffer %#llx released with %lld operations queued on "
                       "its page",
                       (unsigned long long)(uintptr_t)cache,
                       (long long)atomic_load(&view->page->pending));
    atomic_fetch_sub(&((sim_device *)device)->views, 1);
    free(cache);
}
