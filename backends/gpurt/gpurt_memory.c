/* Pages of each memory kind, their mappings, and what the host's own memory is. */
#include <stdlib.h>

#include "gpurt_error.h"
#include "gpurt_page.h"

static gpumem_result allocate_kind(const gpurt_device *d, gpurt_page *p)
{
    const gpurt_runtime *rt = d->rt;
    gpurt_status status;
    switch (p->kind) {
    case GPURT_MEMORY_PINNED:
        status = rt->malloc_host(p->size, &p->host);
        if (status != 0)
            return gpurt_fail_allocation(rt, GPURT_CALL_MALLOC_HOST, status,
                                         GPUMEM_ERROR_OUT_OF_HOST_MEMORY, p->size);
        p->address = (uint64_t)(uintptr_t)p->host; /* unified addressing */
        return GPUMEM_OK;
    case GPURT_MEMORY_MANAGED:
        status = rt->malloc_managed(p->size, &p->address);
        if (status != 0)
            return gpurt_fail_allocation(rt, GPURT_CALL_MALLOC_MANAGED, status,
                                         GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY, p->size);
        p->host = (void *)(uintptr_t)p->address;
        return GPUMEM_OK;
    default:
        status = rt->malloc_device(p->size, &p->address);
        return status == 0 ? GPUMEM_OK
                           : gpurt_fail_allocation(rt, GPURT_CALL_MALLOC_DEVICE, status,
                                                   GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY, p->size);
    }
}

gpumem_result gpurt_page_allocate(gpumem_backend_device *device, uint32_t memory_type,
                                  uint64_t size, gpumem_backend_page **page)
{
    gpurt_device *d = gpurt_device_of(device);
    gpurt_page *p = calloc(1, sizeof *p);
    if (!p)
        return gpumem_backend_error(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "no memory for a page");
    p->kind = d->kinds[memory_type];
    p->size = size;
    gpurt_scope scope;
    gpumem_result r = gpurt_enter(d, &scope);
    if (r == GPUMEM_OK) {
        r = allocate_kind(d, p);
        gpurt_leave(d, &scope);
    }
    if (r != GPUMEM_OK) {
        free(p);
        return r;
    }
    *page = (gpumem_backend_page *)p;
    return GPUMEM_OK;
}

/* The application's memory of a memory type: device memory by its device pointer, pinned and
 * managed memory by their unified address, which is also the host's pointer. Where the runtime
 * says cheaply whose device memory a pointer is, memory of another device (or none) is refused
 * for device memory types. */
gpumem_result gpurt_page_import(gpumem_backend_device *device, uint32_t memory_type,
                                const gpumem_import_desc *desc, gpumem_backend_page **page)
{
    gpurt_device *d = gpurt_device_of(device);
    const gpurt_runtime *rt = d->rt;
    if (!desc->address || desc->memory || desc->offset)
        return gpumem_backend_error(GPUMEM_ERROR_INVALID_ARGUMENT,
                                    "%s memory is named by its address alone: address must not "
                                    "be 0 (it is 0x%llx), memory and offset must be 0 (they are "
                                    "0x%llx and %llu)",
                                    rt->name, (unsigned long long)desc->address,
                                    (unsigned long long)desc->memory,
                                    (unsigned long long)desc->offset);
    if (desc->address % 4)
        return gpumem_backend_error(GPUMEM_ERROR_INVALID_ARGUMENT,
                                    "address 0x%llx is not a multiple of 4 (%s fills write "
                                    "32-bit words)",
                                    (unsigned long long)desc->address, rt->name);
    gpurt_memory_kind kind = d->kinds[memory_type];
    int ordinal = d->ordinal;
    if (kind == GPURT_MEMORY_DEVICE && rt->pointer_device &&
        rt->pointer_device(desc->address, &ordinal) == 0 && ordinal != d->ordinal)
        return gpumem_backend_error(GPUMEM_ERROR_INVALID_ARGUMENT,
                                    "address 0x%llx is not %s device memory of device %d (%s)",
                                    (unsigned long long)desc->address, rt->name, d->ordinal,
                                    ordinal < 0 ? "the runtime knows it as no device's memory"
                                                : "it is another device's");
    /* The pinned type's pages are mapped by handing out their address and filled by the
     * device over the bus: device memory there would be a host pointer the host cannot touch,
     * pageable memory a range the device cannot reach. */
    if (kind == GPURT_MEMORY_PINNED &&
        !gpurt_host_memory_is_pinned(device, (const void *)(uintptr_t)desc->address, desc->size))
        return gpumem_backend_error(GPUMEM_ERROR_INVALID_ARGUMENT,
                                    "the %llu bytes at 0x%llx are not one allocation of %s "
                                    "pinned or registered host memory, which the pinned memory "
                                    "type holds",
                                    (unsigned long long)desc->size,
                                    (unsigned long long)desc->address, rt->name);
    gpurt_page *p = calloc(1, sizeof *p);
    if (!p)
        return gpumem_backend_error(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "no memory for a page");
    p->kind = kind;
    p->size = desc->size;
    p->address = desc->address;
    p->host = kind == GPURT_MEMORY_DEVICE ? NULL : (void *)(uintptr_t)desc->address;
    p->imported = 1;
    *page = (gpumem_backend_page *)p;
    return GPUMEM_OK;
}

void gpurt_page_free(gpumem_backend_device *device, gpumem_backend_page *page)
{
    gpurt_device *d = gpurt_device_of(device);
    gpurt_page *p = gpurt_page_of(page);
    if (p->imported) { /* the memory stays the application's */
        free(p);
        return;
    }
    gpurt_scope scope;
    /* Without the device current the free would fail too; the page is lost either way. */
    if (gpurt_enter(d, &scope) == GPUMEM_OK) {
        if (p->kind == GPURT_MEMORY_PINNED)
            d->rt->free_host(p->host);
        else
            d->rt->free_device(p->address);
        gpurt_leave(d, &scope);
    }
    free(p);
}

/* Pinned and managed memory are mapped for their whole life: mapping is handing out the
 * pointer (core only asks for host-visible types). */
gpumem_result gpurt_page_map(gpumem_backend_device *device, gpumem_backend_page *page,
                             void **data)
{
    *data = gpurt_page_of(page)->host;
    return GPUMEM_OK;
}

/* The device address, so core can align buffers' addresses beyond the runtimes' 256 bytes. */
uint64_t gpurt_page_address(gpumem_backend_device *device, gpumem_backend_page *page)
{
    return gpurt_page_of(page)->address;
}

