/* Stress 6: an image destroyed while other threads transfer on it.
 *
 * Each round makes an image D holding the round's pattern in a band of rows for each worker.
 * WORKERS threads, each with a stream and an image of its own holding the same pattern, then
 * transfer on their band of D at random (a write of the pattern, a read, a copy from D into
 * their own image, a copy from theirs into D) until a transfer finds D destroyed; the main
 * thread destroys D after a deterministic, per round, number of the workers' transfers. Every
 * transfer must return OK or GPUMEM_ERROR_DESTROYED, and DESTROYED for good once the destroy
 * has returned; once its stream is synchronized, a worker's read buffer (where a read returned
 * OK: every read fills the same one) must hold the pattern, and so must its image. On Vulkan the
 * runtime's image goes only after the work that names it: a destroy that let it go earlier
 * leaves commands naming a destroyed VkImage, which the driver may crash on. Between the
 * workers' last transfer and their synchronize, the main thread trims the pool, which frees
 * such an image at once. */
#include <sched.h>

#include "stress.h"

/* MOST_SECONDS: how long a worker runs in a round before it gives the destroy up as never come;
 * a bound on time, not on transfers, as the main thread may wait for a core while the workers
 * make thousands (the conformance suite's race of this kind once failed a bound of 20,000 on a
 * two-core CI machine). */
enum { WORKERS = 3, SIDE = 16, BYTES = SIDE * SIDE * 4, MOST_SECONDS = 60 };

typedef struct worker {
    int id;
    gpumem_image_region band; /* its rows of the doomed image */
    gpumem_stream stream;
    gpumem_image own;
    uint8_t written[BYTES];
    uint8_t read[BYTES];
    uint64_t transfers; /* over all rounds */
} worker;

static gpumem_device device;
static gpumem_pool pool;
static worker workers[WORKERS];
/* Per round: start; stopped (every worker found the image destroyed); trimmed (the main thread
 * trimmed the pool, which frees what no call reaches any more: the runtime's image, where the
 * destroy let it go too early, before the workers' streams are synchronized); finished. */
static stress_barrier start_line, stopped_line, trimmed_line, finish_line;
static struct {
    gpumem_image doomed;
    uint64_t seed;   /* of the round's pattern */
    unsigned wanted; /* the workers' transfers before the destroy */
    unsigned rounds;
} shared;
static atomic_uint round_transfers; /* the workers' transfers in this round */
static atomic_int destroyed;        /* the round's destroy has returned */

static const gpumem_image_region whole = {.width = SIDE, .height = SIDE};

/* One random transfer on the doomed image; `*reads` is set when it was a read. */
static gpumem_result transfer(worker *w, stress_rng *rng, int *reads)
{
    *reads = 0;
    switch (stress_below(rng, 4)) {
    case 0: return gpumem_stream_image_write(w->stream, shared.doomed, &w->band, w->written);
    case 1:
        *reads = 1;
        return gpumem_stream_image_read(w->stream, shared.doomed, &w->band, w->read);
    case 2: return gpumem_stream_image_copy(w->stream, shared.doomed, &w->band, w->own, &whole);
    default: return gpumem_stream_image_copy(w->stream, w->own, &whole, shared.doomed, &w->band);
    }
}

static void run_round(worker *w, unsigned round)
{
    stress_rng rng = stress_rng_seed(round * 131u + (unsigned)w->id);
    int any_read = 0;
    double start = stress_now();
    for (;;) {
        /* Past the transfers the destroy waits for, the workers yield: on few cores the
         * main thread would otherwise wait for a time slice while they run on. */
        if (atomic_load(&round_transfers) >= shared.wanted)
            sched_yield();
        int after = atomic_load(&destroyed);
        int reads;
        gpumem_result r = transfer(w, &rng, &reads);
        if (r == GPUMEM_ERROR_DESTROYED)
            break;
        if (r != GPUMEM_OK || after) {
            STRESS_FAIL("round %u, worker %d: a transfer on the image %s -> %s (%s)", round,
                        w->id, after ? "after its destroy returned" : "during its destroy",
                        rs(r), gpumem_last_error());
            break;
        }
        any_read |= reads;
        w->transfers++;
        atomic_fetch_add(&round_transfers, 1);
        if (stress_now() - start > MOST_SECONDS) {
            STRESS_FAIL("round %u, worker %d: the image was not found destroyed in %d s", round,
                        w->id, MOST_SECONDS);
            break;
        }
    }
    stress_barrier_wait(&stopped_line);
    stress_barrier_wait(&trimmed_line);
    if (!MUST(gpumem_stream_synchronize(w->stream)))
        return;
    if (any_read && stress_mismatch(w->read, 0, BYTES, shared.seed) != BYTES)
        STRESS_FAIL("round %u, worker %d: a read of the image does not hold its pattern", round,
                    w->id);
    uint8_t own[BYTES];
    if (MUST(gpumem_image_read(w->own, &whole, own)) &&
        stress_mismatch(own, 0, BYTES, shared.seed) != BYTES)
        STRESS_FAIL("round %u, worker %d: its own image lost the pattern", round, w->id);
}

static void *work(void *arg)
{
    worker *w = arg;
    for (unsigned round = 0; round < shared.rounds; round++) {
        stress_barrier_wait(&start_line);
        run_round(w, round);
        stress_barrier_wait(&finish_line);
    }
    return NULL;
}

/* Sets up the round: each band of the doomed image and every worker's own image hold the
 * round's pattern. */
static int prepare(unsigned round)
{
    const gpumem_image_desc desc = {.type = GPUMEM_IMAGE_2D,
                                    .format = GPUMEM_FORMAT_R8G8B8A8_UNORM,
                                    .width = SIDE,
                                    .height = SIDE * WORKERS};
    shared.seed = round + 1;
    uint8_t pattern[BYTES];
    stress_pattern(pattern, 0, BYTES, shared.seed);
    if (!MUST(gpumem_image_create(pool, &desc, &shared.doomed)))
        return 0;
    for (int i = 0; i < WORKERS; i++) {
        memcpy(workers[i].written, pattern, BYTES);
        if (!MUST(gpumem_image_write(shared.doomed, &workers[i].band, pattern)) ||
            !MUST(gpumem_image_write(workers[i].own, &whole, pattern)))
            return 0;
    }
    atomic_store(&round_transfers, 0);
    atomic_store(&destroyed, 0);
    return 1;
}

int main(void)
{
    double t0 = stress_now();
    stress_watchdog();
    device = stress_open_or_exit();
    char backend[GPUMEM_NAME_SIZE];
    stress_backend_name(device, backend, sizeof backend);
    gpumem_pool_desc pd = {.name = "stress-images"};
    if (!MUST(gpumem_pool_create(device, &pd, &pool)))
        return 1;
    const gpumem_image_desc desc = {.type = GPUMEM_IMAGE_2D,
                                    .format = GPUMEM_FORMAT_R8G8B8A8_UNORM,
                                    .width = SIDE,
                                    .height = SIDE};
    for (int i = 0; i < WORKERS; i++) {
        workers[i].id = i;
        workers[i].band = whole;
        workers[i].band.y = (uint32_t)i * SIDE;
        if (!MUST(gpumem_stream_create(device, &workers[i].stream)) ||
            !MUST(gpumem_image_create(pool, &desc, &workers[i].own)))
            return 1;
    }
    shared.rounds = stress_count(2000, 8, 4);
    stress_barrier_init(&start_line, WORKERS + 1);
    stress_barrier_init(&stopped_line, WORKERS + 1);
    stress_barrier_init(&trimmed_line, WORKERS + 1);
    stress_barrier_init(&finish_line, WORKERS + 1);
    pthread_t threads[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        stress_start(&threads[i], work, &workers[i]);
    for (unsigned round = 0; round < shared.rounds; round++) {
        stress_progress("rounds", round);
        if (!prepare(round))
            _exit(1); /* the workers wait at the start line: nothing to join */
        stress_rng rng = stress_rng_seed(round);
        shared.wanted = stress_below(&rng, 48); /* 0: at once, before any transfer */
        stress_barrier_wait(&start_line);
        while (atomic_load(&round_transfers) < shared.wanted && !stress_failed())
            sched_yield();
        MUST(gpumem_image_destroy(shared.doomed));
        atomic_store(&destroyed, 1);
        stress_barrier_wait(&stopped_line);
        MUST(gpumem_pool_trim(pool));
        stress_barrier_wait(&trimmed_line);
        stress_barrier_wait(&finish_line);
        gpumem_buffer_info info;
        EXPECT(GPUMEM_ERROR_DESTROYED, gpumem_image_info_get(shared.doomed, &info));
    }
    for (int i = 0; i < WORKERS; i++)
        pthread_join(threads[i], NULL);
    uint64_t transfers = 0;
    for (int i = 0; i < WORKERS; i++) {
        transfers += workers[i].transfers;
        MUST(gpumem_stream_destroy(workers[i].stream));
        MUST(gpumem_image_destroy(workers[i].own));
    }
    MUST(gpumem_pool_check(pool));
    MUST(gpumem_pool_destroy(pool));
    MUST(gpumem_device_close(device));
    char summary[256];
    snprintf(summary, sizeof summary, "%s, %d workers, %u rounds, %llu transfers on images "
                                      "being destroyed",
             backend, WORKERS, shared.rounds, (unsigned long long)transfers);
    return stress_finish("stress-images", summary, stress_now() - t0);
}
