/* Core's mapped write into non-coherent memory, next to bytes the device wrote.
 *
 * A write of 8 MiB or more into host-visible memory goes through a mapping (transfer.c,
 * mapped_copy): core copies into the mapping and flushes the range, rounded out to atoms. It
 * does not invalidate the partial atoms at the range's ends first, so the host's stale copy of
 * the rest of those atoms is written back over what the device wrote there since.
 *
 *   GPUMEM_PLUGIN_PATH=<simgpu build> GPUMEM_BACKEND=simgpu SIMGPU_NONCOHERENT=1 ./mapped_write_edge
 *
 * Exit status: 0 correct, 1 wrong byte, 2 a call failed, 77 no non-coherent memory type. */
#include <gpumem/gpumem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                                                           \
    do {                                                                                      \
        gpumem_result r_ = (call);                                                            \
        if (r_ != GPUMEM_OK) {                                                                \
            printf("%s -> %s (%s)\n", #call, gpumem_result_string(r_), gpumem_last_error()); \
            return 2;                                                                         \
        }                                                                                     \
    } while (0)

int main(void)
{
    gpumem_device dev;
    CHECK(gpumem_device_open(NULL, &dev));
    gpumem_device_properties p;
    CHECK(gpumem_device_properties_get(dev, &p));
    uint32_t type = UINT32_MAX;
    for (uint32_t i = 0; i < p.memory_type_count; i++)
        if ((p.memory_types[i].flags & GPUMEM_MEMORY_HOST_VISIBLE) &&
            !(p.memory_types[i].flags & GPUMEM_MEMORY_HOST_COHERENT))
            type = i;
    if (type == UINT32_MAX) {
        printf("no non-coherent memory type (SIMGPU_NONCOHERENT=1)\n");
        return 77;
    }
    gpumem_pool_desc pd = {.flags = GPUMEM_POOL_MEMORY_TYPE_INDEX, .memory_type_index = type};
    gpumem_pool pool;
    CHECK(gpumem_pool_create(dev, &pd, &pool));
    const size_t n = 9u << 20; /* 8 MiB and more: core writes through a mapping */
    gpumem_buffer b;
    CHECK(gpumem_buffer_create(pool, &(gpumem_buffer_desc){.size = n + 64}, &b));
    unsigned char *big = malloc(n), byte = 0x11;
    if (!big)
        return 2;
    memset(big, 0xAA, n);
    CHECK(gpumem_buffer_write(b, 0, big, n));   /* through the mapping */
    CHECK(gpumem_buffer_write(b, 0, &byte, 1)); /* small: a device copy into byte 0 */
    memset(big, 0xBB, n);
    CHECK(gpumem_buffer_write(b, 1, big, n));   /* through the mapping, from byte 1 on */
    CHECK(gpumem_buffer_read(b, 0, &byte, 1));
    printf("byte 0 is 0x%02x, expected 0x11\n", byte);
    free(big);
    CHECK(gpumem_device_close(dev));
    return byte == 0x11 ? 0 : 1;
}
