/* A module built against a future backend ABI: the registry must refuse it, saying why. */
#include "gpumem/backend.h"

static const gpumem_backend_vtable table = {
    .abi_version = GPUMEM_BACKEND_ABI_VERSION + 1,
    .struct_size = sizeof(gpumem_backend_vtable),
    .name = "badabi",
};

GPUMEM_API const gpumem_backend_vtable *gpumem_backend_entry(void);

const gpumem_backend_vtable *gpumem_backend_entry(void)
{
    return &table;
}
