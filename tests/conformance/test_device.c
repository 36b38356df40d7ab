/* Devices: properties, discovery, memory type choice, several open devices, the JSON dump. */
#include <stdio.h>
#include <stdlib.h>

#include "conformance.h"

CONF_TEST(properties_are_sane)
{
    const gpumem_device_properties *p = &conf_props;
    cr_assert_neq(p->name[0], '\0', "device name is empty");
    cr_assert_not_null(memchr(p->name, '\0', sizeof p->name), "device name is not terminated");
    cr_assert_not_null(memchr(p->backend, '\0', sizeof p->backend));
    cr_assert_str_eq(p->backend, conf_backend(), "properties.backend");
    cr_assert_eq(p->is_external, 0);
    const char *env_index = getenv("GPUMEM_DEVICE");
    cr_assert_eq(p->device_index, env_index && *env_index ? strtoul(env_index, NULL, 10) : 0);

    cr_assert(p->memory_type_count >= 1 && p->memory_type_count <= GPUMEM_MAX_MEMORY_TYPES,
              "memory_type_count %u", p->memory_type_count);
    cr_assert(p->memory_heap_count >= 1 && p->memory_heap_count <= GPUMEM_MAX_MEMORY_HEAPS,
              "memory_heap_count %u", p->memory_heap_count);
    for (uint32_t i = 0; i < p->memory_type_count; i++) {
        const gpumem_memory_type *t = &p->memory_types[i];
        cr_assert_eq(t->flags & ~(uint32_t)GPUMEM_MEMORY_FLAGS_ALL, 0,
                     "memory type %u has unknown flags 0x%x", i, t->flags);
        cr_assert_lt(t->heap_index, p->memory_heap_count, "memory type %u heap %u", i,
                     t->heap_index);
        /* coherent and cached describe host access: meaningless without host visibility */
        if (t->flags & (GPUMEM_MEMORY_HOST_COHERENT | GPUMEM_MEMORY_HOST_CACHED))
            cr_assert(t->flags & GPUMEM_MEMORY_HOST_VISIBLE,
                      "memory type %u is coherent/cached but not host-visible (0x%x)", i,
                      t->flags);
    }
    /* Core places buffers where fills and non-coherent atoms need them (gpumem.h). */
    cr_assert_geq(p->min_alignment, 4, "min_alignment %llu", (unsigned long long)p->min_alignment);
    for (uint32_t i = 0; i < p->memory_type_count; i++)
        if ((p->memory_types[i].flags & GPUMEM_MEMORY_HOST_VISIBLE) &&
            !(p->memory_types[i].flags & GPUMEM_MEMORY_HOST_COHERENT))
            cr_assert_geq(p->min_alignment, p->non_coherent_atom_size,
                          "memory type %u is not coherent: buffers must not share its atoms", i);
    for (uint32_t i = 0; i < p->memory_heap_count; i++) {
        const gpumem_memory_heap *h = &p->memory_heaps[i];
        cr_assert_gt(h->size, 0, "heap %u has size 0", i);
        cr_assert_gt(h->budget, 0, "heap %u has budget 0", i);
        cr_assert_eq(h->flags & ~(uint32_t)GPUMEM_MEMORY_DEVICE_LOCAL, 0, "heap %u flags 0x%x",
                     i, h->flags);
    }
    for (uint32_t i = p->memory_type_count; i < GPUMEM_MAX_MEMORY_TYPES; i++)
        cr_assert(p->memory_types[i].flags == 0 && p->memory_types[i].heap_index == 0,
                  "unused memory type %u is not zero", i);
    cr_assert(conf_is_power_of_two(p->min_alignment), "min_alignment %llu",
              (unsigned long long)p->min_alignment);
    cr_assert(conf_is_power_of_two(p->non_coherent_atom_size), "non_coherent_atom_size %llu",
              (unsigned long long)p->non_coherent_atom_size);
    cr_assert_geq(p->max_allocation_size, p->min_alignment);
    cr_assert(p->native_pools == 0 || p->native_pools == 1, "native_pools %u", p->native_pools);

    /* A second query gives the same static properties. */
    gpumem_device_properties again;
    OK(gpumem_device_properties_get(conf_dev, &again));
    cr_assert_str_eq(again.name, p->name);
    cr_assert_eq(again.memory_type_count, p->memory_type_count);
    cr_assert_eq(memcmp(again.memory_types, p->memory_types, sizeof p->memory_types), 0);
    cr_assert_eq(again.min_alignment, p->min_alignment);
    cr_assert_eq(gpumem_last_error()[0], '\0', "last error is not empty after a success");
}

CONF_TEST(backend_is_listed_and_available)
{
    gpumem_backend_info info;
    OK(gpumem_backend_find(conf_backend(), &info));
    cr_assert_str_eq(info.name, conf_backend());
    cr_assert_eq(info.available, 1, "opened, yet not available: %s", info.reason);
    cr_assert_geq(info.device_count, 1);
    cr_assert_eq(info.reason[0], '\0', "available with a reason: %s", info.reason);

    uint32_t count = 0, seen = 0;
    OK(gpumem_backend_count(&count));
    cr_assert_geq(count, 1);
    for (uint32_t i = 0; i < count; i++) {
        gpumem_backend_info b;
        OK(gpumem_backend_info_get(i, &b));
        cr_assert_neq(b.name[0], '\0');
        if (!b.available)
            cr_assert_neq(b.reason[0], '\0', "backend '%s' unavailable without a reason",
                          b.name);
        /* Once as available: a module of the same name found later in the search (an installed
         * copy of a module under test from GPUMEM_PLUGIN_PATH) is listed too, as refused. */
        seen += strcmp(b.name, conf_backend()) == 0 && b.available;
    }
    cr_assert_eq(seen, 1, "backend '%s' listed as available %u times", conf_backend(), seen);

    uint32_t devices = 0;
    OK(gpumem_device_count(NULL, &devices));
    cr_assert_eq(devices, info.device_count);
    OK(gpumem_device_count(conf_backend(), &devices));
    cr_assert_eq(devices, info.device_count);

    cr_assert_eq(gpumem_version(), GPUMEM_VERSION_MAJOR * 10000u + GPUMEM_VERSION_MINOR * 100u +
                                       GPUMEM_VERSION_PATCH);
}

CONF_TEST(device_native_and_default_stream)
{
    gpumem_external_device native;
    memset(&native, 0xAB, sizeof native);
    OK(gpumem_device_native(conf_dev, &native));
    if (strcmp(conf_backend(), "host") == 0) {
        cr_assert_eq(native.instance, 0);
        cr_assert_eq(native.device, 0);
        cr_assert_eq(native.physical_device, 0);
    } else if (strcmp(conf_backend(), "vulkan") == 0) {
        cr_assert_neq(native.instance, 0, "vulkan: no VkInstance");
        cr_assert_neq(native.physical_device, 0, "vulkan: no VkPhysicalDevice");
        cr_assert_neq(native.device, 0, "vulkan: no VkDevice");
        cr_assert_not_null(native.get_instance_proc_addr);
    }
    gpumem_stream a = NULL, b = NULL;
    OK(gpumem_device_default_stream(conf_dev, &a));
    OK(gpumem_device_default_stream(conf_dev, &b));
    cr_assert_not_null(a);
    cr_assert_eq(a, b, "the default stream changed");
    OK(gpumem_stream_synchronize(a));
}

/* --- memory type choice --- */

static uint32_t reference_type(const gpumem_device_properties *p, uint32_t required,
                               uint32_t preferred, int exact, uint64_t min_heap)
{
    uint32_t best = UINT32_MAX;
    int best_score = -1, best_extra = 0;
    for (uint32_t i = 0; i < p->memory_type_count; i++) {
        uint32_t f = p->memory_types[i].flags;
        if ((f & required) != required || (exact && f != required))
            continue;
        if (p->memory_heaps[p->memory_types[i].heap_index].size < min_heap)
            continue;
        int score = __builtin_popcount(f & preferred);
        int extra = __builtin_popcount(f & ~(required | preferred));
        if (score > best_score || (score == best_score && extra < best_extra)) {
            best = i;
            best_score = score;
            best_extra = extra;
        }
    }
    return best;
}

CONF_TEST(memory_type_find_follows_the_rules)
{
    uint64_t largest_heap = 0;
    for (uint32_t h = 0; h < conf_props.memory_heap_count; h++)
        if (conf_props.memory_heaps[h].size > largest_heap)
            largest_heap = conf_props.memory_heaps[h].size;
    const uint64_t heap_sizes[] = {0, 1, conf_props.memory_heaps[0].size, largest_heap,
                                   largest_heap + 1};
    unsigned found = 0;
    for (uint32_t required = 0; required <= GPUMEM_MEMORY_FLAGS_ALL; required++)
        for (uint32_t preferred = 0; preferred <= GPUMEM_MEMORY_FLAGS_ALL; preferred++)
            for (int exact = 0; exact < 2; exact++)
                for (size_t h = 0; h < sizeof heap_sizes / sizeof heap_sizes[0]; h++) {
                    uint32_t expected = reference_type(&conf_props, required, preferred, exact,
                                                       heap_sizes[h]);
                    uint32_t type = 12345;
                    gpumem_result r = gpumem_memory_type_find(
                        &conf_props, required, preferred, exact ? GPUMEM_MEMORY_TYPE_EXACT : 0,
                        heap_sizes[h], &type);
                    if (expected == UINT32_MAX) {
                        cr_assert_eq(r, GPUMEM_ERROR_NOT_FOUND,
                                     "required 0x%x preferred 0x%x exact %d heap %llu: %s, "
                                     "type %u",
                                     required, preferred, exact,
                                     (unsigned long long)heap_sizes[h],
                                     gpumem_result_string(r), type);
                        cr_assert_eq(type, 12345, "output written on failure");
                        cr_assert_neq(gpumem_last_error()[0], '\0');
                    } else {
                        cr_assert_eq(r, GPUMEM_OK, "required 0x%x preferred 0x%x: %s (%s)",
                                     required, preferred, gpumem_result_string(r),
                                     gpumem_last_error());
                        cr_assert_eq(type, expected,
                                     "required 0x%x preferred 0x%x exact %d heap %llu: got "
                                     "type %u (0x%x), expected %u (0x%x)",
                                     required, preferred, exact,
                                     (unsigned long long)heap_sizes[h], type,
                                     conf_type_flags(type), expected, conf_type_flags(expected));
                        found++;
                    }
                }
    cr_assert_gt(found, 0);
    /* Every type is found by its own exact flags (or by one with the same flags before it). */
    for (uint32_t i = 0; i < conf_props.memory_type_count; i++) {
        uint32_t type;
        OK(gpumem_memory_type_find(&conf_props, conf_type_flags(i), 0, GPUMEM_MEMORY_TYPE_EXACT,
                                   0, &type));
        cr_assert_eq(conf_type_flags(type), conf_type_flags(i));
        cr_assert_leq(type, i);
    }
}

CONF_TEST(pool_chooses_the_memory_type_of_memory_type_find)
{
    const uint64_t page = 1 << 20;
    for (uint32_t required = 0; required <= GPUMEM_MEMORY_FLAGS_ALL; required++)
        for (uint32_t preferred = 0; preferred <= GPUMEM_MEMORY_FLAGS_ALL; preferred += 3)
            for (int exact = 0; exact < 2; exact++) {
                uint32_t expected = reference_type(&conf_props, required, preferred, exact, page);
                gpumem_pool_desc desc = {
                    .flags = exact ? GPUMEM_POOL_EXACT_MATCH : 0,
                    .required_flags = required,
                    .preferred_flags = preferred,
                    .page_size = page,
                };
                gpumem_pool pool = NULL;
                gpumem_result r = gpumem_pool_create(conf_dev, &desc, &pool);
                if (expected == UINT32_MAX) {
                    cr_assert_eq(r, GPUMEM_ERROR_NOT_FOUND,
                                 "required 0x%x preferred 0x%x exact %d: %s", required,
                                 preferred, exact, gpumem_result_string(r));
                    cr_assert_null(pool, "output written on failure");
                    cr_assert_neq(gpumem_last_error()[0], '\0');
                    continue;
                }
                cr_assert_eq(r, GPUMEM_OK, "required 0x%x preferred 0x%x exact %d: %s (%s)",
                             required, preferred, exact, gpumem_result_string(r),
                             gpumem_last_error());
                gpumem_pool_stats stats;
                OK(gpumem_pool_stats_get(pool, &stats));
                cr_assert_eq(stats.memory_type, expected,
                             "required 0x%x preferred 0x%x exact %d: pool took type %u, "
                             "expected %u",
                             required, preferred, exact, stats.memory_type, expected);
                cr_assert_eq(stats.kind, GPUMEM_POOL_PAGED);
                if (required == 0 && preferred == 0 && !exact) {
                    gpumem_buffer b = conf_buffer(pool, 100, 0);
                    gpumem_buffer_info info;
                    OK(gpumem_buffer_info_get(b, &info));
                    cr_assert_eq(info.memory_type, expected);
                }
                OK(gpumem_pool_destroy(pool));
            }
}

/* --- several devices --- */

CONF_TEST(several_devices_are_independent)
{
    gpumem_device second = NULL;
    OK(conf_open(&second));
    cr_assert_neq(second, conf_dev, "the second open returned the same handle");
    gpumem_device_properties p2;
    OK(gpumem_device_properties_get(second, &p2));
    cr_assert_str_eq(p2.backend, conf_props.backend);
    cr_assert_str_eq(p2.name, conf_props.name);

    gpumem_pool_desc d1 = {.page_size = 1 << 20, .name = "first-device-pool"};
    gpumem_pool_desc d2 = {.page_size = 1 << 20, .name = "second-device-pool"};
    gpumem_pool pool1, pool2;
    OK(gpumem_pool_create(conf_dev, &d1, &pool1));
    OK(gpumem_pool_create(second, &d2, &pool2));
    enum { N = 100000 };
    uint8_t *a = conf_alloc(N), *b = conf_alloc(N), *out = conf_alloc(N);
    conf_pattern(a, N, 1);
    conf_pattern(b, N, 2);
    gpumem_buffer b1 = conf_buffer(pool1, N, 0), b2 = conf_buffer(pool2, N, 0);
    OK(gpumem_buffer_write(b1, 0, a, N));
    OK(gpumem_buffer_write(b2, 0, b, N));

    /* A buffer of one device with a stream of the other is refused. */
    gpumem_stream s2;
    OK(gpumem_stream_create(second, &s2));
    FAILS(gpumem_stream_write(s2, b1, 0, a, N), GPUMEM_ERROR_INVALID_ARGUMENT);

    /* Dumps show each device's own pools only. */
    char *json = conf_device_text(gpumem_device_dump_json);
    cr_assert_not_null(strstr(json, "first-device-pool"));
    cr_assert_null(strstr(json, "second-device-pool"), "device 1's dump shows device 2's pool");
    free(json);

    OK(gpumem_device_close(second));
    FAILS(gpumem_buffer_read(b2, 0, out, N), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_pool_stats_get(pool2, &(gpumem_pool_stats){0}), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_stream_synchronize(s2), GPUMEM_ERROR_DESTROYED);

    /* The first device did not notice. */
    OK(gpumem_buffer_read(b1, 0, out, N));
    ASSERT_BYTES(out, a, N);
    gpumem_pool_stats stats;
    OK(gpumem_pool_stats_get(pool1, &stats));
    cr_assert_eq(stats.allocation_count, 1);
    free(a);
    free(b);
    free(out);
}

/* --- JSON dump --- */

/* A small JSON checker: the dump must be one well-formed value. */
typedef struct json_cursor {
    const char *p;
    int depth;
} json_cursor;

static int json_value(json_cursor *c);

static void json_space(json_cursor *c)
{
    while (*c->p == ' ' || *c->p == '\n' || *c->p == '\t' || *c->p == '\r')
        c->p++;
}

static int json_string(json_cursor *c)
{
    if (*c->p != '"')
        return 0;
    for (c->p++; *c->p != '"'; c->p++) {
        if ((unsigned char)*c->p < 0x20)
            return 0;
        if (*c->p == '\\') {
            c->p++;
            if (*c->p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", c->p[i]) || !c->p[i])
                        return 0;
                c->p += 4;
            } else if (!*c->p || !strchr("\"\\/bfnrt", *c->p)) {
                return 0;
            }
        }
    }
    c->p++;
    return 1;
}

static int json_number(json_cursor *c)
{
    const char *start = c->p;
    if (*c->p == '-')
        c->p++;
    while ((*c->p >= '0' && *c->p <= '9') || *c->p == '.' || *c->p == 'e' || *c->p == 'E' ||
           *c->p == '+' || *c->p == '-')
        c->p++;
    return c->p > start && (start[0] != '-' || c->p > start + 1);
}

static int json_members(json_cursor *c, char close, int object)
{
    c->p++;
    json_space(c);
    if (*c->p == close) {
        c->p++;
        return 1;
    }
    for (;;) {
        json_space(c);
        if (object) {
            if (!json_string(c))
                return 0;
            json_space(c);
            if (*c->p++ != ':')
                return 0;
        }
        if (!json_value(c))
            return 0;
        json_space(c);
        if (*c->p == close) {
            c->p++;
            return 1;
        }
        if (*c->p++ != ',')
            return 0;
    }
}

static int json_value(json_cursor *c)
{
    json_space(c);
    if (++c->depth > 64)
        return 0;
    int ok;
    if (*c->p == '{')
        ok = json_members(c, '}', 1);
    else if (*c->p == '[')
        ok = json_members(c, ']', 0);
    else if (*c->p == '"')
        ok = json_string(c);
    else if (!strncmp(c->p, "true", 4) || !strncmp(c->p, "null", 4))
        ok = (c->p += 4, 1);
    else if (!strncmp(c->p, "false", 5))
        ok = (c->p += 5, 1);
    else
        ok = json_number(c);
    c->depth--;
    return ok;
}

/* Index of the first byte that breaks UTF-8, or -1. */
static ptrdiff_t bad_utf8_at(const char *text)
{
    const unsigned char *p = (const unsigned char *)text;
    for (const unsigned char *q = p; *q;) {
        int n = *q < 0x80 ? 0 : (*q & 0xE0) == 0xC0 ? 1 : (*q & 0xF0) == 0xE0 ? 2
              : (*q & 0xF8) == 0xF0 ? 3 : -1;
        if (n < 0 || (n == 1 && *q < 0xC2))
            return q - p;
        for (int i = 1; i <= n; i++)
            if ((q[i] & 0xC0) != 0x80)
                return q - p;
        q += n + 1;
    }
    return -1;
}

static void assert_json(const char *text)
{
    ptrdiff_t bad = bad_utf8_at(text);
    cr_assert_eq(bad, -1, "the dump is not UTF-8 at byte %td (0x%02x), before: %.40s", bad,
                 bad >= 0 ? (unsigned char)text[bad] : 0, text + (bad >= 0 ? bad + 1 : 0));
    json_cursor c = {text, 0};
    int ok = json_value(&c);
    json_space(&c);
    cr_assert(ok && *c.p == '\0', "the dump is not well-formed JSON near offset %td: %.60s",
              c.p - text, c.p);
}

static char *dump(gpumem_device device, uint64_t *length_out)
{
    uint64_t length = 0;
    OK(gpumem_device_dump_json(device, NULL, 0, &length));
    cr_assert_gt(length, 1);
    char *json = conf_alloc(length + 1);
    memset(json, 'x', length + 1);
    uint64_t again = 0;
    OK(gpumem_device_dump_json(device, json, length + 1, &again));
    cr_assert_eq(again, length, "length %llu, then %llu", (unsigned long long)length,
                 (unsigned long long)again);
    cr_assert_eq(json[length], '\0', "not terminated at its length");
    cr_assert_eq(strlen(json), length);
    *length_out = length;
    return json;
}

CONF_TEST(dump_json)
{
    gpumem_pool_desc desc = {.page_size = 1 << 20, .name = "conformance-dump-pool-7"};
    gpumem_pool pool;
    OK(gpumem_pool_create(conf_dev, &desc, &pool));
    gpumem_buffer b1 = conf_buffer(pool, 1000, 0);
    gpumem_buffer b2 = conf_buffer(pool, 3 << 20, 0); /* a dedicated page */
    (void)b1;
    (void)b2;

    uint64_t length;
    char *json = dump(conf_dev, &length);
    cr_assert_eq(json[0], '{', "the dump starts with '%c'", json[0]);
    cr_assert_not_null(strstr(json, "\"conformance-dump-pool-7\""), "pool name missing: %s",
                       json);
    cr_assert_not_null(strstr(json, conf_backend()));
    assert_json(json);

    /* Too small: the text's length is still reported. */
    char small[8];
    uint64_t reported = 0;
    FAILS(gpumem_device_dump_json(conf_dev, json, length, &reported),
          GPUMEM_ERROR_INSUFFICIENT_BUFFER);
    cr_assert_eq(reported, length);
    FAILS(gpumem_device_dump_json(conf_dev, small, sizeof small, &reported),
          GPUMEM_ERROR_INSUFFICIENT_BUFFER);
    cr_assert_eq(reported, length);
    free(json);

    /* The pool and its buffers go away from the dump with the pool. */
    OK(gpumem_pool_destroy(pool));
    json = dump(conf_dev, &length);
    cr_assert_null(strstr(json, "conformance-dump-pool-7"), "destroyed pool still dumped");
    assert_json(json);
    free(json);
}

CONF_TEST(dump_json_escapes_names)
{
    gpumem_pool_desc desc = {.page_size = 1 << 20, .name = "quote\" back\\slash\ttab\x01"};
    gpumem_pool pool;
    OK(gpumem_pool_create(conf_dev, &desc, &pool));
    conf_buffer(pool, 64, 0);
    uint64_t length;
    char *json = dump(conf_dev, &length);
    assert_json(json);
    cr_assert_not_null(strstr(json, "quote\\\" back\\\\slash"), "name not escaped: %s", json);
    free(json);
}

/* Many buffers, dedicated pages, mappings, several pools: still one well-formed value, with
 * the numbers the statistics give. */
CONF_TEST(dump_json_of_a_busy_device)
{
    uint32_t visible = conf_host_visible_type();
    gpumem_pool a = conf_pool(1 << 20);
    gpumem_pool b = conf_type_pool(visible, 1 << 20, GPUMEM_POOL_PERSISTENT_MAP, "busy-mapped");
    gpumem_buffer buffers[120];
    for (int i = 0; i < 120; i++)
        buffers[i] = conf_buffer(i % 2 ? a : b, 1 + (uint64_t)i * 997 % 300000, 1u << (i % 10));
    for (int i = 0; i < 120; i += 3)
        OK(gpumem_buffer_destroy(buffers[i]));
    void *p;
    OK(gpumem_buffer_map(buffers[2], &p)); /* of the host-visible pool */
    uint64_t length;
    char *json = dump(conf_dev, &length);
    assert_json(json);
    cr_assert_not_null(strstr(json, "busy-mapped"));
    gpumem_pool_stats s;
    OK(gpumem_pool_stats_get(a, &s));
    char needle[64];
    snprintf(needle, sizeof needle, "\"used_bytes\":%llu", (unsigned long long)s.used_bytes);
    cr_assert_not_null(strstr(json, needle), "the dump lacks %s", needle);
    free(json);
    OK(gpumem_buffer_unmap(buffers[2]));
}

/* Names are copied into GPUMEM_NAME_SIZE bytes; one cut inside a UTF-8 sequence must not make
 * the dump invalid UTF-8 (JSON text is UTF-8; tools in Python reject it otherwise). */
CONF_TEST(dump_json_long_utf8_name)
{
    char name[GPUMEM_NAME_SIZE * 2] = "";
    /* 62 ASCII bytes, then two-byte characters: the cut at 63 bytes falls inside one. */
    memset(name, 'n', GPUMEM_NAME_SIZE - 2);
    for (int i = 0; i < 10; i++)
        strcat(name, "\xc3\xa9"); /* e with an acute accent */
    gpumem_pool_desc desc = {.page_size = 1 << 20, .name = name};
    gpumem_pool pool;
    OK(gpumem_pool_create(conf_dev, &desc, &pool));
    /* A buffer's name is cut as a pool's: before the character the limit falls in. */
    gpumem_buffer buffer;
    OK(gpumem_buffer_create(pool, &(gpumem_buffer_desc){.size = 64, .name = name}, &buffer));
    char kept[GPUMEM_NAME_SIZE];
    OK(gpumem_buffer_name(buffer, kept, sizeof kept));
    cr_assert_eq(strlen(kept), GPUMEM_NAME_SIZE - 2, "a cut inside a character: %zu bytes kept",
                 strlen(kept));
    cr_assert_eq(strncmp(kept, name, GPUMEM_NAME_SIZE - 2), 0);
    uint64_t length;
    char *json = dump(conf_dev, &length);
    assert_json(json);
    cr_assert_null(strstr(json, "\\ufffd"), "a cut name shows a replacement character: %s",
                   json);
    free(json);
}

/* A name that is not UTF-8 (Latin-1, stray continuation bytes, an overlong form, a surrogate)
 * still dumps as valid JSON: each byte that is not well-formed UTF-8 becomes U+FFFD. */
CONF_TEST(dump_json_name_that_is_not_utf8)
{
    gpumem_pool_desc desc = {.page_size = 1 << 20,
                             .name = "gr\xf6\xdf" "e \x80\xbf \xc0\xaf \xed\xa0\x80 ok\xc3\xa9"};
    gpumem_pool pool;
    OK(gpumem_pool_create(conf_dev, &desc, &pool));
    uint64_t length;
    char *json = dump(conf_dev, &length);
    assert_json(json);
    cr_assert_not_null(strstr(json, "\"gr\\ufffd\\ufffde \\ufffd\\ufffd \\ufffd\\ufffd "
                                    "\\ufffd\\ufffd\\ufffd ok\xc3\xa9\""),
                       "the name is not replaced byte by byte: %s", json);
    free(json);
}
