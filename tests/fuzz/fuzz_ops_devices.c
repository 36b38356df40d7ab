/* Devices (open, close, properties, native objects, default stream, JSON dump), the backend
 * registry, and memory-type choice against a reference implementation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_internal.h"
#include "fuzz_json.h"

static int is_power_of_two(uint64_t x)
{
    return x && !(x & (x - 1));
}

/* What every device's properties must satisfy. */
static int check_properties(fz_ctx *c, const gpumem_device_properties *p, int external)
{
    if (!p->backend[0] || !memchr(p->backend, '\0', sizeof p->backend) ||
        !memchr(p->name, '\0', sizeof p->name))
        return fz_fail(c, "device properties: backend or name not a terminated string");
    const char *wanted = getenv("GPUMEM_BACKEND");
    if (wanted && *wanted && !strchr(wanted, ',') && strcmp(wanted, p->backend) != 0)
        return fz_fail(c, "GPUMEM_BACKEND=%s opened a '%s' device", wanted, p->backend);
    if (p->memory_type_count < 1 || p->memory_type_count > GPUMEM_MAX_MEMORY_TYPES ||
        p->memory_heap_count < 1 || p->memory_heap_count > GPUMEM_MAX_MEMORY_HEAPS)
        return fz_fail(c, "device properties: %u memory types, %u heaps", p->memory_type_count,
                       p->memory_heap_count);
    for (uint32_t i = 0; i < p->memory_type_count; i++)
        if (p->memory_types[i].heap_index >= p->memory_heap_count ||
            (p->memory_types[i].flags & ~(uint32_t)GPUMEM_MEMORY_FLAGS_ALL))
            return fz_fail(c, "device properties: memory type %u has heap %u, flags 0x%x", i,
                           p->memory_types[i].heap_index, p->memory_types[i].flags);
    if (!is_power_of_two(p->min_alignment) || !is_power_of_two(p->non_coherent_atom_size) ||
        p->max_allocation_size < p->min_alignment)
        return fz_fail(c, "device properties: min_alignment %llu, atom %llu, max allocation %llu",
                       (unsigned long long)p->min_alignment,
                       (unsigned long long)p->non_coherent_atom_size,
                       (unsigned long long)p->max_allocation_size);
    if (p->is_external != (uint32_t)external)
        return fz_fail(c, "device properties: is_external is %u for a device opened %s",
                       p->is_external, external ? "on native objects" : "by gpumem");
    return 1;
}

/* The fields that never change while a device is open (heap budgets and usage do). */
static int same_properties(const gpumem_device_properties *a, const gpumem_device_properties *b)
{
    if (strcmp(a->name, b->name) || strcmp(a->backend, b->backend) ||
        a->vendor_id != b->vendor_id || a->device_id != b->device_id ||
        a->device_index != b->device_index || a->is_external != b->is_external ||
        a->memory_type_count != b->memory_type_count ||
        a->memory_heap_count != b->memory_heap_count || a->min_alignment != b->min_alignment ||
        a->non_coherent_atom_size != b->non_coherent_atom_size ||
        a->max_allocation_size != b->max_allocation_size ||
        a->max_allocation_count != b->max_allocation_count ||
        a->native_pools != b->native_pools)
        return 0;
    if (memcmp(a->memory_types, b->memory_types, a->memory_type_count * sizeof a->memory_types[0]))
        return 0;
    for (uint32_t i = 0; i < a->memory_heap_count; i++)
        if (a->memory_heaps[i].size != b->memory_heaps[i].size ||
            a->memory_heaps[i].flags != b->memory_heaps[i].flags)
            return 0;
    return 1;
}

/* Registers an opened device: its properties and its default stream. parent: the device whose
 * native objects it was opened on, or -1. */
static int adopt_device(fz_ctx *c, gpumem_device handle, int parent)
{
    int d = fz_free_slot(c, FZ_DEVICE);
    int s = fz_free_slot(c, FZ_STREAM);
    if (d < 0 || s < 0) {
        gpumem_device_close(handle);
        return fz_fail(c, "the model has no room for a device");
    }
    fz_device *dev = &c->devices[d];
    gpumem_result r = gpumem_device_properties_get(handle, &dev->props);
    if (!fz_call(c, "gpumem_device_properties_get", r, 0, 0) ||
        !check_properties(c, &dev->props, parent >= 0)) {
        gpumem_device_close(handle);
        return 0;
    }
    gpumem_stream stream;
    r = gpumem_device_default_stream(handle, &stream);
    if (!fz_call(c, "gpumem_device_default_stream", r, 0, 0)) {
        gpumem_device_close(handle);
        return 0;
    }
    dev->live = 1;
    dev->handle = handle;
    dev->default_stream = s;
    dev->parent = parent;
    c->streams[s] = (fz_stream){.live = 1, .device = d, .is_default = 1, .handle = stream};
    return 1;
}

/* A device of the default backend; externally synchronized (its pools and streams take no
 * lock: the fuzzer makes one call at a time) when `flags` says so. */
static int open_default(fz_ctx *c, uint32_t flags)
{
    if (fz_free_slot(c, FZ_DEVICE) < 0)
        return 1;
    gpumem_device_desc desc = {.flags = flags};
    gpumem_device handle;
    gpumem_result r = gpumem_device_open(flags ? &desc : NULL, &handle);
    if (!fz_call(c, "gpumem_device_open", r, 0, 0))
        return 0;
    return adopt_device(c, handle, -1);
}

/* Every fourth is externally synchronized, by count rather than by input, so that an input
 * replays the same calls as before there were such devices. */
int fz_device_open_plain(fz_ctx *c)
{
    int flagged = c->plain_opens++ % 4 == 3;
    return open_default(c, flagged ? GPUMEM_DEVICE_OPEN_EXTERNALLY_SYNCHRONIZED : 0);
}

/* "Bring your own device": a second device on the native objects under an open one. gpumem
 * must not destroy them when it closes the second; the model closes it before its parent. */
static void open_external(fz_ctx *c)
{
    int parent = fz_pick_device(c);
    if (parent < 0 || c->devices[parent].parent >= 0)
        return;
    gpumem_external_device native;
    gpumem_result r = gpumem_device_native(c->devices[parent].handle, &native);
    if (!fz_call(c, "gpumem_device_native", r, 0, 0))
        return;
    gpumem_device_desc desc = {.backend = c->devices[parent].props.backend, .external = &native};
    gpumem_device handle;
    r = gpumem_device_open(&desc, &handle);
    if (fz_call(c, "gpumem_device_open", r, 0, 0))
        adopt_device(c, handle, parent);
}

void fz_op_device_open(fz_ctx *c)
{
    int full = fz_free_slot(c, FZ_DEVICE) < 0;
    unsigned variant = (unsigned)fz_below(c, 16);
    if (variant < 9 && !full) {
        open_default(c, variant == 8 ? GPUMEM_DEVICE_OPEN_EXTERNALLY_SYNCHRONIZED : 0);
        return;
    }
    if (variant < 11 && !full) {
        open_external(c);
        return;
    }
    gpumem_device_desc desc = {0};
    gpumem_device handle;
    gpumem_result r;
    switch (variant % 5) {
    case 0:
        r = gpumem_device_open(fz_chance(c, 1, 2) ? NULL : &desc, NULL);
        fz_call(c, "gpumem_device_open", r, FZ_ARG, 0);
        return;
    case 1:
        desc.flags = 1u << (8 + fz_below(c, 24)); /* bits no version has used */
        break;
    case 2:
        desc.flags = GPUMEM_DEVICE_OPEN_INDEX;
        desc.device_index = fz_chance(c, 1, 2) ? UINT32_MAX : 1000 + fz_u8(c);
        break;
    case 3:
        desc.backend = fz_chance(c, 1, 2) ? "no-such-backend" : "";
        break;
    default:
        if (full)
            return;
        /* The backend by name, device 0 by index: the same device as the default. */
        desc.flags = GPUMEM_DEVICE_OPEN_INDEX;
        int any = fz_pick_device(c);
        desc.backend = any >= 0 ? c->devices[any].props.backend : NULL;
        r = gpumem_device_open(&desc, &handle);
        if (fz_call(c, "gpumem_device_open", r, 0, 0))
            adopt_device(c, handle, -1);
        return;
    }
    fz_expect faults = desc.backend ? FZ_BIT(GPUMEM_ERROR_NOT_FOUND)
                       : desc.flags == GPUMEM_DEVICE_OPEN_INDEX ? FZ_BIT(GPUMEM_ERROR_NOT_FOUND)
                                                                 : FZ_ARG;
    handle = (gpumem_device)(uintptr_t)FZ_SENTINEL;
    r = gpumem_device_open(&desc, &handle);
    if (!fz_call(c, "gpumem_device_open", r, faults, 0) && r == GPUMEM_OK)
        gpumem_device_close(handle);
    else if (r != GPUMEM_OK)
        fz_untouched(c, "gpumem_device_open", (uint64_t)(uintptr_t)handle);
}

void fz_op_device_close(fz_ctx *c)
{
    int d = fz_pick_device(c);
    if (d < 0 || fz_bad(c, 8)) {
        fz_expect faults = 0;
        gpumem_device handle = (gpumem_device)(uintptr_t)fz_bad_handle(c, FZ_DEVICE, &faults);
        fz_call(c, "gpumem_device_close", gpumem_device_close(handle), faults, 0);
        return;
    }
    fz_close_device(c, d);
}

/* The dump's buffers are the device's live buffers, each once: every live buffer of the model
 * on device d appears as one {"handle":H,... entry, and there are no others. */
static void check_dump_buffers(fz_ctx *c, int d)
{
    unsigned entries = 0, live = 0;
    for (const char *at = c->dump; (at = strstr(at, "{\"handle\":")); at++)
        entries++;
    for (int i = 0; i < FZ_MAX_BUFFERS; i++) {
        const fz_buffer *b = &c->buffers[i];
        if (!b->live || b->device != d)
            continue;
        live++;
        char entry[64];
        snprintf(entry, sizeof entry, "{\"handle\":%llu,",
                 (unsigned long long)(uintptr_t)b->handle);
        const char *first = strstr(c->dump, entry);
        if (!first || strstr(first + 1, entry)) {
            fz_fail(c, "gpumem_device_dump_json lists live buffer #%d %s", i,
                    first ? "more than once" : "nowhere");
            return;
        }
    }
    if (entries != live)
        fz_fail(c, "gpumem_device_dump_json lists %u buffers; device #%d has %u live", entries,
                d, live);
}

static void query_dump(fz_ctx *c, int d)
{
    gpumem_device dev = c->devices[d].handle;
    uint64_t length = 0, again = 0;
    unsigned variant = (unsigned)fz_below(c, 8);
    gpumem_result r;
    if (variant == 0) {
        r = gpumem_device_dump_json(dev, NULL, 0, NULL);
        fz_call(c, "gpumem_device_dump_json", r, FZ_ARG, 0);
        return;
    }
    if (variant == 1) {
        r = gpumem_device_dump_json(dev, NULL, 1 + fz_u8(c), &length);
        fz_call(c, "gpumem_device_dump_json", r, FZ_ARG, 0);
        return;
    }
    r = gpumem_device_dump_json(dev, NULL, 0, &length);
    if (!fz_call(c, "gpumem_device_dump_json", r, 0, 0))
        return;
    if (length + 1 > c->dump_capacity) {
        free(c->dump);
        c->dump_capacity = (size_t)length + 1 + 4096;
        c->dump = malloc(c->dump_capacity);
        if (!c->dump) {
            c->dump_capacity = 0;
            fz_fail(c, "the model ran out of host memory for a dump of %llu bytes",
                    (unsigned long long)length);
            return;
        }
    }
    if (variant == 2) {
        /* Room for the text but not its NUL: refused, with the length reported, and the
         * buffer (an output) left alone. */
        memset(c->dump, 'Q', (size_t)length);
        r = gpumem_device_dump_json(dev, c->dump, length, &again);
        if (!fz_call(c, "gpumem_device_dump_json", r, FZ_BIT(GPUMEM_ERROR_INSUFFICIENT_BUFFER), 0))
            return;
        if (again != length)
            fz_fail(c, "gpumem_device_dump_json: a refused dump reported %llu bytes, %llu before",
                    (unsigned long long)again, (unsigned long long)length);
        for (uint64_t i = 0; i < length; i++)
            if (c->dump[i] != 'Q') {
                fz_fail(c, "gpumem_device_dump_json refused a buffer of %llu bytes, yet wrote "
                        "byte %llu", (unsigned long long)length, (unsigned long long)i);
                break;
            }
        return;
    }
    c->dump[length] = 'x';
    r = gpumem_device_dump_json(dev, c->dump, length + 1, &again);
    if (!fz_call(c, "gpumem_device_dump_json", r, 0, 0))
        return;
    if (again != length || c->dump[length] != '\0' || strlen(c->dump) != length) {
        fz_fail(c, "gpumem_device_dump_json: %llu bytes, then %llu, text of %zu",
                (unsigned long long)length, (unsigned long long)again, strlen(c->dump));
        return;
    }
    char why[256];
    if (!fuzz_json_valid(c->dump, (size_t)length, why, sizeof why)) {
        size_t at = 0;
        const char *where = strstr(why, "at byte ");
        if (where)
            sscanf(where, "at byte %zu", &at);
        size_t from = at > 60 ? at - 60 : 0;
        fz_fail(c, "gpumem_device_dump_json gave invalid JSON: %s; near: \"%.120s\"", why,
                c->dump + from);
        return;
    }
    check_dump_buffers(c, d);
}

void fz_op_device_query(fz_ctx *c)
{
    int d = fz_pick_device(c);
    if (d < 0) {
        fz_device_open_plain(c);
        return;
    }
    fz_device *dev = &c->devices[d];
    gpumem_result r;
    switch (fz_below(c, 6)) {
    case 0: {
        gpumem_device_properties p;
        if (fz_chance(c, 1, 16)) {
            r = gpumem_device_properties_get(dev->handle, NULL);
            fz_call(c, "gpumem_device_properties_get", r, FZ_ARG, 0);
            return;
        }
        r = gpumem_device_properties_get(dev->handle, &p);
        if (fz_call(c, "gpumem_device_properties_get", r, 0, 0) &&
            !same_properties(&p, &dev->props))
            fz_fail(c, "gpumem_device_properties_get: the properties of device #%d changed", d);
        return;
    }
    case 1: {
        gpumem_external_device n, zero = {0};
        if (fz_chance(c, 1, 16)) {
            r = gpumem_device_native(dev->handle, NULL);
            fz_call(c, "gpumem_device_native", r, FZ_ARG, 0);
            return;
        }
        r = gpumem_device_native(dev->handle, &n);
        if (!fz_call(c, "gpumem_device_native", r, 0, 0))
            return;
        if (!strcmp(dev->props.backend, "host") && memcmp(&n, &zero, sizeof n))
            fz_fail(c, "gpumem_device_native: a host device has native objects");
        if (!strcmp(dev->props.backend, "vulkan") &&
            (!n.instance || !n.device || !n.physical_device || !n.get_instance_proc_addr))
            fz_fail(c, "gpumem_device_native: a Vulkan device without instance, physical device, "
                    "device or vkGetInstanceProcAddr");
        return;
    }
    case 2: {
        gpumem_stream s;
        if (fz_chance(c, 1, 16)) {
            r = gpumem_device_default_stream(dev->handle, NULL);
            fz_call(c, "gpumem_device_default_stream", r, FZ_ARG, 0);
            return;
        }
        r = gpumem_device_default_stream(dev->handle, &s);
        if (fz_call(c, "gpumem_device_default_stream", r, 0, 0) &&
            s != c->streams[dev->default_stream].handle)
            fz_fail(c, "gpumem_device_default_stream: another handle than at open");
        return;
    }
    case 3:
        query_dump(c, d);
        return;
    case 4: {
        int s = fz_pick_stream(c, d);
        uint64_t native = 1;
        if (fz_chance(c, 1, 16)) {
            r = gpumem_stream_native(c->streams[s].handle, NULL);
            fz_call(c, "gpumem_stream_native", r, FZ_ARG, 0);
            return;
        }
        r = gpumem_stream_native(c->streams[s].handle, &native);
        /* Host has no native streams; the in-tree GPU backends always have them; a backend
         * without streams gives 0 too (gpumem.h), so for others either answer is right. */
        const char *backend = dev->props.backend;
        int zero = !strcmp(backend, "host"), set = !strcmp(backend, "vulkan") ||
                                                   !strcmp(backend, "cuda") ||
                                                   !strcmp(backend, "hip");
        if (fz_call(c, "gpumem_stream_native", r, 0, 0) &&
            ((zero && native != 0) || (set && native == 0)))
            fz_fail(c, "gpumem_stream_native: a %s stream is 0x%llx", dev->props.backend,
                    (unsigned long long)native);
        return;
    }
    default: {
        uint32_t count = 0;
        r = gpumem_device_count(NULL, &count);
        if (fz_call(c, "gpumem_device_count", r, 0, 0) && count < 1)
            fz_fail(c, "gpumem_device_count: 0 devices, with one open");
        return;
    }
    }
}
