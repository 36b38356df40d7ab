/* The JSON dump of a device: properties, pools, their pages with used and free ranges, and
 * buffers. For tools and pictures, so it favours completeness over brevity. */
#include <string.h>

#include "buffer.h"
#include "call.h"
#include "image.h"
#include "dump.h"
#include "json.h"

#define U64(x) ((unsigned long long)(x))

static void dump_flags(gpumem_json *j, uint32_t flags)
{
    static const char *const names[] = {"DEVICE_LOCAL", "HOST_VISIBLE", "HOST_COHERENT",
                                        "HOST_CACHED"};
    gpumem_json_append(j, "[");
    int first = 1;
    for (int i = 0; i < 4; i++)
        if (flags & (1u << i)) {
            gpumem_json_append(j, "%s\"%s\"", first ? "" : ",", names[i]);
            first = 0;
        }
    gpumem_json_append(j, "]");
}

static void dump_properties(gpumem_json *j, const gpumem_device_properties *p)
{
    gpumem_json_append(j, "\"name\":");
    gpumem_json_string(j, p->name);
    gpumem_json_append(j, ",\"backend\":");
    gpumem_json_string(j, p->backend);
    gpumem_json_append(j,
                       ",\"device_index\":%u,\"external\":%s,\"min_alignment\":%llu,"
                       "\"non_coherent_atom_size\":%llu,\"max_allocation_size\":%llu,\"heaps\":[",
                       p->device_index, p->is_external ? "true" : "false",
                       U64(p->min_alignment), U64(p->non_coherent_atom_size),
                       U64(p->max_allocation_size));
    for (uint32_t i = 0; i < p->memory_heap_count; i++)
        gpumem_json_append(j, "%s{\"size\":%llu,\"device_local\":%s}", i ? "," : "",
                           U64(p->memory_heaps[i].size),
                           (p->memory_heaps[i].flags & GPUMEM_MEMORY_DEVICE_LOCAL) ? "true"
                                                                                   : "false");
    gpumem_json_append(j, "],\"memory_types\":[");
    for (uint32_t i = 0; i < p->memory_type_count; i++) {
        gpumem_json_append(j, "%s{\"heap\":%u,\"flags\":", i ? "," : "",
                           p->memory_types[i].heap_index);
        dump_flags(j, p->memory_types[i].flags);
        gpumem_json_append(j, "}");
    }
    gpumem_json_append(j, "]");
}

typedef struct range_walk {
    gpumem_json *json;
    int first;
} range_walk;

static void dump_range(void *user, uint64_t handle, uint64_t offset, uint64_t size, int used)
{
    range_walk *w = user;
    gpumem_json_append(w->json, "%s{\"offset\":%llu,\"size\":%llu,\"used\":%s}",
                       w->first ? "" : ",", U64(offset), U64(size), used ? "true" : "false");
    w->first = 0;
}

static void dump_page(gpumem_json *j, const gpumem_page *page, int first)
{
    gpumem_json_append(j,
                       "%s{\"id\":%u,\"size\":%llu,\"dedicated\":%s,%s\"buffers\":%u,"
                       "\"mapped\":%s,\"ranges\":[",
                       first ? "" : ",", page->id, U64(page->size),
                       page->dedicated ? "true" : "false",
                       page->imported ? "\"imported\":true," : "", page->buffer_count,
                       page->host ? "true" : "false");
    range_walk w = {j, 1};
    if (page->tlsf)
        gpumem_tlsf_walk(page->tlsf, dump_range, &w);
    else
        dump_range(&w, 0, 0, page->size, page->buffer_count > 0);
    gpumem_json_append(j, "]}");
}

/* What makes an image record an image: its description as completed at create. */
static void dump_image(gpumem_json *j, const gpumem_image_obj *image)
{
    const gpumem_image_desc *d = &image->desc;
    gpumem_json_append(j,
                       ",\"image\":{\"type\":\"%uD\",\"format\":%u,\"native_format\":%u,"
                       "\"texel_size\":%u,\"width\":%u,\"height\":%u,\"depth\":%u,"
                       "\"layers\":%u,\"levels\":%u,\"tiling\":\"%s\",\"pitched\":%s}",
                       d->type, d->format, d->native_format, image->texel_size, d->width,
                       d->height, d->depth, d->array_layers, d->mip_levels,
                       d->tiling == GPUMEM_IMAGE_TILING_LINEAR ? "linear" : "optimal",
                       image->native ? "false" : "true");
}

static void dump_buffer(gpumem_json *j, const gpumem_buffer_obj *b, int first)
{
    gpumem_json_append(j, "%s{\"handle\":%llu,\"name\":", first ? "" : ",", U64(b->handle));
    gpumem_json_string(j, b->name ? b->name : "");
    gpumem_json_append(j,
                       ",\"page\":%u,\"offset\":%llu,\"size\":%llu,\"left_padding\":%llu,"
                       "\"allocation_size\":%llu,\"dedicated\":%s,\"map_count\":%u",
                       b->page->id, U64(b->offset), U64(b->size), U64(b->left_padding),
                       U64(b->block_size), b->page->dedicated ? "true" : "false",
                       gpumem_buffer_map_count(b));
    if (b->image)
        dump_image(j, b->image);
    gpumem_json_append(j, "}");
}

/* One pool, its arenas together (all locked, for one consistent view). */
static void dump_pool(gpumem_json *j, gpumem_pool_obj *pool, int first)
{
    uint64_t reserved = 0, used = 0, allocations = 0;
    gpumem_pool_lock_arenas_reclaimed(pool); /* the pages as the application's destroys left them */
    GPUMEM_POOL_FOR_EACH_ARENA(arena, pool) {
        reserved += arena->reserved_bytes;
        used += arena->used_bytes;
        allocations += arena->allocation_count;
    }
    gpumem_json_append(j, "%s{\"name\":", first ? "" : ",");
    gpumem_json_string(j, pool->name);
    gpumem_json_append(j,
                       ",\"kind\":\"%s\",\"memory_type\":%u,\"page_size\":%llu,"
                       "\"byte_limit\":%llu,\"reserved_bytes\":%llu,\"used_bytes\":%llu,"
                       "\"allocations\":%llu,\"pages\":[",
                       pool->kind == GPUMEM_POOL_NATIVE ? "native" : "paged", pool->memory_type,
                       U64(pool->page_size), U64(pool->byte_limit), U64(reserved), U64(used),
                       U64(allocations));
    int n = 0;
    GPUMEM_POOL_FOR_EACH_ARENA(arena, pool) {
        for (gpumem_list *l = arena->pages.next; l != &arena->pages; l = l->next)
            dump_page(j, GPUMEM_CONTAINER_OF(l, gpumem_page, link), n++ == 0);
    }
    gpumem_json_append(j, "],\"buffers\":[");
    n = 0;
    GPUMEM_POOL_FOR_EACH_ARENA(arena, pool) {
        for (gpumem_list *l = arena->buffers.next; l != &arena->buffers; l = l->next)
            dump_buffer(j, GPUMEM_CONTAINER_OF(l, gpumem_buffer_obj, link), n++ == 0);
    }
    gpumem_json_append(j, "]}");
    gpumem_pool_unlock_arenas(pool);
}

void gpumem_dump_device(gpumem_device_obj *device, gpumem_json *j)
{
    gpumem_json_append(j, "{\"schema\":\"" GPUMEM_DUMP_SCHEMA "\",\"schema_version\":%d,",
                       GPUMEM_DUMP_SCHEMA_VERSION);
    dump_properties(j, &device->properties);
    gpumem_json_append(j, ",\"pools\":[");
    pthread_mutex_lock(&device->lock);
    int n = 0;
    for (gpumem_list *l = device->pools.next; l != &device->pools; l = l->next)
        dump_pool(j, GPUMEM_CONTAINER_OF(l, gpumem_pool_obj, link), n++ == 0);
    pthread_mutex_unlock(&device->lock);
    gpumem_json_append(j, "]}\n");
}

static gpumem_result device_dump_json(gpumem_device handle, char *buffer, uint64_t capacity,
                                      uint64_t *length)
{
    gpumem_device_obj *device;
    gpumem_result r = gpumem_device_get(handle, &device);
    if (r == GPUMEM_OK)
        r = gpumem_json_check_out("buffer", buffer, capacity, length);
    if (r != GPUMEM_OK)
        return r;
    gpumem_json j = {0};
    gpumem_dump_device(device, &j);
    return gpumem_json_hand_out(&j, buffer, capacity, length, "dump");
}

gpumem_result gpumem_device_dump_json(gpumem_device device, char *buffer, uint64_t capacity,
                                      uint64_t *length)
{
    GPUMEM_LOGGED_CALL(device_dump_json(device, buffer, capacity, length),
                       "device %#llx, buffer %p, capacity %llu" GPUMEM_LOG_OUTPUTS "length %llu",
                       GPUMEM_LOG_HANDLE(device), (void *)buffer, (unsigned long long)(capacity),
                       GPUMEM_LOG_OUT(length));
}
