/* Stream-ordered buffers: a range destroyed on a stream is taken again at once by that stream
 * and by others only after the work queued before the destroy. Each test queues slow work
 * first (several copies, then the one that reads the doomed buffer), so that a taker that did
 * not wait would overwrite the bytes before that copy read them: on a backend whose streams run
 * late (the simulated GPU's slow streams, a real GPU) the copy's result then shows it. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "bystander.h"
#include "conformance.h"

#define PAGE (4ull << 20)
#define PART (PAGE / 2 - (256u << 10)) /* two fill most of a page; each its own range */
#define SLOW_COPIES 4

typedef struct order_setup {
    gpumem_pool pool;   /* one page at most: a new range must be a freed one */
    gpumem_pool spare;  /* where the slow work and the witness live */
    gpumem_buffer doomed, neighbour, witness, ballast;
    uint8_t *original, *seen;
} order_setup;

static void setup_pools(order_setup *o)
{
    gpumem_pool_desc desc = {.page_size = PAGE, .byte_limit = PAGE, .name = "one page"};
    OK(gpumem_pool_create(conf_dev, &desc, &o->pool));
    o->spare = conf_pool(0);
    o->doomed = conf_buffer(o->pool, PART, 0);
    o->neighbour = conf_buffer(o->pool, PART, 0);
    o->witness = conf_buffer(o->spare, PART, 0);
    o->ballast = conf_buffer(o->spare, PART, 0);
    o->original = conf_alloc(PART);
    o->seen = conf_alloc(PART);
    conf_pattern(o->original, PART, 77);
    OK(gpumem_buffer_write(o->doomed, 0, o->original, PART));
}

/* Queues slow work on `stream`, the last of it reading the doomed buffer into the witness,
 * then destroys the doomed buffer on the stream. */
static void queue_and_destroy(order_setup *o, gpumem_stream stream)
{
    for (int i = 0; i < SLOW_COPIES; i++)
        OK(gpumem_stream_copy(stream, o->ballast, 0, o->witness, 0, PART));
    OK(gpumem_stream_copy(stream, o->doomed, 0, o->witness, 0, PART));
    OK(gpumem_buffer_destroy_on_stream(o->doomed, stream));
}

static void check_witness(order_setup *o, const char *taker)
{
    OK(gpumem_buffer_read(o->witness, 0, o->seen, PART));
    ASSERT_BYTES(o->seen, o->original, PART,
                 "%s overwrote a range freed on a stream before the stream's work read it",
                 taker);
}

static void teardown(order_setup *o)
{
    OK(gpumem_pool_destroy(o->pool));
    free(o->original);
    free(o->seen);
}

static void same_place(gpumem_buffer a_info_of, gpumem_buffer_info *before)
{
    gpumem_buffer_info after;
    OK(gpumem_buffer_info_get(a_info_of, &after));
    cr_assert(after.page == before->page && after.offset == before->offset,
              "the freed range (page %u, offset %llu) was not taken: page %u, offset %llu",
              before->page, (unsigned long long)before->offset, after.page,
              (unsigned long long)after.offset);
}

CONF_TEST(a_stream_takes_its_own_freed_range_at_once)
{
    order_setup o;
    setup_pools(&o);
    gpumem_stream stream;
    OK(gpumem_stream_create(conf_dev, &stream));
    gpumem_buffer_info before;
    OK(gpumem_buffer_info_get(o.doomed, &before));
    queue_and_destroy(&o, stream);
    /* The pool may not grow: the new buffer must be the freed range, and the stream needs no
     * wait to take it (its work runs in order). */
    gpumem_buffer again;
    OK(gpumem_buffer_create_on_stream(o.pool, &(gpumem_buffer_desc){.size = PART}, stream,
                                      &again));
    same_place(again, &before);
    uint8_t *other = conf_alloc(PART);
    conf_pattern(other, PART, 78);
    OK(gpumem_stream_write(stream, again, 0, other, PART));
    OK(gpumem_stream_synchronize(stream));
    check_witness(&o, "the same stream");
    OK(gpumem_buffer_read(again, 0, o.seen, PART));
    ASSERT_BYTES(o.seen, other, PART, "the new buffer's bytes");
    OK(gpumem_buffer_destroy_on_stream(again, stream));
    OK(gpumem_stream_destroy(stream));
    free(other);
    teardown(&o);
}

/* Another stream takes the range; `host` 1: the host does (gpumem_buffer_create). */
static void another_taker(int host)
{
    order_setup o;
    setup_pools(&o);
    gpumem_stream stream, taker;
    OK(gpumem_stream_create(conf_dev, &stream));
    OK(gpumem_stream_create(conf_dev, &taker));
    gpumem_buffer_info before;
    OK(gpumem_buffer_info_get(o.doomed, &before));
    queue_and_destroy(&o, stream);
    gpumem_buffer again;
    gpumem_buffer_desc desc = {.size = PART};
    uint8_t *other = conf_alloc(PART);
    conf_pattern(other, PART, 79);
    if (host) {
        OK(gpumem_buffer_create(o.pool, &desc, &again));
        same_place(again, &before);
        OK(gpumem_buffer_write(again, 0, other, PART));
    } else {
        OK(gpumem_buffer_create_on_stream(o.pool, &desc, taker, &again));
        same_place(again, &before);
        OK(gpumem_stream_write(taker, again, 0, other, PART));
        OK(gpumem_stream_synchronize(taker));
    }
    OK(gpumem_stream_synchronize(stream));
    check_witness(&o, host ? "the host" : "another stream");
    OK(gpumem_buffer_read(again, 0, o.seen, PART));
    ASSERT_BYTES(o.seen, other, PART, "the new buffer's bytes");
    OK(gpumem_buffer_destroy(again));
    OK(gpumem_stream_destroy(stream));
    OK(gpumem_stream_destroy(taker));
    free(other);
    teardown(&o);
}

/* The host writes a new buffer's guard margins when it is made, not in the stream's order: a
 * create on a stream in a range that the stream's queued work still writes must not let that
 * work land on the new margins (the fuzzer found it on lavapipe's queue). */
CONF_TEST(guard_margins_of_a_stream_ordered_buffer_survive_the_work_before_the_free)
{
    uint32_t type = conf_host_visible_type();
    gpumem_pool pool = conf_type_pool(type, PAGE, GPUMEM_POOL_DETECT_CORRUPTION, "guarded");
    gpumem_pool spare = conf_pool(0);
    gpumem_buffer ballast = conf_buffer(spare, PART, 0);
    uint8_t *data = conf_alloc(PART);
    conf_pattern(data, PART, 80);
    OK(gpumem_buffer_write(ballast, 0, data, PART));
    gpumem_stream stream;
    OK(gpumem_stream_create(conf_dev, &stream));
    for (int round = 0; round < 4; round++) {
        gpumem_buffer doomed;
        OK(gpumem_buffer_create_on_stream(pool, &(gpumem_buffer_desc){.size = PART}, stream,
                                          &doomed));
        /* Slow work, the last of it writing the whole doomed buffer. */
        for (int i = 0; i < SLOW_COPIES; i++)
            OK(gpumem_stream_copy(stream, ballast, 0, doomed, 0, PART));
        OK(gpumem_buffer_destroy_on_stream(doomed, stream));
        /* Smaller buffers in the freed range: their margins lie where the copies write. */
        gpumem_buffer small[3];
        for (int i = 0; i < 3; i++)
            OK(gpumem_buffer_create_on_stream(
                pool, &(gpumem_buffer_desc){.size = PART / 5 + 12345 * (uint64_t)i}, stream,
                &small[i]));
        OK(gpumem_stream_synchronize(stream));
        cr_assert(gpumem_pool_check(pool) == GPUMEM_OK, "round %d: %s", round,
                  gpumem_last_error());
        for (int i = 0; i < 3; i++)
            OK(gpumem_buffer_destroy_on_stream(small[i], stream));
    }
    OK(gpumem_stream_destroy(stream));
    OK(gpumem_pool_destroy(pool));
    free(data);
}

CONF_TEST(another_stream_takes_a_freed_range_after_the_work_before_the_free)
{
    another_taker(0);
}

CONF_TEST(the_host_takes_a_freed_range_after_the_work_before_the_free)
{
    another_taker(1);
}

CONF_TEST(many_streams_free_into_one_pool)
{
    /* More streams than the pool's table has slots: the oldest frees are settled on the host
     * to make room, and every stream's ranges are still taken safely. */
    enum { STREAMS = 12, SIZE = 64 << 10 };
    gpumem_pool pool = conf_pool(1u << 20);
    gpumem_stream streams[STREAMS];
    gpumem_buffer buffers[STREAMS];
    uint8_t *data = conf_alloc(SIZE), *seen = conf_alloc(SIZE);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < STREAMS; i++) {
            if (round == 0)
                OK(gpumem_stream_create(conf_dev, &streams[i]));
            OK(gpumem_buffer_create_on_stream(pool, &(gpumem_buffer_desc){.size = SIZE},
                                              streams[i], &buffers[i]));
            conf_pattern(data, SIZE, (uint64_t)(round * STREAMS + i));
            OK(gpumem_stream_write(streams[i], buffers[i], 0, data, SIZE));
        }
        for (int i = 0; i < STREAMS; i++) {
            conf_pattern(data, SIZE, (uint64_t)(round * STREAMS + i));
            OK(gpumem_stream_read(streams[i], buffers[i], 0, seen, SIZE));
            OK(gpumem_stream_synchronize(streams[i]));
            ASSERT_BYTES(seen, data, SIZE, "round %d, stream %d", round, i);
            OK(gpumem_buffer_destroy_on_stream(buffers[i], streams[(i + round) % STREAMS]));
        }
    }
    for (int i = 0; i < STREAMS; i++)
        OK(gpumem_stream_destroy(streams[i]));
    free(data);
    free(seen);
}

CONF_TEST(trim_frees_the_pages_kept_for_stream_ordered_frees)
{
    gpumem_pool_desc desc = {.page_size = PAGE, .name = "kept"};
    gpumem_pool pool;
    OK(gpumem_pool_create(conf_dev, &desc, &pool));
    gpumem_stream stream;
    OK(gpumem_stream_create(conf_dev, &stream));
    gpumem_buffer small, large;
    OK(gpumem_buffer_create_on_stream(pool, &(gpumem_buffer_desc){.size = 4096}, stream,
                                      &small));
    OK(gpumem_buffer_create_on_stream(pool, &(gpumem_buffer_desc){.size = PAGE}, stream,
                                      &large)); /* a page of its own */
    OK(gpumem_stream_fill(stream, large, 0, PAGE, 0x5A5A5A5Au));
    OK(gpumem_buffer_destroy_on_stream(large, stream));
    gpumem_pool_stats s, before;
    OK(gpumem_pool_stats_get(pool, &before));
    /* A page of its own kept for the stream's work is reused by a request of its size. */
    OK(gpumem_buffer_create_on_stream(pool, &(gpumem_buffer_desc){.size = PAGE - 4096},
                                      stream, &large));
    OK(gpumem_pool_stats_get(pool, &s));
    /* the small buffer's page and one more (with guard margins a little more) */
    cr_assert_leq(s.reserved_bytes, 2 * PAGE + PAGE / 4,
                  "the kept page was not reused: %llu bytes reserved, %llu before",
                  (unsigned long long)s.reserved_bytes,
                  (unsigned long long)before.reserved_bytes);
    OK(gpumem_buffer_destroy_on_stream(large, stream));
    OK(gpumem_buffer_destroy_on_stream(small, stream));
    OK(gpumem_pool_stats_get(pool, &s));
    cr_assert_eq(s.allocation_count, 0);
    OK(gpumem_pool_trim(pool));
    OK(gpumem_pool_stats_get(pool, &s));
    cr_assert_eq(s.reserved_bytes, 0, "trim left %llu bytes reserved",
                 (unsigned long long)s.reserved_bytes);
    OK(gpumem_stream_destroy(stream));
    OK(gpumem_pool_destroy(pool));
}

CONF_TEST(native_pools_allocate_and_free_on_the_stream)
{
    if (!conf_props.native_pools)
        CONF_SKIP("backend '%s' has no native pools", conf_backend());
    gpumem_pool pool;
    OK(gpumem_pool_create(conf_dev, &(gpumem_pool_desc){.kind = GPUMEM_POOL_NATIVE}, &pool));
    gpumem_stream a, b;
    OK(gpumem_stream_create(conf_dev, &a));
    OK(gpumem_stream_create(conf_dev, &b));
    enum { SIZE = 1 << 20 };
    uint8_t *data = conf_alloc(SIZE), *seen = conf_alloc(SIZE);
    for (int i = 0; i < 16; i++) {
        gpumem_stream s = i % 2 ? a : b;
        gpumem_buffer buffer;
        OK(gpumem_buffer_create_on_stream(pool, &(gpumem_buffer_desc){.size = SIZE}, s,
                                          &buffer));
        conf_pattern(data, SIZE, (uint64_t)i);
        OK(gpumem_stream_write(s, buffer, 0, data, SIZE));
        OK(gpumem_stream_read(s, buffer, 0, seen, SIZE));
        /* Freed on its stream, on the other one, or by the host, each of which follows the
         * stream it was allocated on first where it is another: the path on a real runtime
         * (the bytes were read before, so the ordering itself is checked by unit-reclaim's
         * native_frees_* tests, against a model backend). */
        if (i % 4 == 3)
            OK(gpumem_buffer_destroy(buffer));
        else
            OK(gpumem_buffer_destroy_on_stream(buffer, i % 3 ? s : (s == a ? b : a)));
        OK(gpumem_stream_synchronize(s));
        ASSERT_BYTES(seen, data, SIZE, "round %d", i);
    }
    OK(gpumem_stream_destroy(a)); /* the buffers freed on it are freed by others now */
    gpumem_pool_stats s;
    OK(gpumem_pool_trim(pool));
    OK(gpumem_pool_stats_get(pool, &s));
    cr_assert_eq(s.allocation_count, 0);
    OK(gpumem_stream_destroy(b));
    OK(gpumem_pool_destroy(pool));
    free(data);
    free(seen);
}

/* A host's create hands its buffer to every stream and the host at once: in a native pool,
 * whose allocations are ordered on a stream (the default one for the host's creates), work on
 * another stream right after the create comes after the allocation (a runtime with
 * stream-ordered rules, simgpu's or CUDA's, says nothing else orders the two). */
CONF_TEST(a_host_create_in_a_native_pool_is_every_streams_at_once)
{
    if (!conf_props.native_pools)
        CONF_SKIP("backend '%s' has no native pools", conf_backend());
    gpumem_pool pool;
    OK(gpumem_pool_create(conf_dev, &(gpumem_pool_desc){.kind = GPUMEM_POOL_NATIVE}, &pool));
    gpumem_stream streams[2];
    for (int i = 0; i < 2; i++)
        OK(gpumem_stream_create(conf_dev, &streams[i]));
    enum { LARGEST = 1 << 20 };
    uint8_t *data = conf_alloc(LARGEST), *seen = conf_alloc(LARGEST);
    for (int i = 0; i < 24; i++) {
        uint64_t size = 1 + (((uint64_t)i * 0x9E3779B97F4A7C15ull) >> 44) % LARGEST;
        gpumem_stream stream = streams[i % 2];
        gpumem_buffer buffer;
        OK(gpumem_buffer_create(pool, &(gpumem_buffer_desc){.size = size}, &buffer));
        conf_pattern(data, size, (uint64_t)i);
        OK(gpumem_stream_write(stream, buffer, 0, data, size));
        OK(gpumem_stream_read(stream, buffer, 0, seen, size));
        OK(gpumem_buffer_destroy_on_stream(buffer, stream));
        OK(gpumem_stream_synchronize(stream));
        ASSERT_BYTES(seen, data, size, "round %d: %llu bytes", i, (unsigned long long)size);
    }
    for (int i = 0; i < 2; i++)
        OK(gpumem_stream_destroy(streams[i]));
    OK(gpumem_pool_destroy(pool));
    free(data);
    free(seen);
}

/* A native pool's buffers under random use, against a model of their bytes: creates by the
 * host or on one of three streams or the default stream's handle (some never written, so that
 * nothing but core orders their frees after their allocation), writes, fills, copies between
 * buffers and reads of random ranges on random streams and by the host, destroys by the host,
 * on their stream or on another, and synchronizes, with the waits
 * an application owes (a stream's work on a buffer is waited for before other work uses it, or
 * before another stream or the host destroys it). Every read is checked. On a runtime with
 * stream-ordered rules (simgpu's native pools check them; CUDA's) a free or a use that core
 * queues ahead of the buffer's allocation breaks them. */
enum { NATIVE_SLOTS = 12, NATIVE_STREAMS = 4, NATIVE_LARGEST = 1 << 18 };

typedef struct native_slot {
    gpumem_buffer buffer;      /* 0: empty */
    uint64_t size;
    uint8_t *shadow;           /* what it holds where written (written[i]) */
    uint8_t *written;
    int last;                  /* the stream whose work last used it, or -1 (done) */
    int unused;                /* made on stream `last`, and nothing used it since */
} native_slot;

static uint64_t native_next(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

/* The application's wait before `user` (a stream's index, or -1: the host) uses the buffer. */
static void native_wait_for(native_slot *slot, gpumem_stream *streams, int user)
{
    slot->unused = 0;
    if (slot->last >= 0 && slot->last != user)
        OK(gpumem_stream_synchronize(streams[slot->last]));
    if (slot->last >= 0 && slot->last != user)
        slot->last = -1;
}

CONF_TEST(native_pool_buffers_hold_their_bytes_under_random_stream_ordered_use)
{
    if (!conf_props.native_pools)
        CONF_SKIP("backend '%s' has no native pools", conf_backend());
    gpumem_pool pool;
    OK(gpumem_pool_create(conf_dev, &(gpumem_pool_desc){.kind = GPUMEM_POOL_NATIVE}, &pool));
    gpumem_stream streams[NATIVE_STREAMS]; /* the last: the default stream's handle */
    for (int i = 0; i < NATIVE_STREAMS - 1; i++)
        OK(gpumem_stream_create(conf_dev, &streams[i]));
    OK(gpumem_device_default_stream(conf_dev, &streams[NATIVE_STREAMS - 1]));
    native_slot slots[NATIVE_SLOTS] = {{0}};
    uint8_t *data = conf_alloc(NATIVE_LARGEST), *seen = conf_alloc(NATIVE_LARGEST);
    uint64_t state = 0x6e6174697665ull;
    for (int step = 0; step < 400; step++) {
        native_slot *slot = &slots[native_next(&state) % NATIVE_SLOTS];
        int on = (int)(native_next(&state) % (NATIVE_STREAMS + 1)) - 1; /* -1: the host */
        gpumem_stream stream = on >= 0 ? streams[on] : NULL;
        uint64_t what = native_next(&state) % 10;
        if (!slot->buffer) { /* a create, written at once or not */
            slot->size = 1 + native_next(&state) % NATIVE_LARGEST;
            gpumem_buffer_desc desc = {.size = slot->size};
            OK(stream ? gpumem_buffer_create_on_stream(pool, &desc, stream, &slot->buffer)
                      : gpumem_buffer_create(pool, &desc, &slot->buffer));
            slot->shadow = conf_alloc(slot->size);
            slot->written = calloc(slot->size, 1);
            cr_assert_not_null(slot->written);
            slot->last = on;
            slot->unused = 1;
            what = native_next(&state) % 3 ? 0 : 9; /* mostly written at once */
            if (what == 9 && native_next(&state) % 2) {
                /* Else destroyed at once, elsewhere: only core orders that free after the
                 * allocation, which the stream it was made on may not have reached. */
                what = 5;
                on = (int)(native_next(&state) % (NATIVE_STREAMS + 1)) - 1;
                stream = on >= 0 ? streams[on] : NULL;
            }
        }
        if (what <= 2) { /* a write of a random range */
            uint64_t offset = native_next(&state) % slot->size;
            uint64_t size = 1 + native_next(&state) % (slot->size - offset);
            native_wait_for(slot, streams, on);
            conf_pattern(data, size, (uint64_t)step);
            OK(stream ? gpumem_stream_write(stream, slot->buffer, offset, data, size)
                      : gpumem_buffer_write(slot->buffer, offset, data, size));
            memcpy(slot->shadow + offset, data, size);
            memset(slot->written + offset, 1, size);
            slot->last = on;
        } else if (what <= 4) { /* a read of the whole buffer, checked where written */
            native_wait_for(slot, streams, on);
            if (stream) {
                OK(gpumem_stream_read(stream, slot->buffer, 0, seen, slot->size));
                OK(gpumem_stream_synchronize(stream));
            } else {
                OK(gpumem_buffer_read(slot->buffer, 0, seen, slot->size));
            }
            slot->last = -1;
            for (uint64_t i = 0; i < slot->size; i++)
                if (slot->written[i] && seen[i] != slot->shadow[i])
                    cr_assert_fail("step %d: byte %llu of %llu read 0x%02x, 0x%02x written",
                                   step, (unsigned long long)i,
                                   (unsigned long long)slot->size, seen[i], slot->shadow[i]);
        } else if (what == 7) { /* a fill of a random range of whole words */
            if (slot->size < 4)
                continue;
            uint64_t words = slot->size / 4;
            uint64_t first = native_next(&state) % words;
            uint64_t count = 1 + native_next(&state) % (words - first);
            uint32_t pattern = (uint32_t)native_next(&state);
            native_wait_for(slot, streams, on);
            OK(stream ? gpumem_stream_fill(stream, slot->buffer, first * 4, count * 4, pattern)
                      : gpumem_buffer_fill(slot->buffer, first * 4, count * 4, pattern));
            for (uint64_t w = first; w < first + count; w++)
                memcpy(slot->shadow + w * 4, &pattern, 4); /* the host's byte order */
            memset(slot->written + first * 4, 1, count * 4);
            slot->last = on;
        } else if (what == 8) { /* a copy into it from another live buffer */
            native_slot *from = &slots[native_next(&state) % NATIVE_SLOTS];
            if (from == slot || !from->buffer)
                continue;
            uint64_t most = from->size < slot->size ? from->size : slot->size;
            uint64_t size = 1 + native_next(&state) % most;
            uint64_t at = native_next(&state) % (from->size - size + 1);
            uint64_t to = native_next(&state) % (slot->size - size + 1);
            native_wait_for(from, streams, on);
            native_wait_for(slot, streams, on);
            OK(stream ? gpumem_stream_copy(stream, from->buffer, at, slot->buffer, to, size)
                      : gpumem_buffer_copy(from->buffer, at, slot->buffer, to, size));
            memmove(slot->shadow + to, from->shadow + at, size);
            memmove(slot->written + to, from->written + at, size);
            from->last = slot->last = on;
        } else if (what <= 6) { /* a destroy by the host or on a stream */
            /* None owed for a buffer no work used: core orders the free after its allocation. */
            if (!slot->unused)
                native_wait_for(slot, streams, on);
            OK(stream ? gpumem_buffer_destroy_on_stream(slot->buffer, stream)
                      : gpumem_buffer_destroy(slot->buffer));
            free(slot->shadow);
            free(slot->written);
            *slot = (native_slot){0};
        } else if (on >= 0) {
            OK(gpumem_stream_synchronize(stream));
            for (int i = 0; i < NATIVE_SLOTS; i++)
                if (slots[i].last == on)
                    slots[i].last = -1;
        }
    }
    for (int i = 0; i < NATIVE_SLOTS; i++)
        if (slots[i].buffer) {
            if (!slots[i].unused)
                native_wait_for(&slots[i], streams, -1);
            OK(gpumem_buffer_destroy(slots[i].buffer));
            free(slots[i].shadow);
            free(slots[i].written);
        }
    for (int i = 0; i < NATIVE_STREAMS - 1; i++)
        OK(gpumem_stream_destroy(streams[i]));
    OK(gpumem_pool_trim(pool));
    gpumem_pool_stats stats;
    OK(gpumem_pool_stats_get(pool, &stats));
    cr_assert_eq(stats.allocation_count, 0);
    OK(gpumem_pool_destroy(pool));
    free(data);
    free(seen);
}

CONF_TEST(stream_ordered_buffers_refuse_bad_use)
{
    gpumem_pool pool = conf_pool(0);
    gpumem_stream stream;
    OK(gpumem_stream_create(conf_dev, &stream));
    gpumem_buffer_desc desc = {.size = 256};
    gpumem_buffer buffer;
    FAILS(gpumem_buffer_create_on_stream(pool, &desc, NULL, &buffer),
          GPUMEM_ERROR_INVALID_ARGUMENT);
    FAILS(gpumem_buffer_create_on_stream(pool, &desc, stream, NULL),
          GPUMEM_ERROR_INVALID_ARGUMENT);
    FAILS(gpumem_buffer_create_on_stream(pool, NULL, stream, &buffer),
          GPUMEM_ERROR_INVALID_ARGUMENT);
    FAILS(gpumem_buffer_create_on_stream(NULL, &desc, stream, &buffer),
          GPUMEM_ERROR_INVALID_HANDLE);
    FAILS(gpumem_buffer_create_on_stream(pool, &desc, (gpumem_stream)pool, &buffer),
          GPUMEM_ERROR_INVALID_HANDLE);
    OK(gpumem_buffer_create_on_stream(pool, &desc, stream, &buffer));
    FAILS(gpumem_buffer_destroy_on_stream(buffer, NULL), GPUMEM_ERROR_INVALID_ARGUMENT);

    gpumem_device other;
    OK(conf_open(&other));
    gpumem_stream theirs;
    OK(gpumem_stream_create(other, &theirs));
    FAILS(gpumem_buffer_create_on_stream(pool, &desc, theirs, &buffer),
          GPUMEM_ERROR_INVALID_ARGUMENT);
    FAILS(gpumem_buffer_destroy_on_stream(buffer, theirs), GPUMEM_ERROR_INVALID_ARGUMENT);
    OK(gpumem_device_close(other));

    OK(gpumem_buffer_destroy_on_stream(buffer, stream));
    FAILS(gpumem_buffer_destroy_on_stream(buffer, stream), GPUMEM_ERROR_DESTROYED);
    OK(gpumem_stream_destroy(stream));
    FAILS(gpumem_buffer_create_on_stream(pool, &desc, stream, &buffer), GPUMEM_ERROR_DESTROYED);
}

/* --- a buffer's native object and destroys on a stream --- */

/* The release of one native object, as the backend logs it (the simulated GPU does, at debug
 * level, with the operations still queued on the object's page). */
static _Atomic uint64_t watched_object;
static atomic_int releases, releases_under_work, any_releases;

static void watch_releases(void *user, int32_t level, const char *message)
{
    unsigned long long object;
    long long queued;
    if (sscanf(message, "simgpu: native buffer %llx released with %lld operations", &object,
               &queued) != 2) {
        conf_log(user, level, message); /* validation and guard-margin messages still count */
        return;
    }
    atomic_fetch_add(&any_releases, 1);
    uint64_t watched = atomic_load(&watched_object);
    /* Only its first release: a later object may be made at a freed one's address. */
    if (watched && object == watched &&
        atomic_compare_exchange_strong(&watched_object, &watched, 0)) {
        atomic_fetch_add(&releases, 1);
        if (queued)
            atomic_fetch_add(&releases_under_work, 1);
    }
}

/* Why a native object's release cannot be seen here (NULL when it can): a buffer of `pool` is
 * asked for its native object and destroyed, and after a trim (the host has waited for
 * everything then, whenever core frees) the backend must have logged the release. Leaves the
 * suite's log callback in place. */
static const char *native_releases_unseen(gpumem_pool pool)
{
    gpumem_buffer buffer = conf_buffer(pool, 4096, 0);
    gpumem_native_buffer native;
    gpumem_result r = gpumem_buffer_native(buffer, &native);
    if (r != GPUMEM_OK || !native.buffer) {
        OK(gpumem_buffer_destroy(buffer));
        return "the backend makes no native object per buffer (it has addresses)";
    }
    atomic_store(&watched_object, native.buffer);
    atomic_store(&releases, 0);
    gpumem_log_set_callback(watch_releases, NULL);
    OK(gpumem_buffer_destroy(buffer));
    OK(gpumem_pool_trim(pool));
    conf_log_restore();
    return atomic_load(&releases) ? NULL
                                  : "the backend does not log releasing native objects (the "
                                    "simulated GPU does, in its no-addresses configuration)";
}

/* Creates `count` 4 KiB buffers on `stream`, each asked for its native object, (with `fill`)
 * filled on the stream, and destroyed on it. */
static void churn_native_objects(gpumem_pool pool, gpumem_stream stream, uint32_t count,
                                 int fill)
{
    gpumem_buffer_desc desc = {.size = 4096};
    for (uint32_t i = 0; i < count; i++) {
        gpumem_buffer buffer;
        gpumem_native_buffer native;
        OK(gpumem_buffer_create_on_stream(pool, &desc, stream, &buffer));
        OK(gpumem_buffer_native(buffer, &native));
        if (fill)
            OK(gpumem_stream_fill(stream, buffer, 0, desc.size, i));
        OK(gpumem_buffer_destroy_on_stream(buffer, stream));
    }
}

/* A stream whose backend runs work later; else skips, with `pool` destroyed first. */
static gpumem_stream asynchronous_stream(gpumem_pool pool)
{
    gpumem_stream stream;
    OK(gpumem_stream_create(conf_dev, &stream));
    uint64_t native_stream = 0;
    OK(gpumem_stream_native(stream, &native_stream));
    if (native_stream)
        return stream;
    OK(gpumem_stream_destroy(stream));
    OK(gpumem_pool_destroy(pool));
    CONF_SKIP("the backend has no streams: a destroy on one has no work to wait for");
    return NULL;
}

/* Work queued on a stream before a destroy on it may still use the buffer (gpumem.h), and its
 * native object too (a VkBuffer, which the application's own work names): the object must not
 * be released while that work may run. The doomed buffer is written on a stream behind slow
 * copies elsewhere, then destroyed on the stream, and `others` buffers with native objects are
 * created and destroyed on it (a retired batch's worth frees them); `size` decides whether the
 * destroy gives the range back at once (a large or dedicated buffer) or in a batch, and
 * `with_bystander` whether another thread holds an epoch record (destroyed buffers are then
 * retired, not freed at once). No other work is queued on the doomed buffer's page, so the
 * object must be released with none queued there. */
static void native_object_outlives_the_streams_work(uint64_t size, uint32_t others,
                                                    int with_bystander)
{
    gpumem_pool_desc pool_desc = {.page_size = PAGE, .name = "native objects"};
    gpumem_pool pool;
    OK(gpumem_pool_create(conf_dev, &pool_desc, &pool));
    const char *unseen = native_releases_unseen(pool);
    if (unseen) {
        OK(gpumem_pool_destroy(pool));
        CONF_SKIP("%s", unseen);
    }
    gpumem_stream stream = asynchronous_stream(pool);
    gpumem_buffer doomed = conf_buffer(pool, size, 0);
    gpumem_native_buffer native;
    OK(gpumem_buffer_native(doomed, &native));
    gpumem_pool spare = conf_pool(0);
    gpumem_buffer ballast = conf_buffer(spare, PART, 0), witness = conf_buffer(spare, PART, 0);
    test_bystander bystander;
    if (with_bystander)
        cr_assert(test_bystander_start(&bystander, conf_dev),
                  "the second thread did not start or its gpumem call failed");
    atomic_store(&watched_object, native.buffer);
    atomic_store(&releases, 0);
    atomic_store(&releases_under_work, 0);
    gpumem_log_set_callback(watch_releases, NULL);

    uint8_t *data = conf_alloc(size);
    conf_pattern(data, size, 41);
    for (int i = 0; i < SLOW_COPIES; i++)
        OK(gpumem_stream_copy(stream, ballast, 0, witness, 0, PART));
    OK(gpumem_stream_write(stream, doomed, 0, data, size));
    OK(gpumem_buffer_destroy_on_stream(doomed, stream));
    churn_native_objects(pool, stream, others, 0);
    OK(gpumem_stream_synchronize(stream));
    OK(gpumem_pool_trim(pool)); /* the host waits for the frees' work: the objects may go */
    conf_log_restore();
    if (with_bystander)
        test_bystander_stop(&bystander);
    OK(gpumem_pool_destroy(pool));
    OK(gpumem_stream_destroy(stream));
    free(data);
    cr_assert_eq(atomic_load(&releases_under_work), 0,
                 "the native object of a buffer destroyed on a stream was released while the "
                 "stream's work on it was queued");
    cr_assert_eq(atomic_load(&releases), 1, "the native object was not released");
}

CONF_TEST(a_small_buffers_native_object_outlives_the_streams_work)
{
    native_object_outlives_the_streams_work(4096, 200, 0);
}

CONF_TEST(a_large_buffers_native_object_outlives_the_streams_work)
{
    native_object_outlives_the_streams_work(PAGE / 4, 0, 0);
}

CONF_TEST(a_dedicated_buffers_native_object_outlives_the_streams_work)
{
    native_object_outlives_the_streams_work(PAGE + PAGE / 4, 0, 0);
}

CONF_TEST(native_objects_outlive_the_streams_work_with_another_thread)
{
    native_object_outlives_the_streams_work(4096, 600, 1);
}

CONF_TEST(a_large_buffers_native_object_outlives_the_streams_work_with_another_thread)
{
    native_object_outlives_the_streams_work(PAGE / 4, 0, 1);
}

/* A stream that only creates and destroys buffers with native objects never has the host wait
 * by itself: the objects kept for its work must not pile up (GPUMEM_POOL_KEPT_OBJECTS: an
 * allocation on the stream then has the host wait and releases them). */
CONF_TEST(native_objects_kept_for_a_streams_work_do_not_pile_up)
{
    const uint32_t cycles = 2000, most_kept = 512;
    gpumem_pool pool = conf_pool(0);
    const char *unseen = native_releases_unseen(pool);
    if (unseen)
        CONF_SKIP("%s", unseen);
    gpumem_stream stream = asynchronous_stream(pool);
    atomic_store(&watched_object, 0);
    atomic_store(&any_releases, 0);
    gpumem_log_set_callback(watch_releases, NULL);
    churn_native_objects(pool, stream, cycles, 1);
    int released = atomic_load(&any_releases);
    conf_log_restore();
    OK(gpumem_stream_synchronize(stream));
    OK(gpumem_stream_destroy(stream));
    cr_assert_leq(cycles - (uint32_t)released, most_kept,
                  "%u native objects made, %d released: the rest were kept for the stream's work",
                  cycles, released);
}
