/* Devices: probe, open and close, and the properties core reads once per open. The memory
 * types and heaps are a discrete GPU's: memory the device reads fast and the host cannot map,
 * and host memory the device reaches over the bus, mapped by the host. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simgpu.h"

gpumem_result sim_probe(uint32_t *device_count, char *reason, size_t reason_size)
{
    /* Nothing to load: the "runtime" is this module. A bad configuration is the one reason it
     * is not here, so that a test run with a mistyped variable cannot pass as another. */
    if (sim_cfg.error[0]) {
        snprintf(reason, reason_size, "%s", sim_cfg.error);
        return GPUMEM_ERROR_UNAVAILABLE;
    }
    *device_count = sim_cfg.devices;
    return GPUMEM_OK;
}

gpumem_result sim_device_open(uint32_t index, const gpumem_external_device *external,
                              gpumem_backend_device **out)
{
    /* `external` names no native objects here (the simulated runtime has none an application
     * could own), so opening on them is opening the device itself. */
    (void)external;
    sim_device *d = calloc(1, sizeof *d);
    if (!d)
        return gpumem_backend_error(GPUMEM_ERROR_OUT_OF_HOST_MEMORY,
                                    "simgpu: no memory for device %u", index);
    d->index = index;
    pthread_mutex_init(&d->registration_lock, NULL);
    d->heap_size[SIM_HEAP_DEVICE] = sim_cfg.device_memory;
    d->heap_size[SIM_HEAP_HOST] = sim_cfg.host_memory;
    const uint32_t device_local = GPUMEM_MEMORY_DEVICE_LOCAL;
    const uint32_t coherent = GPUMEM_MEMORY_HOST_VISIBLE | GPUMEM_MEMORY_HOST_COHERENT;
    const uint32_t cached = GPUMEM_MEMORY_HOST_VISIBLE | GPUMEM_MEMORY_HOST_CACHED;
    d->types[d->type_count++] = (gpumem_memory_type){device_local, SIM_HEAP_DEVICE};
    d->types[d->type_count++] = (gpumem_memory_type){
        sim_cfg.noncoherent == SIMGPU_NONCOHERENT_ONLY ? cached : coherent, SIM_HEAP_HOST};
    if (sim_cfg.noncoherent == SIMGPU_NONCOHERENT_ADD)
        d->types[d->type_count++] = (gpumem_memory_type){cached, SIM_HEAP_HOST};
    d->max_allocation = (sim_cfg.host_memory < sim_cfg.device_memory ? sim_cfg.host_memory
                                                                     : sim_cfg.device_memory) &
                        ~(sim_cfg.min_alignment - 1);
    atomic_init(&d->next_address, SIM_ADDRESS_BASE + (uint64_t)index * SIM_ADDRESS_RANGE);
    char description[160];
    sim_config_describe(&sim_cfg, description, sizeof description);
    snprintf(d->name, sizeof d->name, "simgpu %u: simulated discrete GPU (%s)", index,
             description);
    *out = (gpumem_backend_device *)d;
    return GPUMEM_OK;
}

void sim_device_close(gpumem_backend_device *device)
{
    sim_device *d = (sim_device *)device;
    int64_t pages = atomic_load(&d->pages), streams = atomic_load(&d->streams);
    int64_t events = atomic_load(&d->events), views = atomic_load(&d->views);
    int64_t pools = atomic_load(&d->pools);
    SIM_EXPECT(pages == 0 && streams == 0 && events == 0 && views == 0 && pools == 0,
               "device_close",
               "device %u still has %lld pages, %lld streams, %lld events, %lld native buffers "
               "and %lld native pools: core frees them all before it closes the device",
               d->index, (long long)pages, (long long)streams, (long long)events,
               (long long)views, (long long)pools);
    SIM_EXPECT(d->registrations == NULL, "device_close",
               "device %u still has host memory registered: core ends every registration "
               "before it closes the device", d->index);
    pthread_mutex_destroy(&d->registration_lock);
    free(d);
}

gpumem_result sim_device_properties(gpumem_backend_device *device, gpumem_device_properties *p)
{
    const sim_device *d = (const sim_device *)device;
    snprintf(p->name, sizeof p->name, "%s", d->name);
    p->vendor_id = 0; /* no PCI vendor: nothing real */
    p->device_id = d->index;
    p->memory_heap_count = SIM_HEAP_COUNT;
    p->memory_heaps[SIM_HEAP_DEVICE] = (gpumem_memory_heap){
        .size = d->heap_size[SIM_HEAP_DEVICE], .flags = GPUMEM_MEMORY_DEVICE_LOCAL};
    p->memory_heaps[SIM_HEAP_HOST] = (gpumem_memory_heap){.size = d->heap_size[SIM_HEAP_HOST]};
    p->memory_type_count = d->type_count;
    memcpy(p->memory_types, d->types, d->type_count * sizeof d->types[0]);
    p->min_alignment = sim_cfg.min_alignment;
    p->non_coherent_atom_size = sim_cfg.atom_size;
    p->max_allocation_size = d->max_allocation;
    p->max_allocation_count = 0;
    p->native_pools = !sim_cfg.no_streams; /* pool.c */
    return GPUMEM_OK;
}
