/* Host memory registration (host_register and host_unregister, a group of two in backend.h).
 * The simulated device copies host memory with memcpy whether it is registered or not, so a
 * registration here is bookkeeping that keeps a real runtime's rules: a range that shares a byte
 * with a live registration is refused as the runtime refuses it (CUDA's "already registered"),
 * and the device's close finds none left (core ends every registration first). With it, core's
 * paths for registered memory run on any machine: the application's registrations, and the
 * pages core registers for one write or read on few CPUs. A copy queued from registered memory
 * (queue_registered_host_to_page, copy.c) must find its bytes registered when it is queued and
 * still registered when it runs, as a real runtime's DMA needs them, and so must a read queued
 * into memory registered when it was queued. Memory registered read-only
 * (host_register_read_only) may not be written by a read's copy, as CUDA's DMA may not. */
#include <stdlib.h>

#include "simgpu.h"

struct gpumem_backend_registration {
    struct gpumem_backend_registration *next;
    uintptr_t begin, end;
    int read_only; /* the device may only read it */
};

static gpumem_result register_memory(gpumem_backend_device *device, void *host, uint64_t size,
                                     gpumem_backend_registration **out, int read_only)
{
    sim_device *d = (sim_device *)device;
    uintptr_t begin = (uintptr_t)host, end = begin + size; /* core checked that it does not wrap */
    gpumem_backend_registration *r = malloc(sizeof *r);
    if (!r)
        return gpumem_backend_error(GPUMEM_ERROR_OUT_OF_HOST_MEMORY,
                                    "simgpu: no memory for a registration");
    pthread_mutex_lock(&d->registration_lock);
    for (const gpumem_backend_registration *o = d->registrations; o; o = o->next)
        if (begin < o->end && o->begin < end) {
            pthread_mutex_unlock(&d->registration_lock);
            free(r);
            return gpumem_backend_error(GPUMEM_ERROR_INVALID_ARGUMENT,
                                        "simgpu: %llu bytes at %p are registered already, in "
                                        "part or whole", (unsigned long long)size, host);
        }
    *r = (gpumem_backend_registration){
        .next = d->registrations, .begin = begin, .end = end, .read_only = read_only};
    d->registrations = r;
    pthread_mutex_unlock(&d->registration_lock);
    *out = r;
    return GPUMEM_OK;
}

gpumem_result sim_host_register(gpumem_backend_device *device, void *host, uint64_t size,
                                gpumem_backend_registration **out)
{
    return register_memory(device, host, size, out, 0);
}

gpumem_result sim_host_register_read_only(gpumem_backend_device *device, void *host,
                                          uint64_t size, gpumem_backend_registration **out)
{
    return register_memory(device, host, size, out, 1);
}

void sim_host_unregister(gpumem_backend_device *device, gpumem_backend_registration *registration)
{
    sim_device *d = (sim_device *)device;
    pthread_mutex_lock(&d->registration_lock);
    gpumem_backend_registration **at = &d->registrations;
    while (*at && *at != registration)
        at = &(*at)->next;
    int found = *at != NULL;
    if (found)
        *at = registration->next;
    pthread_mutex_unlock(&d->registration_lock);
    SIM_EXPECT(found, "host_unregister", "registration %p is not live on device %u",
               (void *)registration, d->index);
    if (found)
        free(registration);
}

int sim_host_registered(sim_device *d, const void *host, uint64_t size)
{
    uintptr_t begin = (uintptr_t)host, end = begin + size;
    int found = 0;
    pthread_mutex_lock(&d->registration_lock);
    for (const gpumem_backend_registration *r = d->registrations; r && !found; r = r->next)
        found = r->begin <= begin && end <= r->end;
    pthread_mutex_unlock(&d->registration_lock);
    return found;
}

int sim_host_memory_is_pinned(gpumem_backend_device *device, const void *host, uint64_t size)
{
    return sim_host_registered((sim_device *)device, host, size);
}

int sim_host_read_only(sim_device *d, const void *host, uint64_t size)
{
    uintptr_t begin = (uintptr_t)host, end = begin + size;
    int found = 0;
    pthread_mutex_lock(&d->registration_lock);
    for (const gpumem_backend_registration *r = d->registrations; r && !found; r = r->next)
        found = r->read_only && begin < r->end && r->begin < end;
    pthread_mutex_unlock(&d->registration_lock);
    return found;
}
