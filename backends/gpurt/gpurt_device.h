/* What gpurt keeps of an open device, and how calls make it current. */
#ifndef GPUMEM_GPURT_DEVICE_H
#define GPUMEM_GPURT_DEVICE_H

#include <stdatomic.h>

#include "gpurt.h"

/* The kinds of memory a device offers; its memory types are a list of them. */
typedef enum gpurt_memory_kind {
    GPURT_MEMORY_DEVICE,  /* the device's own memory */
    GPURT_MEMORY_PINNED,  /* page-locked host memory the device reads over the bus */
    GPURT_MEMORY_MANAGED, /* migrates between host and device on touch */
    GPURT_MEMORY_KIND_COUNT
} gpurt_memory_kind;

enum { GPURT_HEAP_DEVICE, GPURT_HEAP_HOST, GPURT_HEAP_COUNT };

typedef struct gpurt_device {
    const gpurt_runtime *rt;
    int ordinal;
    void *context;
    int owns_context;
    int native_pools;
    uint32_t memory_type_count;
    gpurt_memory_kind kinds[GPURT_MEMORY_KIND_COUNT];
    gpumem_device_properties properties; /* filled at open: they do not change */
} gpurt_device;

static inline gpurt_device *gpurt_device_of(gpumem_backend_device *device)
{
    return (gpurt_device *)device;
}

/* Makes the device current for this thread's next runtime calls. */
gpumem_result gpurt_enter(const gpurt_device *d, gpurt_scope *scope);
/* Gives the thread back the device (or context) it had before gpurt_enter. */
void gpurt_leave(const gpurt_device *d, const gpurt_scope *scope);

/* The heap a memory kind draws from. */
int gpurt_heap_of(gpurt_memory_kind kind);

#endif
