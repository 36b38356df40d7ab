/* A stream of the runtime's, wrapped as a gpumem stream (gpumem_stream_wrap): it orders
 * gpumem's work like any stream, and destroying the gpumem stream leaves the native one alone.
 * The native stream here is one gpumem made (gpumem_stream_native): the test needs no runtime
 * of its own. */
#include <stdio.h>
#include <stdlib.h>

#include "conformance.h"

#define SIZE (1u << 20)

CONF_TEST(a_native_stream_is_wrapped_and_never_destroyed)
{
    gpumem_stream owner, wrapped;
    OK(gpumem_stream_create(conf_dev, &owner));
    uint64_t native = 0;
    OK(gpumem_stream_native(owner, &native));
    gpumem_result r = gpumem_stream_wrap(conf_dev, native, &wrapped);
    if (r == GPUMEM_ERROR_UNSUPPORTED) {
        char why[GPUMEM_REASON_SIZE];
        snprintf(why, sizeof why, "%s", gpumem_last_error());
        cr_assert_neq(why[0], '\0', "UNSUPPORTED without a message");
        OK(gpumem_stream_destroy(owner));
        CONF_SKIP("backend %s cannot wrap a stream: %s", conf_backend(), why);
    }
    OK(r);
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
