/* Backend tables as modules hand them over: the versions core knows, the checks every table
 * passes, and the translation of a version-1 table into the current one. */
#ifndef GPUMEM_CORE_BACKEND_TABLE_H
#define GPUMEM_CORE_BACKEND_TABLE_H

#include <stddef.h>

#include "gpumem/backend.h"

/* Reads a backend's table, of whichever version it was built for, into the current layout
 * (operations the version does not have are NULL), and checks it: a known version, a valid
 * name, the required operations and whole groups. Returns GPUMEM_OK, or
 * GPUMEM_ERROR_ABI_MISMATCH (a version this libgpumem does not know) or
 * GPUMEM_ERROR_INVALID_ARGUMENT (a malformed table) with the reason in `reason`. */
gpumem_result gpumem_backend_table_read(const gpumem_backend_vtable *table,
                                        gpumem_backend_vtable *out, char *reason,
                                        size_t reason_size);

/* 1 for a name a backend may have: 1-63 characters of [a-z0-9_-]. */
int gpumem_backend_name_valid(const char *name);

/* What a device reports needs of its table: page_map where a memory type is host-visible,
 * page_flush and page_invalidate where one is host-visible but not coherent. GPUMEM_OK, or
 * GPUMEM_ERROR_BACKEND with a message naming the backend and what it lacks. */
gpumem_result gpumem_backend_table_fits(const gpumem_backend_vtable *table,
                                        const gpumem_device_properties *properties);

#endif
