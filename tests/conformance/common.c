/* The suite's fixture and helpers (the program's main is main.c). */
#include "conformance.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pattern.h"

gpumem_device conf_dev;
gpumem_device_properties conf_props;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char validation_prefix[] = "vulkan validation: ";

int32_t conf_log_threshold(void)
{
    static const char *const names[] = {"debug", "info", "warning", "error"};
    const char *env = getenv("GPUMEM_LOG");
    for (int32_t i = 0; env && i < 4; i++)
        if (strcmp(env, names[i]) == 0)
            return i;
    return GPUMEM_LOG_WARNING;
}

/* "module PATH refused: REASON", which every test's process would log again: main.c printed it
 * once, before the tests, and judged it there. */
static int is_refused_module(const char *message)
{
    return strncmp(message, "module ", 7) == 0 && strstr(message, " refused: ");
}

/* Validation messages fail the test. Called on whatever thread made the call that logged,
 * so it never aborts (cr_expect, not cr_assert): a longjmp out of another thread would be
 * worse than the failure it reports. */
void conf_log(void *user, int32_t level, const char *message)
{
    (void)user;
    pthread_mutex_lock(&log_lock);
    if (level >= GPUMEM_LOG_WARNING &&
        (strncmp(message, validation_prefix, sizeof validation_prefix - 1) == 0 ||
         strstr(message, "guard margin")))
        cr_expect_fail("%s", message);
    else if (level >= conf_log_threshold() && !is_refused_module(message))
        fprintf(stderr, "gpumem log (%d): %s\n", (int)level, message);
    pthread_mutex_unlock(&log_lock);
}

int conf_guard_margins(void)
{
    const char *env = getenv("GPUMEM_DETECT_CORRUPTION");
    return env && strcmp(env, "1") == 0;
}

void conf_log_restore(void)
{
    gpumem_log_set_callback(conf_log, NULL);
}

const char *conf_backend(void)
{
    const char *env = getenv("GPUMEM_BACKEND");
    return env && *env ? env : "host";
}

int conf_registration_cache_on(void)
{
    const char *budget = getenv("GPUMEM_REGISTRATION_CACHE");
    return budget && *budget && strcmp(budget, "0") != 0 &&
           dlsym(RTLD_DEFAULT, "gpumem_memhooks_listen") != NULL;
}

int conf_externally_synchronized(void)
{
    const char *env = getenv(CONF_EXTERNALLY_SYNCHRONIZED_ENV);
    return env && strcmp(env, "1") == 0;
}

gpumem_result conf_open(gpumem_device *device)
{
    return conf_open_backend(NULL, device);
}

gpumem_result conf_open_backend(const char *backend, gpumem_device *device)
{
    if (!backend && !conf_externally_synchronized())
        return gpumem_device_open(NULL, device);
    gpumem_device_desc desc = {.backend = backend};
    if (conf_externally_synchronized())
        desc.flags = GPUMEM_DEVICE_OPEN_EXTERNALLY_SYNCHRONIZED;
    return gpumem_device_open(&desc, device);
}

void conf_setup(void)
{
    gpumem_log_set_callback(conf_log, NULL);
    conf_dev = NULL;
    gpumem_result r = conf_open(&conf_dev);
    /* main.c found the backend available, with a device, before any test ran (and exited 77
     * there, with --skip-unavailable, where it was not): a device that cannot be opened now is
     * a failure, never a skip. */
    cr_assert_eq(r, GPUMEM_OK, "gpumem_device_open(NULL) for backend '%s' -> %s (%s)",
                 conf_backend(), gpumem_result_string(r), gpumem_last_error());
    OK(gpumem_device_properties_get(conf_dev, &conf_props));
}

void conf_finish(void)
{
    if (!conf_dev)
        return;
    gpumem_device dev = conf_dev;
    conf_dev = NULL;
    OK(gpumem_device_close(dev));
}

/* After a failed assertion the body did not reach conf_finish: close quietly so the sanitizers
 * report only what the library leaks. */
void conf_teardown(void)
{
    if (conf_dev)
        gpumem_device_close(conf_dev);
    conf_dev = NULL;
    gpumem_log_set_callback(NULL, NULL);
}

TestSuite(conformance, .init = conf_setup, .fini = conf_teardown, .timeout = 120);

/* --- helpers --- */

void conf_pattern(void *data, size_t size, uint64_t seed)
{
    test_pattern(data, size, seed);
}

size_t conf_mismatch(const void *a, const void *b, size_t size)
{
    if (memcmp(a, b, size) == 0)
        return size;
    const uint8_t *x = a, *y = b;
    size_t i = 0;
    while (x[i] == y[i])
        i++;
    return i;
}

void *conf_alloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    cr_assert_not_null(p, "malloc(%zu)", size);
    return p;
}

char *conf_device_text(gpumem_result (*get)(gpumem_device, char *, uint64_t, uint64_t *))
{
    uint64_t length;
    OK(get(conf_dev, NULL, 0, &length));
    char *text = conf_alloc(length + 1);
    OK(get(conf_dev, text, length + 1, &length));
    return text;
}

const gpumem_backend_vtable *conf_module_table(const char **why)
{
    gpumem_backend_info info;
    OK(gpumem_backend_find(conf_backend(), &info));
    if (!info.is_module) {
        *why = "the backend is built in: its table cannot be loaded to be wrapped";
        return NULL;
    }
    void *module = dlopen(info.module_path, RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(module, "%s", dlerror());
    gpumem_backend_entry_fn entry;
    *(void **)&entry = dlsym(module, GPUMEM_BACKEND_ENTRY_NAME);
    cr_assert_not_null(entry, "%s", dlerror());
    const gpumem_backend_vtable *table = entry();
    cr_assert_not_null(table);
    return table;
}

void conf_expect_summary_counts(gpumem_pool pool, const char *name)
{
    gpumem_pool_stats stats;
    OK(gpumem_pool_stats_get(pool, &stats));
    char *text = conf_device_text(gpumem_device_summary);
    char head[160];
    snprintf(head, sizeof head, "pool '%s' (", name);
    const char *mine = strstr(text, head);
    cr_assert_not_null(mine, "no line for pool '%s' in the summary:\n%s", name, text);
    const char *counts = strstr(mine, "\n  ");
    unsigned long long pages = 0, allocations = 0;
    cr_assert(counts && sscanf(counts, "\n  %llu pages", &pages) == 1, "%s", text);
    const char *in = strstr(counts, " allocations\n");
    while (in && in > counts && in[-1] >= '0' && in[-1] <= '9')
        in--;
    cr_assert(in && sscanf(in, "%llu", &allocations) == 1, "%s", text);
    cr_assert_eq(pages, stats.page_count, "pool '%s': the summary counts %llu pages, the stats "
                 "%llu:\n%s", name, pages, (unsigned long long)stats.page_count, text);
    cr_assert_eq(allocations, stats.allocation_count, "pool '%s': the summary counts %llu "
                 "allocations, the stats %llu:\n%s", name, allocations,
                 (unsigned long long)stats.allocation_count, text);
    free(text);
}

int conf_count_of(const char *text, const char *needle)
{
    /* memmem with the lengths measured once: AddressSanitizer's strstr takes the strlen of the
     * rest of the text at each match, which made counting a large dump's buffers 6% of a
     * sanitized conformance run (its memmem checks the rest's shadow instead, much cheaper). */
    size_t length = strlen(text), needle_length = strlen(needle);
    int n = 0;
    if (!needle_length)
        return 0;
    for (const char *at = text;
         (at = memmem(at, length - (size_t)(at - text), needle, needle_length)); at++)
        n++;
    return n;
}

int conf_is_power_of_two(uint64_t x)
{
    return x && !(x & (x - 1));
}

uint32_t conf_type_flags(uint32_t type)
{
    return conf_props.memory_types[type].flags;
}

uint32_t conf_find_type(uint32_t flags, uint32_t without)
{
    for (uint32_t i = 0; i < conf_props.memory_type_count; i++) {
        uint32_t f = conf_type_flags(i);
        if ((f & flags) == flags && !(f & without))
            return i;
    }
    return UINT32_MAX;
}

uint32_t conf_host_visible_type(void)
{
    uint32_t type = conf_find_type(GPUMEM_MEMORY_HOST_VISIBLE, 0);
    if (type == UINT32_MAX)
        CONF_SKIP("backend '%s' has no host-visible memory type", conf_backend());
    return type;
}

gpumem_pool conf_type_pool(uint32_t type, uint64_t page_size, uint32_t flags, const char *name)
{
    gpumem_pool_desc desc = {
        .flags = GPUMEM_POOL_MEMORY_TYPE_INDEX | flags,
        .memory_type_index = type,
        .page_size = page_size,
        .name = name,
    };
    gpumem_pool pool = NULL;
    gpumem_result r = gpumem_pool_create(conf_dev, &desc, &pool);
    cr_assert_eq(r, GPUMEM_OK, "pool of memory type %u (flags 0x%x), page %llu -> %s (%s)", type,
                 conf_type_flags(type), (unsigned long long)page_size, gpumem_result_string(r),
                 gpumem_last_error());
    return pool;
}

gpumem_pool conf_pool(uint64_t page_size)
{
    gpumem_pool_desc desc = {.page_size = page_size, .name = "conformance"};
    gpumem_pool pool = NULL;
    OK(gpumem_pool_create(conf_dev, &desc, &pool));
    return pool;
}

gpumem_buffer conf_buffer(gpumem_pool pool, uint64_t size, uint64_t alignment)
{
    gpumem_buffer_desc desc = {.size = size, .alignment = alignment};
    gpumem_buffer buffer = NULL;
    gpumem_result r = gpumem_buffer_create(pool, &desc, &buffer);
    cr_assert_eq(r, GPUMEM_OK, "buffer of %llu bytes aligned to %llu -> %s (%s)",
                 (unsigned long long)size, (unsigned long long)alignment,
                 gpumem_result_string(r), gpumem_last_error());
    return buffer;
}

static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle_changed = PTHREAD_COND_INITIALIZER;
static int idle_called, idle_end; /* idle_called: 1 the call succeeded, -1 it failed */

static void *idle_thread(void *arg)
{
    gpumem_device_properties props;
    gpumem_result r = gpumem_device_properties_get(conf_dev, &props);
    pthread_mutex_lock(&idle_lock);
    idle_called = r == GPUMEM_OK ? 1 : -1;
    pthread_cond_broadcast(&idle_changed);
    while (!idle_end)
        pthread_cond_wait(&idle_changed, &idle_lock);
    pthread_mutex_unlock(&idle_lock);
    return arg;
}

void conf_idle_thread_begin(pthread_t *thread)
{
    idle_called = idle_end = 0;
    cr_assert_eq(pthread_create(thread, NULL, idle_thread, NULL), 0);
    pthread_mutex_lock(&idle_lock);
    while (!idle_called)
        pthread_cond_wait(&idle_changed, &idle_lock);
    int called = idle_called;
    pthread_mutex_unlock(&idle_lock);
    if (called != 1) {
        conf_idle_thread_end(*thread);
        cr_assert_fail("the idle thread's call failed");
    }
}

void conf_idle_thread_end(pthread_t thread)
{
    pthread_mutex_lock(&idle_lock);
    idle_end = 1;
    pthread_cond_broadcast(&idle_changed);
    pthread_mutex_unlock(&idle_lock);
    pthread_join(thread, NULL);
}
