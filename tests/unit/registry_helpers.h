/* What the registry, probing and environment tests share: a log callback that keeps the
 * warnings, and module folders of their own, made of the fixture modules (module_fixture.c) under
 * the names the registry looks for. Criterion runs each test in a process of its own, so each
 * starts with an empty registry, no warnings given yet, and the environment it sets. */
#ifndef GPUMEM_TESTS_REGISTRY_HELPERS_H
#define GPUMEM_TESTS_REGISTRY_HELPERS_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gpumem/backend.h"

/* --- warnings --- */

#define MAX_WARNINGS 1024

static pthread_mutex_t warnings_lock = PTHREAD_MUTEX_INITIALIZER;
static char *warnings[MAX_WARNINGS];
static int warning_count;

static void keep_warnings(void *user, int32_t level, const char *message)
{
    (void)user;
    if (level != GPUMEM_LOG_WARNING)
        return;
    pthread_mutex_lock(&warnings_lock);
    if (warning_count < MAX_WARNINGS)
        warnings[warning_count++] = strdup(message);
    pthread_mutex_unlock(&warnings_lock);
}

static inline void capture_warnings(void)
{
    cr_assert_eq(gpumem_log_set_callback(keep_warnings, NULL), GPUMEM_OK);
}

/* Warnings that contain `a` and, unless it is NULL, `b`. */
static inline int warnings_with(const char *a, const char *b)
{
    int n = 0;
    pthread_mutex_lock(&warnings_lock);
    for (int i = 0; i < warning_count; i++)
        n += warnings[i] && strstr(warnings[i], a) && (!b || strstr(warnings[i], b));
    pthread_mutex_unlock(&warnings_lock);
    return n;
}

/* The first warning that contains `a`, or "" (for messages). */
static inline const char *warning_with(const char *a)
{
    const char *found = "";
    pthread_mutex_lock(&warnings_lock);
    for (int i = 0; i < warning_count && !*found; i++)
        if (warnings[i] && strstr(warnings[i], a))
            found = warnings[i];
    pthread_mutex_unlock(&warnings_lock);
    return found;
}

/* All warnings, one per line, for a failed assertion's message. */
static inline const char *all_warnings(void)
{
    static char text[8192];
    size_t n = 0;
    text[0] = '\0';
    pthread_mutex_lock(&warnings_lock);
    for (int i = 0; i < warning_count && n + 1 < sizeof text; i++) {
        int w = snprintf(text + n, sizeof text - n, "\n  %s", warnings[i] ? warnings[i] : "");
        if (w < 0)
            break;
        n += (size_t)w;
    }
    pthread_mutex_unlock(&warnings_lock);
    return text;
}

/* --- module folders --- */

static char test_folder[256]; /* short: paths are made of it */

/* A new folder of this test's own (mode 0700), removed by remove_test_folder. */
static inline const char *make_test_folder(void)
{
    snprintf(test_folder, sizeof test_folder, "/tmp/gpumem-test-XXXXXX");
    cr_assert_not_null(mkdtemp(test_folder), "mkdtemp failed");
    return test_folder;
}

static inline void remove_folder(const char *folder)
{
    DIR *dir = opendir(folder);
    if (!dir)
        return;
    struct dirent *d;
    char path[PATH_MAX];
    while ((d = readdir(dir)))
        if (strcmp(d->d_name, ".") && strcmp(d->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", folder, d->d_name);
            struct stat st;
            if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
                remove_folder(path);
            else
                unlink(path);
        }
    closedir(dir);
    rmdir(folder);
}

static inline void remove_test_folder(void)
{
    if (test_folder[0])
        remove_folder(test_folder);
}

static inline const char *fixture_path(const char *kind)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/libfixture-%s.so", FIXTURE_DIR, kind);
    return path;
}

/* <folder>/libgpumem-<name>.so: a link to the fixture module of that kind. */
static inline void link_fixture(const char *folder, const char *kind, const char *name)
{
    char link_path[PATH_MAX];
    snprintf(link_path, sizeof link_path, "%s/libgpumem-%s.so", folder, name);
    cr_assert_eq(symlink(fixture_path(kind), link_path), 0, "symlink %s", link_path);
}

static inline void write_file(const char *path, const void *data, size_t size, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0, "open %s", path);
    cr_assert_eq(write(fd, data, size), (ssize_t)size);
    cr_assert_eq(fchmod(fd, mode), 0); /* exactly, whatever the umask */
    close(fd);
}

/* <folder>/<file>: a copy of a file, with the given mode. */
static inline void copy_file(const char *from, const char *folder, const char *file, mode_t mode)
{
    FILE *f = fopen(from, "rb");
    cr_assert_not_null(f, "fopen %s", from);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)size);
    cr_assert_eq(fread(data, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", folder, file);
    write_file(path, data, (size_t)size, mode);
    free(data);
}

/* How often the fixture module at `path` probed; 0 when it is not loaded. */
static inline unsigned probe_count(const char *path)
{
    void *module = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (!module)
        return 0;
    unsigned (*count)(void);
    *(void **)&count = dlsym(module, "fixture_probe_count");
    unsigned n = count ? count() : 0;
    dlclose(module);
    return n;
}

static inline gpumem_backend_info find_backend(const char *name)
{
    gpumem_backend_info info;
    gpumem_result r = gpumem_backend_find(name, &info);
    cr_assert_eq(r, GPUMEM_OK, "%s: %s", name, gpumem_last_error());
    return info;
}

/* A small write and read on a device, checked. */
static inline void check_transfers(gpumem_device device, size_t size)
{
    gpumem_pool pool;
    gpumem_buffer buffer;
    cr_assert_eq(gpumem_pool_create(device, NULL, &pool), GPUMEM_OK, "%s", gpumem_last_error());
    gpumem_buffer_desc desc = {.size = size};
    cr_assert_eq(gpumem_buffer_create(pool, &desc, &buffer), GPUMEM_OK, "%s",
                 gpumem_last_error());
    unsigned char *in = malloc(size), *out = calloc(1, size);
    cr_assert(in && out);
    for (size_t i = 0; i < size; i++)
        in[i] = (unsigned char)(i * 7 + 3);
    cr_assert_eq(gpumem_buffer_write(buffer, 0, in, size), GPUMEM_OK, "write: %s",
                 gpumem_last_error());
    cr_assert_eq(gpumem_buffer_read(buffer, 0, out, size), GPUMEM_OK, "read: %s",
                 gpumem_last_error());
    cr_assert_eq(memcmp(in, out, size), 0, "the data read differs from the data written");
    free(in);
    free(out);
    cr_assert_eq(gpumem_pool_destroy(pool), GPUMEM_OK);
}

#endif
