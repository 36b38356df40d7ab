#include "backend_table.h"

#include <stdio.h>
#include <string.h>

#include "error.h"

/* The size of each version's table, as its first modules had it: version 2 ends with
 * native_pool_stats, version 3 with event_native, version 4 with page_import, version 5 with
 * event_unwrap, version 6 with page_allocate_for_image, version 7 with
 * queue_registered_host_to_page, version 8 with host_register_read_only. Versions 3, 6 and 7
 * grew before their successors came (stream_wrap and stream_unwrap; copy_image_to_image,
 * host_register and host_unregister; host_register_read_only), so a module of one of those
 * versions may have a shorter table than the header came to describe: only its first layout's
 * operations are read, the later ones (all optional) stay absent. A later version appends;
 * these sizes stay what modules of those versions have. */
#define VERSION_2_SIZE (offsetof(gpumem_backend_vtable, native_pool_stats) + sizeof(void *))
#define VERSION_3_SIZE (offsetof(gpumem_backend_vtable, event_native) + sizeof(void *))
#define VERSION_4_SIZE (offsetof(gpumem_backend_vtable, page_import) + sizeof(void *))
#define VERSION_5_SIZE (offsetof(gpumem_backend_vtable, event_unwrap) + sizeof(void *))
#define VERSION_6_SIZE                                                                         \
    (offsetof(gpumem_backend_vtable, page_allocate_for_image) + sizeof(void *))
#define VERSION_7_SIZE                                                                         \
    (offsetof(gpumem_backend_vtable, queue_registered_host_to_page) + sizeof(void *))
#define VERSION_8_SIZE                                                                         \
    (offsetof(gpumem_backend_vtable, host_register_read_only) + sizeof(void *))
_Static_assert(VERSION_8_SIZE == sizeof(gpumem_backend_vtable),
               "a new version appends operations: give it its own size, keep these");

#define OP(name) __typeof__(((gpumem_backend_vtable *)0)->name) name

/* Version 1, as its header declared it: a flat table whose struct_size had to match exactly,
 * with a native object per buffer made by buffer_bind and ended by buffer_unbind. */
typedef struct backend_table_v1 {
    uint32_t abi_version; /* 1 */
    uint32_t struct_size; /* sizeof(backend_table_v1) */
    const char *name;
    uint32_t priority;
    uint32_t reserved;
    OP(probe); OP(device_open); OP(device_close); OP(device_properties);
    OP(page_allocate); OP(page_free); OP(page_map); OP(page_unmap); OP(page_flush);
    OP(page_invalidate); OP(native_buffer);
    OP(stream_create); OP(stream_destroy); OP(stream_synchronize); OP(stream_native);
    OP(event_create); OP(event_destroy); OP(event_record); OP(event_synchronize);
    OP(copy_page_to_page); OP(copy_host_to_page); OP(copy_page_to_host);
    OP(host_memory_is_pinned); OP(fill);
    gpumem_result (*buffer_bind)(gpumem_backend_device *device, gpumem_backend_page *page,
                                 uint64_t offset, uint64_t size, gpumem_backend_buffer **buffer);
    void (*buffer_unbind)(gpumem_backend_device *device, gpumem_backend_buffer *buffer);
    OP(page_address); OP(device_native); OP(heap_budget);
    OP(native_pool_create); OP(native_pool_destroy); OP(native_pool_allocate);
    OP(native_pool_free); OP(native_pool_trim); OP(native_pool_stats);
} backend_table_v1;

/* Version 1's operations mean what version 2's of the same name mean, but for two: buffer_bind
 * is not called (version 1's native_buffer already had to make the object when bind had not),
 * and buffer_unbind releases what native_buffer keeps. */
static void translate_v1(const backend_table_v1 *v1, gpumem_backend_vtable *out)
{
    *out = (gpumem_backend_vtable){
        .version = 1,
        .name = v1->name,
        .priority = v1->priority,
#define COPY(name) .name = v1->name
        COPY(probe), COPY(device_open), COPY(device_close), COPY(device_properties),
        COPY(page_allocate), COPY(page_free), COPY(copy_page_to_page), COPY(page_map),
        COPY(page_unmap), COPY(page_flush), COPY(page_invalidate), COPY(page_address),
        COPY(native_buffer), COPY(device_native), COPY(stream_create), COPY(stream_destroy),
        COPY(stream_synchronize), COPY(stream_native), COPY(event_create),
        COPY(event_destroy), COPY(event_record), COPY(event_synchronize),
        COPY(copy_host_to_page), COPY(copy_page_to_host), COPY(host_memory_is_pinned),
        COPY(fill), COPY(heap_budget), COPY(native_pool_create), COPY(native_pool_destroy),
        COPY(native_pool_allocate), COPY(native_pool_free), COPY(native_pool_trim),
        COPY(native_pool_stats),
#undef COPY
        .native_buffer_release = v1->buffer_unbind,
    };
}

int gpumem_backend_name_valid(const char *name)
{
    size_t n = name ? strnlen(name, GPUMEM_NAME_SIZE) : 0;
    if (n == 0 || n >= GPUMEM_NAME_SIZE)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* A group of operations present together or not at all: the first missing one of a group that
 * has any, or NULL. */
static const char *group_gap(const void *const *ops, const char *const *names, int count)
{
    int present = 0;
    for (int i = 0; i < count; i++)
        present += ops[i] != NULL;
    if (present == 0 || present == count)
        return NULL;
    for (int i = 0; i < count; i++)
        if (!ops[i])
            return names[i];
    return NULL;
}

static gpumem_result check(const gpumem_backend_vtable *t, char *reason, size_t size)
{
    if (!gpumem_backend_name_valid(t->name)) {
        snprintf(reason, size, "backend name must be 1-%d characters of [a-z0-9_-]",
                 GPUMEM_NAME_SIZE - 1);
        return GPUMEM_ERROR_INVALID_ARGUMENT;
    }
#define REQUIRED(op)                                                                        \
    if (!t->op) {                                                                           \
        snprintf(reason, size, "backend '%s' lacks the required operation '%s'", t->name,   \
                 #op);                                                                      \
        return GPUMEM_ERROR_INVALID_ARGUMENT;                                               \
    }
    REQUIRED(probe) REQUIRED(device_open) REQUIRED(device_close) REQUIRED(device_properties)
    REQUIRED(page_allocate) REQUIRED(page_free) REQUIRED(copy_page_to_page)
#undef REQUIRED
    static const char *const stream_names[] = {"stream_create", "stream_destroy",
                                               "stream_synchronize", "stream_native"};
    static const char *const event_names[] = {"event_create", "event_destroy", "event_record",
                                              "event_synchronize"};
    static const char *const pool_names[] = {"native_pool_create", "native_pool_destroy",
                                             "native_pool_allocate", "native_pool_free"};
    const void *streams[] = {(const void *)t->stream_create, (const void *)t->stream_destroy,
                             (const void *)t->stream_synchronize, (const void *)t->stream_native};
    const void *events[] = {(const void *)t->event_create, (const void *)t->event_destroy,
                            (const void *)t->event_record, (const void *)t->event_synchronize};
    const void *pools[] = {(const void *)t->native_pool_create,
                           (const void *)t->native_pool_destroy,
                           (const void *)t->native_pool_allocate,
                           (const void *)t->native_pool_free};
    static const char *const image_names[] = {"image_create", "image_bind", "image_destroy",
                                              "image_native", "copy_page_to_image",
                                              "copy_image_to_page"};
    const void *images[] = {(const void *)t->image_create, (const void *)t->image_bind,
                            (const void *)t->image_destroy, (const void *)t->image_native,
                            (const void *)t->copy_page_to_image,
                            (const void *)t->copy_image_to_page};
    const char *gap = group_gap(streams, stream_names, 4);
    const char *group = "stream";
    if (!gap && (gap = group_gap(events, event_names, 4)))
        group = "event";
    if (!gap && (gap = group_gap(pools, pool_names, 4)))
        group = "native-pool";
    if (!gap && (gap = group_gap(images, image_names, 6)))
        group = "image";
    static const char *const registration_names[] = {"host_register", "host_unregister"};
    const void *registrations[] = {(const void *)t->host_register,
                                   (const void *)t->host_unregister};
    if (!gap && (gap = group_gap(registrations, registration_names, 2)))
        group = "host-registration";
    if (gap) {
        snprintf(reason, size, "backend '%s' has some %s operations but lacks '%s' (they come "
                 "together or not at all)", t->name, group, gap);
        return GPUMEM_ERROR_INVALID_ARGUMENT;
    }
    if ((t->stream_wrap || t->stream_unwrap) && !t->stream_create) {
        snprintf(reason, size, "backend '%s' has %s but no streams", t->name,
                 t->stream_wrap ? "stream_wrap" : "stream_unwrap");
        return GPUMEM_ERROR_INVALID_ARGUMENT;
    }
    if ((t->stream_wait_event || t->event_native) && !t->event_create) {
        snprintf(reason, size, "backend '%s' has %s but no event operations", t->name,
                 t->stream_wait_event ? "stream_wait_event" : "event_native");
        return GPUMEM_ERROR_INVALID_ARGUMENT;
    }
    if ((t->event_wrap || t->event_unwrap) && !t->event_create) {
        snprintf(reason, size, "backend '%s' has %s but no event operations", t->name,
                 t->event_wrap ? "event_wrap" : "event_unwrap");
        return GPUMEM_ERROR_INVALID_ARGUMENT;
    }
    if ((t->page_allocate_for_image || t->copy_image_to_image) && !t->image_create) {
        snprintf(reason, size, "backend '%s' has %s but no image operations", t->name,
                 t->page_allocate_for_image ? "page_allocate_for_image" : "copy_image_to_image");
        return GPUMEM_ERROR_INVALID_ARGUMENT;
    }
    if (t->native_buffer_for_usage && !t->buffer_requirements) {
        snprintf(reason, size, "backend '%s' has native_buffer_for_usage but no "
                 "buffer_requirements", t->name);
        return GPUMEM_ERROR_INVALID_ARGUMENT;
    }
    if (t->host_register_read_only && !t->host_register) {
        snprintf(reason, size, "backend '%s' has host_register_read_only but no host_register",
                 t->name);
        return GPUMEM_ERROR_INVALID_ARGUMENT;
    }
    if (t->queue_registered_host_to_page && (!t->stream_create || !t->host_register)) {
        snprintf(reason, size, "backend '%s' has queue_registered_host_to_page but no %s",
                 t->name, !t->stream_create ? "streams" : "host_register");
        return GPUMEM_ERROR_INVALID_ARGUMENT;
    }
    if (t->event_create && !t->stream_create) {
        snprintf(reason, size, "backend '%s' has event operations but no streams to record "
                 "them on", t->name);
        return GPUMEM_ERROR_INVALID_ARGUMENT;
    }
    return GPUMEM_OK;
}

gpumem_result gpumem_backend_table_read(const gpumem_backend_vtable *table,
                                        gpumem_backend_vtable *out, char *reason,
                                        size_t reason_size)
{
    /* The first 32-bit word is the version in every version (version 1 called it
     * abi_version); version 1 also said its size in the second. */
    uint32_t head[2];
    memcpy(head, table, sizeof head);
    /* Only the operations of the module's version are read: the table of an earlier version
     * ends before the later ones, which stay NULL. */
    memset(out, 0, sizeof *out);
    if (head[0] == 1 && head[1] == sizeof(backend_table_v1)) {
        translate_v1((const backend_table_v1 *)(const void *)table, out);
    } else if (head[0] == 2) {
        memcpy(out, table, VERSION_2_SIZE);
    } else if (head[0] == 3) {
        memcpy(out, table, VERSION_3_SIZE);
    } else if (head[0] == 4) {
        memcpy(out, table, VERSION_4_SIZE);
    } else if (head[0] == 5) {
        memcpy(out, table, VERSION_5_SIZE);
    } else if (head[0] == 6) {
        memcpy(out, table, VERSION_6_SIZE);
    } else if (head[0] == 7) {
        memcpy(out, table, VERSION_7_SIZE);
    } else if (head[0] == 8) {
        memcpy(out, table, VERSION_8_SIZE);
    } else {
        snprintf(reason, reason_size,
                 "built for backend table version %u%s; this libgpumem knows versions 1 to 8",
                 head[0], head[0] == 1 ? " with an unknown size" : "");
        return GPUMEM_ERROR_ABI_MISMATCH;
    }
    return check(out, reason, reason_size);
}

gpumem_result gpumem_backend_table_fits(const gpumem_backend_vtable *t,
                                        const gpumem_device_properties *p)
{
    for (uint32_t i = 0; i < p->memory_type_count; i++) {
        uint32_t flags = p->memory_types[i].flags;
        if (!(flags & GPUMEM_MEMORY_HOST_VISIBLE))
            continue;
        const char *missing = !t->page_map ? "page_map"
                              : (flags & GPUMEM_MEMORY_HOST_COHERENT) ? NULL
                              : !t->page_flush ? "page_flush"
                              : !t->page_invalidate ? "page_invalidate"
                                                    : NULL;
        if (missing)
            return gpumem_fail(GPUMEM_ERROR_BACKEND,
                               "backend '%s' reports memory type %u as host-visible%s but has "
                               "no %s",
                               t->name, i,
                               (flags & GPUMEM_MEMORY_HOST_COHERENT) ? "" : " and not coherent",
                               missing);
    }
    return GPUMEM_OK;
}
