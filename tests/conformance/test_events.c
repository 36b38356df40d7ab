/* Events: work on one stream ordered after a point in another's, the host waiting for a point,
 * and the rules around them (devices, lifetimes, bad arguments). On a backend whose streams run
 * late (the simulated GPU's slow streams, a real GPU) a missing wait shows as wrong bytes. */
#include <stdlib.h>
#include <string.h>

#include "conformance.h"

#define SIZE (4u << 20)
#define ROUNDS 6

CONF_TEST(a_stream_waits_for_an_event_of_another)
{
    gpumem_stream producer, consumer;
    OK(gpumem_stream_create(conf_dev, &producer));
    OK(gpumem_stream_create(conf_dev, &consumer));
    gpumem_pool pool = conf_pool(0);
    gpumem_buffer data = conf_buffer(pool, SIZE, 0), copy = conf_buffer(pool, SIZE, 0);
    gpumem_event written;
    OK(gpumem_event_create(conf_dev, &written));
    uint8_t *source = conf_alloc(SIZE), *seen = conf_alloc(SIZE), *copied = conf_alloc(SIZE);
    for (int round = 0; round < ROUNDS; round++) {
        conf_pattern(source, SIZE, 1000 + (uint64_t)round);
        /* The producer writes; the consumer, told to wait for that, copies and reads. */
        OK(gpumem_stream_write(producer, data, 0, source, SIZE));
        OK(gpumem_event_record(written, producer));
        OK(gpumem_stream_wait_event(consumer, written));
        OK(gpumem_stream_copy(consumer, data, 0, copy, 0, SIZE));
        OK(gpumem_stream_read(consumer, data, 0, seen, SIZE));
        OK(gpumem_stream_read(consumer, copy, 0, copied, SIZE));
        OK(gpumem_stream_synchronize(consumer));
        ASSERT_BYTES(seen, source, SIZE, "round %d: the consumer read before the write", round);
        ASSERT_BYTES(copied, source, SIZE, "round %d: the consumer copied before the write",
                     round);
        OK(gpumem_stream_synchronize(producer));
    }
    OK(gpumem_event_destroy(written));
    free(source);
    free(seen);
    free(copied);
}

CONF_TEST(the_host_waits_for_an_event)
{
    gpumem_stream stream;
    OK(gpumem_stream_create(conf_dev, &stream));
    gpumem_buffer buffer = conf_buffer(conf_pool(0), SIZE, 0);
    gpumem_event done;
    OK(gpumem_event_create(conf_dev, &done));
    OK(gpumem_event_synchronize(done)); /* never recorded: at once */
    /* Recorded before the stream had any work: complete, and its native form (on Vulkan the
     * stream's semaphore and value 0, api.md) is one the application can wait for and wrap. */
    OK(gpumem_event_record(done, stream));
    OK(gpumem_event_synchronize(done));
    gpumem_native_event early;
    OK(gpumem_event_native(done, &early));
    if (strcmp(conf_backend(), "vulkan") == 0)
        cr_assert_eq(early.value, 0, "vulkan: recorded before any submission, value %llu",
                     (unsigned long long)early.value);
    gpumem_event early_wrapped;
    gpumem_result wrapped = gpumem_event_wrap(conf_dev, early.handle, early.value,
                                              &early_wrapped);
    if (wrapped != GPUMEM_ERROR_UNSUPPORTED) {
        cr_assert_eq(wrapped, GPUMEM_OK, "wrapping the native form of an event recorded before "
                     "any work: %s", gpumem_last_error());
        OK(gpumem_stream_wait_event(stream, early_wrapped));
        OK(gpumem_event_synchronize(early_wrapped));
        OK(gpumem_stream_synchronize(stream));
        OK(gpumem_event_destroy(early_wrapped));
    }
    uint8_t *source = conf_alloc(SIZE), *seen = conf_alloc(SIZE);
    for (int round = 0; round < ROUNDS; round++) {
        conf_pattern(source, SIZE, 2000 + (uint64_t)round);
        OK(gpumem_stream_write(stream, buffer, 0, source, SIZE));
        OK(gpumem_stream_read(stream, buffer, 0, seen, SIZE));
        OK(gpumem_event_record(done, stream));
        OK(gpumem_event_synchronize(done));
        /* The stream's read has filled `seen` once the event completed. */
        ASSERT_BYTES(seen, source, SIZE, "round %d: the event completed before the work", round);
    }
    /* A copy between buffers is work of the device on every backend with streams. */
    gpumem_buffer other = conf_buffer(conf_pool(0), SIZE, 0);
    OK(gpumem_stream_copy(stream, buffer, 0, other, 0, SIZE));
    OK(gpumem_event_record(done, stream));
    gpumem_native_event native;
    memset(&native, 0xAB, sizeof native);
    OK(gpumem_event_native(done, &native));
    if (strcmp(conf_backend(), "cuda") == 0 || strcmp(conf_backend(), "hip") == 0)
        cr_assert_neq(native.handle, 0, "%s: no native event", conf_backend());
    if (strcmp(conf_backend(), "vulkan") == 0)
        cr_assert(native.handle != 0 && native.value != 0,
                  "vulkan: a recorded event is a timeline semaphore's value");
    if (strcmp(conf_backend(), "host") == 0)
        cr_assert(native.handle == 0 && native.value == 0, "host events have no native form");
    /* The device's default stream takes events too. */
    gpumem_stream default_stream;
    OK(gpumem_device_default_stream(conf_dev, &default_stream));
    OK(gpumem_event_record(done, default_stream));
    OK(gpumem_stream_wait_event(stream, done));
    OK(gpumem_event_synchronize(done));
    OK(gpumem_event_destroy(done));
    free(source);
    free(seen);
}

/* An event recorded on a stream that has no work of its own but waits for another stream's
 * event completes only after what it waits for: a wait is work submitted before the record.
 * Chained over three streams. The first stream's last copy writes a witness buffer of coherent
 * host-visible memory, which the host reads through its mapping once the last event completed,
 * without waiting for the first stream: an event that completed early shows the witness's old
 * bytes. (On Vulkan, an event recorded while the waits were still held for the stream's next
 * submission completed at once until 2026-12-05.) */
CONF_TEST(an_event_covers_the_waits_its_stream_holds)
{
    uint32_t type = UINT32_MAX;
    for (uint32_t t = 0; t < conf_props.memory_type_count && type == UINT32_MAX; t++)
        if ((conf_type_flags(t) & GPUMEM_MEMORY_HOST_VISIBLE) &&
            (conf_type_flags(t) & GPUMEM_MEMORY_HOST_COHERENT))
            type = t;
    if (type == UINT32_MAX)
        CONF_SKIP("backend '%s' has no coherent host-visible memory to read the witness through",
                  conf_backend());
    gpumem_stream streams[3];
    gpumem_event events[3];
    for (int i = 0; i < 3; i++) {
        OK(gpumem_stream_create(conf_dev, &streams[i]));
        OK(gpumem_event_create(conf_dev, &events[i]));
    }
    gpumem_pool pool = conf_type_pool(type, 0, 0, "witness");
    gpumem_buffer source = conf_buffer(pool, SIZE, 0), witness = conf_buffer(pool, SIZE, 0),
                  ballast = conf_buffer(pool, SIZE, 0), sink = conf_buffer(pool, SIZE, 0);
    uint32_t *mapped;
    OK(gpumem_buffer_map(witness, (void **)&mapped));
    for (int round = 0; round < ROUNDS; round++) {
        uint32_t word = 0x5EED0000u + (uint32_t)round;
        OK(gpumem_buffer_fill(source, 0, SIZE, word));
        for (int i = 0; i < 8; i++) /* work ahead of the witness's copy, still queued below */
            OK(gpumem_stream_copy(streams[0], ballast, 0, sink, 0, SIZE));
        OK(gpumem_stream_copy(streams[0], source, 0, witness, 0, SIZE));
        OK(gpumem_event_record(events[0], streams[0]));
        for (int i = 1; i < 3; i++) {
            OK(gpumem_stream_wait_event(streams[i], events[i - 1]));
            OK(gpumem_event_record(events[i], streams[i]));
        }
        OK(gpumem_event_synchronize(events[2]));
        size_t stale = 0;
        for (size_t i = 0; i < SIZE / 4; i++)
            stale += mapped[i] != word;
        cr_assert_eq(stale, 0,
                     "round %d: an event after waits completed before the work waited for "
                     "(%zu of %u words not yet copied)", round, stale, SIZE / 4);
        OK(gpumem_stream_synchronize(streams[0]));
    }
    OK(gpumem_buffer_unmap(witness));
    for (int i = 0; i < 3; i++) {
        OK(gpumem_event_destroy(events[i]));
        OK(gpumem_stream_destroy(streams[i]));
    }
    OK(gpumem_pool_destroy(pool));
}

CONF_TEST(events_refuse_bad_use)
{
    gpumem_event event;
    gpumem_stream stream;
    FAILS(gpumem_event_create(conf_dev, NULL), GPUMEM_ERROR_INVALID_ARGUMENT);
    FAILS(gpumem_event_create(NULL, &event), GPUMEM_ERROR_INVALID_HANDLE);
    OK(gpumem_event_create(conf_dev, &event));
    OK(gpumem_stream_create(conf_dev, &stream));
    FAILS(gpumem_event_native(event, NULL), GPUMEM_ERROR_INVALID_ARGUMENT);
    FAILS(gpumem_event_record(event, NULL), GPUMEM_ERROR_INVALID_HANDLE);
    FAILS(gpumem_event_record((gpumem_event)stream, stream), GPUMEM_ERROR_INVALID_HANDLE);
    FAILS(gpumem_stream_wait_event(stream, (gpumem_event)stream), GPUMEM_ERROR_INVALID_HANDLE);

    /* An event and a stream of two devices do not mix. */
    gpumem_device other;
    OK(conf_open(&other));
    gpumem_stream theirs;
    gpumem_event their_event;
    OK(gpumem_stream_create(other, &theirs));
    OK(gpumem_event_create(other, &their_event));
    FAILS(gpumem_event_record(event, theirs), GPUMEM_ERROR_INVALID_ARGUMENT);
    FAILS(gpumem_stream_wait_event(stream, their_event), GPUMEM_ERROR_INVALID_ARGUMENT);
    OK(gpumem_event_record(their_event, theirs));
    /* Closing a device destroys its events. */
    OK(gpumem_device_close(other));
    FAILS(gpumem_event_synchronize(their_event), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_event_destroy(their_event), GPUMEM_ERROR_DESTROYED);

    /* An event recorded on a stream destroyed since is complete: the stream's work was
     * waited for. */
    OK(gpumem_event_record(event, stream));
    OK(gpumem_stream_destroy(stream));
    OK(gpumem_event_synchronize(event));
    OK(gpumem_event_destroy(event));
    FAILS(gpumem_event_destroy(event), GPUMEM_ERROR_DESTROYED);
    FAILS(gpumem_event_record(event, stream), GPUMEM_ERROR_DESTROYED);
}

/* An event over a native synchronization object (gpumem_event_wrap): here the native form of
 * one of gpumem's own events, which is what an application's own object looks like to the
 * backend (a CUevent; a timeline semaphore and a value). A stream that waits for the wrapped
 * event reads what the other stream wrote. Backends without it say UNSUPPORTED. */
CONF_TEST(a_stream_waits_for_a_wrapped_native_event)
{
    gpumem_stream producer, consumer;
    OK(gpumem_stream_create(conf_dev, &producer));
    OK(gpumem_stream_create(conf_dev, &consumer));
    gpumem_pool pool = conf_pool(0);
    gpumem_buffer data = conf_buffer(pool, SIZE, 0), copy = conf_buffer(pool, SIZE, 0);
    gpumem_event written;
    OK(gpumem_event_create(conf_dev, &written));
    uint8_t *source = conf_alloc(SIZE), *seen = conf_alloc(SIZE);
    for (int round = 0; round < ROUNDS; round++) {
        conf_pattern(source, SIZE, 3000 + (uint64_t)round);
        OK(gpumem_stream_write(producer, data, 0, source, SIZE));
        OK(gpumem_event_record(written, producer));
        gpumem_native_event native;
        OK(gpumem_event_native(written, &native));
        gpumem_event wrapped;
        gpumem_result r = gpumem_event_wrap(conf_dev, native.handle, native.value, &wrapped);
        if (r == GPUMEM_ERROR_UNSUPPORTED) {
            free(source);
            free(seen);
            CONF_SKIP("backend '%s' wraps no native events (%s)", conf_backend(),
                      gpumem_result_string(r));
        }
        OK(r);
        OK(gpumem_stream_wait_event(consumer, wrapped));
        OK(gpumem_stream_copy(consumer, data, 0, copy, 0, SIZE));
        OK(gpumem_stream_read(consumer, copy, 0, seen, SIZE));
        OK(gpumem_stream_synchronize(consumer));
        ASSERT_BYTES(seen, source, SIZE, "round %d: the consumer ran before the wrapped event",
                     round);
        OK(gpumem_event_synchronize(wrapped));
        OK(gpumem_event_destroy(wrapped));
        OK(gpumem_stream_synchronize(producer));
    }
    /* The wrapped object stays the application's: the original still works. */
    OK(gpumem_event_record(written, producer));
    OK(gpumem_event_synchronize(written));
    OK(gpumem_event_destroy(written));
    gpumem_event event;
    FAILS(gpumem_event_wrap(conf_dev, 1, 1, NULL), GPUMEM_ERROR_INVALID_ARGUMENT);
    FAILS(gpumem_event_wrap(NULL, 1, 1, &event), GPUMEM_ERROR_INVALID_HANDLE);
    free(source);
    free(seen);
}
