/* libgpumem loaded at run time, as Python's ctypes, Julia's ccall and plugin hosts load it: this
 * program is not linked to libgpumem. It dlopens the library named on its command line (after
 * a few threads have started, so that the library's thread-local storage cannot be placed in
 * the initial static block), looks the API up with dlsym, and runs a device, pool and buffer
 * round trip on the default backend (GPUMEM_BACKEND): write, read back, compare, close; then
 * the same on a thread started after the load.
 * Exit 0 when it worked; 77 (meson's SKIP) when the backend is unavailable, with the reason; 1
 * otherwise, with dlerror's or gpumem's message. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpumem/gpumem.h"

#define SKIP 77

/* The functions the round trip calls, looked up by name. */
typedef struct api {
    const char *(*last_error)(void);
    gpumem_result (*device_open)(const gpumem_device_desc *, gpumem_device *);
    gpumem_result (*device_close)(gpumem_device);
    gpumem_result (*pool_create)(gpumem_device, const gpumem_pool_desc *, gpumem_pool *);
    gpumem_result (*buffer_create)(gpumem_pool, const gpumem_buffer_desc *, gpumem_buffer *);
    gpumem_result (*buffer_write)(gpumem_buffer, uint64_t, const void *, uint64_t);
    gpumem_result (*buffer_read)(gpumem_buffer, uint64_t, void *, uint64_t);
} api;

static int look_up(void *library, const char *name, void **function)
{
    *function = dlsym(library, name);
    if (*function == NULL) {
        fprintf(stderr, "load_roundtrip: dlsym(%s): %s\n", name, dlerror());
        return 0;
    }
    return 1;
}

static int failed(const api *gpumem, const char *call, gpumem_result result)
{
    fprintf(stderr, "load_roundtrip: %s returned %d: %s\n", call, (int)result,
            gpumem->last_error());
    return 1;
}

static void *idle_thread(void *unused)
{
    (void)unused;
    return NULL;
}

static int round_trip(const api *gpumem)
{
    gpumem_device device = NULL;
    gpumem_result result = gpumem->device_open(NULL, &device);
    if (result == GPUMEM_ERROR_UNAVAILABLE) { /* an unknown backend fails */
        printf("SKIP: no device for the default backend: %s\n", gpumem->last_error());
        return SKIP;
    }
    if (result != GPUMEM_OK)
        return failed(gpumem, "gpumem_device_open", result);

    enum { SIZE = 1 << 20 };
    unsigned char *written = malloc(SIZE), *read = malloc(SIZE);
    int status = 1;
    gpumem_pool pool;
    gpumem_buffer buffer;
    gpumem_buffer_desc desc = {.size = SIZE};
    if (written == NULL || read == NULL) {
        fprintf(stderr, "load_roundtrip: out of host memory\n");
        goto done;
    }
    for (size_t i = 0; i < SIZE; i++)
        written[i] = (unsigned char)(i * 131 + 7);
    memset(read, 0, SIZE);
    if ((result = gpumem->pool_create(device, NULL, &pool)) != GPUMEM_OK) {
        failed(gpumem, "gpumem_pool_create", result);
        goto done;
    }
    if ((result = gpumem->buffer_create(pool, &desc, &buffer)) != GPUMEM_OK) {
        failed(gpumem, "gpumem_buffer_create", result);
        goto done;
    }
    if ((result = gpumem->buffer_write(buffer, 0, written, SIZE)) != GPUMEM_OK) {
        failed(gpumem, "gpumem_buffer_write", result);
        goto done;
    }
    if ((result = gpumem->buffer_read(buffer, 0, read, SIZE)) != GPUMEM_OK) {
        failed(gpumem, "gpumem_buffer_read", result);
        goto done;
    }
    if (memcmp(written, read, SIZE) != 0) {
        fprintf(stderr, "load_roundtrip: the bytes read back differ from those written\n");
        goto done;
    }
    status = 0;
done:
    /* Closing the device releases its pool and buffer. */
    if ((result = gpumem->device_close(device)) != GPUMEM_OK && status == 0)
        status = failed(gpumem, "gpumem_device_close", result);
    free(written);
    free(read);
    return status;
}

static void *round_trip_thread(void *gpumem)
{
    return (void *)(intptr_t)round_trip(gpumem);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s LIBGPUMEM\n", argv[0]);
        return 2;
    }
    /* Threads that exist before the dlopen: their static TLS blocks are already laid out, so
     * a library that asked for initial-exec thread-locals would be refused now. */
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        if (pthread_create(&threads[i], NULL, idle_thread, NULL) != 0) {
            fprintf(stderr, "load_roundtrip: pthread_create failed\n");
            return 1;
        }
    }
    for (int i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);

    void *library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        fprintf(stderr, "load_roundtrip: dlopen(%s): %s\n", argv[1], dlerror());
        return 1;
    }
    api gpumem;
    if (!look_up(library, "gpumem_last_error", (void **)&gpumem.last_error) ||
        !look_up(library, "gpumem_device_open", (void **)&gpumem.device_open) ||
        !look_up(library, "gpumem_device_close", (void **)&gpumem.device_close) ||
        !look_up(library, "gpumem_pool_create", (void **)&gpumem.pool_create) ||
        !look_up(library, "gpumem_buffer_create", (void **)&gpumem.buffer_create) ||
        !look_up(library, "gpumem_buffer_write", (void **)&gpumem.buffer_write) ||
        !look_up(library, "gpumem_buffer_read", (void **)&gpumem.buffer_read))
        return 1;
    int status = round_trip(&gpumem);
    if (status == 0) {
        /* Once more on a thread started after the load: its thread-local block is made then. */
        pthread_t late;
        if (pthread_create(&late, NULL, round_trip_thread, &gpumem) != 0) {
            fprintf(stderr, "load_roundtrip: pthread_create failed\n");
            return 1;
        }
        void *late_status;
        pthread_join(late, &late_status);
        status = (int)(intptr_t)late_status;
    }
    if (status == 0) {
        dlclose(library);
        printf("load_roundtrip: dlopen, two round trips of 1 MiB (on the first thread and on a "
               "later one) and dlclose passed\n");
    }
    return status;
}
