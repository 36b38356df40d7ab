/* A program that uses an installed gpumem, as any application would: the default device (run.sh
 * sets GPUMEM_BACKEND=host), a pool, a 4 KiB buffer written and read back. Prints OK when every
 * byte came back. Built by tests/install/run.sh with CMake (cmake/) and with pkg-config
 * (pkgconfig/). */
#include <gpumem/gpumem.h>
#include <stdio.h>
#include <string.h>

#define SIZE 4096

static int fail(const char *what, gpumem_result r)
{
    fprintf(stderr, "consumer: %s: %s: %s\n", what, gpumem_result_string(r), gpumem_last_error());
    return 1;
}

int main(void)
{
    gpumem_device device;
    gpumem_result r = gpumem_device_open(NULL, &device);
    if (r != GPUMEM_OK)
        return fail("device open", r);
    gpumem_pool_desc pool_desc = {.name = "consumer"};
    gpumem_pool pool;
    if ((r = gpumem_pool_create(device, &pool_desc, &pool)) != GPUMEM_OK)
        return fail("pool create", r);
    gpumem_buffer_desc buffer_desc = {.size = SIZE};
    gpumem_buffer buffer;
    if ((r = gpumem_buffer_create(pool, &buffer_desc, &buffer)) != GPUMEM_OK)
        return fail("buffer create", r);

    static unsigned char out[SIZE], in[SIZE];
    for (unsigned i = 0; i < SIZE; i++)
        out[i] = (unsigned char)(i * 131u + 7u);
    if ((r = gpumem_buffer_write(buffer, 0, out, SIZE)) != GPUMEM_OK)
        return fail("buffer write", r);
    if ((r = gpumem_buffer_read(buffer, 0, in, SIZE)) != GPUMEM_OK)
        return fail("buffer read", r);
    if (memcmp(in, out, SIZE) != 0) {
        fprintf(stderr, "consumer: the bytes read back differ from those written\n");
        return 1;
    }

    gpumem_device_properties properties;
    if ((r = gpumem_device_properties_get(device, &properties)) != GPUMEM_OK)
        return fail("device properties", r);
    if ((r = gpumem_device_close(device)) != GPUMEM_OK)
        return fail("device close", r);
    uint32_t version = gpumem_version();
    printf("OK: %d bytes written and read back on %s (libgpumem %u.%u.%u, headers %s)\n", SIZE,
           properties.backend, version / 10000, version / 100 % 100, version % 100,
           GPUMEM_VERSION_STRING);
    return 0;
}
