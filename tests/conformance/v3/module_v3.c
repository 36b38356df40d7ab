/* A module built for version 3 of the backend table, under the name "hostv3": the host
 * backend's operations in a table that ends where version 3 ended (stream_unwrap). Core must
 * read only that much: the bytes after it, where version 4 put page_import, hold a pattern that
 * no valid pointer has, so a libgpumem that read them would call through garbage (the suite's
 * import tests expect GPUMEM_ERROR_UNSUPPORTED here). The conformance suite runs on it. */
#include <stddef.h>
#include <string.h>

#include "gpumem/backend.h"

const gpumem_backend_vtable *gpumem_host_backend(void); /* the host backend's static library */

#define VERSION_3_SIZE (offsetof(gpumem_backend_vtable, stream_unwrap) + sizeof(void *))

/* Room for a whole current table, so that a reader that goes too far reads the pattern. */
static union {
    gpumem_backend_vtable table;
    unsigned char bytes[sizeof(gpumem_backend_vtable)];
} v3;

GPUMEM_API const gpumem_backend_vtable *gpumem_backend_entry(void);

const gpumem_backend_vtable *gpumem_backend_entry(void)
{
    memcpy(v3.bytes, gpumem_host_backend(), VERSION_3_SIZE);
    memset(v3.bytes + VERSION_3_SIZE, 0xA5, sizeof v3.bytes - VERSION_3_SIZE);
    v3.table.version = 3;
    v3.table.name = "hostv3";
    return &v3.table;
}
