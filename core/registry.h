/* The backends of this process: built in, registered by the application, or loaded from
 * modules. Filled once, at the first call that needs it. */
#ifndef GPUMEM_CORE_REGISTRY_H
#define GPUMEM_CORE_REGISTRY_H

#include "gpumem/backend.h"

typedef struct gpumem_backend_entry {
    gpumem_backend_vtable ops; /* a copy, with absent optional operations filled in */
    gpumem_backend_info info;
    int refused;               /* a module that failed its checks: listed, never opened */
    uint32_t capabilities;     /* GPUMEM_CAPABILITY_*: optional operations really present */
} gpumem_backend_entry;

enum {
    GPUMEM_CAPABILITY_COPY_HOST = 1u << 0,   /* copy_host_to_page and copy_page_to_host */
    GPUMEM_CAPABILITY_PINNED_QUERY = 1u << 1,
    GPUMEM_CAPABILITY_FILL = 1u << 2,
    GPUMEM_CAPABILITY_BIND = 1u << 3,
    GPUMEM_CAPABILITY_BUDGET = 1u << 4,
    GPUMEM_CAPABILITY_NATIVE_POOLS = 1u << 5,
};

/* Built-in backends, defined by the library build (lib/builtin.c): writes up to `max` tables. */
uint32_t gpumem_builtin_backends(const gpumem_backend_vtable **tables, uint32_t max);

/* Picks the backend to open: `name` if given, else the GPUMEM_BACKEND preference list, else
 * the available backend of highest priority. Errors list the available backends. */
gpumem_result gpumem_registry_choose(const char *name, const char *function,
                                     const gpumem_backend_entry **entry);

#endif
