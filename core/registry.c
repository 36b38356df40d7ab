#include "registry.h"

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "log.h"

#define MAX_BACKENDS 64
#define REQUIRED_OPS(X)                                                                        \
    X(probe) X(device_open) X(device_close) X(device_properties) X(page_allocate) X(page_free) \
    X(page_map) X(page_unmap) X(page_flush) X(page_invalidate) X(native_buffer)                \
    X(stream_create) X(stream_destroy) X(stream_synchronize) X(stream_native)                  \
    X(event_create) X(event_destroy) X(event_record) X(event_synchronize) X(copy_page_to_page)

static gpumem_backend_entry entries[MAX_BACKENDS];
static uint32_t entry_count;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t registry_once = PTHREAD_ONCE_INIT;

/* --- defaults for absent optional operations --- */

static gpumem_result unsupported(const char *operation)
{
    return gpumem_backend_error(GPUMEM_ERROR_UNSUPPORTED, "the backend has no %s", operation);
}
static gpumem_result no_copy_host_to_page(gpumem_backend_device *d, gpumem_backend_stream *s,
                                          const void *src, gpumem_backend_page *p, uint64_t o,
                                          uint64_t n)
{
    return unsupported("copy_host_to_page");
}
static gpumem_result no_copy_page_to_host(gpumem_backend_device *d, gpumem_backend_stream *s,
                                          gpumem_backend_page *p, uint64_t o, void *dst,
                                          uint64_t n)
{
    return unsupported("copy_page_to_host");
}
static int never_pinned(gpumem_backend_device *d, const void *h, uint64_t n)
{
    return 0;
}
static gpumem_result no_fill(gpumem_backend_device *d, gpumem_backend_stream *s,
                             gpumem_backend_page *p, uint64_t o, uint64_t n, uint32_t pattern)
{
    return unsupported("fill");
}
static gpumem_result no_buffer_bind(gpumem_backend_device *d, gpumem_backend_page *p,
                                    uint64_t o, uint64_t n, gpumem_backend_buffer **b)
{
    *b = NULL;
    return GPUMEM_OK; /* plain ranges need no object */
}
static void no_buffer_unbind(gpumem_backend_device *d, gpumem_backend_buffer *b)
{
}
static uint64_t no_page_address(gpumem_backend_device *d, gpumem_backend_page *p)
{
    return 0;
}
static gpumem_result no_device_native(gpumem_backend_device *d, gpumem_external_device *n)
{
    return GPUMEM_OK; /* core zeroed it */
}
static gpumem_result no_heap_budget(gpumem_backend_device *d, uint64_t *budget, uint64_t *usage)
{
    return unsupported("heap_budget");
}
static gpumem_result no_native_pool_create(gpumem_backend_device *d, uint32_t t, uint64_t r,
                                           gpumem_backend_pool **p)
{
    return unsupported("native pools");
}
static void no_native_pool_destroy(gpumem_backend_device *d, gpumem_backend_pool *p)
{
}
static gpumem_result no_native_pool_allocate(gpumem_backend_device *d, gpumem_backend_pool *p,
                                             gpumem_backend_stream *s, uint64_t n,
                                             gpumem_backend_page **page)
{
    return unsupported("native pools");
}
static void no_native_pool_free(gpumem_backend_device *d, gpumem_backend_pool *p,
                                gpumem_backend_stream *s, gpumem_backend_page *page)
{
}
static gpumem_result no_native_pool_trim(gpumem_backend_device *d, gpumem_backend_pool *p,
                                         uint64_t keep)
{
    return unsupported("native pools");
}
static gpumem_result no_native_pool_stats(gpumem_backend_device *d, gpumem_backend_pool *p,
                                          uint64_t *reserved, uint64_t *used)
{
    return unsupported("native pool statistics");
}

static uint32_t capabilities_of(const gpumem_backend_vtable *ops)
{
    uint32_t caps = 0;
    if (ops->copy_host_to_page && ops->copy_page_to_host)
        caps |= GPUMEM_CAPABILITY_COPY_HOST;
    if (ops->host_memory_is_pinned)
        caps |= GPUMEM_CAPABILITY_PINNED_QUERY;
    if (ops->fill)
        caps |= GPUMEM_CAPABILITY_FILL;
    if (ops->buffer_bind && ops->buffer_unbind)
        caps |= GPUMEM_CAPABILITY_BIND;
    if (ops->heap_budget)
        caps |= GPUMEM_CAPABILITY_BUDGET;
    if (ops->native_pool_create && ops->native_pool_destroy && ops->native_pool_allocate &&
        ops->native_pool_free)
        caps |= GPUMEM_CAPABILITY_NATIVE_POOLS;
    return caps;
}

static void fill_optional(gpumem_backend_vtable *ops)
{
#define DEFAULT(op, fn) \
    if (!ops->op)       \
        ops->op = fn;
    DEFAULT(copy_host_to_page, no_copy_host_to_page)
    DEFAULT(copy_page_to_host, no_copy_page_to_host)
    DEFAULT(host_memory_is_pinned, never_pinned)
    DEFAULT(fill, no_fill)
    DEFAULT(buffer_bind, no_buffer_bind)
    DEFAULT(buffer_unbind, no_buffer_unbind)
    DEFAULT(page_address, no_page_address)
    DEFAULT(device_native, no_device_native)
    DEFAULT(heap_budget, no_heap_budget)
    DEFAULT(native_pool_create, no_native_pool_create)
    DEFAULT(native_pool_destroy, no_native_pool_destroy)
    DEFAULT(native_pool_allocate, no_native_pool_allocate)
    DEFAULT(native_pool_free, no_native_pool_free)
    DEFAULT(native_pool_trim, no_native_pool_trim)
    DEFAULT(native_pool_stats, no_native_pool_stats)
#undef DEFAULT
}

/* --- checks --- */

static int valid_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n >= GPUMEM_NAME_SIZE)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* Returns OK or an error with the reason in `reason`. */
static gpumem_result check_vtable(const gpumem_backend_vtable *vt, char *reason, size_t size)
{
    if (vt->abi_version != GPUMEM_BACKEND_ABI_VERSION) {
        snprintf(reason, size, "built for backend ABI %u, this libgpumem has ABI %u",
                 vt->abi_version, GPUMEM_BACKEND_ABI_VERSION);
        return GPUMEM_ERROR_ABI_MISMATCH;
    }
    if (vt->struct_size != sizeof(gpumem_backend_vtable)) {
        snprintf(reason, size, "vtable struct_size is %u, ABI %u has %zu", vt->struct_size,
                 GPUMEM_BACKEND_ABI_VERSION, sizeof(gpumem_backend_vtable));
        return GPUMEM_ERROR_ABI_MISMATCH;
    }
    if (!valid_name(vt->name)) {
        snprintf(reason, size, "backend name must be 1-%d characters of [a-z0-9_-]",
                 GPUMEM_NAME_SIZE - 1);
        return GPUMEM_ERROR_INVALID_ARGUMENT;
    }
#define CHECK(op)                                                                        \
    if (!vt->op) {                                                                       \
        snprintf(reason, size, "backend '%s' lacks the required operation '%s'", vt->name, \
                 #op);                                                                   \
        return GPUMEM_ERROR_INVALID_ARGUMENT;                                            \
    }
    REQUIRED_OPS(CHECK)
#undef CHECK
    return GPUMEM_OK;
}

static gpumem_backend_entry *find_entry(const char *name)
{
    for (uint32_t i = 0; i < entry_count; i++)
        if (strcmp(entries[i].info.name, name) == 0)
            return &entries[i];
    return NULL;
}

static void probe_entry(gpumem_backend_entry *e)
{
    char reason[GPUMEM_REASON_SIZE] = "";
    uint32_t count = 0;
    gpumem_result r = e->ops.probe(&count, reason, sizeof reason);
    e->info.available = r == GPUMEM_OK && count > 0;
    e->info.device_count = r == GPUMEM_OK ? count : 0;
    if (r == GPUMEM_OK && count == 0 && !reason[0])
        snprintf(reason, sizeof reason, "no device");
    if (!e->info.available && !reason[0])
        snprintf(reason, sizeof reason, "probe failed (%s)", gpumem_result_string(r));
    snprintf(e->info.reason, sizeof e->info.reason, "%s", e->info.available ? "" : reason);
}

/* Adds (or, for a module with a built-in's name, replaces) an entry. Lock held. */
static gpumem_result add_entry(const gpumem_backend_vtable *vt, const char *module_path,
                               char *reason, size_t reason_size)
{
    gpumem_result r = check_vtable(vt, reason, reason_size);
    if (r != GPUMEM_OK)
        return r;
    gpumem_backend_entry *e = find_entry(vt->name);
    if (e && !(module_path && !e->info.is_module)) {
        snprintf(reason, reason_size, "a backend named '%s' is already registered%s%s",
                 vt->name, e->info.is_module ? " from " : "", e->info.module_path);
        return GPUMEM_ERROR_INVALID_ARGUMENT;
    }
    if (!e) {
        if (entry_count == MAX_BACKENDS) {
            snprintf(reason, reason_size, "more than %d backends", MAX_BACKENDS);
            return GPUMEM_ERROR_LIMIT_EXCEEDED;
        }
        e = &entries[entry_count++];
    }
    memset(e, 0, sizeof *e);
    e->ops = *vt;
    e->capabilities = capabilities_of(vt);
    fill_optional(&e->ops);
    snprintf(e->info.name, sizeof e->info.name, "%s", vt->name);
    e->info.priority = vt->priority;
    e->info.is_module = module_path != NULL;
    snprintf(e->info.module_path, sizeof e->info.module_path, "%s",
             module_path ? module_path : "");
    probe_entry(e);
    return GPUMEM_OK;
}

static void add_refused_module(const char *path, const char *name, const char *reason)
{
    if (entry_count == MAX_BACKENDS || find_entry(name))
        return;
    gpumem_backend_entry *e = &entries[entry_count++];
    memset(e, 0, sizeof *e);
    e->refused = 1;
    snprintf(e->info.name, sizeof e->info.name, "%s", name);
    e->info.is_module = 1;
    snprintf(e->info.module_path, sizeof e->info.module_path, "%s", path);
    snprintf(e->info.reason, sizeof e->info.reason, "%s", reason);
}

/* --- modules --- */

static void load_module(const char *path, const char *file_name)
{
    /* libgpumem-<name>.so: the name stands in for the backend's own until it is read. */
    char name[GPUMEM_NAME_SIZE];
    snprintf(name, sizeof name, "%.*s", (int)(strlen(file_name) - strlen("libgpumem-.so")),
             file_name + strlen("libgpumem-"));
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        gpumem_log(GPUMEM_LOG_WARNING, "module %s: %s", path, dlerror());
        add_refused_module(path, name, "the module could not be loaded (dlopen failed)");
        return;
    }
    gpumem_backend_entry_fn entry;
    *(void **)&entry = dlsym(handle, GPUMEM_BACKEND_ENTRY_NAME);
    const gpumem_backend_vtable *vt = entry ? entry() : NULL;
    char reason[GPUMEM_REASON_SIZE];
    if (!vt) {
        snprintf(reason, sizeof reason, "the module exports no %s", GPUMEM_BACKEND_ENTRY_NAME);
    } else if (add_entry(vt, path, reason, sizeof reason) == GPUMEM_OK) {
        return; /* stays loaded for the life of the process */
    } else if (vt->name && valid_name(vt->name) && strlen(vt->name) < sizeof name) {
        snprintf(name, sizeof name, "%s", vt->name);
    }
    gpumem_log(GPUMEM_LOG_WARNING, "module %s refused: %s", path, reason);
    add_refused_module(path, name, reason);
    dlclose(handle);
}

static int is_module_file(const char *file_name)
{
    size_t n = strlen(file_name);
    return strncmp(file_name, "libgpumem-", 10) == 0 && n > 13 &&
           strcmp(file_name + n - 3, ".so") == 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void scan_folder(const char *folder)
{
    DIR *dir = opendir(folder);
    if (!dir)
        return;
    char *names[MAX_BACKENDS];
    size_t count = 0;
    struct dirent *d;
    while ((d = readdir(dir)) && count < MAX_BACKENDS)
        if (is_module_file(d->d_name) && (names[count] = strdup(d->d_name)))
            count++;
    closedir(dir);
    qsort(names, count, sizeof names[0], compare_names); /* the same order on every machine */
    for (size_t i = 0; i < count; i++) {
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", folder, names[i]) < (int)sizeof path)
            load_module(path, names[i]);
        free(names[i]);
    }
}

static void scan_plugin_path(void)
{
    const char *env = getenv("GPUMEM_PLUGIN_PATH");
    if (!env)
        return;
    char *copy = strdup(env);
    char *save = NULL;
    for (char *folder = copy ? strtok_r(copy, ":", &save) : NULL; folder;
         folder = strtok_r(NULL, ":", &save))
        scan_folder(folder);
    free(copy);
}

/* <folder of libgpumem>/gpumem: the installed module folder, and the build tree's too. */
static void scan_library_folder(void)
{
    Dl_info info;
    if (!dladdr((void *)&gpumem_backend_count, &info) || !info.dli_fname)
        return;
    char folder[PATH_MAX];
    /* Canonical, so gpumem-info shows a plain path rather than one through an rpath. */
    if (!realpath(info.dli_fname, folder))
        snprintf(folder, sizeof folder, "%s", info.dli_fname);
    char *slash = strrchr(folder, '/');
    if (!slash)
        return;
    snprintf(slash, sizeof folder - (size_t)(slash - folder), "/gpumem");
    scan_folder(folder);
}

static void registry_init(void)
{
    const gpumem_backend_vtable *builtin[MAX_BACKENDS];
    uint32_t n = gpumem_builtin_backends(builtin, MAX_BACKENDS);
    char reason[GPUMEM_REASON_SIZE];
    for (uint32_t i = 0; i < n; i++)
        if (add_entry(builtin[i], NULL, reason, sizeof reason) != GPUMEM_OK)
            gpumem_log(GPUMEM_LOG_ERROR, "built-in backend refused: %s", reason);
    /* The plugin path first: a user's module replaces an installed one of the same name. */
    scan_plugin_path();
    scan_library_folder();
}

static void ensure_init(void)
{
    pthread_once(&registry_once, registry_init);
}

/* --- public --- */

gpumem_result gpumem_backend_register(const gpumem_backend_vtable *vtable)
{
    gpumem_error_clear();
    if (!vtable)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, __func__, "vtable is NULL");
    ensure_init();
    char reason[GPUMEM_REASON_SIZE];
    pthread_mutex_lock(&registry_lock);
    gpumem_result r = add_entry(vtable, NULL, reason, sizeof reason);
    pthread_mutex_unlock(&registry_lock);
    return r == GPUMEM_OK ? r : gpumem_error(r, __func__, "%s", reason);
}

gpumem_result gpumem_backend_count(uint32_t *count)
{
    gpumem_error_clear();
    if (!count)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, __func__, "count is NULL");
    ensure_init();
    pthread_mutex_lock(&registry_lock);
    *count = entry_count;
    pthread_mutex_unlock(&registry_lock);
    return GPUMEM_OK;
}

gpumem_result gpumem_backend_info_get(uint32_t index, gpumem_backend_info *info)
{
    gpumem_error_clear();
    if (!info)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, __func__, "info is NULL");
    ensure_init();
    pthread_mutex_lock(&registry_lock);
    gpumem_result r = GPUMEM_OK;
    if (index < entry_count)
        *info = entries[index].info;
    else
        r = gpumem_error(GPUMEM_ERROR_NOT_FOUND, __func__, "backend index %u of %u", index,
                         entry_count);
    pthread_mutex_unlock(&registry_lock);
    return r;
}

/* "host, vulkan" (available ones), or "none". Lock held. */
static void available_list(char *out, size_t size)
{
    size_t n = 0;
    out[0] = '\0';
    for (uint32_t i = 0; i < entry_count; i++) {
        if (!entries[i].info.available)
            continue;
        int w = snprintf(out + n, size - n, "%s%s", n ? ", " : "", entries[i].info.name);
        if (w < 0 || (size_t)w >= size - n)
            break;
        n += (size_t)w;
    }
    if (!n)
        snprintf(out, size, "none");
}

static gpumem_result unknown_backend(const char *function, const char *name, const char *origin)
{
    char list[512];
    available_list(list, sizeof list);
    return gpumem_error(GPUMEM_ERROR_NOT_FOUND, function,
                        "unknown backend '%s'%s; available backends: %s", name, origin, list);
}

static gpumem_result unavailable_backend(const char *function, const gpumem_backend_entry *e,
                                         const char *origin)
{
    char list[512];
    available_list(list, sizeof list);
    return gpumem_error(GPUMEM_ERROR_UNAVAILABLE, function,
                        "backend '%s'%s is unavailable: %s; available backends: %s",
                        e->info.name, origin, e->info.reason, list);
}

gpumem_result gpumem_backend_find(const char *name, gpumem_backend_info *info)
{
    gpumem_error_clear();
    if (!name || !info)
        return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, __func__, "%s is NULL",
                            name ? "info" : "name");
    ensure_init();
    pthread_mutex_lock(&registry_lock);
    const gpumem_backend_entry *e = find_entry(name);
    gpumem_result r = GPUMEM_OK;
    if (e)
        *info = e->info;
    else
        r = unknown_backend(__func__, name, "");
    pthread_mutex_unlock(&registry_lock);
    return r;
}

/* The first available backend of a comma-separated list; unknown names are errors. */
static gpumem_result choose_from_list(const char *list, const char *function,
                                      const gpumem_backend_entry **out)
{
    char copy[512];
    snprintf(copy, sizeof copy, "%s", list);
    const gpumem_backend_entry *first_unavailable = NULL;
    char *save = NULL;
    for (char *name = strtok_r(copy, ", ", &save); name; name = strtok_r(NULL, ", ", &save)) {
        const gpumem_backend_entry *e = find_entry(name);
        if (!e)
            return unknown_backend(function, name, " (named by GPUMEM_BACKEND)");
        if (e->info.available && !*out)
            *out = e;
        if (!e->info.available && !first_unavailable)
            first_unavailable = e;
    }
    if (*out)
        return GPUMEM_OK;
    if (first_unavailable)
        return unavailable_backend(function, first_unavailable, " (named by GPUMEM_BACKEND)");
    return gpumem_error(GPUMEM_ERROR_INVALID_ARGUMENT, function, "GPUMEM_BACKEND is empty");
}

gpumem_result gpumem_registry_choose(const char *name, const char *function,
                                     const gpumem_backend_entry **out)
{
    ensure_init();
    pthread_mutex_lock(&registry_lock);
    gpumem_result r = GPUMEM_OK;
    *out = NULL;
    const char *env = getenv("GPUMEM_BACKEND");
    if (name) {
        const gpumem_backend_entry *e = find_entry(name);
        if (!e)
            r = unknown_backend(function, name, "");
        else if (!e->info.available)
            r = unavailable_backend(function, e, "");
        else
            *out = e;
    } else if (env && *env) {
        r = choose_from_list(env, function, out);
    } else {
        for (uint32_t i = 0; i < entry_count; i++)
            if (entries[i].info.available &&
                (!*out || entries[i].info.priority > (*out)->info.priority))
                *out = &entries[i];
        if (!*out)
            r = gpumem_error(GPUMEM_ERROR_UNAVAILABLE, function, "no backend is available");
    }
    pthread_mutex_unlock(&registry_lock);
    return r;
}
