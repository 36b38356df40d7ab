#include "registry.h"

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alloc.h"
#include "backend_table.h"
#include "call.h"
#include "env.h"
#include "error.h"
#include "log.h"

/* Compiled in (lib/builtin.c has one per backend the build links in), so never filled by files. */
#define MAX_BUILTIN 64
/* Two lists, each in registration order: backends whose table was accepted (a probe may still
 * find them unavailable), and modules that were refused. gpumem_backend_info_get lists the
 * refused ones after every accepted one, so a refused file never takes a place an accepted
 * backend needs. Both lists grow as needed. Entries never move or go away once the registry is
 * filled (a device keeps its entry's table); only while it is filled may a module replace a
 * built-in of its name. registry_lock guards the lists; each entry's own lock, its probe. */
typedef struct entry_list {
    gpumem_backend_entry **items;
    uint32_t count, capacity;
} entry_list;

static entry_list accepted, refused;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
/* The registry is filled once, completely: when memory runs out while it is filled, what was
 * filled is undone and the next call tries again, so that a short lack of memory does not
 * leave the process without backends. */
static _Atomic int registry_filled;
static pthread_mutex_t fill_lock = PTHREAD_MUTEX_INITIALIZER;
static int fill_out_of_memory; /* set while filling, under fill_lock */

/* --- checks --- */

/* --- entries and lists --- */

static gpumem_backend_entry *entry_new(const char *name, const char *module_path)
{
    gpumem_backend_entry *e = gpumem_alloc_zeroed(1, sizeof *e);
    if (!e)
        return NULL;
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&e->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    snprintf(e->info.name, sizeof e->info.name, "%s", name);
    e->info.is_module = module_path != NULL;
    snprintf(e->info.module_path, sizeof e->info.module_path, "%s",
             module_path ? module_path : "");
    snprintf(e->info.reason, sizeof e->info.reason, "not probed yet");
    e->probe_result = GPUMEM_ERROR_UNAVAILABLE;
    return e;
}

static void entry_free(gpumem_backend_entry *e)
{
    pthread_mutex_destroy(&e->lock);
    gpumem_free(e);
}

static int list_push(entry_list *list, gpumem_backend_entry *e)
{
    if (list->count == list->capacity) {
        uint32_t capacity = list->capacity ? list->capacity * 2 : 8;
        gpumem_backend_entry **items = gpumem_realloc(list->items, capacity * sizeof *items);
        if (!items)
            return 0;
        list->items = items;
        list->capacity = capacity;
    }
    list->items[list->count++] = e;
    return 1;
}

static gpumem_backend_entry *find_in(const entry_list *list, const char *name, size_t length)
{
    for (uint32_t i = 0; i < list->count; i++) {
        const char *n = list->items[i]->info.name;
        if (strlen(n) == length && memcmp(n, name, length) == 0)
            return list->items[i];
    }
    return NULL;
}

/* An accepted backend of that name, else a refused module (found, so a call can say why it
 * cannot be opened). */
static gpumem_backend_entry *lookup(const char *name, size_t length)
{
    pthread_mutex_lock(&registry_lock);
    gpumem_backend_entry *e = find_in(&accepted, name, length);
    if (!e)
        e = find_in(&refused, name, length);
    pthread_mutex_unlock(&registry_lock);
    return e;
}

/* Accepted entry number `index`, or NULL past the end. Read under the lock, since the list's
 * array may grow; the entry itself never moves or goes once the registry is filled, so the
 * caller may probe it outside the lock. */
static gpumem_backend_entry *accepted_at(uint32_t index)
{
    pthread_mutex_lock(&registry_lock);
    gpumem_backend_entry *e = index < accepted.count ? accepted.items[index] : NULL;
    pthread_mutex_unlock(&registry_lock);
    return e;
}

/* Adds an accepted backend (or, for a module with a built-in's name, replaces it). Lock held, or
 * the registry being filled. */
static gpumem_result add_entry(const gpumem_backend_vtable *table, const char *module_path,
                               char *reason, size_t reason_size)
{
    gpumem_backend_vtable ops; /* the table in the current layout, whatever its version */
    gpumem_result r = gpumem_backend_table_read(table, &ops, reason, reason_size);
    if (r != GPUMEM_OK)
        return r;
    const gpumem_backend_vtable *vt = &ops;
    gpumem_backend_entry *old = find_in(&accepted, vt->name, strlen(vt->name));
    if (old && !(module_path && !old->info.is_module)) {
        snprintf(reason, reason_size, "a backend named '%s' is already registered%s%.160s",
                 vt->name, old->info.is_module ? " from " : "", old->info.module_path);
        return GPUMEM_ERROR_INVALID_ARGUMENT;
    }
    gpumem_backend_entry *e = entry_new(vt->name, module_path);
    if (!e) {
        snprintf(reason, reason_size, "no memory to register backend '%s'", vt->name);
        return GPUMEM_ERROR_OUT_OF_HOST_MEMORY;
    }
    e->ops = ops;
    e->info.priority = vt->priority;
    if (old) { /* only while the registry is filled: nothing holds the built-in's entry yet */
        for (uint32_t i = 0; i < accepted.count; i++)
            if (accepted.items[i] == old)
                accepted.items[i] = e;
        entry_free(old);
    } else if (!list_push(&accepted, e)) {
        entry_free(e);
        snprintf(reason, reason_size, "no memory to register backend '%s'", vt->name);
        return GPUMEM_ERROR_OUT_OF_HOST_MEMORY;
    }
    return GPUMEM_OK;
}

/* A refused module is listed with its reason; opening it gives GPUMEM_ERROR_ABI_MISMATCH when
 * it was built for a table version this libgpumem does not know, else UNAVAILABLE. */
static void add_refused_module(const char *path, const char *name, const char *reason,
                               gpumem_result result)
{
    gpumem_backend_entry *e = entry_new(name, path);
    if (e) {
        e->refused = 1;
        e->info.refused = 1;
        e->probed = 1;
        e->probe_result =
            result == GPUMEM_ERROR_ABI_MISMATCH ? result : GPUMEM_ERROR_UNAVAILABLE;
        snprintf(e->info.reason, sizeof e->info.reason, "%s", reason);
    }
    if (!e || !list_push(&refused, e)) {
        fill_out_of_memory = 1;
        if (e)
            entry_free(e);
        return;
    }
    gpumem_log_after_call(GPUMEM_LOG_WARNING, "module %s refused: %s", path, reason);
}

/* --- probing --- */

/* A definitive answer stays for the life of the process: the runtime is here with devices, or
 * it is not, or it has none, or it is too old. Anything else (out of host or device memory, a
 * runtime error) may be gone at the next call, which probes again. */
static int probe_is_definitive(gpumem_result r)
{
    return r == GPUMEM_OK || r == GPUMEM_ERROR_UNAVAILABLE || r == GPUMEM_ERROR_UNSUPPORTED ||
           r == GPUMEM_ERROR_NOT_FOUND || r == GPUMEM_ERROR_ABI_MISMATCH;
}

/* Entry lock held. */
static void probe_locked(gpumem_backend_entry *e)
{
    char reason[GPUMEM_REASON_SIZE] = "", previous[GPUMEM_REASON_SIZE];
    uint32_t count = 0;
    memcpy(previous, e->info.reason, sizeof previous);
    e->probing = 1;
    snprintf(e->info.reason, sizeof e->info.reason, "being probed");
    gpumem_result r = e->ops.probe(&count, reason, sizeof reason);
    e->probing = 0;
    gpumem_error_clear(); /* a probe's own message is in `reason`; it must not reach the caller */
    if (r == GPUMEM_OK && count == 0) {
        r = GPUMEM_ERROR_UNAVAILABLE;
        if (!reason[0])
            snprintf(reason, sizeof reason, "no device");
    }
    if (r != GPUMEM_OK && !reason[0])
        snprintf(reason, sizeof reason, "probe failed (%s)", gpumem_result_string(r));
    e->probe_result = r;
    e->attempted = 1;
    e->probed = probe_is_definitive(r);
    e->info.available = r == GPUMEM_OK;
    e->info.device_count = r == GPUMEM_OK ? count : 0;
    if (r == GPUMEM_OK)
        e->info.reason[0] = '\0';
    else if (e->probed)
        snprintf(e->info.reason, sizeof e->info.reason, "%s", reason);
    else
        snprintf(e->info.reason, sizeof e->info.reason, "%.*s (%s; probed again at the next call)",
                 (int)(sizeof e->info.reason / 2), reason, gpumem_result_string(r));
    if (!e->probed && strcmp(previous, e->info.reason) != 0) /* the same failure again: once */
        gpumem_log(GPUMEM_LOG_WARNING, "backend '%s': %s", e->info.name, e->info.reason);
}

/* Probes the entry if no definitive answer is known yet (with `retry` 0, only if it was never
 * probed: a list of the available backends in an error message does not probe again the one
 * that just failed), copies its info (when `info` is not NULL), and returns OK when it is
 * available, else why not: UNAVAILABLE, or a transient failure's own result. */
static gpumem_result entry_state(gpumem_backend_entry *e, gpumem_backend_info *info, int retry)
{
    pthread_mutex_lock(&e->lock);
    if (!e->probed && !e->probing && (retry || !e->attempted)) /* probing: its own callback */
        probe_locked(e);
    if (info)
        *info = e->info;
    gpumem_result r = e->info.available ? GPUMEM_OK : e->probe_result;
    pthread_mutex_unlock(&e->lock);
    return r;
}

/* --- modules --- */

static void load_module(const char *path, const char *file_name)
{
    /* libgpumem-<name>.so: the name stands in for the backend's own until it is read. */
    char name[GPUMEM_NAME_SIZE];
    snprintf(name, sizeof name, "%.*s", (int)(strlen(file_name) - strlen("libgpumem-.so")),
             file_name + strlen("libgpumem-"));
    char reason[GPUMEM_REASON_SIZE];
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & S_IWOTH)) {
        add_refused_module(path, name, "the module file is world-writable; it is not loaded",
                           GPUMEM_ERROR_UNAVAILABLE);
        return;
    }
    dlerror();
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        /* dlerror says "<path>: <why>"; the path is in the info already. */
        const char *why = dlerror();
        size_t n = strlen(path);
        if (!why)
            why = "no reason given";
        else if (strncmp(why, path, n) == 0 && why[n] == ':')
            why += n + 1 + strspn(why + n + 1, " ");
        snprintf(reason, sizeof reason, "dlopen failed: %s", why);
        add_refused_module(path, name, reason, GPUMEM_ERROR_UNAVAILABLE);
        return;
    }
    gpumem_backend_entry_fn entry;
    gpumem_result refusal = GPUMEM_ERROR_UNAVAILABLE;
    *(void **)&entry = dlsym(handle, GPUMEM_BACKEND_ENTRY_NAME);
    const gpumem_backend_vtable *vt = entry ? entry() : NULL;
    if (!entry) {
        snprintf(reason, sizeof reason, "the module exports no %s", GPUMEM_BACKEND_ENTRY_NAME);
    } else if (!vt) {
        snprintf(reason, sizeof reason, "the module's %s returned NULL",
                 GPUMEM_BACKEND_ENTRY_NAME);
    } else {
        gpumem_result r = add_entry(vt, path, reason, sizeof reason);
        if (r == GPUMEM_OK) { /* stays loaded for the life of the process */
            find_in(&accepted, vt->name, strlen(vt->name))->module = handle;
            return;
        }
        if (r == GPUMEM_ERROR_OUT_OF_HOST_MEMORY) {
            fill_out_of_memory = 1;
            dlclose(handle);
            return;
        }
        refusal = r;
        if (gpumem_backend_name_valid(vt->name))
            snprintf(name, sizeof name, "%s", vt->name);
    }
    add_refused_module(path, name, reason, refusal);
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

/* Every module file of the folder, sorted (the same order on every machine and file system);
 * NULL with *count 0 when there are none, or on failure (logged). */
static char **module_files(const char *folder, size_t *count)
{
    DIR *dir = opendir(folder);
    *count = 0;
    if (!dir)
        return NULL;
    char **names = NULL;
    size_t n = 0, capacity = 0;
    int failed = 0;
    struct dirent *d;
    while (!failed && (d = readdir(dir))) {
        if (!is_module_file(d->d_name))
            continue;
        if (n == capacity) {
            size_t grown = capacity ? capacity * 2 : 16;
            char **bigger = gpumem_realloc(names, grown * sizeof *names);
            failed = !bigger;
            if (bigger) {
                names = bigger;
                capacity = grown;
            }
        }
        if (!failed && !(names[n] = gpumem_strdup(d->d_name)))
            failed = 1;
        n += !failed;
    }
    closedir(dir);
    if (failed) { /* all or nothing: which modules load must not depend on the memory left */
        fill_out_of_memory = 1;
        for (size_t i = 0; i < n; i++)
            gpumem_free(names[i]);
        gpumem_free(names);
        return NULL;
    }
    if (n) /* qsort takes no NULL array, even an empty one */
        qsort(names, n, sizeof *names, compare_names);
    *count = n;
    return names;
}

/* Loading a module runs its code (its constructors, then its entry), so modules come only from
 * folders named by an absolute path, that not everyone can write to. */
static int folder_is_safe(const char *folder, const char *origin)
{
    struct stat st;
    if (folder[0] != '/') {
        gpumem_log_after_call(GPUMEM_LOG_WARNING,
                              "%s: the folder '%s' is not an absolute path; no modules are "
                              "loaded from it", origin, folder);
        return 0;
    }
    if (stat(folder, &st) != 0 || !S_ISDIR(st.st_mode))
        return 0; /* not there: nothing to load */
    if (st.st_mode & S_IWOTH) {
        gpumem_log_after_call(GPUMEM_LOG_WARNING,
                              "%s: the folder '%s' is world-writable (anyone could put a "
                              "module there); no modules are loaded from it", origin, folder);
        return 0;
    }
    return 1;
}

static void scan_folder(const char *folder, void *origin)
{
    if (!folder_is_safe(folder, origin))
        return;
    size_t count;
    char **names = module_files(folder, &count);
    for (size_t i = 0; i < count; i++) {
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", folder, names[i]) < (int)sizeof path)
            load_module(path, names[i]);
        else
            gpumem_log_after_call(GPUMEM_LOG_WARNING, "module %s in '%s': the path is too long",
                                  names[i], folder);
        gpumem_free(names[i]);
    }
    gpumem_free(names);
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
    scan_folder(folder, (void *)"the module folder");
}

/* Registration probes nothing: a backend is probed when a call first needs to know whether it
 * is available, so a program that names its backend loads no other runtime. fill_lock held. */
static void registry_fill(void)
{
    gpumem_env_check();
    const gpumem_backend_vtable *builtin[MAX_BUILTIN];
    uint32_t n = gpumem_builtin_backends(builtin, MAX_BUILTIN);
    char reason[GPUMEM_REASON_SIZE];
    for (uint32_t i = 0; i < n; i++) {
        gpumem_result r = add_entry(builtin[i], NULL, reason, sizeof reason);
        if (r == GPUMEM_ERROR_OUT_OF_HOST_MEMORY)
            fill_out_of_memory = 1;
        else if (r != GPUMEM_OK)
            gpumem_log_after_call(GPUMEM_LOG_ERROR, "built-in backend refused: %s", reason);
    }
    /* The plugin path first: a user's module replaces an installed one of the same name. */
    gpumem_env_plugin_folders(scan_folder, (void *)"GPUMEM_PLUGIN_PATH");
    scan_library_folder();
}

/* Undoes a fill that ran out of memory: every entry goes, and every module is closed. */
static void registry_empty(void)
{
    entry_list *lists[] = {&accepted, &refused};
    for (int l = 0; l < 2; l++) {
        for (uint32_t i = 0; i < lists[l]->count; i++) {
            if (lists[l]->items[i]->module)
                dlclose(lists[l]->items[i]->module);
            entry_free(lists[l]->items[i]);
        }
        gpumem_free(lists[l]->items);
        *lists[l] = (entry_list){0};
    }
}

/* Set while this thread fills the registry: a module's entry function or constructor that
 * calls gpumem is refused rather than left waiting on fill_lock, which its thread holds. */
static _Thread_local int filling_here;

static gpumem_result ensure_init(void)
{
    if (atomic_load_explicit(&registry_filled, memory_order_acquire))
        return GPUMEM_OK;
    if (filling_here)
        return gpumem_fail(GPUMEM_ERROR_BAD_STATE,
                           "called from a backend module's entry function or constructor while "
                           "gpumem loads it: a module may call gpumem only once its entry "
                           "function has returned");
    /* The fill's warnings (modules refused, backends unavailable) reach a log callback once
     * fill_lock is let go: one that lists the backends would otherwise deadlock on it. */
    gpumem_log_hold(&gpumem_this_thread);
    pthread_mutex_lock(&fill_lock);
    gpumem_result r = GPUMEM_OK;
    if (!atomic_load_explicit(&registry_filled, memory_order_relaxed)) {
        fill_out_of_memory = 0;
        filling_here = 1;
        registry_fill();
        filling_here = 0;
        if (fill_out_of_memory) {
            registry_empty();
            r = gpumem_fail(GPUMEM_ERROR_OUT_OF_HOST_MEMORY,
                            "no memory to list the backends (the next call tries again)");
        } else {
            atomic_store_explicit(&registry_filled, 1, memory_order_release);
        }
    }
    pthread_mutex_unlock(&fill_lock);
    gpumem_log_release(&gpumem_this_thread);
    return r;
}

/* --- public --- */

static gpumem_result backend_register(const gpumem_backend_vtable *vtable)
{
    if (!vtable)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "vtable is NULL");
    gpumem_result r = ensure_init();
    if (r != GPUMEM_OK)
        return r;
    char reason[GPUMEM_REASON_SIZE];
    pthread_mutex_lock(&registry_lock);
    r = add_entry(vtable, NULL, reason, sizeof reason);
    pthread_mutex_unlock(&registry_lock);
    return r == GPUMEM_OK ? r : gpumem_fail(r, "%s", reason);
}

gpumem_result gpumem_backend_register(const gpumem_backend_vtable *vtable)
{
    GPUMEM_LOGGED_PLAIN_CALL(backend_register(vtable),
                             "vtable %p",
                             (const void *)vtable);
}

static gpumem_result backend_count(uint32_t *count)
{
    if (!count)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "count is NULL");
    gpumem_result r = ensure_init();
    if (r != GPUMEM_OK)
        return r;
    pthread_mutex_lock(&registry_lock);
    *count = accepted.count + refused.count;
    pthread_mutex_unlock(&registry_lock);
    return GPUMEM_OK;
}

gpumem_result gpumem_backend_count(uint32_t *count)
{
    GPUMEM_LOGGED_PLAIN_CALL(backend_count(count),
                             "" GPUMEM_LOG_OUTPUTS "count %llu",
                             GPUMEM_LOG_OUT(count));
}

static gpumem_result backend_info_get(uint32_t index, gpumem_backend_info *info)
{
    if (!info)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "info is NULL");
    gpumem_result r = ensure_init();
    if (r != GPUMEM_OK)
        return r;
    pthread_mutex_lock(&registry_lock);
    uint32_t total = accepted.count + refused.count;
    gpumem_backend_entry *e = index < accepted.count ? accepted.items[index]
                              : index < total        ? refused.items[index - accepted.count]
                                                     : NULL;
    pthread_mutex_unlock(&registry_lock);
    if (!e)
        return gpumem_fail(GPUMEM_ERROR_NOT_FOUND, "backend index %u of %u", index, total);
    gpumem_backend_info copy;
    entry_state(e, &copy, 1);
    *info = copy;
    return GPUMEM_OK;
}

gpumem_result gpumem_backend_info_get(uint32_t index, gpumem_backend_info *info)
{
    GPUMEM_LOGGED_PLAIN_CALL(backend_info_get(index, info),
                             "index %llu" GPUMEM_LOG_OUTPUTS "name \"%s\", available %llu",
                             (unsigned long long)(index),
                             GPUMEM_LOG_TEXT(gpumem_r_ == GPUMEM_OK ? info->name : NULL),
                             GPUMEM_LOG_OUT_FIELD(info, available));
}

/* "host, vulkan" (the available ones, probing those not probed yet), or "none". */
static void available_list(char *out, size_t size)
{
    size_t n = 0;
    out[0] = '\0';
    gpumem_backend_entry *e;
    for (uint32_t i = 0; (e = accepted_at(i)); i++) {
        if (entry_state(e, NULL, 0) != GPUMEM_OK)
            continue;
        int w = snprintf(out + n, size - n, "%s%s", n ? ", " : "", e->info.name);
        if (w < 0 || (size_t)w >= size - n)
            break;
        n += (size_t)w;
    }
    if (!n)
        snprintf(out, size, "none");
}

static gpumem_result unknown_backend(const char *name, size_t length, const char *origin)
{
    char list[512], quoted[128];
    available_list(list, sizeof list);
    gpumem_env_quote(name, length, quoted, sizeof quoted);
    return gpumem_fail(GPUMEM_ERROR_NOT_FOUND, "unknown backend %s%s; available backends: %s",
                       quoted, origin, list);
}

/* A definitive "no" is UNAVAILABLE; a transient failure keeps its own result. */
static gpumem_result unavailable_backend(const gpumem_backend_info *info, gpumem_result result,
                                         const char *origin)
{
    char list[512];
    available_list(list, sizeof list);
    return gpumem_fail(result, "backend '%s'%s is unavailable: %s; available backends: %s",
                       info->name, origin, info->reason, list);
}

static gpumem_result backend_find(const char *name, gpumem_backend_info *info)
{
    if (!name || !info)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "%s is NULL", name ? "info" : "name");
    gpumem_result r = ensure_init();
    if (r != GPUMEM_OK)
        return r;
    gpumem_backend_entry *e = lookup(name, strlen(name));
    if (!e)
        return unknown_backend(name, strlen(name), "");
    gpumem_backend_info copy;
    entry_state(e, &copy, 1);
    *info = copy;
    return GPUMEM_OK;
}

gpumem_result gpumem_backend_find(const char *name, gpumem_backend_info *info)
{
    GPUMEM_LOGGED_PLAIN_CALL(backend_find(name, info),
                             "name \"%s\"" GPUMEM_LOG_OUTPUTS "available %llu, device_count %llu",
                             GPUMEM_LOG_TEXT(name), GPUMEM_LOG_OUT_FIELD(info, available),
                             GPUMEM_LOG_OUT_FIELD(info, device_count));
}

static gpumem_result choose_named(const char *name, size_t length, const char *origin,
                                  const gpumem_backend_entry **out)
{
    gpumem_backend_entry *e = lookup(name, length);
    if (!e)
        return unknown_backend(name, length, origin);
    gpumem_backend_info info;
    gpumem_result r = entry_state(e, &info, 1);
    if (r != GPUMEM_OK)
        return unavailable_backend(&info, r, origin);
    *out = e;
    return GPUMEM_OK;
}

/* The first available backend of a comma-separated list, probing in order and no further;
 * every name must be known, available or not. */
static gpumem_result choose_from_list(const char *list, const gpumem_backend_entry **out)
{
    static const char origin[] = " (named by GPUMEM_BACKEND)";
    const char *cursor = list, *name;
    size_t length;
    int names = 0;
    while (gpumem_env_list_next(&cursor, ", ", &name, &length)) {
        if (!lookup(name, length))
            return unknown_backend(name, length, origin);
        names++;
    }
    if (!names) {
        char quoted[128];
        gpumem_env_quote(list, strlen(list), quoted, sizeof quoted);
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "GPUMEM_BACKEND=%s names no backend",
                           quoted);
    }
    gpumem_backend_info first = {0};
    gpumem_result first_result = GPUMEM_OK;
    cursor = list;
    while (gpumem_env_list_next(&cursor, ", ", &name, &length)) {
        gpumem_backend_entry *e = lookup(name, length);
        gpumem_backend_info info;
        gpumem_result r = entry_state(e, &info, 1);
        if (r == GPUMEM_OK) {
            *out = e;
            return GPUMEM_OK;
        }
        if (first_result == GPUMEM_OK) {
            first = info;
            first_result = r;
        }
    }
    return unavailable_backend(&first, first_result, origin);
}

/* The available backend of highest priority (the first registered among equals), probing from
 * the highest down and no further. */
static gpumem_result choose_best(const gpumem_backend_entry **out)
{
    /* One priority at a time, from the highest: the highest below `ceiling`, then its entries
     * in registration order (the list is short). */
    int64_t ceiling = INT64_MAX;
    for (;;) {
        int64_t level = -1;
        gpumem_backend_entry *e;
        for (uint32_t i = 0; (e = accepted_at(i)); i++)
            if ((int64_t)e->info.priority < ceiling && (int64_t)e->info.priority > level)
                level = e->info.priority;
        if (level < 0)
            return gpumem_fail(GPUMEM_ERROR_UNAVAILABLE, "no backend is available");
        for (uint32_t i = 0; (e = accepted_at(i)); i++)
            if ((int64_t)e->info.priority == level && entry_state(e, NULL, 1) == GPUMEM_OK) {
                *out = e;
                return GPUMEM_OK;
            }
        ceiling = level;
    }
}

gpumem_result gpumem_registry_choose(const char *name, const gpumem_backend_entry **out)
{
    *out = NULL;
    gpumem_result r = ensure_init();
    if (r != GPUMEM_OK)
        return r;
    const char *list = name ? NULL : gpumem_env_backend();
    const char *why = name ? "named by the application" : list ? "first available of GPUMEM_BACKEND"
                                                               : "highest priority available";
    r = name ? choose_named(name, strlen(name), "", out)
        : list ? choose_from_list(list, out)
               : choose_best(out);
    if (r == GPUMEM_OK)
        gpumem_log(GPUMEM_LOG_INFO, "backend '%s' chosen: %s%s%s%s", (*out)->info.name, why,
                   list ? " (" : "", list ? list : "", list ? ")" : "");
    return r;
}
