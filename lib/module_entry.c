/* The entry point of a backend module: the one exported symbol, wrapping the backend's
 * table getter, whose name the build passes as GPUMEM_MODULE_BACKEND. */
#include "gpumem/backend.h"

const gpumem_backend_vtable *GPUMEM_MODULE_BACKEND(void);
GPUMEM_API const gpumem_backend_vtable *gpumem_backend_entry(void);

const gpumem_backend_vtable *gpumem_backend_entry(void)
{
    return GPUMEM_MODULE_BACKEND();
}
