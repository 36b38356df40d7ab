/* The backend registry, and gpumem_memory_type_find against a reference implementation of the
 * rule in gpumem.h, on real and on synthetic property tables. */
#include <string.h>

#include "fuzz_internal.h"

void fz_op_registry(fz_ctx *c)
{
    uint32_t count = 0;
    gpumem_result r = gpumem_backend_count(&count);
    if (!fz_call(c, "gpumem_backend_count", r, 0, 0))
        return;
    if (count < 1)
        fz_fail(c, "gpumem_backend_count: no backend, not even host");
    int host_seen = 0;
    for (uint32_t i = 0; i < count && !fz_failed(c); i++) {
        gpumem_backend_info info, found;
        r = gpumem_backend_info_get(i, &info);
        if (!fz_call(c, "gpumem_backend_info_get", r, 0, 0))
            return;
        if (!memchr(info.name, '\0', sizeof info.name) || !info.name[0]) {
            fz_fail(c, "gpumem_backend_info_get(%u): no name", i);
            return;
        }
        host_seen |= !strcmp(info.name, "host");
        r = gpumem_backend_find(info.name, &found);
        if (fz_call(c, "gpumem_backend_find", r, 0, 0) &&
            (strcmp(found.name, info.name) || found.available != info.available ||
             found.device_count != info.device_count))
            fz_fail(c, "gpumem_backend_find(\"%s\") differs from gpumem_backend_info_get(%u)",
                    info.name, i);
        /* Counting another backend's devices may start its runtime: only the run's own. */
        int own = !strcmp(info.name, "host");
        for (int d = 0; d < FZ_MAX_DEVICES; d++)
            own |= c->devices[d].live && !strcmp(c->devices[d].props.backend, info.name);
        if (info.available && own) {
            uint32_t devices = 0;
            r = gpumem_device_count(info.name, &devices);
            if (fz_call(c, "gpumem_device_count", r, 0, 0) && devices != info.device_count)
                fz_fail(c, "gpumem_device_count(\"%s\") is %u, its info says %u", info.name,
                        devices, info.device_count);
        }
    }
    if (!host_seen)
        fz_fail(c, "the registry has no host backend");
    gpumem_backend_info info;
    r = gpumem_backend_info_get(count + fz_u8(c), &info);
    fz_call(c, "gpumem_backend_info_get", r, FZ_BIT(GPUMEM_ERROR_NOT_FOUND), 0);
    static const char *const unknown[] = {"no-such-backend", "", "HOST", "host,vulkan"};
    r = gpumem_backend_find(unknown[fz_below(c, 4)], &info);
    fz_call(c, "gpumem_backend_find", r, FZ_BIT(GPUMEM_ERROR_NOT_FOUND), 0);
    unsigned nulls = 1 + (unsigned)fz_below(c, 3); /* bit 0: the name, bit 1: the info */
    r = gpumem_backend_find(nulls & 1 ? NULL : "host", nulls & 2 ? NULL : &info);
    fz_call(c, "gpumem_backend_find", r, FZ_ARG, 0);
    r = gpumem_backend_count(NULL);
    fz_call(c, "gpumem_backend_count", r, FZ_ARG, 0);
    const char *name = gpumem_result_string((gpumem_result)(int32_t)fz_u32(c));
    if (!name)
        fz_fail(c, "gpumem_result_string returned NULL");
}

/* The rule of gpumem.h: every required flag (exactly, with GPUMEM_MEMORY_TYPE_EXACT); heaps
 * smaller than min_heap_size skipped; then the most preferred flags; then the fewest other
 * flags; then the lowest index. -1 when none qualifies. */
static int reference_find(const gpumem_device_properties *p, uint32_t required,
                          uint32_t preferred, uint32_t flags, uint64_t min_heap_size)
{
    int best = -1, best_preferred = -1, best_other = 0;
    for (uint32_t i = 0; i < p->memory_type_count; i++) {
        uint32_t f = p->memory_types[i].flags;
        if ((f & required) != required)
            continue;
        if ((flags & GPUMEM_MEMORY_TYPE_EXACT) && f != required)
            continue;
        if (p->memory_heaps[p->memory_types[i].heap_index].size < min_heap_size)
            continue;
        int preferred_count = __builtin_popcount(f & preferred);
        int other = __builtin_popcount(f & ~(required | preferred));
        if (preferred_count > best_preferred ||
            (preferred_count == best_preferred && other < best_other)) {
            best = (int)i;
            best_preferred = preferred_count;
            best_other = other;
        }
    }
    return best;
}

/* A table such as a discrete, integrated or odd device might have. */
static void synthetic_properties(fz_ctx *c, gpumem_device_properties *p)
{
    memset(p, 0, sizeof *p);
    p->memory_heap_count = 1 + (uint32_t)fz_below(c, GPUMEM_MAX_MEMORY_HEAPS);
    for (uint32_t h = 0; h < p->memory_heap_count; h++) {
        static const uint64_t sizes[] = {0, 1, 256ull << 20, 2ull << 30, 8ull << 30,
                                         24ull << 30, UINT64_MAX};
        p->memory_heaps[h].size = fz_chance(c, 1, 4) ? fz_u32(c) : FZ_PICK(c, sizes);
        p->memory_heaps[h].flags = fz_u8(c) & GPUMEM_MEMORY_DEVICE_LOCAL;
    }
    p->memory_type_count = (uint32_t)fz_below(c, GPUMEM_MAX_MEMORY_TYPES + 1);
    for (uint32_t t = 0; t < p->memory_type_count; t++) {
        p->memory_types[t].flags = fz_u8(c) & GPUMEM_MEMORY_FLAGS_ALL;
        p->memory_types[t].heap_index = (uint32_t)fz_below(c, p->memory_heap_count);
    }
}

void fz_op_memory_type(fz_ctx *c)
{
    gpumem_device_properties p;
    int d = fz_pick_device(c);
    if (d >= 0 && fz_chance(c, 1, 3))
        p = c->devices[d].props;
    else
        synthetic_properties(c, &p);
    uint32_t required = fz_u8(c) & GPUMEM_MEMORY_FLAGS_ALL;
    uint32_t preferred = fz_u8(c) & GPUMEM_MEMORY_FLAGS_ALL;
    uint32_t flags = fz_chance(c, 1, 3) ? GPUMEM_MEMORY_TYPE_EXACT : 0;
    uint64_t min_heap = 0;
    if (fz_chance(c, 1, 2)) {
        uint64_t heap = p.memory_heaps[fz_below(c, p.memory_heap_count)].size;
        min_heap = heap + (uint64_t)(int64_t)((int)fz_below(c, 3) - 1); /* heap - 1, +0, +1 */
    }
    fz_expect faults = 0;
    const gpumem_device_properties *argument = &p;
    uint32_t type = UINT32_MAX, *out = &type;
    switch (fz_below(c, 24)) {
    case 0: required |= 1u << (4 + fz_below(c, 28)), faults |= FZ_ARG; break;
    case 1: preferred |= 1u << (4 + fz_below(c, 28)), faults |= FZ_ARG; break;
    case 2: flags |= 1u << (8 + fz_below(c, 24)), faults |= FZ_ARG; break;
    case 3: p.memory_type_count = GPUMEM_MAX_MEMORY_TYPES + 1 + fz_u8(c), faults |= FZ_ARG; break;
    case 4: p.memory_heap_count = GPUMEM_MAX_MEMORY_HEAPS + 1 + fz_u8(c), faults |= FZ_ARG; break;
    case 5: argument = NULL, faults |= FZ_ARG; break;
    case 6: out = NULL, faults |= FZ_ARG; break;
    default: break;
    }
    int expected = faults ? -1 : reference_find(&p, required, preferred, flags, min_heap);
    if (!faults && expected < 0)
        faults = FZ_BIT(GPUMEM_ERROR_NOT_FOUND);
    gpumem_result r = gpumem_memory_type_find(argument, required, preferred, flags, min_heap, out);
    if (!fz_call(c, "gpumem_memory_type_find", r, faults, 0))
        return;
    if (r == GPUMEM_OK && type != (uint32_t)expected)
        fz_fail(c, "gpumem_memory_type_find(required 0x%x, preferred 0x%x, flags 0x%x, heap "
                "%llu) over %u types chose %u; the rule of gpumem.h chooses %d",
                required, preferred, flags, (unsigned long long)min_heap, p.memory_type_count,
                type, expected);
    if (r != GPUMEM_OK && type != UINT32_MAX)
        fz_fail(c, "gpumem_memory_type_find wrote its output on failure");
}
