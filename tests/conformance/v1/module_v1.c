/* A module built against version 1 of the backend table (tests/conformance/v1/gpumem/backend.h,
 * the header as it was): the host backend of that time, under the name "hostv1", with its entry
 * function. The conformance suite runs on it, so a libgpumem that stopped loading version-1
 * modules, or translated their tables wrong, fails.
 *
 * The host backend: the reference every other backend is compared to, and the default when no
 * GPU runtime is here. Pages come from the operating system (mmap); the one memory type is
 * host memory, which is all four things at once; streams run each operation as it is
 * submitted, so they complete in order by construction. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gpumem/backend.h"

#define HOST_ALIGNMENT 64 /* a cache line: no false sharing between neighbouring buffers */
#define PAGE_ALIGNMENT (2u << 20)

typedef struct host_page {
    void *base;
    uint64_t size;
} host_page;

/* Non-NULL objects for the pointers core stores; the host needs no state in them. */
static char host_device_tag, host_stream_tag, host_event_tag;

static gpumem_result host_probe(uint32_t *device_count, char *reason, size_t reason_size)
{
    *device_count = 1;
    return GPUMEM_OK;
}

static gpumem_result host_device_open(uint32_t index, const gpumem_external_device *external,
                                      gpumem_backend_device **device)
{
    *device = (gpumem_backend_device *)&host_device_tag;
    return GPUMEM_OK;
}

static void host_device_close(gpumem_backend_device *device)
{
}

static void cpu_name(char *name, size_t size)
{
    snprintf(name, size, "host CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            colon += 1 + strspn(colon + 1, " \t");
            colon[strcspn(colon, "\n")] = '\0';
            snprintf(name, size, "host CPU (%s)", colon);
            break;
        }
    }
    fclose(f);
}

static gpumem_result host_device_properties(gpumem_backend_device *device,
                                            gpumem_device_properties *p)
{
    long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
    uint64_t memory = pages > 0 && page_size > 0 ? (uint64_t)pages * (uint64_t)page_size
                                                 : (uint64_t)1 << 30;
    cpu_name(p->name, sizeof p->name);
    p->memory_heap_count = 1;
    p->memory_heaps[0] = (gpumem_memory_heap){.size = memory, .budget = memory,
                                              .flags = GPUMEM_MEMORY_DEVICE_LOCAL};
    p->memory_type_count = 1;
    p->memory_types[0] = (gpumem_memory_type){
        .flags = GPUMEM_MEMORY_DEVICE_LOCAL | GPUMEM_MEMORY_HOST_VISIBLE |
                 GPUMEM_MEMORY_HOST_COHERENT | GPUMEM_MEMORY_HOST_CACHED,
        .heap_index = 0};
    p->min_alignment = HOST_ALIGNMENT;
    p->non_coherent_atom_size = HOST_ALIGNMENT;
    p->max_allocation_size = memory;
    return GPUMEM_OK;
}

/* Pages start on a 2 MiB boundary, as a GPU runtime's large allocations do, so that a buffer's
 * offset and its address are aligned alike for every alignment up to 2 MiB (and the kernel may
 * back pages with huge pages). The over-mapped head and tail are given back at once. */
static void *map_aligned(uint64_t size)
{
    const uint64_t align = PAGE_ALIGNMENT;
    if (size > SIZE_MAX - align)
        return MAP_FAILED;
    char *raw = mmap(NULL, (size_t)(size + align), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED)
        return MAP_FAILED;
    uintptr_t start = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
    size_t head = start - (uintptr_t)raw;
    size_t mapped = ((size_t)size + 4095) & ~(size_t)4095;
    if (head)
        munmap(raw, head);
    if (align - head > mapped - size)
        munmap((char *)start + mapped, (size_t)(align - head) - (mapped - (size_t)size));
    return (void *)start;
}

static gpumem_result host_page_allocate(gpumem_backend_device *device, uint32_t memory_type,
                                        uint64_t size, gpumem_backend_page **page)
{
    host_page *p = malloc(sizeof *p);
    if (!p)
        return gpumem_backend_error(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "malloc: no memory");
    p->base = map_aligned(size);
    if (p->base == MAP_FAILED) {
        int e = errno;
        free(p);
        return gpumem_backend_error(GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY,
                                    "mmap: %s for %llu bytes", strerror(e),
                                    (unsigned long long)size);
    }
    p->size = size;
    *page = (gpumem_backend_page *)p;
    return GPUMEM_OK;
}

static void host_page_free(gpumem_backend_device *device, gpumem_backend_page *page)
{
    host_page *p = (host_page *)page;
    munmap(p->base, (size_t)p->size);
    free(p);
}

static char *base_of(gpumem_backend_page *page)
{
    return ((host_page *)page)->base;
}

static gpumem_result host_page_map(gpumem_backend_device *device, gpumem_backend_page *page,
                                   void **data)
{
    *data = base_of(page);
    return GPUMEM_OK;
}

static void host_page_unmap(gpumem_backend_device *device, gpumem_backend_page *page)
{
}

/* Host memory is coherent: core never calls these, but the table needs them. */
static gpumem_result host_page_sync(gpumem_backend_device *device, gpumem_backend_page *page,
                                    uint64_t offset, uint64_t size)
{
    return GPUMEM_OK;
}

static uint64_t host_page_address(gpumem_backend_device *device, gpumem_backend_page *page)
{
    return (uint64_t)(uintptr_t)base_of(page);
}

static gpumem_result host_native_buffer(gpumem_backend_device *device, gpumem_backend_page *page,
                                        uint64_t offset, uint64_t size,
                                        gpumem_backend_buffer **buffer,
                                        gpumem_native_buffer *native)
{
    native->memory = (uint64_t)(uintptr_t)base_of(page);
    native->address = (uint64_t)(uintptr_t)(base_of(page) + offset);
    return GPUMEM_OK;
}

static gpumem_result host_stream_create(gpumem_backend_device *device,
                                        gpumem_backend_stream **stream)
{
    *stream = (gpumem_backend_stream *)&host_stream_tag;
    return GPUMEM_OK;
}

static void host_stream_destroy(gpumem_backend_device *device, gpumem_backend_stream *stream)
{
}

static gpumem_result host_stream_synchronize(gpumem_backend_device *device,
                                             gpumem_backend_stream *stream)
{
    return GPUMEM_OK;
}

static gpumem_result host_stream_native(gpumem_backend_device *device,
                                        gpumem_backend_stream *stream, uint64_t *native)
{
    *native = 0;
    return GPUMEM_OK;
}

static gpumem_result host_event_create(gpumem_backend_device *device,
                                       gpumem_backend_event **event)
{
    *event = (gpumem_backend_event *)&host_event_tag;
    return GPUMEM_OK;
}

static void host_event_destroy(gpumem_backend_device *device, gpumem_backend_event *event)
{
}

static gpumem_result host_event_record(gpumem_backend_device *device,
                                       gpumem_backend_stream *stream, gpumem_backend_event *event)
{
    return GPUMEM_OK;
}

static gpumem_result host_event_synchronize(gpumem_backend_device *device,
                                            gpumem_backend_event *event)
{
    return GPUMEM_OK;
}

static gpumem_result host_copy_page_to_page(gpumem_backend_device *device,
                                            gpumem_backend_stream *stream,
                                            gpumem_backend_page *source, uint64_t source_offset,
                                            gpumem_backend_page *destination,
                                            uint64_t destination_offset, uint64_t size)
{
    memcpy(base_of(destination) + destination_offset, base_of(source) + source_offset,
           (size_t)size);
    return GPUMEM_OK;
}

static gpumem_result host_copy_host_to_page(gpumem_backend_device *device,
                                            gpumem_backend_stream *stream, const void *source,
                                            gpumem_backend_page *destination,
                                            uint64_t destination_offset, uint64_t size)
{
    memcpy(base_of(destination) + destination_offset, source, (size_t)size);
    return GPUMEM_OK;
}

static gpumem_result host_copy_page_to_host(gpumem_backend_device *device,
                                            gpumem_backend_stream *stream,
                                            gpumem_backend_page *source, uint64_t source_offset,
                                            void *destination, uint64_t size)
{
    memcpy(destination, base_of(source) + source_offset, (size_t)size);
    return GPUMEM_OK;
}

static int host_memory_is_pinned(gpumem_backend_device *device, const void *host, uint64_t size)
{
    return 1; /* the host reads its own memory at full speed: staging would only add a copy */
}

static gpumem_result host_fill(gpumem_backend_device *device, gpumem_backend_stream *stream,
                               gpumem_backend_page *page, uint64_t offset, uint64_t size,
                               uint32_t pattern)
{
    char *p = base_of(page) + offset;
    for (uint64_t i = 0; i < size; i += 4)
        memcpy(p + i, &pattern, 4);
    return GPUMEM_OK;
}

static const gpumem_backend_vtable host_vtable = {
    .abi_version = GPUMEM_BACKEND_ABI_VERSION,
    .struct_size = sizeof(gpumem_backend_vtable),
    .name = "hostv1",
    .priority = 0,
    .probe = host_probe,
    .device_open = host_device_open,
    .device_close = host_device_close,
    .device_properties = host_device_properties,
    .page_allocate = host_page_allocate,
    .page_free = host_page_free,
    .page_map = host_page_map,
    .page_unmap = host_page_unmap,
    .page_flush = host_page_sync,
    .page_invalidate = host_page_sync,
    .native_buffer = host_native_buffer,
    .stream_create = host_stream_create,
    .stream_destroy = host_stream_destroy,
    .stream_synchronize = host_stream_synchronize,
    .stream_native = host_stream_native,
    .event_create = host_event_create,
    .event_destroy = host_event_destroy,
    .event_record = host_event_record,
    .event_synchronize = host_event_synchronize,
    .copy_page_to_page = host_copy_page_to_page,
    .copy_host_to_page = host_copy_host_to_page,
    .copy_page_to_host = host_copy_page_to_host,
    .host_memory_is_pinned = host_memory_is_pinned,
    .fill = host_fill,
    .page_address = host_page_address,
};

GPUMEM_API const gpumem_backend_vtable *gpumem_backend_entry(void);

const gpumem_backend_vtable *gpumem_backend_entry(void)
{
    return &host_vtable;
}
