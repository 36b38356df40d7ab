/* Stress 2: concurrent destroys of one object.
 *
 * DESTROYERS threads, released together (a barrier, then a spinning gate, then a short
 * deterministic spin, so that every order of arrival happens), destroy the same object, many
 * rounds per kind: a buffer, an image, a pool (with buffers and an image), a stream (with
 * work submitted), a device (with pools, buffers, an image and streams). Exactly one destroy must return GPUMEM_OK and the others
 * GPUMEM_ERROR_DESTROYED; afterwards every call on the object, and on what it owned, returns
 * GPUMEM_ERROR_DESTROYED.
 *
 * A last kind races owners against what they own: one thread closes the device while the
 * others destroy its pool, a buffer of that pool and a stream. The close must return OK; each
 * of the others OK or GPUMEM_ERROR_DESTROYED; afterwards everything is destroyed.
 *
 * `stress_destroy --vblock` also races destroys of one virtual block. It is not run by meson:
 * virtual blocks are documented as externally synchronized. */
#include <sched.h>

#include "stress.h"

enum { DESTROYERS = 4, BUFFERS_PER_POOL = 3 };

typedef enum kind {
    KIND_BUFFER,
    KIND_POOL,
    KIND_STREAM,
    KIND_DEVICE,
    KIND_OWNERS,
    KIND_IMAGE,
    KIND_VBLOCK,
    KIND_COUNT,
} kind;

static const char *const kind_names[KIND_COUNT] = {"buffer", "pool", "stream", "device",
                                                    "owners", "image", "vblock"};

/* One round's objects, set by the main thread between the barriers. */
static struct {
    kind what;
    unsigned round;
    uint32_t jitter; /* most spin iterations before the destroy */
    gpumem_device device;
    gpumem_pool pool;
    gpumem_buffer buffer;
    gpumem_buffer pool_buffers[BUFFERS_PER_POOL];
    gpumem_stream stream;
    gpumem_image image; /* KIND_IMAGE's, or the populated pool's */
    gpumem_vblock vblock;
    int quit;
} round_state;

static gpumem_result results[DESTROYERS];
/* Stream reads fill it when the stream is synchronized or destroyed: it must outlive the round. */
static uint8_t stream_sink[256];
static char messages[DESTROYERS][256];
static stress_barrier start_line, finish_line;

static gpumem_result destroy_one(int id, stress_rng *rng)
{
    switch (round_state.what) {
    case KIND_BUFFER: return gpumem_buffer_destroy(round_state.buffer);
    case KIND_POOL: return gpumem_pool_destroy(round_state.pool);
    case KIND_STREAM: return gpumem_stream_destroy(round_state.stream);
    case KIND_DEVICE: return gpumem_device_close(round_state.device);
    case KIND_IMAGE: return gpumem_image_destroy(round_state.image);
    case KIND_VBLOCK: return gpumem_vblock_destroy(round_state.vblock);
    case KIND_OWNERS:
        switch (id) {
        case 0: return gpumem_device_close(round_state.device);
        case 1: return gpumem_pool_destroy(round_state.pool);
        case 2: return gpumem_buffer_destroy(round_state.buffer);
        default: return gpumem_stream_destroy(round_state.stream);
        }
    case KIND_COUNT: break;
    }
    return GPUMEM_ERROR_INVALID_ARGUMENT;
}

/* The start: a barrier wakes threads microseconds apart, longer than a destroy takes, so the
 * destroyers then meet at a spinning gate, which opens for all of them within nanoseconds. */
static atomic_int at_gate;
static atomic_uint gate_round;

static void pass_gate(unsigned round)
{
    if (atomic_fetch_add(&at_gate, 1) == DESTROYERS - 1) {
        atomic_store(&at_gate, 0);
        atomic_store(&gate_round, round + 1);
        return;
    }
    for (unsigned spins = 0; atomic_load(&gate_round) != round + 1; spins++)
        if (spins > 2000)
            sched_yield(); /* two cores: let the others reach the gate */
}

static void *destroyer(void *arg)
{
    int id = (int)(intptr_t)arg;
    stress_rng rng = stress_rng_seed(0xD000 + (uint64_t)id);
    for (unsigned n = 0;; n++) {
        stress_barrier_wait(&start_line);
        if (round_state.quit)
            break;
        pass_gate(n);
        if (round_state.jitter)
            stress_spin(stress_below(&rng, round_state.jitter));
        results[id] = destroy_one(id, &rng);
        snprintf(messages[id], sizeof messages[id], "%s", gpumem_last_error());
        stress_barrier_wait(&finish_line);
    }
    return NULL;
}

/* --- after a round: every handle the round destroyed answers DESTROYED --- */

/* 1 when the three calls on a destroyed object all said DESTROYED; else a failure naming the
 * object, why it is gone, and what each call (`names`) returned. */
static int all_destroyed(const char *object, const char *why, const char *const names[3],
                         gpumem_result a, gpumem_result b, gpumem_result c)
{
    if (a == GPUMEM_ERROR_DESTROYED && b == GPUMEM_ERROR_DESTROYED && c == GPUMEM_ERROR_DESTROYED)
        return 1;
    STRESS_FAIL("round %u (%s): %s %s: %s -> %s, %s -> %s, %s -> %s; expected DESTROYED for all",
                round_state.round, kind_names[round_state.what], object, why, names[0], rs(a),
                names[1], rs(b), names[2], rs(c));
    return 0;
}

static int buffer_gone(gpumem_buffer b, const char *why)
{
    static const char *const names[3] = {"info", "write", "destroy"};
    gpumem_buffer_info info;
    gpumem_result r = gpumem_buffer_info_get(b, &info);
    uint8_t byte = 0;
    gpumem_result w = gpumem_buffer_write(b, 0, &byte, 1);
    return all_destroyed("a buffer", why, names, r, w, gpumem_buffer_destroy(b));
}

static int pool_gone(gpumem_pool p, const char *why)
{
    gpumem_pool_stats st;
    gpumem_result r = gpumem_pool_stats_get(p, &st);
    gpumem_buffer_desc bd = {.size = 64};
    gpumem_buffer b;
    gpumem_result c = gpumem_buffer_create(p, &bd, &b);
    static const char *const names[3] = {"stats", "buffer create", "destroy"};
    return all_destroyed("a pool", why, names, r, c, gpumem_pool_destroy(p));
}

static int stream_gone(gpumem_stream s, const char *why)
{
    gpumem_result r = gpumem_stream_synchronize(s);
    uint64_t native;
    gpumem_result n = gpumem_stream_native(s, &native);
    static const char *const names[3] = {"synchronize", "native", "destroy"};
    return all_destroyed("a stream", why, names, r, n, gpumem_stream_destroy(s));
}

static int device_gone(gpumem_device dev)
{
    gpumem_device_properties p;
    gpumem_result r = gpumem_device_properties_get(dev, &p);
    gpumem_pool pool;
    gpumem_result c = gpumem_pool_create(dev, NULL, &pool);
    gpumem_stream s;
    gpumem_result d = gpumem_device_default_stream(dev, &s);
    gpumem_result x = gpumem_device_close(dev);
    if (r == GPUMEM_ERROR_DESTROYED && c == GPUMEM_ERROR_DESTROYED &&
        d == GPUMEM_ERROR_DESTROYED && x == GPUMEM_ERROR_DESTROYED)
        return 1;
    STRESS_FAIL("round %u (%s): the closed device: properties -> %s, pool create -> %s, default "
                "stream -> %s, close -> %s; expected DESTROYED for all", round_state.round,
                kind_names[round_state.what], rs(r), rs(c), rs(d), rs(x));
    return 0;
}

static int image_gone(gpumem_image image, const char *why)
{
    gpumem_buffer_info info;
    gpumem_result r = gpumem_image_info_get(image, &info);
    uint8_t texel[4] = {0};
    gpumem_image_region one = {.width = 1};
    gpumem_result w = gpumem_image_write(image, &one, texel);
    static const char *const names[3] = {"info", "write", "destroy"};
    return all_destroyed("an image", why, names, r, w, gpumem_image_destroy(image));
}

/* A small 2D image with its texels written. */
static int make_image(gpumem_pool pool)
{
    uint8_t texels[16 * 8 * 4];
    stress_pattern(texels, 0, sizeof texels, round_state.round);
    gpumem_image_desc desc = {.type = GPUMEM_IMAGE_2D, .format = GPUMEM_FORMAT_R8G8B8A8_UNORM,
                              .width = 16, .height = 8};
    gpumem_image_region all = {.width = 16, .height = 8};
    return MUST(gpumem_image_create(pool, &desc, &round_state.image)) &&
           MUST(gpumem_image_write(round_state.image, &all, texels));
}

static int vblock_gone(gpumem_vblock v)
{
    gpumem_vblock_stats st;
    gpumem_result r = gpumem_vblock_stats_get(v, &st);
    gpumem_result d = gpumem_vblock_destroy(v);
    if (r == GPUMEM_ERROR_DESTROYED && d == GPUMEM_ERROR_DESTROYED)
        return 1;
    STRESS_FAIL("round %u: the vblock: stats -> %s, destroy -> %s; expected DESTROYED",
                round_state.round, rs(r), rs(d));
    return 0;
}

/* --- setting a round up --- */

/* A pool with buffers holding data, and a stream with work submitted on them: still pending
 * when the device is closed (closing waits for it), finished when the pool may be destroyed
 * while the stream lives (buffers must outlive the stream work that uses them). */
static int populate(gpumem_device dev, int with_stream, int pending)
{
    gpumem_pool_desc pd = {.page_size = 64 << 10, .name = "doomed"};
    if (!MUST(gpumem_pool_create(dev, &pd, &round_state.pool)))
        return 0;
    uint8_t data[256];
    stress_pattern(data, 0, sizeof data, round_state.round);
    for (int i = 0; i < BUFFERS_PER_POOL; i++) {
        gpumem_buffer_desc bd = {.size = 256 + 64 * (uint64_t)i};
        if (!MUST(gpumem_buffer_create(round_state.pool, &bd, &round_state.pool_buffers[i])) ||
            !MUST(gpumem_buffer_write(round_state.pool_buffers[i], 0, data, sizeof data)))
            return 0;
    }
    round_state.buffer = round_state.pool_buffers[0];
    if (!make_image(round_state.pool))
        return 0;
    if (with_stream) {
        if (!MUST(gpumem_stream_create(dev, &round_state.stream)) ||
            !MUST(gpumem_stream_write(round_state.stream, round_state.pool_buffers[1], 0, data,
                                      sizeof data)) ||
            !MUST(gpumem_stream_read(round_state.stream, round_state.pool_buffers[2], 0,
                                     stream_sink, sizeof data)))
            return 0;
        if (!pending && !MUST(gpumem_stream_synchronize(round_state.stream)))
            return 0;
    }
    return 1;
}

static int set_up(kind what, gpumem_device dev, gpumem_pool long_pool)
{
    uint8_t data[128];
    stress_pattern(data, 0, sizeof data, round_state.round);
    switch (what) {
    case KIND_BUFFER: {
        gpumem_buffer_desc bd = {.size = 128 + round_state.round % 512};
        return MUST(gpumem_buffer_create(long_pool, &bd, &round_state.buffer)) &&
               MUST(gpumem_buffer_write(round_state.buffer, 0, data, sizeof data));
    }
    case KIND_POOL: return populate(dev, 0, 0);
    case KIND_STREAM: {
        gpumem_buffer_desc bd = {.size = 128};
        return MUST(gpumem_stream_create(dev, &round_state.stream)) &&
               MUST(gpumem_buffer_create(long_pool, &bd, &round_state.buffer)) &&
               MUST(gpumem_stream_write(round_state.stream, round_state.buffer, 0, data,
                                        sizeof data)) &&
               MUST(gpumem_stream_read(round_state.stream, round_state.buffer, 0, stream_sink,
                                       sizeof data));
    }
    case KIND_DEVICE:
    case KIND_OWNERS:
        if (!MUST(gpumem_device_open(NULL, &round_state.device))) /* opened before: no skip */
            return 0;
        return populate(round_state.device, 1, what == KIND_DEVICE);
    case KIND_IMAGE: return make_image(long_pool);
    case KIND_VBLOCK: {
        gpumem_vblock_allocation a;
        uint64_t offset;
        return MUST(gpumem_vblock_create(1 << 20, &round_state.vblock)) &&
               MUST(gpumem_vblock_alloc(round_state.vblock, 4096, 64, &a, &offset));
    }
    case KIND_COUNT: break;
    }
    return 0;
}

/* Checks the results of a round and that what it destroyed stays destroyed. */
static int check_round(kind what)
{
    int ok = 0, destroyed = 0;
    for (int i = 0; i < DESTROYERS; i++) {
        if (results[i] == GPUMEM_OK)
            ok++;
        else if (results[i] == GPUMEM_ERROR_DESTROYED)
            destroyed++;
    }
    if (what == KIND_OWNERS) {
        if (results[0] != GPUMEM_OK || ok + destroyed != DESTROYERS) {
            STRESS_FAIL("round %u (owners): close -> %s (%s), pool destroy -> %s (%s), buffer "
                        "destroy -> %s (%s), stream destroy -> %s (%s); expected OK for the "
                        "close, OK or DESTROYED for the others", round_state.round,
                        rs(results[0]), messages[0], rs(results[1]), messages[1],
                        rs(results[2]), messages[2], rs(results[3]), messages[3]);
            return 0;
        }
    } else if (ok != 1 || destroyed != DESTROYERS - 1) {
        char detail[1024] = "";
        size_t used = 0;
        for (int i = 0; i < DESTROYERS; i++)
            used += (size_t)snprintf(detail + used, sizeof detail - used, "%s%s (%s)",
                                     i ? ", " : "", rs(results[i]), messages[i]);
        STRESS_FAIL("round %u: %d concurrent destroys of one %s: %d returned OK and %d "
                    "DESTROYED (expected exactly one OK): %s", round_state.round, DESTROYERS,
                    kind_names[what], ok, destroyed, detail);
        return 0;
    }
    switch (what) {
    case KIND_BUFFER: return buffer_gone(round_state.buffer, "destroyed concurrently");
    case KIND_STREAM:
        if (!MUST(gpumem_buffer_destroy(round_state.buffer)))
            return 0;
        return stream_gone(round_state.stream, "destroyed concurrently");
    case KIND_POOL: {
        int good = pool_gone(round_state.pool, "destroyed concurrently");
        for (int i = 0; i < BUFFERS_PER_POOL; i++)
            good &= buffer_gone(round_state.pool_buffers[i], "of the destroyed pool");
        good &= image_gone(round_state.image, "of the destroyed pool");
        return good;
    }
    case KIND_IMAGE: return image_gone(round_state.image, "destroyed concurrently");
    case KIND_DEVICE:
    case KIND_OWNERS: {
        int good = device_gone(round_state.device);
        good &= pool_gone(round_state.pool, "of the closed device");
        for (int i = 0; i < BUFFERS_PER_POOL; i++)
            good &= buffer_gone(round_state.pool_buffers[i], "of the closed device");
        good &= stream_gone(round_state.stream, "of the closed device");
        good &= image_gone(round_state.image, "of the closed device");
        return good;
    }
    case KIND_VBLOCK: return vblock_gone(round_state.vblock);
    case KIND_COUNT: break;
    }
    return 0;
}

int main(int argc, char **argv)
{
    double t0 = stress_now();
    stress_watchdog();
    int with_vblock = argc > 1 && strcmp(argv[1], "--vblock") == 0;
    gpumem_device dev = stress_open_or_exit();
    char backend[GPUMEM_NAME_SIZE];
    stress_backend_name(dev, backend, sizeof backend);
    int vulkan = strcmp(backend, "vulkan") == 0;
    gpumem_pool long_pool;
    gpumem_pool_desc pd = {.name = "long-lived"};
    if (!MUST(gpumem_pool_create(dev, &pd, &long_pool)))
        return 1;

    /* Rounds per kind. Opening a device costs more on Vulkan (lavapipe). */
    unsigned rounds[KIND_COUNT] = {
        stress_count(30000, 4, 2), stress_count(20000, 4, 2), stress_count(20000, 4, 2),
        stress_count(vulkan ? 300 : 15000, 4, 2), stress_count(vulkan ? 300 : 15000, 4, 2),
        stress_count(vulkan ? 3000 : 20000, 4, 2),
        with_vblock ? stress_count(30000, 4, 2) : 0,
    };
    stress_barrier_init(&start_line, DESTROYERS + 1);
    stress_barrier_init(&finish_line, DESTROYERS + 1);
    pthread_t threads[DESTROYERS];
    for (int i = 0; i < DESTROYERS; i++)
        stress_start(&threads[i], destroyer, (void *)(intptr_t)i);

    unsigned total = 0;
    double seconds[KIND_COUNT] = {0};
    for (kind what = 0; what < KIND_COUNT && !stress_failed(); what++) {
        double start = stress_now();
        for (unsigned round = 0; round < rounds[what] && !stress_failed(); round++) {
            stress_progress(kind_names[what], round);
            round_state.what = what;
            round_state.round = round;
            /* No spin every fourth round; else up to 200, 800 or 3200 iterations. */
            round_state.jitter = round % 4 == 0 ? 0 : 50u << (round % 4 * 2);
            if (!set_up(what, dev, long_pool))
                break;
            stress_barrier_wait(&start_line);
            stress_barrier_wait(&finish_line);
            total++;
            if (!check_round(what))
                break;
        }
        seconds[what] = stress_now() - start;
    }
    round_state.quit = 1;
    stress_barrier_wait(&start_line);
    for (int i = 0; i < DESTROYERS; i++)
        pthread_join(threads[i], NULL);
    MUST(gpumem_pool_destroy(long_pool));
    MUST(gpumem_device_close(dev));

    char summary[512];
    snprintf(summary, sizeof summary,
             "%s, %d destroyer threads, rounds: %u buffer (%.1f s), %u pool (%.1f s), %u stream "
             "(%.1f s), %u device (%.1f s), %u owners (%.1f s), %u image (%.1f s)%s; %u rounds, "
             "%u destroy calls",
             backend, DESTROYERS, rounds[KIND_BUFFER], seconds[KIND_BUFFER], rounds[KIND_POOL],
             seconds[KIND_POOL], rounds[KIND_STREAM], seconds[KIND_STREAM], rounds[KIND_DEVICE],
             seconds[KIND_DEVICE], rounds[KIND_OWNERS], seconds[KIND_OWNERS], rounds[KIND_IMAGE],
             seconds[KIND_IMAGE], with_vblock ? ", with vblock" : "", total, total * DESTROYERS);
    return stress_finish("stress-destroy", summary, stress_now() - t0);
}
