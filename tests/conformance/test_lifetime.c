/* Ownership and handle lifetimes: closing a device releases what it owns; destroyed handles
 * answer GPUMEM_ERROR_DESTROYED forever; double destroys are harmless. */
#include <stdlib.h>
#include <string.h>

#include "conformance.h"

#define PAGE (1ull << 20)

CONF_TEST(closing_a_device_releases_everything_it_owns)
{
    gpumem_device dev = conf_dev;
    uint32_t visible = conf_host_visible_type();
    gpumem_pool pool = conf_pool(PAGE);
    gpumem_pool mapped_pool = conf_type_pool(visible, PAGE, GPUMEM_POOL_PERSISTENT_MAP, "pm");
    gpumem_buffer small = conf_buffer(pool, 100, 0), big = conf_buffer(pool, 3 * PAGE, 0);
    gpumem_buffer mapped = conf_buffer(mapped_pool, 100, 0);
    void *p;
    OK(gpumem_buffer_map(mapped, &p));
    gpumem_stream stream, def;
    OK(gpumem_stream_create(conf_dev, &stream));
    OK(gpumem_device_default_stream(conf_dev, &def));
    /* Pending work at close: close waits for it. */
    uint8_t *data = conf_alloc(3 * PAGE), *out = conf_alloc(3 * PAGE);
    conf_pattern(data, 3 * PAGE, 1);
    memset(out, 0, 3 * PAGE);
    OK(gpumem_stream_write(stream, big, 0, data, 3 * PAGE));
    OK(gpumem_stream_read(stream, big, 0, out, 3 * PAGE));

    conf_finish(); /* closes the device; conf_dev is NULL from here */
    ASSERT_BYTES(out, data, 3 * PAGE, "close did not finish the stream's work");

    uint8_t byte = 0;
    gpumem_pool_stats ps;
    gpumem_buffer_info bi;
    gpumem_device_properties props;
    uint64_t length, native;
    FAILS(gpumem_device_properties_get(dev, &props), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_device_dump_json(dev, NULL, 0, &length), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_pool_create(dev, &(gpumem_pool_desc){0}, &pool), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_stream_create(dev, &stream), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_device_default_stream(dev, &def), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_pool_stats_get(pool, &ps), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_pool_trim(pool), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_buffer_create(pool, &(gpumem_buffer_desc){.size = 1}, &small),
          GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_buffer_info_get(small, &bi), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_buffer_write(small, 0, &byte, 1), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_buffer_read(big, 0, &byte, 1), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_buffer_copy(small, 0, big, 0, 1), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_buffer_fill(big, 0, 4, 0), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_buffer_map(mapped, &p), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_buffer_unmap(mapped), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_buffer_flush(mapped, 0, 1), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_stream_synchronize(stream), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_stream_synchronize(def), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_stream_native(def, &native), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_stream_write(stream, small, 0, &byte, 1), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_buffer_destroy(small), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_buffer_destroy(mapped), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_stream_destroy(stream), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_pool_destroy(pool), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_pool_destroy(mapped_pool), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_device_close(dev), GPUMEM_ERROR_DESTROYED);

    /* A new device works, and the old handles stay destroyed next to new objects. */
    OK(conf_open(&conf_dev));
    gpumem_pool fresh = conf_pool(PAGE);
    gpumem_buffer fb = conf_buffer(fresh, 100, 0);
    OK(gpumem_buffer_write(fb, 0, data, 100));
    FAILS(gpumem_buffer_info_get(small, &bi), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_pool_stats_get(pool, &ps), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_device_properties_get(dev, &props), GPUMEM_ERROR_DESTROYED);
    OK(gpumem_buffer_read(fb, 0, out, 100));
    ASSERT_BYTES(out, data, 100);
    free(data);
    free(out);
}

CONF_TEST(destroying_a_pool_destroys_its_buffers)
{
    gpumem_pool doomed = conf_pool(PAGE), other = conf_pool(PAGE);
    gpumem_buffer d1 = conf_buffer(doomed, 100, 0), d2 = conf_buffer(doomed, 2 * PAGE, 0);
    gpumem_buffer keep = conf_buffer(other, 100, 0);
    uint8_t data[100], out[100];
    conf_pattern(data, sizeof data, 5);
    OK(gpumem_buffer_write(keep, 0, data, sizeof data));
    OK(gpumem_pool_destroy(doomed));
    FAILS(gpumem_buffer_info_get(d1, &(gpumem_buffer_info){0}), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_buffer_read(d2, 0, out, 1), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_buffer_destroy(d1), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_buffer_destroy(d2), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_pool_destroy(doomed), GPUMEM_ERROR_DESTROYED);
    OK(gpumem_buffer_read(keep, 0, out, sizeof out));
    ASSERT_BYTES(out, data, sizeof out);
    gpumem_pool_stats s;
    OK(gpumem_pool_stats_get(other, &s));
    cr_assert_eq(s.allocation_count, 1);
}

CONF_TEST(double_destroy_is_harmless)
{
    gpumem_pool pool = conf_pool(PAGE);
    gpumem_buffer a = conf_buffer(pool, 100, 0);
    OK(gpumem_buffer_destroy(a));
    FAILS(gpumem_buffer_destroy(a), GPUMEM_ERROR_DESTROYED);
    /* The freed handle slot is likely reused now; the old handle must not reach the new
     * buffer. */
    gpumem_buffer b = conf_buffer(pool, 200, 0);
    FAILS(gpumem_buffer_destroy(a), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_buffer_info_get(a, &(gpumem_buffer_info){0}), GPUMEM_ERROR_DESTROYED);
    gpumem_buffer_info info;
    OK(gpumem_buffer_info_get(b, &info));
    cr_assert_eq(info.size, 200);
    gpumem_pool_stats s;
    OK(gpumem_pool_stats_get(pool, &s));
    cr_assert_eq(s.allocation_count, 1, "a double destroy changed the pool");

    gpumem_stream st;
    OK(gpumem_stream_create(conf_dev, &st));
    OK(gpumem_stream_destroy(st));
    FAILS(gpumem_stream_destroy(st), GPUMEM_ERROR_DESTROYED);
    gpumem_stream st2;
    OK(gpumem_stream_create(conf_dev, &st2));
    FAILS(gpumem_stream_destroy(st), GPUMEM_ERROR_DESTROYED);
    OK(gpumem_stream_synchronize(st2));

    gpumem_pool p2 = conf_pool(PAGE);
    OK(gpumem_pool_destroy(p2));
    FAILS(gpumem_pool_destroy(p2), GPUMEM_ERROR_DESTROYED);
    gpumem_pool p3 = conf_pool(PAGE);
    FAILS(gpumem_pool_destroy(p2), GPUMEM_ERROR_DESTROYED);
    gpumem_buffer c = conf_buffer(p3, 10, 0);
    OK(gpumem_buffer_write(c, 0, "0123456789", 10));
    OK(gpumem_buffer_read(b, 0, &(uint8_t[200]){0}, 200));

    gpumem_device second;
    OK(conf_open(&second));
    OK(gpumem_device_close(second));
    FAILS(gpumem_device_close(second), GPUMEM_ERROR_DESTROYED);
    gpumem_device third;
    OK(conf_open(&third));
    FAILS(gpumem_device_close(second), GPUMEM_ERROR_DESTROYED);
    OK(gpumem_device_properties_get(third, &(gpumem_device_properties){0}));
    OK(gpumem_device_close(third));
    OK(gpumem_stream_destroy(st2));
}

/* What a log callback tries to destroy, from inside the call that logged (gpumem_host_register
 * logs once the memory is registered; where the backend cannot register host memory, a buffer
 * create in a pool of its own logs its first page). */
static struct {
    int armed;
    gpumem_buffer buffer;
    gpumem_pool pool;
    gpumem_stream stream;
    gpumem_device device;
    gpumem_result results[4];
    int tried;
} from_callback;

static void destroying_log(void *user, int32_t level, const char *message)
{
    (void)user, (void)level;
    if (!from_callback.armed || !(strstr(message, "host memory registered") ||
                                  strstr(message, "pool 'logging call': page")))
        return;
    from_callback.armed = 0;
    from_callback.tried = 1;
    from_callback.results[0] = gpumem_buffer_destroy(from_callback.buffer);
    from_callback.results[1] = gpumem_pool_destroy(from_callback.pool);
    from_callback.results[2] = gpumem_stream_destroy(from_callback.stream);
    from_callback.results[3] = gpumem_device_close(from_callback.device);
}

CONF_TEST(nothing_is_destroyed_from_a_log_callback)
{
    gpumem_pool pool = conf_pool(PAGE);
    gpumem_buffer buffer = conf_buffer(pool, 1000, 0);
    gpumem_stream stream;
    OK(gpumem_stream_create(conf_dev, &stream));
    from_callback.buffer = buffer;
    from_callback.pool = pool;
    from_callback.stream = stream;
    from_callback.device = conf_dev;
    from_callback.armed = 1;
    void *host = NULL;
    cr_assert_eq(posix_memalign(&host, 1 << 16, 1 << 16), 0);
    gpumem_host_registration registration;
    gpumem_log_set_callback(destroying_log, NULL);
    gpumem_result r = gpumem_host_register(conf_dev, host, 1 << 16, 0, &registration);
    int registered = r == GPUMEM_OK;
    gpumem_pool logging = NULL;
    gpumem_buffer first;
    if (!from_callback.tried) { /* the same from a buffer create's page log */
        gpumem_pool_desc desc = {.name = "logging call"};
        OK(gpumem_pool_create(conf_dev, &desc, &logging));
        r = gpumem_buffer_create(logging, &(gpumem_buffer_desc){.size = 4096}, &first);
    }
    conf_log_restore();
    if (!from_callback.tried) {
        free(host);
        OK(gpumem_stream_destroy(stream));
        OK(gpumem_pool_destroy(pool));
        OK(gpumem_pool_destroy(logging));
        if (registered)
            OK(gpumem_host_unregister(registration));
        CONF_SKIP("no call logs to a callback here: gpumem_buffer_create: %s",
                  gpumem_result_string(r));
    }
    OK(r);
    const char *what[] = {"buffer destroy", "pool destroy", "stream destroy", "device close"};
    for (int i = 0; i < 4; i++)
        cr_expect_eq(from_callback.results[i], GPUMEM_ERROR_BAD_STATE,
                     "%s from a log callback: %s, not GPUMEM_ERROR_BAD_STATE", what[i],
                     gpumem_result_string(from_callback.results[i]));
    /* All of it still works. */
    OK(gpumem_buffer_write(buffer, 0, "refused", 7));
    char back[7];
    OK(gpumem_buffer_read(buffer, 0, back, 7));
    cr_assert(memcmp(back, "refused", 7) == 0);
    OK(gpumem_stream_synchronize(stream));
    if (registered)
        OK(gpumem_host_unregister(registration));
    if (logging)
        OK(gpumem_pool_destroy(logging)); /* and `first` with it */
    free(host);
    OK(gpumem_buffer_destroy(buffer));
    OK(gpumem_stream_destroy(stream));
    OK(gpumem_pool_destroy(pool));
}

CONF_TEST(handles_of_the_wrong_kind_are_refused)
{
    gpumem_pool pool = conf_pool(PAGE);
    gpumem_buffer buffer = conf_buffer(pool, 64, 0);
    gpumem_stream stream;
    OK(gpumem_stream_create(conf_dev, &stream));
    FAILS(gpumem_buffer_info_get((gpumem_buffer)pool, &(gpumem_buffer_info){0}),
          GPUMEM_ERROR_INVALID_HANDLE);
    FAILS(gpumem_pool_stats_get((gpumem_pool)buffer, &(gpumem_pool_stats){0}),
          GPUMEM_ERROR_INVALID_HANDLE);
    FAILS(gpumem_stream_synchronize((gpumem_stream)conf_dev), GPUMEM_ERROR_INVALID_HANDLE);
    FAILS(gpumem_device_properties_get((gpumem_device)stream, &(gpumem_device_properties){0}),
          GPUMEM_ERROR_INVALID_HANDLE);
    FAILS(gpumem_buffer_destroy((gpumem_buffer)stream), GPUMEM_ERROR_INVALID_HANDLE);
    FAILS(gpumem_pool_destroy((gpumem_pool)conf_dev), GPUMEM_ERROR_INVALID_HANDLE);
    FAILS(gpumem_device_close((gpumem_device)pool), GPUMEM_ERROR_INVALID_HANDLE);
    FAILS(gpumem_stream_destroy((gpumem_stream)buffer), GPUMEM_ERROR_INVALID_HANDLE);
    /* Nothing was harmed. */
    OK(gpumem_buffer_write(buffer, 0, "abc", 3));
    OK(gpumem_stream_synchronize(stream));
    gpumem_pool_stats s;
    OK(gpumem_pool_stats_get(pool, &s));
    cr_assert_eq(s.allocation_count, 1);
}
