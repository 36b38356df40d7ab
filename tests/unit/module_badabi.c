/* A module built against a later version of the backend table than this libgpumem knows: the
 * registry must refuse it, saying why. */
#include "gpumem/backend.h"

static const gpumem_backend_vtable table = {
    .version = GPUMEM_BACKEND_VERSION + 1,
    .name = "badabi",
};

GPUMEM_API const gpumem_backend_vtable *gpumem_backend_entry(void);

const gpumem_backend_vtable *gpumem_backend_entry(void)
{
    return &table;
}
