/* The host backend: the reference every other backend is compared to, and the default when no
 * GPU runtime is here. Pages come from the operating system (mmap); the one memory type is
 * host memory, which is all four things at once. It has no streams or events: every operation
 * is done when it returns (so core's streams order nothing), and it leaves out what core does
 * by itself for such memory: unmapping, flushing, native buffer objects (the address says it
 * all). Imported pages (page_import) are the application's pointer, which is never unmapped. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "gpumem/backend.h"

#define HOST_ALIGNMENT 64 /* a cache line: no false sharing between neighbouring buffers */
#define PAGE_ALIGNMENT (2u << 20)

typedef struct host_page {
    void *base;
    uint64_t size;
    int imported; /* base is the application's (host_page_import): never unmapped here */
} host_page;

/* An open device: what it reports, read from the system once, at open. */
typedef struct host_device {
    char name[GPUMEM_NAME_SIZE * 4];
    uint64_t memory;
} host_device;

static gpumem_result host_probe(uint32_t *device_count, char *reason, size_t reason_size)
{
    *device_count = 1;
    return GPUMEM_OK;
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

static gpumem_result host_device_open(uint32_t index, const gpumem_external_device *external,
                                      gpumem_backend_device **device)
{
    host_device *d = malloc(sizeof *d);
    if (!d)
        return gpumem_backend_error(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "malloc: no memory");
    long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
    d->memory = pages > 0 && page_size > 0 ? (uint64_t)pages * (uint64_t)page_size
                                           : (uint64_t)1 << 30;
    cpu_name(d->name, sizeof d->name);
    *device = (gpumem_backend_device *)d;
    return GPUMEM_OK;
}

static void host_device_close(gpumem_backend_device *device)
{
    free(device);
}

static gpumem_result host_device_properties(gpumem_backend_device *device,
                                            gpumem_device_properties *p)
{
    const host_device *d = (const host_device *)device;
    uint64_t memory = d->memory;
    snprintf(p->name, sizeof p->name, "%s", d->name);
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
    p->device_type = GPUMEM_DEVICE_TYPE_CPU;
    struct utsname u; /* the "driver" of host memory is the kernel */
    if (uname(&u) == 0)
        snprintf(p->driver_version, sizeof p->driver_version, "%.20s %.40s", u.sysname,
                 u.release);
    return GPUMEM_OK;
}

/* Pages start on a 2 MiB boundary, as a GPU runtime's large allocations do, so that a buffer's
 * offset and its address are aligned alike for every alignment up to 2 MiB. The over-mapped
 * head and tail are given back at once. A page of 2 MiB or more is advised for transparent huge
 * pages (a GPU's memory, too, comes in pieces of 2 MiB): first touches then fault 2 MiB at a time
 * rather than 4 KiB, and accesses miss the TLB less. The test suite's transfer sizes on this
 * backend took 2.5 million page faults and 41 s without the advice, 0.29 million and 17 s with
 * it (docs/performance.md, "Fiftieth session"). It only asks: the kernel's settings
 * (/sys/kernel/mm/transparent_hugepage) decide, and where a huge page is granted, one touched
 * byte makes 2 MiB resident, as on a GPU; with defrag set to madvise, a first touch may compact
 * memory to find one (docs/design.md, "Choices"). A smaller page holds no huge page: no
 * advice. */
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
    if (size >= align)
        madvise((void *)start, mapped, MADV_HUGEPAGE); /* a hint: its failure changes nothing */
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
    p->imported = 0;
    *page = (gpumem_backend_page *)p;
    return GPUMEM_OK;
}

/* The application's host memory, any pointer of any alignment: a page that only names it. */
static gpumem_result host_page_import(gpumem_backend_device *device, uint32_t memory_type,
                                      const gpumem_import_desc *desc, gpumem_backend_page **page)
{
    if (!desc->address || desc->memory || desc->offset)
        return gpumem_backend_error(GPUMEM_ERROR_INVALID_ARGUMENT,
                                    "host memory is named by its pointer alone: address must "
                                    "not be 0 (it is 0x%llx), memory and offset must be 0 "
                                    "(they are 0x%llx and %llu)",
                                    (unsigned long long)desc->address,
                                    (unsigned long long)desc->memory,
                                    (unsigned long long)desc->offset);
    host_page *p = malloc(sizeof *p);
    if (!p)
        return gpumem_backend_error(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "malloc: no memory");
    p->base = (void *)(uintptr_t)desc->address;
    p->size = desc->size;
    p->imported = 1;
    *page = (gpumem_backend_page *)p;
    return GPUMEM_OK;
}

static void host_page_free(gpumem_backend_device *device, gpumem_backend_page *page)
{
    host_page *p = (host_page *)page;
    if (!p->imported)
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

static uint64_t host_page_address(gpumem_backend_device *device, gpumem_backend_page *page)
{
    return (uint64_t)(uintptr_t)base_of(page);
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

/* The host's memory is this device's memory: registering it changes nothing, and succeeds. */
struct gpumem_backend_registration {
    void *host;
};

static gpumem_result host_register(gpumem_backend_device *device, void *host, uint64_t size,
                                   gpumem_backend_registration **out)
{
    gpumem_backend_registration *registration = malloc(sizeof *registration);
    if (!registration)
        return gpumem_backend_error(GPUMEM_ERROR_OUT_OF_HOST_MEMORY,
                                    "host: no memory for a registration");
    registration->host = host;
    *out = registration;
    return GPUMEM_OK;
}

static void host_unregister(gpumem_backend_device *device,
                            gpumem_backend_registration *registration)
{
    free(registration);
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
    .version = GPUMEM_BACKEND_VERSION,
    .name = "host",
    .priority = 0,
    .probe = host_probe,
    .device_open = host_device_open,
    .device_close = host_device_close,
    .device_properties = host_device_properties,
    .page_allocate = host_page_allocate,
    .page_free = host_page_free,
    .copy_page_to_page = host_copy_page_to_page,
    .page_map = host_page_map,
    .page_address = host_page_address,
    .copy_host_to_page = host_copy_host_to_page,
    .copy_page_to_host = host_copy_page_to_host,
    .host_memory_is_pinned = host_memory_is_pinned,
    .fill = host_fill,
    .page_import = host_page_import,
    .host_register = host_register,
    .host_unregister = host_unregister,
};

const gpumem_backend_vtable *gpumem_host_backend(void);

const gpumem_backend_vtable *gpumem_host_backend(void)
{
    return &host_vtable;
}
