/* The backends of this process: built in, registered by the application, or loaded from
 * modules. The list is filled once, at the first call that needs it; a backend is probed only
 * when a call first needs to know whether it is available. */
#ifndef GPUMEM_CORE_REGISTRY_H
#define GPUMEM_CORE_REGISTRY_H

#include <pthread.h>

#include "gpumem/backend.h"

typedef struct gpumem_backend_entry {
    gpumem_backend_vtable ops; /* the table in the current layout (absent operations NULL) */
    gpumem_backend_info info;  /* available, device_count, reason: valid once probed */
    int refused;               /* a module that failed its checks: listed, never opened */
    void *module;              /* dlopen's handle of an accepted module, or NULL */
    /* Probing: under `lock` (recursive, so a probe that logs to a callback that asks about
     * this backend gets its current answer instead of a deadlock). */
    pthread_mutex_t lock;
    int probed;                 /* a definitive answer is in info: never probed again */
    int probing;                /* a probe is running on the thread that holds the lock */
    int attempted;              /* probed at least once (a transient failure is in info) */
    gpumem_result probe_result; /* the last probe's, or UNAVAILABLE for a refused module */
} gpumem_backend_entry;


/* Built-in backends, defined by the library build (lib/builtin.c): writes up to `max` tables. */
uint32_t gpumem_builtin_backends(const gpumem_backend_vtable **tables, uint32_t max);

/* Picks the backend to open: `name` if given, else the GPUMEM_BACKEND preference list, else
 * the available backend of highest priority, probing only the backends it must. The entry is
 * available (probed, with a device); its info stays as it is for the life of the process.
 * Errors list the available backends. */
gpumem_result gpumem_registry_choose(const char *name, const gpumem_backend_entry **entry);

#endif
