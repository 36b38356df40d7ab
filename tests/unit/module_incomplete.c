/* A module of the right ABI that lacks required operations: refused with the first missing
 * operation named. */
#include "gpumem/backend.h"

static gpumem_result probe(uint32_t *count, char *reason, size_t size)
{
    *count = 1;
    return GPUMEM_OK;
}

static const gpumem_backend_vtable table = {
    .version = GPUMEM_BACKEND_VERSION,
    .name = "incomplete",
    .probe = probe,
};

GPUMEM_API const gpumem_backend_vtable *gpumem_backend_entry(void);

const gpumem_backend_vtable *gpumem_backend_entry(void)
{
    return &table;
}
