/* Two buffers of a non-coherent pool share an atom when non_coherent_atom_size is larger than
 * min_alignment (nothing in backend.h forbids it; the Vulkan backend raises its min_alignment to
 * the atom by itself): a flush or invalidate of one buffer, rounded out to atoms as gpumem.h
 * says, acts on the other's bytes.
 *
 *   GPUMEM_PLUGIN_PATH=<simgpu build> GPUMEM_BACKEND=simgpu SIMGPU_NONCOHERENT=1 \
 *   SIMGPU_ATOM_SIZE=1024 ./shared_atom
 *
 * Exit status: 0 correct, 1 wrong bytes, 2 a call failed, 77 no such memory type. */
#include <gpumem/gpumem.h>
#include <stdio.h>
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
    if (type == UINT32_MAX || p.non_coherent_atom_size <= p.min_alignment) {
        printf("needs a non-coherent type and an atom above min_alignment "
               "(SIMGPU_NONCOHERENT=1 SIMGPU_ATOM_SIZE=1024)\n");
        return 77;
    }
    gpumem_pool_desc pd = {.flags = GPUMEM_POOL_MEMORY_TYPE_INDEX, .memory_type_index = type,
                           .page_size = 1 << 20};
    gpumem_pool pool;
    CHECK(gpumem_pool_create(dev, &pd, &pool));
    gpumem_buffer a, b;
    CHECK(gpumem_buffer_create(pool, &(gpumem_buffer_desc){.size = 100}, &a));
    CHECK(gpumem_buffer_create(pool, &(gpumem_buffer_desc){.size = 100}, &b));
    gpumem_buffer_info ia, ib;
    CHECK(gpumem_buffer_info_get(a, &ia));
    CHECK(gpumem_buffer_info_get(b, &ib));
    printf("atom %llu, min_alignment %llu: a at offset %llu of page %u, b at offset %llu of "
           "page %u\n",
           (unsigned long long)p.non_coherent_atom_size, (unsigned long long)p.min_alignment,
           (unsigned long long)ia.offset, ia.page, (unsigned long long)ib.offset, ib.page);
    unsigned char *pa, *pb, data[100], out[100];
    CHECK(gpumem_buffer_map(a, (void **)&pa));
    CHECK(gpumem_buffer_map(b, (void **)&pb));
    int wrong = 0;
    /* 1. The device writes b; the host writes a and flushes a. b must keep its bytes. */
    memset(data, 0x11, sizeof data);
    CHECK(gpumem_buffer_write(b, 0, data, sizeof data));
    memset(pa, 0x22, 100);
    CHECK(gpumem_buffer_flush(a, 0, 100));
    CHECK(gpumem_buffer_read(b, 0, out, sizeof out));
    printf("1. b after a's flush: 0x%02x, expected 0x11\n", out[0]);
    wrong |= out[0] != 0x11;
    /* 2. The host writes b and has not flushed it yet; invalidating a must not undo that. */
    memset(pb, 0x33, 100);
    CHECK(gpumem_buffer_invalidate(a, 0, 100));
    CHECK(gpumem_buffer_flush(b, 0, 100));
    CHECK(gpumem_buffer_read(b, 0, out, sizeof out));
    printf("2. b after a's invalidate and its own flush: 0x%02x, expected 0x33\n", out[0]);
    wrong |= out[0] != 0x33;
    CHECK(gpumem_device_close(dev));
    return wrong;
}
