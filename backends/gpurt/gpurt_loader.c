#include "gpurt_loader.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

gpurt_function gpurt_dlsym(void *library, const char *name)
{
    gpurt_function f;
    void *p = dlsym(library, name);
    memcpy(&f, &p, sizeof f); /* object to function pointer: defined by POSIX, not by C */
    return f;
}

/* "not found" is what users look for; any other dlopen failure keeps the loader's words. */
static void open_failure(const char *file, char *reason, size_t reason_size)
{
    const char *why = dlerror();
    if (!why || strstr(why, "No such file"))
        snprintf(reason, reason_size, "%s not found", file);
    else
        snprintf(reason, reason_size, "%s could not be loaded: %s", file, why);
}

int gpurt_library_load(const char *file, const gpurt_symbol *symbols, size_t count,
                       gpurt_resolver resolve, gpurt_function *functions, void **library,
                       char *reason, size_t reason_size)
{
    /* Local: the runtime's symbols must not satisfy anyone else's references. */
    void *handle = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        open_failure(file, reason, reason_size);
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        functions[i] = resolve ? resolve(handle, &symbols[i])
                               : gpurt_dlsym(handle, symbols[i].exported);
        if (!functions[i] && symbols[i].required) {
            snprintf(reason, reason_size, "%s lacks %s (a runtime too old?)", file,
                     symbols[i].exported);
            dlclose(handle);
            return -1;
        }
    }
    *library = handle;
    return 0;
}

int gpurt_once_load(gpurt_once *state, void (*load)(void), char *reason, size_t reason_size)
{
    pthread_once(&state->once, load);
    if (state->failed)
        snprintf(reason, reason_size, "%s", state->reason);
    return state->failed;
}
