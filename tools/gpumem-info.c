/* gpumem-info: what is here. Lists the backends gpumem knows (and why the unavailable ones are),
 * then every device of the available ones with its limits, heaps and memory types. With
 * GPUMEM_BACKEND set, only the backend a program would get is shown, and a name that does not
 * resolve is the same error a program would get. With --svg it draws a saved device dump
 * instead, and opens no device. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "gpumem/gpumem.h"

typedef struct info_options {
    int json;
    const char *svg; /* --svg DUMP.json */
} info_options;

/* The backends to show devices of; `only` is set when GPUMEM_BACKEND chose one. */
typedef struct backend_list {
    uint32_t count;
    gpumem_backend_info *infos;
    char only[GPUMEM_NAME_SIZE];
} backend_list;

/* One device as opened, or the reason it could not be. */
typedef struct device_report {
    const char *backend;
    uint32_t index;
    gpumem_result result;
    char error[1024];
    gpumem_device_properties properties;
} device_report;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gpumem-info [--json]\n"
            "       gpumem-info --svg DUMP.json\n"
            "       gpumem-info --version | --help\n"
            "Lists gpumem's backends and the devices of the available ones: limits, memory\n"
            "heaps and memory types. GPUMEM_BACKEND shows only the backend it chooses;\n"
            "GPUMEM_PLUGIN_PATH adds folders of backend modules.\n"
            "  --json     one JSON document on stdout\n"
            "  --svg DUMP.json\n"
            "             draws a device dump (gpumem_device_dump_json, gpumem-demo --dump) as\n"
            "             an SVG picture on stdout: pools, pages, buffers, free ranges\n"
            "  --version  the version (" GPUMEM_VERSION_STRING ")\n"
            "  --help     this text\n"
            "Exit status: 0 ok, 1 error, 2 usage.\n");
}

static int fail(const char *what, gpumem_result r)
{
    fprintf(stderr, "gpumem-info: %s: %s\n", what,
            gpumem_last_error()[0] ? gpumem_last_error() : gpumem_result_string(r));
    return 1;
}

/* --- gathering --- */

static int list_backends(backend_list *list)
{
    gpumem_result r = gpumem_backend_count(&list->count);
    if (r != GPUMEM_OK)
        return fail("backend count", r);
    list->infos = calloc(list->count ? list->count : 1, sizeof *list->infos);
    if (!list->infos)
        return fail("backends", GPUMEM_ERROR_OUT_OF_HOST_MEMORY);
    for (uint32_t i = 0; i < list->count; i++)
        if ((r = gpumem_backend_info_get(i, &list->infos[i])) != GPUMEM_OK)
            return fail("backend info", r);
    return 0;
}

/* With GPUMEM_BACKEND set, the backend is the one gpumem_device_open(NULL) resolves to; opening
 * its first device asks core, so the choice and its errors are exactly a program's. */
static int resolve_env_backend(backend_list *list)
{
    const char *env = getenv("GPUMEM_BACKEND");
    if (!env || !*env)
        return 0;
    gpumem_device_desc desc = {.flags = GPUMEM_DEVICE_OPEN_INDEX, .device_index = 0};
    gpumem_device device;
    gpumem_result r = gpumem_device_open(&desc, &device);
    if (r != GPUMEM_OK) {
        fprintf(stderr, "gpumem-info: %s\n", gpumem_last_error());
        return 1;
    }
    gpumem_device_properties properties;
    r = gpumem_device_properties_get(device, &properties);
    gpumem_device_close(device);
    if (r != GPUMEM_OK)
        return fail("device properties", r);
    snprintf(list->only, sizeof list->only, "%s", properties.backend);
    return 0;
}

static int shown(const backend_list *list, const gpumem_backend_info *info)
{
    return info->available && (!list->only[0] || strcmp(list->only, info->name) == 0);
}

static void device_query(device_report *d)
{
    gpumem_device_desc desc = {.backend = d->backend, .flags = GPUMEM_DEVICE_OPEN_INDEX,
                               .device_index = d->index};
    gpumem_device device;
    d->result = gpumem_device_open(&desc, &device);
    if (d->result == GPUMEM_OK) {
        d->result = gpumem_device_properties_get(device, &d->properties);
        if (d->result != GPUMEM_OK)
            snprintf(d->error, sizeof d->error, "%s", gpumem_last_error());
        gpumem_device_close(device);
    } else {
        snprintf(d->error, sizeof d->error, "%s", gpumem_last_error());
    }
    if (d->result != GPUMEM_OK)
        fprintf(stderr, "gpumem-info: device %s/%u: %s\n", d->backend, d->index,
                d->error[0] ? d->error : gpumem_result_string(d->result));
}

/* --- text --- */

static void print_backends(const backend_list *list)
{
    int width = 8;
    for (uint32_t i = 0; i < list->count; i++)
        if ((int)strlen(list->infos[i].name) > width)
            width = (int)strlen(list->infos[i].name);
    printf("backends (%u):\n", list->count);
    for (uint32_t i = 0; i < list->count; i++) {
        const gpumem_backend_info *b = &list->infos[i];
        if (b->available)
            printf("  %-*s  available, %u device%s, priority %u\n", width, b->name,
                   b->device_count, b->device_count == 1 ? "" : "s", b->priority);
        else
            printf("  %-*s  unavailable: %s\n", width, b->name, b->reason);
        printf("  %-*s  %s%s\n", width, "", b->is_module ? "module " : "built in",
               b->module_path);
    }
}

static void print_limits(const gpumem_device_properties *p)
{
    char a[32], b[32];
    printf("  limits: min alignment %s, non-coherent atom %s\n",
           format_bytes(p->min_alignment, a, sizeof a),
           format_bytes(p->non_coherent_atom_size, b, sizeof b));
    printf("          max allocation %s (%llu bytes), max allocations ",
           format_bytes(p->max_allocation_size, a, sizeof a),
           (unsigned long long)p->max_allocation_size);
    if (p->max_allocation_count)
        printf("%llu", (unsigned long long)p->max_allocation_count);
    else
        printf("no limit");
    printf(", native pools %s\n", p->native_pools ? "yes" : "no");
}

static void print_memory(const gpumem_device_properties *p)
{
    char size[32], budget[32], usage_text[32], flags[96];
    printf("  memory heaps (%u):\n", p->memory_heap_count);
    for (uint32_t i = 0; i < p->memory_heap_count; i++) {
        const gpumem_memory_heap *h = &p->memory_heaps[i];
        printf("    %u: %s (%llu bytes), budget %s, usage %s%s\n", i,
               format_bytes(h->size, size, sizeof size), (unsigned long long)h->size,
               format_bytes(h->budget, budget, sizeof budget),
               format_bytes(h->usage, usage_text, sizeof usage_text),
               h->flags & GPUMEM_MEMORY_DEVICE_LOCAL ? ", DEVICE_LOCAL" : "");
    }
    printf("  memory types (%u):\n", p->memory_type_count);
    for (uint32_t i = 0; i < p->memory_type_count; i++)
        printf("    %u: heap %u, %s\n", i, p->memory_types[i].heap_index,
               format_memory_flags(p->memory_types[i].flags, flags, sizeof flags));
}

static const char *type_name(uint32_t type)
{
    static const char *const names[] = {"other", "CPU", "integrated GPU", "discrete GPU",
                                        "virtual GPU", "GPU"};
    return type < sizeof names / sizeof names[0] ? names[type] : "other";
}

/* "6f8b3c...": the 16 bytes as 32 hex digits, or "" when the runtime gave none. */
static const char *uuid_text(const gpumem_device_properties *p, char out[33])
{
    out[0] = 0;
    for (int i = 0; p->has_uuid && i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", p->uuid[i]);
    return out;
}

static void print_device(const device_report *d)
{
    printf("\ndevice %s/%u: ", d->backend, d->index);
    if (d->result != GPUMEM_OK) {
        printf("cannot be opened: %s\n", d->error);
        return;
    }
    const gpumem_device_properties *p = &d->properties;
    printf("%s\n", p->name);
    printf("  backend %s, vendor id 0x%04x, device id 0x%04x, %s\n", p->backend, p->vendor_id,
           p->device_id, type_name(p->device_type));
    char uuid[33];
    if (p->driver_version[0] || p->api_version[0])
        printf("  driver %s%s%s\n", p->driver_version[0] ? p->driver_version : "unknown",
               p->api_version[0] ? ", API " : "", p->api_version);
    if (p->has_uuid || p->pci_address[0])
        printf("  %s%s%s%s\n", p->has_uuid ? "UUID " : "", uuid_text(p, uuid),
               p->has_uuid && p->pci_address[0] ? ", " : "",
               p->pci_address[0] ? p->pci_address : "");
    print_limits(p);
    print_memory(p);
}

/* --- JSON --- */

static void json_backends(json_writer *w, const backend_list *list)
{
    json_array_begin(w, "backends");
    for (uint32_t i = 0; i < list->count; i++) {
        const gpumem_backend_info *b = &list->infos[i];
        json_object_begin(w, NULL);
        json_string(w, "name", b->name);
        json_bool(w, "available", (int)b->available);
        json_string(w, "reason", b->reason);
        json_uint(w, "device_count", b->device_count);
        json_uint(w, "priority", b->priority);
        json_bool(w, "is_module", (int)b->is_module);
        json_string(w, "module_path", b->module_path);
        json_bool(w, "refused", (int)b->refused);
        json_object_end(w);
    }
    json_array_end(w);
}

static void json_limits(json_writer *w, const gpumem_device_properties *p)
{
    json_object_begin(w, "limits");
    json_uint(w, "min_alignment", p->min_alignment);
    json_uint(w, "non_coherent_atom_size", p->non_coherent_atom_size);
    json_uint(w, "max_allocation_size", p->max_allocation_size);
    json_uint(w, "max_allocation_count", p->max_allocation_count);
    json_bool(w, "native_pools", (int)p->native_pools);
    json_object_end(w);
}

/* Memory flags as an array of names, as the device dumps write them (docs/json.md). */
static void json_flags(json_writer *w, const char *key, uint32_t flags)
{
    char names[96];
    format_memory_flags(flags, names, sizeof names);
    json_array_begin(w, key);
    char *rest = NULL;
    for (char *name = flags ? strtok_r(names, "|", &rest) : NULL; name;
         name = strtok_r(NULL, "|", &rest))
        json_string(w, NULL, name);
    json_array_end(w);
}

static void json_memory(json_writer *w, const gpumem_device_properties *p)
{
    json_array_begin(w, "memory_heaps");
    for (uint32_t i = 0; i < p->memory_heap_count; i++) {
        const gpumem_memory_heap *h = &p->memory_heaps[i];
        json_object_begin(w, NULL);
        json_uint(w, "index", i);
        json_uint(w, "size", h->size);
        json_uint(w, "budget", h->budget);
        json_uint(w, "usage", h->usage);
        json_flags(w, "flags", h->flags);
        json_bool(w, "device_local", (h->flags & GPUMEM_MEMORY_DEVICE_LOCAL) != 0);
        json_object_end(w);
    }
    json_array_end(w);
    json_array_begin(w, "memory_types");
    for (uint32_t i = 0; i < p->memory_type_count; i++) {
        json_object_begin(w, NULL);
        json_uint(w, "index", i);
        json_flags(w, "flags", p->memory_types[i].flags);
        json_uint(w, "flag_bits", p->memory_types[i].flags);
        json_uint(w, "heap_index", p->memory_types[i].heap_index);
        json_object_end(w);
    }
    json_array_end(w);
}

static void json_device(json_writer *w, const device_report *d)
{
    const gpumem_device_properties *p = &d->properties;
    json_object_begin(w, NULL);
    json_string(w, "backend", d->backend);
    json_uint(w, "index", d->index);
    if (d->result != GPUMEM_OK) {
        json_string(w, "error", d->error);
    } else {
        json_string(w, "name", p->name);
        char uuid[33];
        json_string(w, "device_type", type_name(p->device_type));
        json_string(w, "driver_version", p->driver_version);
        json_string(w, "api_version", p->api_version);
        json_string(w, "uuid", p->has_uuid ? uuid_text(p, uuid) : NULL);
        json_string(w, "pci_address", p->pci_address);
        json_uint(w, "vendor_id", p->vendor_id);
        json_uint(w, "device_id", p->device_id);
        json_limits(w, p);
        json_memory(w, p);
    }
    json_object_end(w);
}

/* --- --svg --- */

/* The whole file as one NUL-terminated text; NULL with a message when it cannot be read. */
static char *read_text(const char *path, size_t *length)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "gpumem-info: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    /* A dump is text: a NUL byte ends the read (/dev/zero, a binary file) before it grows. */
    size_t capacity = 1 << 16, n = 0;
    char *text = malloc(capacity), *grown;
    const char *why = NULL;
    while (text && !why) {
        size_t got = fread(text + n, 1, capacity - n - 1, f);
        if (memchr(text + n, '\0', got))
            why = "it holds a NUL byte, so it is no JSON text";
        n += got;
        if (why || n < capacity - 1)
            break;
        capacity *= 2;
        if (!(grown = realloc(text, capacity))) {
            free(text);
            why = "out of memory";
        }
        text = grown;
    }
    if (!text && !why)
        why = "out of memory";
    if (!why && ferror(f))
        why = strerror(errno);
    fclose(f);
    if (why) {
        fprintf(stderr, "gpumem-info: cannot read %s: %s\n", path, why);
        free(text);
        return NULL;
    }
    text[n] = '\0';
    *length = n;
    return text;
}

/* The picture of a dump's text; NULL with a message when the library refuses the text. */
static char *picture_of(const char *path, const char *dump, uint64_t *length)
{
    gpumem_result r = gpumem_dump_svg(dump, NULL, 0, length);
    char *svg = r == GPUMEM_OK ? malloc(*length + 1) : NULL;
    if (svg)
        r = gpumem_dump_svg(dump, svg, *length + 1, length);
    if (svg && r == GPUMEM_OK)
        return svg;
    fprintf(stderr, "gpumem-info: %s: %s\n", path,
            r != GPUMEM_OK ? gpumem_last_error() : "no memory for the picture");
    free(svg);
    return NULL;
}

/* Draws the dump at `path` on stdout. The library does the drawing (gpumem_dump_svg), so the
 * tool's picture is the one GPUMEM_DUMP_ON_CLOSE writes. */
static int draw_svg(const char *path)
{
    size_t length;
    uint64_t svg_length = 0;
    char *dump = read_text(path, &length), *svg = NULL;
    if (dump && strlen(dump) != length)
        fprintf(stderr, "gpumem-info: %s holds a NUL byte: it is no device dump\n", path);
    else if (dump)
        svg = picture_of(path, dump, &svg_length);
    int ok = svg && fwrite(svg, 1, svg_length, stdout) == svg_length && fflush(stdout) == 0;
    free(svg);
    free(dump);
    return ok ? 0 : 1;
}

/* --- main --- */

static void print_version(const info_options *o, json_writer *w)
{
    uint32_t v = gpumem_version();
    char library[32];
    snprintf(library, sizeof library, "%u.%u.%u", v / 10000, v / 100 % 100, v % 100);
    if (o->json) {
        json_string(w, "schema", "gpumem-info");
        json_uint(w, "schema_version", 1); /* docs/json.md */
        json_string(w, "version", GPUMEM_VERSION_STRING);
        json_string(w, "library_version", library);
    } else {
        printf("gpumem-info %s, libgpumem %s\n\n", GPUMEM_VERSION_STRING, library);
    }
}

/* Reports every device of the shown backends; returns the number that failed. */
static uint32_t report_devices(const info_options *o, json_writer *w, const backend_list *list)
{
    uint32_t failures = 0;
    if (o->json)
        json_array_begin(w, "devices");
    for (uint32_t i = 0; i < list->count; i++) {
        if (!shown(list, &list->infos[i]))
            continue;
        for (uint32_t index = 0; index < list->infos[i].device_count; index++) {
            device_report d = {.backend = list->infos[i].name, .index = index};
            device_query(&d);
            failures += d.result != GPUMEM_OK;
            if (o->json)
                json_device(w, &d);
            else
                print_device(&d);
        }
    }
    if (o->json)
        json_array_end(w);
    return failures;
}

static int parse_arguments(int argc, char **argv, info_options *o)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            o->json = 1;
        } else if (strcmp(argv[i], "--svg") == 0) {
            if (i + 1 == argc) {
                fprintf(stderr, "gpumem-info: --svg needs a dump file\n");
                usage(stderr);
                return 2;
            }
            o->svg = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("gpumem-info %s\n", GPUMEM_VERSION_STRING);
            return 0;
        } else {
            fprintf(stderr, "gpumem-info: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    return -1;
}

int main(int argc, char **argv)
{
    format_check_stdout_at_exit("gpumem-info");
    info_options o = {0};
    int status = parse_arguments(argc, argv, &o);
    if (status >= 0)
        return status;
    if (o.svg)
        return draw_svg(o.svg);
    backend_list list = {0};
    if (list_backends(&list) || resolve_env_backend(&list)) {
        free(list.infos);
        return 1;
    }
    json_writer w;
    json_init(&w, stdout);
    if (o.json)
        json_object_begin(&w, NULL);
    print_version(&o, &w);
    if (o.json) {
        json_string(&w, "selected_backend", list.only[0] ? list.only : NULL);
        json_backends(&w, &list);
    } else {
        print_backends(&list);
        if (list.only[0])
            printf("\nGPUMEM_BACKEND chooses %s: only its devices are shown\n", list.only);
    }
    uint32_t failures = report_devices(&o, &w, &list);
    if (o.json)
        json_object_end(&w);
    free(list.infos);
    return failures ? 1 : 0;
}
