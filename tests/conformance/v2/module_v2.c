/* A module built for version 2 of the backend table, under the name "hostv2": the host
 * backend's operations in a table that ends where version 2 ended. Core must read only that
 * much: the bytes after it, where version 3 put stream_wait_event and event_native (and version
 * 4 page_import), hold a pattern that no valid pointer has, so a libgpumem that read them would
 * call through garbage. The conformance suite runs on it. */
#include <stddef.h>
#include <string.h>

#include "gpumem/backend.h"

const gpumem_backend_vtable *gpumem_host_backend(void); /* the host backend's static library */

#define VERSION_2_SIZE (offsetof(gpumem_backend_vtable, native_pool_stats) + sizeof(void *))

/* Room for a whole current table, so that a reader that goes too far reads the pattern. */
static union {
    gpumem_backend_vtable table;
    unsigned char bytes[sizeof(gpumem_backend_vtable)];
} v2;

GPUMEM_API const gpumem_backend_vtable *gpumem_backend_entry(void);

const gpumem_backend_vtable *gpumem_backend_entry(void)
{
    memcpy(v2.bytes, gpumem_host_backend(), VERSION_2_SIZE);
    memset(v2.bytes + VERSION_2_SIZE, 0xA5, sizeof v2.bytes - VERSION_2_SIZE);
    v2.table.version = 2;
    v2.table.name = "hostv2";
    return &v2.table;
}
