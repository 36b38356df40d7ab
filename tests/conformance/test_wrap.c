/* A stream of the runtime's, wrapped as a gpumem stream (gpumem_stream_wrap): it orders
 * gpumem's work like any stream, and destroying the gpumem stream leaves the native one alone.
 * The native stream here is one gpumem made (gpumem_stream_native): the test needs no runtime
 * of its own. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance.h"

#define SIZE (1u << 20)

/* A new stream of conf_dev (*owner) and a gpumem stream over its native stream (*wrapped); the
 * native handle. Skips, saying why, on a backend that cannot wrap (which must say so). */
static uint64_t wrap_or_skip(gpumem_stream *owner, gpumem_stream *wrapped)
{
    OK(gpumem_stream_create(conf_dev, owner));
    uint64_t native = 0;
    OK(gpumem_stream_native(*owner, &native));
    gpumem_result r = gpumem_stream_wrap(conf_dev, native, wrapped);
    if (r == GPUMEM_ERROR_UNSUPPORTED) {
        char why[GPUMEM_REASON_SIZE];
        snprintf(why, sizeof why, "%s", gpumem_last_error());
        cr_assert_neq(why[0], '\0', "UNSUPPORTED without a message");
        OK(gpumem_stream_destroy(*owner));
        CONF_SKIP("backend %s cannot wrap a stream: %s", conf_backend(), why);
    }
    OK(r);
    return native;
}

CONF_TEST(a_native_stream_is_wrapped_and_never_destroyed)
{
    gpumem_stream owner, wrapped;
    uint64_t native = wrap_or_skip(&owner, &wrapped);
    uint64_t again = 0;
    OK(gpumem_stream_native(wrapped, &again));
    cr_assert_eq(again, native, "the wrapped stream is another native stream");

    gpumem_buffer buffer = conf_buffer(conf_pool(0), SIZE, 0);
    uint8_t *source = conf_alloc(SIZE), *seen = conf_alloc(SIZE);
    for (int round = 0; round < 3; round++) {
        /* Work through both gpumem streams lands on one native queue, in order. */
        conf_pattern(source, SIZE, 3000 + (uint64_t)round);
        OK(gpumem_stream_write(wrapped, buffer, 0, source, SIZE));
        OK(gpumem_stream_read(owner, buffer, 0, seen, SIZE));
        OK(gpumem_stream_synchronize(owner));
        ASSERT_BYTES(seen, source, SIZE, "round %d", round);
    }
    /* Destroying the wrapped stream leaves the native one working. */
    OK(gpumem_stream_destroy(wrapped));
    FAILS(gpumem_stream_synchronize(wrapped), GPUMEM_ERROR_DESTROYED);
    conf_pattern(source, SIZE, 4000);
    OK(gpumem_stream_write(owner, buffer, 0, source, SIZE));
    OK(gpumem_stream_read(owner, buffer, 0, seen, SIZE));
    OK(gpumem_stream_synchronize(owner));
    ASSERT_BYTES(seen, source, SIZE, "after the wrapped stream was destroyed");
    FAILS(gpumem_stream_wrap(conf_dev, native, NULL), GPUMEM_ERROR_INVALID_ARGUMENT);
    FAILS(gpumem_stream_wrap(NULL, native, &wrapped), GPUMEM_ERROR_INVALID_HANDLE);
    /* A wrapped stream still open when the device closes is let go with it. */
    OK(gpumem_stream_wrap(conf_dev, native, &wrapped));
    free(source);
    free(seen);
}

/* Two gpumem streams over one native queue (a wrap of a gpumem stream's native), used by one
 * thread, while another thread makes buffers on the host in the same pool: core follows the
 * wrapped stream's frees from that other thread, beside the first thread's work on the queue.
 * The host's buffers take ranges the wrapped stream freed after filling them: a host create that
 * did not wait for the fill would have its bytes overwritten, which each host thread checks. */
struct host_maker {
    gpumem_pool pool;
    _Atomic int stop;
    int rounds, wrong;
};

static void *make_on_the_host(void *arg)
{
    struct host_maker *m = arg;
    uint8_t expected[4096], seen[4096];
    for (uint32_t i = 0; !atomic_load(&m->stop); i++) {
        gpumem_buffer b;
        gpumem_buffer_desc desc = {.size = sizeof expected};
        if (gpumem_buffer_create(m->pool, &desc, &b) != GPUMEM_OK)
            return (void *)1;
        memset(expected, (int)(i & 0x7F), sizeof expected);
        if (gpumem_buffer_write(b, 0, expected, sizeof expected) != GPUMEM_OK ||
            gpumem_buffer_read(b, 0, seen, sizeof seen) != GPUMEM_OK)
            return (void *)1;
        m->wrong += memcmp(seen, expected, sizeof seen) != 0;
        m->rounds++;
        if (gpumem_buffer_destroy(b) != GPUMEM_OK)
            return (void *)1;
    }
    return NULL;
}

CONF_TEST(two_gpumem_streams_over_one_queue_beside_another_threads_creates)
{
    CONF_SKIP_IF_EXTERNALLY_SYNCHRONIZED();
    gpumem_stream owner, wrapped;
    wrap_or_skip(&owner, &wrapped);
    gpumem_pool pool = conf_pool(0), side = conf_pool(0);
    gpumem_buffer x = conf_buffer(side, 1 << 16, 0), y = conf_buffer(side, 1 << 16, 0);
    struct host_maker m = {.pool = pool};
    pthread_t thread;
    cr_assert_eq(pthread_create(&thread, NULL, make_on_the_host, &m), 0);
    for (int i = 0; i < 300; i++) {
        gpumem_buffer b;
        gpumem_buffer_desc desc = {.size = 4096};
        OK(gpumem_buffer_create_on_stream(pool, &desc, wrapped, &b));
        OK(gpumem_stream_fill(wrapped, b, 0, 4096, 0xFFFFFFFFu));
        OK(gpumem_buffer_destroy_on_stream(b, wrapped));
        for (int k = 0; k < 2; k++)
            OK(gpumem_stream_copy(owner, x, 0, y, 0, 1 << 16));
    }
    atomic_store(&m.stop, 1);
    void *failed;
    pthread_join(thread, &failed);
    cr_assert_null(failed, "a host thread's call failed: %s", gpumem_last_error());
    cr_assert_eq(m.wrong, 0, "%d of %d host buffers lost their bytes to the wrapped stream's fill",
                 m.wrong, m.rounds);
    OK(gpumem_stream_synchronize(owner));
    OK(gpumem_stream_destroy(wrapped));
    OK(gpumem_stream_destroy(owner));
}
