/* Memory-type choice on synthetic tables that imitate real devices. */
#include <criterion/criterion.h>

#include "gpumem/gpumem.h"

enum {
    DL = GPUMEM_MEMORY_DEVICE_LOCAL,
    HV = GPUMEM_MEMORY_HOST_VISIBLE,
    HC = GPUMEM_MEMORY_HOST_COHERENT,
    CA = GPUMEM_MEMORY_HOST_CACHED,
};

#define GiB (1ull << 30)

static gpumem_device_properties table(const uint32_t *flags, const uint32_t *heaps, uint32_t n,
                                      const uint64_t *heap_sizes, uint32_t heap_count)
{
    gpumem_device_properties p = {0};
    p.memory_type_count = n;
    for (uint32_t i = 0; i < n; i++)
        p.memory_types[i] = (gpumem_memory_type){flags[i], heaps[i]};
    p.memory_heap_count = heap_count;
    for (uint32_t i = 0; i < heap_count; i++)
        p.memory_heaps[i].size = heap_sizes[i];
    return p;
}

/* A discrete GPU: device memory, a small BAR window, and host memory (coherent, cached). */
static gpumem_device_properties discrete(void)
{
    static const uint32_t flags[] = {DL, HV | HC, HV | HC | CA, DL | HV | HC};
    static const uint32_t heaps[] = {0, 1, 1, 2};
    static const uint64_t sizes[] = {16 * GiB, 64 * GiB, 256u << 20};
    return table(flags, heaps, 4, sizes, 3);
}

/* An integrated GPU: one heap, everything device-local. */
static gpumem_device_properties integrated(void)
{
    static const uint32_t flags[] = {DL, DL | HV | HC, DL | HV | HC | CA};
    static const uint32_t heaps[] = {0, 0, 0};
    static const uint64_t sizes[] = {8 * GiB};
    return table(flags, heaps, 3, sizes, 1);
}

/* A CPU device (lavapipe, host): one type with every flag. */
static gpumem_device_properties cpu(void)
{
    static const uint32_t flags[] = {DL | HV | HC | CA};
    static const uint32_t heaps[] = {0};
    static const uint64_t sizes[] = {24 * GiB};
    return table(flags, heaps, 1, sizes, 1);
}

static uint32_t find(const gpumem_device_properties *p, uint32_t required, uint32_t preferred,
                     uint32_t flags, uint64_t heap)
{
    uint32_t type = 99;
    gpumem_result r = gpumem_memory_type_find(p, required, preferred, flags, heap, &type);
    return r == GPUMEM_OK ? type : 100 + (uint32_t)-r;
}

Test(memtype, discrete_device_local_prefers_plain_device_memory)
{
    gpumem_device_properties p = discrete();
    cr_assert_eq(find(&p, DL, 0, 0, 0), 0, "fewest extra flags wins");
    cr_assert_eq(find(&p, DL, HV, 0, 0), 3, "preferred host-visible breaks the tie");
}

Test(memtype, discrete_staging_and_readback)
{
    gpumem_device_properties p = discrete();
    cr_assert_eq(find(&p, HV, 0, 0, 0), 1);
    cr_assert_eq(find(&p, HV, CA, 0, 0), 2, "cached memory for reading back");
    cr_assert_eq(find(&p, HV | HC, 0, GPUMEM_MEMORY_TYPE_EXACT, 0), 1);
}

Test(memtype, heap_too_small_is_skipped)
{
    gpumem_device_properties p = discrete();
    /* The 256 MiB BAR heap cannot hold a 1 GiB page: device-local + host-visible is gone. */
    cr_assert_eq(find(&p, DL | HV, 0, 0, GiB), 100 + (uint32_t)-GPUMEM_ERROR_NOT_FOUND);
    cr_assert_eq(find(&p, DL, HV, 0, GiB), 0);
}

Test(memtype, exact_match)
{
    gpumem_device_properties p = integrated();
    cr_assert_eq(find(&p, DL | HV | HC, 0, GPUMEM_MEMORY_TYPE_EXACT, 0), 1);
    cr_assert_eq(find(&p, HV, 0, GPUMEM_MEMORY_TYPE_EXACT, 0),
                 100 + (uint32_t)-GPUMEM_ERROR_NOT_FOUND);
    cr_assert_eq(find(&p, HV, CA, 0, 0), 2);
}

Test(memtype, cpu_device_has_one_answer_for_everything)
{
    gpumem_device_properties p = cpu();
    cr_assert_eq(find(&p, 0, 0, 0, 0), 0);
    cr_assert_eq(find(&p, DL | HV | HC | CA, 0, GPUMEM_MEMORY_TYPE_EXACT, 0), 0);
    cr_assert_eq(find(&p, DL, 0, GPUMEM_MEMORY_TYPE_EXACT, 0),
                 100 + (uint32_t)-GPUMEM_ERROR_NOT_FOUND);
}

Test(memtype, bad_arguments)
{
    gpumem_device_properties p = cpu();
    uint32_t t;
    cr_assert_eq(gpumem_memory_type_find(NULL, 0, 0, 0, 0, &t), GPUMEM_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(gpumem_memory_type_find(&p, 0, 0, 0, 0, NULL), GPUMEM_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(gpumem_memory_type_find(&p, 0x100, 0, 0, 0, &t),
                 GPUMEM_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(gpumem_memory_type_find(&p, 0, 0, 0x8, 0, &t), GPUMEM_ERROR_INVALID_ARGUMENT);
    p.memory_type_count = 99;
    cr_assert_eq(gpumem_memory_type_find(&p, 0, 0, 0, 0, &t), GPUMEM_ERROR_INVALID_ARGUMENT);
}
