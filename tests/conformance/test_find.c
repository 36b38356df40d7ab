/* Buffers found by address (gpumem_buffer_find): random buffers in paged, dedicated and
 * native allocations are created and destroyed, and addresses in, at the edges of and just
 * outside every buffer, live or destroyed, are looked up and checked against a model. */
#include <stdlib.h>

#include "conformance.h"

#define PAGE (1ull << 20)
#define BUFFERS 300

typedef struct placed {
    gpumem_buffer buffer;
    uint64_t address;
    uint64_t size;
    int live;
} placed;

/* The model's answer: the live buffer holding address, or -1. */
static int model_find(const placed *all, int count, uint64_t address)
{
    for (int i = 0; i < count; i++)
        if (all[i].live && address >= all[i].address && address - all[i].address < all[i].size)
            return i;
    return -1;
}

static void check_lookup(const placed *all, int count, uint64_t address)
{
    int expected = model_find(all, count, address);
    gpumem_buffer found = NULL;
    uint64_t offset = 0;
    if (expected < 0) {
        FAILS(gpumem_buffer_find(conf_dev, address, &found, &offset), GPUMEM_ERROR_NOT_FOUND);
        return;
    }
    OK(gpumem_buffer_find(conf_dev, address, &found, &offset));
    cr_assert_eq(found, all[expected].buffer, "address 0x%llx: another buffer was found",
                 (unsigned long long)address);
    cr_assert_eq(offset, address - all[expected].address, "address 0x%llx: offset %llu",
                 (unsigned long long)address, (unsigned long long)offset);
}

CONF_TEST(buffers_are_found_by_their_addresses)
{
    gpumem_pool pools[3];
    int pool_count = 0;
    pools[pool_count++] = conf_pool(PAGE);
    pools[pool_count++] = conf_pool(4 * PAGE);
    if (conf_props.native_pools) {
        gpumem_pool_desc desc = {.kind = GPUMEM_POOL_NATIVE, .name = "native"};
        OK(gpumem_pool_create(conf_dev, &desc, &pools[pool_count++]));
    }
    gpumem_native_buffer native;
    gpumem_buffer probe = conf_buffer(pools[0], 64, 0);
    OK(gpumem_buffer_native(probe, &native));
    gpumem_buffer found;
    uint64_t offset;
    if (native.address == 0) {
        /* Memory without addresses (Vulkan): nothing to look up by. */
        FAILS(gpumem_buffer_find(conf_dev, 4096, &found, &offset), GPUMEM_ERROR_UNSUPPORTED);
        return;
    }
    OK(gpumem_buffer_destroy(probe));

    placed *all = conf_alloc(BUFFERS * sizeof *all);
    srand(20261130);
    for (int i = 0; i < BUFFERS; i++) {
        /* Mostly small buffers, some over half a page (dedicated), some aligned. */
        uint64_t size = rand() % 8 == 0 ? PAGE / 2 + (uint64_t)rand() % PAGE
                                        : 1 + (uint64_t)rand() % 5000;
        int pool = rand() % pool_count;
        /* Native pools align to min_alignment only (a larger alignment is UNSUPPORTED). */
        uint64_t alignment = rand() % 4 == 0 && pool < 2 ? 1ull << (rand() % 13) : 0;
        all[i] = (placed){.buffer = conf_buffer(pools[pool], size, alignment), .size = size,
                          .live = 1};
        OK(gpumem_buffer_native(all[i].buffer, &native));
        all[i].address = native.address;
        /* Now and then destroy one made before. */
        if (rand() % 3 == 0) {
            int victim = rand() % (i + 1);
            if (all[victim].live) {
                OK(gpumem_buffer_destroy(all[victim].buffer));
                all[victim].live = 0;
            }
        }
    }
    for (int i = 0; i < BUFFERS; i++) {
        uint64_t start = all[i].address, end = start + all[i].size;
        check_lookup(all, BUFFERS, start);
        check_lookup(all, BUFFERS, end - 1);
        check_lookup(all, BUFFERS, start + (uint64_t)rand() % all[i].size);
        check_lookup(all, BUFFERS, start - 1);
        check_lookup(all, BUFFERS, end);
    }
    check_lookup(all, BUFFERS, 0);
    check_lookup(all, BUFFERS, UINT64_MAX);

    /* Bad arguments, and a destroyed pool's buffers. */
    FAILS(gpumem_buffer_find(conf_dev, all[0].address, NULL, &offset),
          GPUMEM_ERROR_INVALID_ARGUMENT);
    FAILS(gpumem_buffer_find(conf_dev, all[0].address, &found, NULL),
          GPUMEM_ERROR_INVALID_ARGUMENT);
    FAILS(gpumem_buffer_find(NULL, all[0].address, &found, &offset),
          GPUMEM_ERROR_INVALID_HANDLE);
    gpumem_buffer last = conf_buffer(pools[0], 100, 0);
    OK(gpumem_buffer_native(last, &native));
    OK(gpumem_pool_destroy(pools[0]));
    FAILS(gpumem_buffer_find(conf_dev, native.address, &found, &offset), GPUMEM_ERROR_NOT_FOUND);
    free(all);
}

CONF_TEST(buffers_of_another_device_are_not_found)
{
    gpumem_device other;
    OK(conf_open(&other));
    gpumem_pool pool;
    gpumem_pool_desc desc = {0};
    OK(gpumem_pool_create(other, &desc, &pool));
    gpumem_buffer theirs = conf_buffer(pool, 256, 0);
    gpumem_native_buffer native;
    OK(gpumem_buffer_native(theirs, &native));
    gpumem_buffer found;
    uint64_t offset;
    if (native.address) {
        FAILS(gpumem_buffer_find(conf_dev, native.address, &found, &offset),
              GPUMEM_ERROR_NOT_FOUND);
        OK(gpumem_buffer_find(other, native.address + 10, &found, &offset));
        cr_assert_eq(found, theirs);
        cr_assert_eq(offset, 10);
    }
    OK(gpumem_device_close(other));
    FAILS(gpumem_buffer_find(other, native.address, &found, &offset), GPUMEM_ERROR_DESTROYED);
}
