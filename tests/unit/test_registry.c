/* The registry: built-in and module backends, refused modules, in-process registration, and
 * how GPUMEM_BACKEND and GPUMEM_DEVICE choose. Criterion runs each test in its own process,
 * so each one sees a fresh registry built from the environment it sets. */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <sys/mman.h>
#include <unistd.h>
#include <string.h>

#include "gpumem/backend.h"

static gpumem_backend_info info_of(const char *name)
{
    gpumem_backend_info info;
    gpumem_result r = gpumem_backend_find(name, &info);
    cr_assert_eq(r, GPUMEM_OK, "%s: %s", name, gpumem_last_error());
    return info;
}

Test(registry, host_module_replaces_the_built_in_host)
{
    gpumem_backend_info host = info_of("host");
    cr_assert(host.available);
    cr_assert_eq(host.device_count, 1);
    cr_assert(host.is_module, "libgpumem-host.so next to libgpumem should replace the built-in");
    cr_assert(strstr(host.module_path, "libgpumem-host.so"), "%s", host.module_path);
}

Test(registry, module_of_another_abi_is_listed_and_refused)
{
    setenv("GPUMEM_PLUGIN_PATH", BAD_MODULES_DIR, 1);
    gpumem_backend_info bad = info_of("badabi");
    cr_assert_not(bad.available);
    cr_assert(bad.is_module);
    char version[32]; /* the fixture says it was built for the version after this header's */
    snprintf(version, sizeof version, "table version %u", GPUMEM_BACKEND_VERSION + 1);
    cr_assert(strstr(bad.reason, version), "%s", bad.reason);
    gpumem_device_desc desc = {.backend = "badabi"};
    gpumem_device dev;
    cr_assert_eq(gpumem_device_open(&desc, &dev), GPUMEM_ERROR_ABI_MISMATCH,
                 "a module of an unknown table version: the documented code");
    cr_assert(strstr(gpumem_last_error(), version), "%s", gpumem_last_error());
    cr_assert(strstr(gpumem_last_error(), "available backends: host"), "%s",
              gpumem_last_error());
}

Test(registry, module_missing_an_operation_names_it)
{
    setenv("GPUMEM_PLUGIN_PATH", BAD_MODULES_DIR, 1);
    gpumem_backend_info bad = info_of("incomplete");
    cr_assert_not(bad.available);
    cr_assert(strstr(bad.reason, "lacks the required operation 'device_open'"), "%s",
              bad.reason);
    cr_assert(info_of("host").available, "a refused module must not disturb the others");
}

/* The host module's table, loaded the way an application would load an out-of-tree one. */
static gpumem_backend_vtable host_table_copy(void)
{
    gpumem_backend_info host = info_of("host");
    void *module = dlopen(host.module_path, RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(module, "%s", dlerror());
    gpumem_backend_entry_fn entry;
    *(void **)&entry = dlsym(module, GPUMEM_BACKEND_ENTRY_NAME);
    cr_assert_not_null(entry);
    return *entry();
}

Test(registry, register_checks_the_table)
{
    static gpumem_backend_vtable table;
    table = host_table_copy();
    table.name = "host";
    cr_assert_eq(gpumem_backend_register(&table), GPUMEM_ERROR_INVALID_ARGUMENT);
    cr_assert(strstr(gpumem_last_error(), "already registered"), "%s", gpumem_last_error());
    table.name = "Bad Name";
    cr_assert_eq(gpumem_backend_register(&table), GPUMEM_ERROR_INVALID_ARGUMENT);
    table.name = "copy";
    table.copy_page_to_page = NULL;
    cr_assert_eq(gpumem_backend_register(&table), GPUMEM_ERROR_INVALID_ARGUMENT);
    cr_assert(strstr(gpumem_last_error(), "'copy_page_to_page'"), "%s", gpumem_last_error());
    table = host_table_copy();
    table.version = 0;
    cr_assert_eq(gpumem_backend_register(&table), GPUMEM_ERROR_ABI_MISMATCH);
    table = host_table_copy();
    table.version = GPUMEM_BACKEND_VERSION + 1;
    cr_assert_eq(gpumem_backend_register(&table), GPUMEM_ERROR_ABI_MISMATCH);
    cr_assert(strstr(gpumem_last_error(), "version"), "%s", gpumem_last_error());
    cr_assert_eq(gpumem_backend_register(NULL), GPUMEM_ERROR_INVALID_ARGUMENT);
}

/* page_map is required only of a device with host-visible memory: the table registers, and
 * the device refuses to open, naming what it lacks. */
Test(registry, host_visible_memory_needs_page_map)
{
    static gpumem_backend_vtable table;
    table = host_table_copy();
    table.name = "nomap";
    table.page_map = NULL;
    cr_assert_eq(gpumem_backend_register(&table), GPUMEM_OK, "%s", gpumem_last_error());
    gpumem_device dev;
    gpumem_device_desc desc = {.backend = "nomap"};
    cr_assert_eq(gpumem_device_open(&desc, &dev), GPUMEM_ERROR_BACKEND);
    cr_assert(strstr(gpumem_last_error(), "host-visible but has no page_map"), "%s",
              gpumem_last_error());
}

Test(registry, registered_backend_works_and_absent_optional_ops_are_filled)
{
    unsetenv("GPUMEM_BACKEND");
    static gpumem_backend_vtable table;
    table = host_table_copy();
    table.name = "copy";
    table.priority = 1000; /* above every real backend */
    /* Without these, core must map to write and read, and fill through the mapping. */
    table.copy_host_to_page = NULL;
    table.copy_page_to_host = NULL;
    table.fill = NULL;
    cr_assert_eq(gpumem_backend_register(&table), GPUMEM_OK, "%s", gpumem_last_error());
    gpumem_device dev;
    cr_assert_eq(gpumem_device_open(NULL, &dev), GPUMEM_OK, "%s", gpumem_last_error());
    gpumem_device_properties props;
    cr_assert_eq(gpumem_device_properties_get(dev, &props), GPUMEM_OK);
    cr_assert_str_eq(props.backend, "copy", "the highest priority backend is chosen");
    gpumem_pool pool;
    cr_assert_eq(gpumem_pool_create(dev, NULL, &pool), GPUMEM_OK);
    gpumem_buffer buf;
    gpumem_buffer_desc bd = {.size = 4096};
    cr_assert_eq(gpumem_buffer_create(pool, &bd, &buf), GPUMEM_OK);
    cr_assert_eq(gpumem_buffer_fill(buf, 0, 4096, 0xabababab), GPUMEM_OK, "%s",
                 gpumem_last_error());
    char out[4096];
    cr_assert_eq(gpumem_buffer_read(buf, 0, out, sizeof out), GPUMEM_OK);
    for (int i = 0; i < 4096; i++)
        cr_assert_eq((unsigned char)out[i], 0xab);
    cr_assert_eq(gpumem_device_close(dev), GPUMEM_OK);
}

Test(registry, unknown_backend_lists_the_available_ones)
{
    setenv("GPUMEM_BACKEND", "nosuch", 1);
    gpumem_device dev;
    cr_assert_eq(gpumem_device_open(NULL, &dev), GPUMEM_ERROR_NOT_FOUND);
    cr_assert(strstr(gpumem_last_error(), "unknown backend 'nosuch'"), "%s",
              gpumem_last_error());
    cr_assert(strstr(gpumem_last_error(), "available backends: host"), "%s",
              gpumem_last_error());
    gpumem_device_desc desc = {.backend = "alsonot"};
    cr_assert_eq(gpumem_device_open(&desc, &dev), GPUMEM_ERROR_NOT_FOUND);
}

Test(registry, preference_list_takes_the_first_available)
{
    setenv("GPUMEM_PLUGIN_PATH", BAD_MODULES_DIR, 1);
    setenv("GPUMEM_BACKEND", "badabi,host", 1);
    gpumem_device dev;
    cr_assert_eq(gpumem_device_open(NULL, &dev), GPUMEM_OK, "%s", gpumem_last_error());
    gpumem_device_close(dev);
    setenv("GPUMEM_BACKEND", "badabi", 1);
    cr_assert_eq(gpumem_device_open(NULL, &dev), GPUMEM_ERROR_ABI_MISMATCH);
    cr_assert(strstr(gpumem_last_error(), "GPUMEM_BACKEND"), "%s", gpumem_last_error());
}

Test(registry, device_index_from_env_and_desc)
{
    gpumem_device dev;
    setenv("GPUMEM_DEVICE", "3", 1);
    cr_assert_eq(gpumem_device_open(NULL, &dev), GPUMEM_ERROR_NOT_FOUND);
    cr_assert(strstr(gpumem_last_error(), "no device 3"), "%s", gpumem_last_error());
    setenv("GPUMEM_DEVICE", "x1", 1);
    cr_assert_eq(gpumem_device_open(NULL, &dev), GPUMEM_ERROR_INVALID_ARGUMENT);
    gpumem_device_desc desc = {.flags = GPUMEM_DEVICE_OPEN_INDEX, .device_index = 0};
    cr_assert_eq(gpumem_device_open(&desc, &dev), GPUMEM_OK, "the desc's index wins");
    gpumem_device_close(dev);
    unsetenv("GPUMEM_DEVICE");
    cr_assert_eq(gpumem_device_open(NULL, &dev), GPUMEM_OK);
    gpumem_device_close(dev);
}

Test(registry, backend_list_is_complete)
{
    setenv("GPUMEM_PLUGIN_PATH", BAD_MODULES_DIR, 1);
    uint32_t n = 0;
    cr_assert_eq(gpumem_backend_count(&n), GPUMEM_OK);
    int seen = 0;
    for (uint32_t i = 0; i < n; i++) {
        gpumem_backend_info info;
        cr_assert_eq(gpumem_backend_info_get(i, &info), GPUMEM_OK);
        seen += !strcmp(info.name, "host") + !strcmp(info.name, "badabi") +
                !strcmp(info.name, "incomplete");
    }
    cr_assert_eq(seen, 3);
    gpumem_backend_info info;
    cr_assert_eq(gpumem_backend_info_get(n, &info), GPUMEM_ERROR_NOT_FOUND);
}

Test(registry, backend_helpers_survive_a_null_format)
{
    cr_assert_eq(gpumem_backend_error(GPUMEM_ERROR_BACKEND, NULL), GPUMEM_ERROR_BACKEND);
    gpumem_backend_log(GPUMEM_LOG_ERROR, NULL);
    gpumem_backend_log(99, "an unknown level is printed as an error");
}

/* --- a log callback that calls gpumem from every message ---
 * Every message reaches the callback with no lock of gpumem's held, however it is sent: the
 * registry's own warnings at its first fill (a bad environment value), a backend's messages
 * from its probe and its device open (under the registry's entry lock, in a call with no
 * read-side section). The callback calls the registry back on each, which would wait forever
 * on a lock its own thread held (the test's timeout), and notes a message that arrives while
 * the backend is still inside its probe or open. */
static _Thread_local int inside_backend;
static int messages, inside_when_called, env_warnings, chatty_messages;

static void calls_back(void *user, int32_t level, const char *message)
{
    (void)user;
    (void)level;
    messages++;
    inside_when_called += inside_backend;
    env_warnings += strstr(message, "GPUMEM_STAGING='bogus'") != NULL;
    chatty_messages += strstr(message, "chatty: from its") != NULL;
    uint32_t count;
    gpumem_backend_info info;
    cr_assert_eq(gpumem_backend_count(&count), GPUMEM_OK);
    (void)gpumem_backend_find("chatty", &info); /* takes the entry's lock */
}

static gpumem_backend_vtable chatty_real, chatty;

static gpumem_result chatty_probe(uint32_t *device_count, char *reason, size_t reason_size)
{
    inside_backend = 1;
    gpumem_backend_log(GPUMEM_LOG_WARNING, "chatty: from its probe");
    gpumem_result r = chatty_real.probe(device_count, reason, reason_size);
    inside_backend = 0;
    return r;
}

static gpumem_result chatty_open(uint32_t index, const gpumem_external_device *external,
                                 gpumem_backend_device **device)
{
    inside_backend = 1;
    gpumem_backend_log(GPUMEM_LOG_WARNING, "chatty: from its device open");
    gpumem_result r = chatty_real.device_open(index, external, device);
    inside_backend = 0;
    return r;
}

Test(registry, a_log_callback_may_call_gpumem_from_any_message, .timeout = 30)
{
    unsetenv("GPUMEM_BACKEND");
    setenv("GPUMEM_STAGING", "bogus", 1); /* warned about at the registry's first fill */
    gpumem_log_set_callback(calls_back, NULL);
    chatty_real = chatty = host_table_copy(); /* the first call: the fill */
    chatty.name = "chatty";
    chatty.priority = 0;
    chatty.probe = chatty_probe;
    chatty.device_open = chatty_open;
    cr_assert_eq(gpumem_backend_register(&chatty), GPUMEM_OK, "%s", gpumem_last_error());
    gpumem_device device;
    gpumem_device_desc desc = {.backend = "chatty"};
    cr_assert_eq(gpumem_device_open(&desc, &device), GPUMEM_OK, "%s", gpumem_last_error());
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
    gpumem_log_set_callback(NULL, NULL);
    cr_expect_eq(env_warnings, 1, "the fill's warning reached the callback %d times",
                 env_warnings);
    cr_expect_eq(chatty_messages, 2, "%d of the backend's two messages arrived",
                 chatty_messages);
    cr_expect_eq(inside_when_called, 0, "%d of %d messages reached the callback inside the "
                 "backend's probe or open", inside_when_called, messages);
}

/* --- tables of earlier versions end where their modules' did ---
 * Versions 3, 6 and 7 grew under the same number before the next came: a module of each's first
 * layout has a shorter table than the header came to describe. Each table is placed so that it
 * ends where a page the process cannot read begins: a libgpumem that reads past its end dies. */
static void register_ending_at_a_page(const char *name, uint32_t version, size_t size)
{
    long page = sysconf(_SC_PAGESIZE);
    unsigned char *pages = mmap(NULL, 2 * (size_t)page, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(pages, MAP_FAILED);
    cr_assert_eq(mprotect(pages + page, (size_t)page, PROT_NONE), 0);
    gpumem_backend_vtable table = host_table_copy();
    table.name = name;
    table.version = version;
    table.priority = 0;
    unsigned char *at = pages + page - size;
    memcpy(at, &table, size);
    cr_assert_eq(gpumem_backend_register((const gpumem_backend_vtable *)(void *)at), GPUMEM_OK,
                 "%s: %s", name, gpumem_last_error());
    gpumem_device device;
    gpumem_device_desc desc = {.backend = name};
    cr_assert_eq(gpumem_device_open(&desc, &device), GPUMEM_OK, "%s: %s", name,
                 gpumem_last_error());
    gpumem_pool pool;
    gpumem_buffer buffer;
    cr_assert_eq(gpumem_pool_create(device, NULL, &pool), GPUMEM_OK);
    cr_assert_eq(gpumem_buffer_create(pool, &(gpumem_buffer_desc){.size = 1 << 20}, &buffer),
                 GPUMEM_OK);
    static unsigned char data[1 << 20], back[1 << 20];
    memset(data, 0x5a, sizeof data);
    cr_assert_eq(gpumem_buffer_write(buffer, 0, data, sizeof data), GPUMEM_OK);
    cr_assert_eq(gpumem_buffer_read(buffer, 0, back, sizeof back), GPUMEM_OK);
    cr_assert(memcmp(data, back, sizeof data) == 0, "%s: the bytes came back wrong", name);
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
}

#define FIRST_LAYOUT(last) (offsetof(gpumem_backend_vtable, last) + sizeof(void *))

Test(registry, tables_of_each_versions_first_layout_are_read_to_their_end_only)
{
    register_ending_at_a_page("first-v3", 3, FIRST_LAYOUT(event_native));
    register_ending_at_a_page("first-v6", 6, FIRST_LAYOUT(page_allocate_for_image));
    register_ending_at_a_page("first-v7", 7, FIRST_LAYOUT(queue_registered_host_to_page));
    register_ending_at_a_page("current", GPUMEM_BACKEND_VERSION, sizeof(gpumem_backend_vtable));
}
