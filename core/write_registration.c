#include "write_registration.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "align.h"
#include "error.h"
#include "log.h"

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t registration_ended = PTHREAD_COND_INITIALIZER;
static gpumem_list registrations = {&registrations, &registrations}; /* under registry_lock */
static _Atomic uint32_t live;    /* registrations for a write, made or being made */
static _Atomic uint32_t copying; /* host transfers in flight on devices that can register */
static pthread_once_t page_once = PTHREAD_ONCE_INIT;
static uintptr_t page_size;

static void read_page_size(void)
{
    long page = sysconf(_SC_PAGESIZE);
    page_size = page > 0 ? (uintptr_t)page : 4096u;
}

static int can_register(const gpumem_device_obj *device)
{
    return device->staging.dma_host_transfers;
}

/* A live registration of this thread's (mine) or of another's (registry lock held). */
static int held(pthread_t self, int mine)
{
    for (const gpumem_list *l = registrations.next; l != &registrations; l = l->next)
        if ((pthread_equal(GPUMEM_CONTAINER_OF(l, gpumem_write_registration, link)->owner,
                           self) != 0) == mine)
            return 1;
    return 0;
}

int gpumem_write_registration_transfer_begin(const gpumem_device_obj *device)
{
    if (!can_register(device))
        return 0;
    atomic_fetch_add(&copying, 1);
    if (atomic_load(&live) == 0)
        return 0;
    pthread_t self = pthread_self();
    pthread_mutex_lock(&registry_lock);
    while (held(self, 0))
        pthread_cond_wait(&registration_ended, &registry_lock);
    int inside = held(self, 1);
    pthread_mutex_unlock(&registry_lock);
    return inside;
}

void gpumem_write_registration_transfer_end(const gpumem_device_obj *device)
{
    if (can_register(device))
        atomic_fetch_sub(&copying, 1);
}

/* Off the list, and wakes the transfers that wait (registry lock not held). */
static void withdraw(gpumem_write_registration *registration)
{
    pthread_mutex_lock(&registry_lock);
    gpumem_list_remove(&registration->link);
    atomic_fetch_sub(&live, 1);
    pthread_cond_broadcast(&registration_ended);
    pthread_mutex_unlock(&registry_lock);
}

int gpumem_write_registration_begin(gpumem_device_obj *device, const void *host, uint64_t size,
                                    gpumem_write_registration *registration)
{
    pthread_once(&page_once, read_page_size);
    uintptr_t begin, end;
    if (!can_register(device) || !size ||
        !gpumem_whole_pages((uintptr_t)host, size, page_size, &begin, &end))
        return 0;
    *registration = (gpumem_write_registration){
        .device = device, .begin = begin, .end = end, .owner = pthread_self()};
    pthread_mutex_lock(&registry_lock);
    atomic_fetch_add(&live, 1);
    int busy = atomic_load(&copying) > 1; /* the write itself is one */
    if (busy)
        atomic_fetch_sub(&live, 1);
    else
        gpumem_list_push(&registrations, &registration->link);
    pthread_mutex_unlock(&registry_lock);
    if (busy)
        return 0;
    gpumem_result r = device->ops->host_register(device->native, (void *)begin,
                                                 registration->end - begin,
                                                 &registration->native);
    if (r == GPUMEM_OK)
        return 1;
    gpumem_error_clear(); /* the write goes unregistered */
    withdraw(registration); /* before the log, whose callback may make calls that would wait */
    gpumem_log(GPUMEM_LOG_DEBUG, "the runtime did not register %llu bytes at %p for a write "
               "(%s); the write goes unregistered",
               (unsigned long long)(registration->end - begin), (void *)begin,
               gpumem_result_string(r));
    return 0;
}

void gpumem_write_registration_end(gpumem_write_registration *registration)
{
    gpumem_device_obj *device = registration->device;
    device->ops->host_unregister(device->native, registration->native);
    withdraw(registration);
}

int gpumem_write_registration_overlaps(const void *host, uint64_t size)
{
    uintptr_t begin = (uintptr_t)host, end = begin + size;
    int found = 0;
    pthread_mutex_lock(&registry_lock);
    for (const gpumem_list *l = registrations.next; l != &registrations && !found; l = l->next) {
        const gpumem_write_registration *w =
            GPUMEM_CONTAINER_OF(l, gpumem_write_registration, link);
        found = begin < w->end && w->begin < end;
    }
    pthread_mutex_unlock(&registry_lock);
    return found;
}
