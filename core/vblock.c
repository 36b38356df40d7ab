/* Virtual blocks: the pools' TLSF over offsets only, behind a generation-checked handle.
 * Externally synchronized, as documented, so no lock sits on the hot path. */
#include "call.h"
#include "handles.h"
#include "hot.h"
#include "tlsf_inline.h"

/* A vblock's handle points straight at its TLSF: one dependent load fewer on every call. */
typedef gpumem_tlsf vblock_obj;

/* Virtual blocks belong to the application alone (no owner destroys them, and they are
 * externally synchronized), so their calls need no read-side section: GPUMEM_LOGGED_PLAIN_CALL. */

/* Why a handle is not a live vblock: kept out of line, off the hot path. */
GPUMEM_RARE static gpumem_result vblock_refuse(gpumem_vblock handle)
{
    return gpumem_handle_refuse(GPUMEM_HANDLE_OF(handle), GPUMEM_HANDLE_VBLOCK);
}

/* The vblock of a live handle, or NULL. The application synchronizes calls on a vblock with
 * its destroy, so the handle's tag is read once (gpumem_handle_peek_synchronized). */
static inline vblock_obj *vblock_peek(gpumem_vblock handle)
{
    return gpumem_handle_peek_synchronized(GPUMEM_HANDLE_OF(handle), GPUMEM_HANDLE_VBLOCK);
}

static inline gpumem_result vblock_get(gpumem_vblock handle, vblock_obj **vb)
{
    *vb = vblock_peek(handle);
    return __builtin_expect(*vb != NULL, 1) ? GPUMEM_OK : vblock_refuse(handle);
}

static inline gpumem_result vblock_create(uint64_t size, gpumem_vblock *out)
{
    if (!out)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "vblock is NULL");
    if (size == 0)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "size is 0");
    gpumem_tlsf *tlsf;
    gpumem_result r = gpumem_tlsf_create(size, &tlsf);
    if (r != GPUMEM_OK)
        return gpumem_fail(r, "cannot create a suballocator of %llu bytes",
                           (unsigned long long)size);
    uint64_t handle = gpumem_handle_create(GPUMEM_HANDLE_VBLOCK, tlsf);
    if (!handle) {
        gpumem_tlsf_destroy(tlsf);
        return gpumem_fail(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "no handle left");
    }
    *out = (gpumem_vblock)(uintptr_t)handle;
    return GPUMEM_OK;
}

gpumem_result gpumem_vblock_create(uint64_t size, gpumem_vblock *vblock)
{
    GPUMEM_LOGGED_PLAIN_CALL(vblock_create(size, vblock),
                             "size %llu" GPUMEM_LOG_OUTPUTS "vblock %#llx",
                             (unsigned long long)(size), GPUMEM_LOG_OUT(vblock));
}

static inline gpumem_result vblock_destroy(gpumem_vblock handle)
{
    vblock_obj *vb;
    gpumem_result r = vblock_get(handle, &vb);
    if (r != GPUMEM_OK)
        return r;
    if (!gpumem_handle_destroy(GPUMEM_HANDLE_OF(handle))) /* a second destroy at once */
        return gpumem_fail(GPUMEM_ERROR_DESTROYED, "the vblock was destroyed");
    gpumem_tlsf_destroy(vb);
    return GPUMEM_OK;
}

gpumem_result gpumem_vblock_destroy(gpumem_vblock vblock)
{
    GPUMEM_LOGGED_PLAIN_CALL(vblock_destroy(vblock),
                             "vblock %#llx",
                             GPUMEM_LOG_HANDLE(vblock));
}

/* Why the suballocator refused an allocation. */
static gpumem_result vblock_alloc_refused(gpumem_result r, uint64_t size, uint64_t alignment)
{
    if (r == GPUMEM_ERROR_LIMIT_EXCEEDED)
        return gpumem_fail(r, "no free range of %llu bytes aligned to %llu",
                           (unsigned long long)size,
                           (unsigned long long)(alignment ? alignment : 1));
    return gpumem_fail(r, "no host memory for the allocation's record");
}

static inline gpumem_result vblock_alloc(gpumem_vblock handle, uint64_t size,
                                         uint64_t alignment, gpumem_vblock_allocation *allocation,
                                         uint64_t *offset)
{
    vblock_obj *vb;
    gpumem_result r = vblock_get(handle, &vb);
    if (r != GPUMEM_OK)
        return r;
    if (!allocation || !offset)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "%s is NULL",
                           allocation ? "offset" : "allocation");
    if (size == 0)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "size is 0");
    if (alignment & (alignment - 1))
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "alignment %llu is not a power of two",
                           (unsigned long long)alignment);
    gpumem_tlsf_allocation a;
    r = gpumem_tlsf_alloc_deferred_inline(vb, size, alignment ? alignment - 1u : 0, &a);
    if (r != GPUMEM_OK)
        return vblock_alloc_refused(r, size, alignment);
    *allocation = a.handle;
    *offset = a.offset;
    return GPUMEM_OK;
}

/* The full call, for whatever the quick path leaves. `refused` is GPUMEM_OK, or the failure of
 * the quick path's allocate, which is reported as it is rather than tried again (a record array
 * that could not grow might grow the second time: the caller would see a different call). */
GPUMEM_OUT_OF_LINE static gpumem_result vblock_alloc_call(
    gpumem_vblock vblock, uint64_t size, uint64_t alignment, gpumem_vblock_allocation *allocation,
    uint64_t *offset, gpumem_result refused)
{
    GPUMEM_LOGGED_PLAIN_CALL_AS("gpumem_vblock_alloc",
                                refused == GPUMEM_OK
                                    ? vblock_alloc(vblock, size, alignment, allocation, offset)
                                    : vblock_alloc_refused(refused, size, alignment),
                                "vblock %#llx, size %llu, alignment %llu" GPUMEM_LOG_OUTPUTS
                                "allocation %#llx, offset %llu",
                                GPUMEM_LOG_HANDLE(vblock), (unsigned long long)(size),
                                (unsigned long long)(alignment), GPUMEM_LOG_OUT(allocation),
                                GPUMEM_LOG_OUT(offset));
}

/* The call's usual path, when the thread need not clear an error nor log the call
 * (gpumem_call_may_be_quick) and the arguments are fine: the allocation is made here, once;
 * a failure of it, and everything else, goes to the full call. */
gpumem_result gpumem_vblock_alloc(gpumem_vblock vblock, uint64_t size, uint64_t alignment,
                                  gpumem_vblock_allocation *allocation, uint64_t *offset)
{
    vblock_obj *vb;
    if (__builtin_expect(!gpumem_call_may_be_quick(), 0) ||
        (vb = vblock_peek(vblock)) == NULL ||
        (allocation == NULL) | (offset == NULL) | (size == 0) |
            ((alignment & (alignment - 1)) != 0))
        return vblock_alloc_call(vblock, size, alignment, allocation, offset, GPUMEM_OK);
    gpumem_tlsf_allocation a;
    gpumem_result r =
        gpumem_tlsf_alloc_deferred_inline(vb, size, alignment ? alignment - 1u : 0, &a);
    if (__builtin_expect(r != GPUMEM_OK, 0))
        return vblock_alloc_call(vblock, size, alignment, allocation, offset, r);
    *allocation = a.handle;
    *offset = a.offset;
    return GPUMEM_OK;
}

static inline gpumem_result vblock_free(gpumem_vblock handle,
                                        gpumem_vblock_allocation allocation)
{
    vblock_obj *vb;
    gpumem_result r = vblock_get(handle, &vb);
    if (r != GPUMEM_OK)
        return r;
    r = gpumem_tlsf_free_deferred_inline(vb, allocation);
    if (r != GPUMEM_OK)
        return gpumem_fail(r, "0x%llx is not a live allocation of this vblock",
                           (unsigned long long)allocation);
    return GPUMEM_OK;
}

GPUMEM_OUT_OF_LINE static gpumem_result vblock_free_call(
    gpumem_vblock vblock, gpumem_vblock_allocation allocation)
{
    GPUMEM_LOGGED_PLAIN_CALL_AS("gpumem_vblock_free", vblock_free(vblock, allocation),
                                "vblock %#llx, allocation %#llx",
                                GPUMEM_LOG_HANDLE(vblock), (unsigned long long)(allocation));
}

/* As gpumem_vblock_alloc: a free that finds a live allocation is done here; a refused one
 * (which changes nothing) goes to the full call, which says why. */
gpumem_result gpumem_vblock_free(gpumem_vblock vblock, gpumem_vblock_allocation allocation)
{
    vblock_obj *vb;
    if (__builtin_expect(!gpumem_call_may_be_quick(), 0) ||
        (vb = vblock_peek(vblock)) == NULL ||
        gpumem_tlsf_free_deferred_inline(vb, allocation) != GPUMEM_OK)
        return vblock_free_call(vblock, allocation);
    return GPUMEM_OK;
}

static inline gpumem_result vblock_clear(gpumem_vblock handle)
{
    vblock_obj *vb;
    gpumem_result r = vblock_get(handle, &vb);
    if (r != GPUMEM_OK)
        return r;
    gpumem_tlsf_clear(vb);
    return GPUMEM_OK;
}

gpumem_result gpumem_vblock_clear(gpumem_vblock vblock)
{
    GPUMEM_LOGGED_PLAIN_CALL(vblock_clear(vblock),
                             "vblock %#llx",
                             GPUMEM_LOG_HANDLE(vblock));
}

static inline gpumem_result vblock_stats_get(gpumem_vblock handle, gpumem_vblock_stats *stats)
{
    vblock_obj *vb;
    gpumem_result r = vblock_get(handle, &vb);
    if (r != GPUMEM_OK)
        return r;
    if (!stats)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "stats is NULL");
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

gpumem_result gpumem_vblock_stats_get(gpumem_vblock vblock, gpumem_vblock_stats *stats)
{
    GPUMEM_LOGGED_PLAIN_CALL(vblock_stats_get(vblock, stats),
                             "vblock %#llx" GPUMEM_LOG_OUTPUTS "used %llu, allocations %llu",
                             GPUMEM_LOG_HANDLE(vblock), GPUMEM_LOG_OUT_FIELD(stats, used_bytes),
                             GPUMEM_LOG_OUT_FIELD(stats, allocation_count));
}
