/* Virtual blocks: the pools' TLSF over offsets only, behind a generation-checked handle.
 * Externally synchronized, as documented, so no lock sits on the hot path. */
#include <stdlib.h>

#include "error.h"
#include "handles.h"
#include "tlsf_inline.h"

/* A vblock's handle points straight at its TLSF: one dependent load fewer on every call. */
typedef gpumem_tlsf vblock_obj;

/* Why a handle is not a live vblock: kept out of line, off the hot path. */
__attribute__((noinline, cold)) static gpumem_result vblock_refuse(gpumem_vblock handle,
                                                                   const char *function)
{
    return gpumem_handle_refuse(GPUMEM_HANDLE_OF(handle), GPUMEM_HANDLE_VBLOCK, function);
}

static inline gpumem_result vblock_get(gpumem_vblock handle, const char *function,
                                       vblock_obj **vb)
{
    *vb = gpumem_handle_peek(GPUMEM_HANDLE_OF(handle), GPUMEM_HANDLE_VBLOCK);
    return __builtin_expect(*vb != NULL, 1) ? GPUMEM_OK : vblock_refuse(handle, function);
}

gpumem_result gpumem_vblock_create(uint64_t size, gpumem_vblock *out)
{
    gpumem_error_clear();
    if (!out)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, __func__, "vblock is NULL");
    if (size == 0)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, __func__, "size is 0");
    gpumem_tlsf *tlsf;
    gpumem_result r = gpumem_tlsf_create(size, &tlsf);
    if (r != GPUMEM_OK)
        return gpumem_error(r, __func__, "cannot create a suballocator of %llu bytes",
                            (unsigned long long)size);
    uint64_t handle = gpumem_handle_create(GPUMEM_HANDLE_VBLOCK, tlsf);
    if (!handle) {
        gpumem_tlsf_destroy(tlsf);
        return gpumem_error(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, __func__, "no handle left");
    }
    *out = (gpumem_vblock)(uintptr_t)handle;
    return GPUMEM_OK;
}

gpumem_result gpumem_vblock_destroy(gpumem_vblock handle)
{
    gpumem_error_clear();
    vblock_obj *vb;
    gpumem_result r = vblock_get(handle, __func__, &vb);
    if (r != GPUMEM_OK)
        return r;
    gpumem_handle_destroy(GPUMEM_HANDLE_OF(handle));
    gpumem_tlsf_destroy(vb);
    return GPUMEM_OK;
}

gpumem_result gpumem_vblock_alloc(gpumem_vblock handle, uint64_t size, uint64_t alignment,
                                  gpumem_vblock_allocation *allocation, uint64_t *offset)
{
    gpumem_error_clear();
    vblock_obj *vb;
    gpumem_result r = vblock_get(handle, __func__, &vb);
    if (r != GPUMEM_OK)
        return r;
    if (!allocation || !offset)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, __func__, "%s is NULL",
                            allocation ? "offset" : "allocation");
    if (size == 0)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, __func__, "size is 0");
    if (alignment & (alignment - 1))
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, __func__,
                            "alignment %llu is not a power of two",
                            (unsigned long long)alignment);
    gpumem_tlsf_allocation a;
    r = gpumem_tlsf_alloc_inline(vb, size, alignment ? alignment - 1u : 0, &a);
    if (r == GPUMEM_ERROR_LIMIT_EXCEEDED)
        return gpumem_error(r, __func__, "no free range of %llu bytes aligned to %llu",
                            (unsigned long long)size, (unsigned long long)alignment);
    if (r != GPUMEM_OK)
        return gpumem_error(r, __func__, "no host memory for the allocation's record");
    *allocation = a.handle;
    *offset = a.offset;
    return GPUMEM_OK;
}

gpumem_result gpumem_vblock_free(gpumem_vblock handle, gpumem_vblock_allocation allocation)
{
    gpumem_error_clear();
    vblock_obj *vb;
    gpumem_result r = vblock_get(handle, __func__, &vb);
    if (r != GPUMEM_OK)
        return r;
    r = gpumem_tlsf_free_inline(vb, allocation);
    if (r != GPUMEM_OK)
        return gpumem_error(r, __func__, "0x%llx is not a live allocation of this vblock",
                            (unsigned long long)allocation);
    return GPUMEM_OK;
}

gpumem_result gpumem_vblock_clear(gpumem_vblock handle)
{
    gpumem_error_clear();
    vblock_obj *vb;
    gpumem_result r = vblock_get(handle, __func__, &vb);
    if (r != GPUMEM_OK)
        return r;
    gpumem_tlsf_clear(vb);
    return GPUMEM_OK;
}

gpumem_result gpumem_vblock_stats_get(gpumem_vblock handle, gpumem_vblock_stats *stats)
{
    gpumem_error_clear();
    vblock_obj *vb;
    gpumem_result r = vblock_get(handle, __func__, &vb);
    if (r != GPUMEM_OK)
        return r;
    if (!stats)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, __func__, "stats is NULL");
    gpumem_tlsf_stats s;
    gpumem_tlsf_stats_get(vb, &s);
    *stats = (gpumem_vblock_stats){
        .size = s.size,
        .used_bytes = s.used_bytes,
        .allocation_count = s.allocation_count,
        .free_range_count = s.free_range_count,
        .largest_free_range = s.largest_free_range,
        .span = s.span,
    };
    return GPUMEM_OK;
}
