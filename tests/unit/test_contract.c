/* What core checks of a backend, and how it reports a backend's failures. Each test registers a
 * copy of the host module's table with one operation changed, as a backend written from the
 * docs might be, and opens that backend. Criterion runs each test in a process of its own. */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpumem/backend.h"

static gpumem_backend_vtable host; /* the host module's own table */
static gpumem_backend_vtable table;

/* Loads the host module's table, the way an application loads an out-of-tree backend. */
static void load_host(void)
{
    gpumem_backend_info info;
    cr_assert_eq(gpumem_backend_find("host", &info), GPUMEM_OK, "%s", gpumem_last_error());
    cr_assert(info.is_module, "the host backend is a module in the build tree");
    void *module = dlopen(info.module_path, RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(module, "%s", dlerror());
    gpumem_backend_entry_fn entry;
    *(void **)&entry = dlsym(module, GPUMEM_BACKEND_ENTRY_NAME);
    cr_assert_not_null(entry);
    host = *entry();
    table = host;
}

static gpumem_device open_as(const char *name)
{
    table.name = name;
    cr_assert_eq(gpumem_backend_register(&table), GPUMEM_OK, "%s", gpumem_last_error());
    gpumem_device dev;
    gpumem_device_desc desc = {.backend = name};
    cr_assert_eq(gpumem_device_open(&desc, &dev), GPUMEM_OK, "%s", gpumem_last_error());
    return dev;
}

static void expect_message(const char *function, const char *a, const char *b)
{
    const char *m = gpumem_last_error();
    cr_expect(strncmp(m, function, strlen(function)) == 0 && m[strlen(function)] == ':',
              "the message names %s first: %s", function, m);
    cr_expect(strstr(m, a) && (!b || strstr(m, b)), "'%s'%s%s in: %s", a, b ? " and " : "",
              b ? b : "", m);
}

/* --- page addresses (backend.h: a multiple of min_alignment, room for the page) --- */

static uint64_t misaligned_address(gpumem_backend_device *d, gpumem_backend_page *p)
{
    return host.page_address(d, p) + 8; /* the host's min_alignment is 64 */
}

static uint64_t wrapping_address(gpumem_backend_device *d, gpumem_backend_page *p)
{
    return UINT64_MAX - 4095; /* aligned, but the page would wrap around */
}

/* Core places buffers by the page's address; a wrong one would give every buffer a wrong range,
 * so core refuses the page and names the backend and the operation. */
static void page_address_refused(uint64_t (*address)(gpumem_backend_device *,
                                                     gpumem_backend_page *),
                                 const char *name)
{
    load_host();
    table.page_address = address;
    gpumem_device dev = open_as(name);
    gpumem_pool pool;
    cr_assert_eq(gpumem_pool_create(dev, NULL, &pool), GPUMEM_OK, "%s", gpumem_last_error());
    const uint64_t sizes[] = {100, 64ull << 20}; /* a shared page, a page of its own */
    for (int i = 0; i < 2; i++) {
        gpumem_buffer b;
        gpumem_buffer_desc bd = {.size = sizes[i]};
        cr_assert_eq(gpumem_buffer_create(pool, &bd, &b), GPUMEM_ERROR_BACKEND);
        char backend[64];
        snprintf(backend, sizeof backend, "backend '%s'", name);
        expect_message("gpumem_buffer_create", backend, "page_allocate");
        cr_expect(strstr(gpumem_last_error(), "min_alignment"), "%s", gpumem_last_error());
    }
    gpumem_pool_stats stats;
    cr_assert_eq(gpumem_pool_stats_get(pool, &stats), GPUMEM_OK);
    cr_expect_eq(stats.reserved_bytes, 0, "the refused pages were given back");
    cr_expect_eq(stats.page_count, 0);
    cr_assert_eq(gpumem_device_close(dev), GPUMEM_OK);
}

Test(contract, misaligned_page_address_is_refused)
{
    page_address_refused(misaligned_address, "misaligned");
}

Test(contract, page_address_that_wraps_is_refused)
{
    page_address_refused(wrapping_address, "wrapping");
}

static gpumem_result null_map(gpumem_backend_device *d, gpumem_backend_page *p, void **data)
{
    *data = NULL;
    return GPUMEM_OK;
}

Test(contract, null_mapping_is_refused)
{
    load_host();
    table.page_map = null_map;
    gpumem_device dev = open_as("nullmap");
    gpumem_pool pool;
    cr_assert_eq(gpumem_pool_create(dev, NULL, &pool), GPUMEM_OK);
    gpumem_buffer b;
    gpumem_buffer_desc bd = {.size = 100};
    cr_assert_eq(gpumem_buffer_create(pool, &bd, &b), GPUMEM_OK);
    void *p = (void *)1;
    cr_assert_eq(gpumem_buffer_map(b, &p), GPUMEM_ERROR_BACKEND);
    expect_message("gpumem_buffer_map", "backend 'nullmap'", "NULL mapping");
    cr_expect_eq(p, (void *)1, "no output on failure");
    gpumem_buffer_info info;
    cr_assert_eq(gpumem_buffer_info_get(b, &info), GPUMEM_OK);
    cr_expect_eq(info.mapped, 0);
    cr_assert_eq(gpumem_device_close(dev), GPUMEM_OK);
}

/* --- failures deep inside a transfer are the public call's --- */

static gpumem_result failing_copy(gpumem_backend_device *d, gpumem_backend_stream *s,
                                  gpumem_backend_page *src, uint64_t so, gpumem_backend_page *dst,
                                  uint64_t dof, uint64_t n)
{
    return gpumem_backend_error(GPUMEM_ERROR_BACKEND, "copy_page_to_page: injected failure");
}

/* With every transfer staged, a failing device copy fails the public call the application
 * made, named as such, with the backend's own message (it was once "staging: ..."). */
Test(contract, staged_failures_name_the_public_call)
{
    setenv("GPUMEM_STAGING", "always", 1);
    load_host();
    table.copy_page_to_page = failing_copy;
    table.fill = NULL; /* fills are staged too */
    gpumem_device dev = open_as("failingcopy");
    gpumem_pool pool;
    cr_assert_eq(gpumem_pool_create(dev, NULL, &pool), GPUMEM_OK);
    gpumem_buffer b;
    gpumem_buffer_desc bd = {.size = 1 << 20};
    cr_assert_eq(gpumem_buffer_create(pool, &bd, &b), GPUMEM_OK);
    gpumem_stream s;
    cr_assert_eq(gpumem_stream_create(dev, &s), GPUMEM_OK);
    static char data[1 << 20];
    cr_assert_eq(gpumem_buffer_write(b, 0, data, sizeof data), GPUMEM_ERROR_BACKEND);
    expect_message("gpumem_buffer_write", "copy_page_to_page: injected failure", NULL);
    cr_assert_eq(gpumem_buffer_read(b, 0, data, sizeof data), GPUMEM_ERROR_BACKEND);
    expect_message("gpumem_buffer_read", "copy_page_to_page: injected failure", NULL);
    cr_assert_eq(gpumem_stream_write(s, b, 0, data, 4096), GPUMEM_ERROR_BACKEND);
    expect_message("gpumem_stream_write", "copy_page_to_page: injected failure", NULL);
    cr_assert_eq(gpumem_stream_read(s, b, 0, data, 4096), GPUMEM_ERROR_BACKEND);
    expect_message("gpumem_stream_read", "copy_page_to_page: injected failure", NULL);
    cr_assert_eq(gpumem_buffer_fill(b, 0, 4096, 7), GPUMEM_ERROR_BACKEND);
    expect_message("gpumem_buffer_fill", "copy_page_to_page: injected failure", NULL);
    /* The next call that succeeds clears the message. */
    gpumem_buffer_info info;
    cr_assert_eq(gpumem_buffer_info_get(b, &info), GPUMEM_OK);
    cr_expect_str_eq(gpumem_last_error(), "");
    cr_assert_eq(gpumem_device_close(dev), GPUMEM_OK);
}
