#include "gpurt_properties.h"

#include <stdio.h>
#include <unistd.h>

#include "gpurt_error.h"
#include "gpurt_pci.h"

/* cuMemAlloc and hipMalloc return 256-byte aligned memory; offsets keep that, so a buffer
 * suits any vector load a kernel makes. */
#define GPURT_ALIGNMENT 256

/* Every type is coherent; the atom only has to be a power of two. */
#define GPURT_ATOM 64

static uint64_t host_memory_size(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
    return pages > 0 && page_size > 0 ? (uint64_t)pages * (uint64_t)page_size : 0;
}

/* An attribute's value, 0 where the runtime does not say. */
static int attribute_value(const gpurt_device *d, gpurt_attribute which)
{
    int value = 0;
    return d->rt->device_attribute(d->ordinal, which, &value) == 0 ? value : 0;
}

static int attribute(const gpurt_device *d, gpurt_attribute which)
{
    return attribute_value(d, which) != 0;
}

/* Pitched images bind as textures: rows and levels aligned as the device's textures need
 * (core raises values the runtime does not give to min_alignment). */
static void fill_image_alignments(gpurt_device *d)
{
    int pitch = attribute_value(d, GPURT_ATTRIBUTE_TEXTURE_PITCH_ALIGNMENT);
    int base = attribute_value(d, GPURT_ATTRIBUTE_TEXTURE_ALIGNMENT);
    d->properties.image_pitch_alignment = pitch > 0 ? (uint64_t)pitch : 0;
    d->properties.image_base_alignment = base > 0 ? (uint64_t)base : 0;
}

static int has_pool_operations(const gpurt_runtime *rt)
{
    return rt->pool_create && rt->pool_destroy && rt->pool_set && rt->pool_get &&
           rt->pool_trim && rt->pool_allocate && rt->pool_free;
}

/* Honest flags: each type claims only what the device guarantees for it. */
static uint32_t kind_flags(gpurt_memory_kind kind)
{
    switch (kind) {
    case GPURT_MEMORY_DEVICE:
        return GPUMEM_MEMORY_DEVICE_LOCAL;
    case GPURT_MEMORY_PINNED: /* ordinary cacheable host pages, only locked (not combined) */
        return GPUMEM_MEMORY_HOST_VISIBLE | GPUMEM_MEMORY_HOST_COHERENT |
               GPUMEM_MEMORY_HOST_CACHED;
    default: /* managed, offered only where host and device may use it at once */
        return GPUMEM_MEMORY_DEVICE_LOCAL | GPUMEM_MEMORY_HOST_VISIBLE |
               GPUMEM_MEMORY_HOST_COHERENT;
    }
}

/* Device memory first: a pool asking for nothing in particular gets the fastest memory. */
static void choose_kinds(gpurt_device *d)
{
    d->kinds[d->memory_type_count++] = GPURT_MEMORY_DEVICE;
    /* Without unified addressing a pinned page would need a second, device address. */
    if (attribute(d, GPURT_ATTRIBUTE_UNIFIED_ADDRESSING))
        d->kinds[d->memory_type_count++] = GPURT_MEMORY_PINNED;
    /* Without concurrent access the host may not touch managed memory while any work runs,
     * which no memory type flag can express. */
    if (d->rt->malloc_managed && attribute(d, GPURT_ATTRIBUTE_MANAGED_MEMORY) &&
        attribute(d, GPURT_ATTRIBUTE_CONCURRENT_MANAGED))
        d->kinds[d->memory_type_count++] = GPURT_MEMORY_MANAGED;
}

static void fill_memory(gpurt_device *d, uint64_t device_memory)
{
    gpumem_device_properties *p = &d->properties;
    uint64_t host = host_memory_size();
    p->memory_heap_count = GPURT_HEAP_COUNT;
    p->memory_heaps[GPURT_HEAP_DEVICE] = (gpumem_memory_heap){
        .size = device_memory, .budget = device_memory, .flags = GPUMEM_MEMORY_DEVICE_LOCAL};
    p->memory_heaps[GPURT_HEAP_HOST] = (gpumem_memory_heap){.size = host, .budget = host};
    p->memory_type_count = d->memory_type_count;
    for (uint32_t i = 0; i < d->memory_type_count; i++)
        p->memory_types[i] = (gpumem_memory_type){
            .flags = kind_flags(d->kinds[i]), .heap_index = (uint32_t)gpurt_heap_of(d->kinds[i])};
    p->min_alignment = GPURT_ALIGNMENT;
    p->non_coherent_atom_size = GPURT_ATOM;
    p->max_allocation_size = device_memory;
}

/* The vendor is the runtime's; the device id is the PCI one where sysfs has it. */
static void fill_identity(gpurt_device *d)
{
    gpumem_device_properties *p = &d->properties;
    char bus_id[32];
    p->vendor_id = d->rt->vendor_id;
    p->device_type = GPUMEM_DEVICE_TYPE_GPU;
    if (d->rt->device_pci_bus_id &&
        d->rt->device_pci_bus_id(d->ordinal, bus_id, (int)sizeof bus_id) == 0) {
        p->device_id = gpurt_pci_device_id(bus_id, p->vendor_id);
        snprintf(p->pci_address, sizeof p->pci_address, "%s", bus_id);
    }
    if (!d->rt->driver_version ||
        d->rt->driver_version(p->api_version, (int)sizeof p->api_version) != 0)
        p->api_version[0] = 0;
    p->has_uuid = d->rt->device_uuid && d->rt->device_uuid(d->ordinal, p->uuid) == 0;
    gpurt_kernel_driver_version(d->rt, p->driver_version, sizeof p->driver_version);
}

/* Queries that need the device current. */
static gpumem_result query(gpurt_device *d, uint64_t *device_memory)
{
    const gpurt_runtime *rt = d->rt;
    gpumem_device_properties *p = &d->properties;
    size_t bytes = 0;
    gpurt_status status = rt->device_name(d->ordinal, p->name, (int)sizeof p->name);
    if (status == 0)
        status = rt->device_total_memory(d->ordinal, &bytes);
    *device_memory = bytes;
    if (status != 0)
        return gpurt_fail(rt, GPURT_CALL_DEVICE_QUERY, status);
    choose_kinds(d);
    d->native_pools = has_pool_operations(rt) && attribute(d, GPURT_ATTRIBUTE_MEMORY_POOLS);
    fill_identity(d);
    fill_image_alignments(d);
    return GPUMEM_OK;
}

gpumem_result gpurt_properties_init(gpurt_device *d)
{
    gpurt_scope scope;
    uint64_t device_memory = 0;
    gpumem_result r = gpurt_enter(d, &scope);
    if (r != GPUMEM_OK)
        return r;
    r = query(d, &device_memory);
    gpurt_leave(d, &scope);
    if (r != GPUMEM_OK)
        return r;
    fill_memory(d, device_memory);
    d->properties.native_pools = (uint32_t)d->native_pools;
    return GPUMEM_OK;
}

gpumem_result gpurt_device_properties(gpumem_backend_device *device,
                                      gpumem_device_properties *properties)
{
    *properties = gpurt_device_of(device)->properties;
    return GPUMEM_OK;
}

int gpurt_heap_of(gpurt_memory_kind kind)
{
    return kind == GPURT_MEMORY_PINNED ? GPURT_HEAP_HOST : GPURT_HEAP_DEVICE;
}
