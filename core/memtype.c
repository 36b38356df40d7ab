/* Memory-type choice: a pure function of a device's properties, so it is tested on synthetic
 * tables that imitate discrete, integrated and CPU devices. */
#include "memtype.h"

#include "call.h"

static int popcount(uint32_t x)
{
    return __builtin_popcount(x);
}

int gpumem_memtype_choose(const gpumem_device_properties *p, uint32_t required,
                          uint32_t preferred, uint32_t flags, uint64_t min_heap_size,
                          uint32_t *memory_type)
{
    int best = -1, best_preferred = -1, best_extra = 0;
    for (uint32_t i = 0; i < p->memory_type_count; i++) {
        uint32_t type_flags = p->memory_types[i].flags;
        uint32_t heap = p->memory_types[i].heap_index;
        if ((type_flags & required) != required)
            continue;
        if ((flags & GPUMEM_MEMORY_TYPE_EXACT) && type_flags != required)
            continue;
        if (heap >= p->memory_heap_count || p->memory_heaps[heap].size < min_heap_size)
            continue;
        int score = popcount(type_flags & preferred);
        int extra = popcount(type_flags & ~(required | preferred));
        if (score > best_preferred || (score == best_preferred && extra < best_extra)) {
            best = (int)i;
            best_preferred = score;
            best_extra = extra;
        }
    }
    if (best < 0)
        return 0;
    *memory_type = (uint32_t)best;
    return 1;
}

static gpumem_result memory_type_find(const gpumem_device_properties *p, uint32_t required,
                                      uint32_t preferred, uint32_t flags, uint64_t min_heap_size,
                                      uint32_t *memory_type)
{
    if (!p || !memory_type)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "%s is NULL",
                           p ? "memory_type" : "properties");
    if ((required | preferred) & ~(uint32_t)GPUMEM_MEMORY_FLAGS_ALL)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "unknown memory flags 0x%x",
                           (required | preferred) & ~(uint32_t)GPUMEM_MEMORY_FLAGS_ALL);
    if (flags & ~(uint32_t)GPUMEM_MEMORY_TYPE_EXACT)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "unknown flags 0x%x",
                           flags & ~(uint32_t)GPUMEM_MEMORY_TYPE_EXACT);
    if (p->memory_type_count > GPUMEM_MAX_MEMORY_TYPES ||
        p->memory_heap_count > GPUMEM_MAX_MEMORY_HEAPS)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "properties hold %u types and %u heaps",
                           p->memory_type_count, p->memory_heap_count);
    if (gpumem_memtype_choose(p, required, preferred, flags, min_heap_size, memory_type))
        return GPUMEM_OK;
    return gpumem_fail(GPUMEM_ERROR_NOT_FOUND,
                       "no memory type has flags 0x%x%s and a heap of %llu bytes", required,
                       (flags & GPUMEM_MEMORY_TYPE_EXACT) ? " exactly" : "",
                       (unsigned long long)min_heap_size);
}

gpumem_result gpumem_memory_type_find(const gpumem_device_properties *properties,
                                      uint32_t required, uint32_t preferred, uint32_t flags,
                                      uint64_t min_heap_size, uint32_t *memory_type)
{
    GPUMEM_LOGGED_PLAIN_CALL(
        memory_type_find(properties, required, preferred, flags, min_heap_size, memory_type),
        "properties %p, required %#llx, preferred %#llx, flags %#llx, " "min_heap_size %llu"
        GPUMEM_LOG_OUTPUTS "memory_type %llu",
        (const void *)properties, (unsigned long long)(required), (unsigned long long)(preferred),
        (unsigned long long)(flags), (unsigned long long)(min_heap_size),
        GPUMEM_LOG_OUT(memory_type));
}
