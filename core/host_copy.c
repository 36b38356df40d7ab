#include "host_copy.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpus.h"
#include "env.h"

#if defined(__x86_64__)
#include <emmintrin.h> /* SSE2, part of every x86-64 */
#define HAVE_STREAMING_STORES 1
#else
#define HAVE_STREAMING_STORES 0
#endif

#define MAX_WORKERS 16
#define DEFAULT_COPIERS 8 /* threads copying at once, the caller included */
#define PIECE_ALIGN 4096

typedef struct copy_job {
    char *destination;
    const char *source;
    size_t piece;
    size_t size;
    unsigned generation; /* bumped per job; workers run each job once */
    unsigned pending;    /* pieces not done yet */
    int streaming;       /* with streaming stores (gpumem_host_copy_read) */
} copy_job;

static pthread_mutex_t job_lock = PTHREAD_MUTEX_INITIALIZER;  /* one parallel copy at a time */
static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t job_ready = PTHREAD_COND_INITIALIZER;
static pthread_cond_t job_done = PTHREAD_COND_INITIALIZER;
static pthread_once_t workers_once = PTHREAD_ONCE_INIT;
static copy_job job;
static unsigned worker_count;

#if HAVE_STREAMING_STORES
/* memcpy with streaming stores: the destination's unaligned head and short tail by memcpy, the
 * 16-byte-aligned middle by four loads and four non-temporal stores at a time. The fence makes
 * the streaming stores visible (they are weakly ordered) before anything this thread does
 * next, such as telling the caller that its piece is done. */
static void copy_streaming(char *destination, const char *source, size_t size)
{
    size_t head = (size_t)(-(uintptr_t)destination & 15u);
    if (size < head + 64u) {
        memcpy(destination, source, size);
        return;
    }
    memcpy(destination, source, head);
    size_t i = head;
    for (; size - i >= 64u; i += 64u) {
        __m128i a = _mm_loadu_si128((const __m128i *)(source + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(source + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(source + i + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(source + i + 48));
        _mm_stream_si128((__m128i *)(destination + i), a);
        _mm_stream_si128((__m128i *)(destination + i + 16), b);
        _mm_stream_si128((__m128i *)(destination + i + 32), c);
        _mm_stream_si128((__m128i *)(destination + i + 48), d);
    }
    memcpy(destination + i, source + i, size - i);
    _mm_sfence();
}
#endif

static void copy_bytes(char *destination, const char *source, size_t size, int streaming)
{
#if HAVE_STREAMING_STORES
    if (streaming) {
        copy_streaming(destination, source, size);
        return;
    }
#else
    (void)streaming;
#endif
    memcpy(destination, source, size);
}

static void copy_piece(unsigned index)
{
    size_t begin = (size_t)index * job.piece;
    if (begin >= job.size)
        return;
    size_t n = job.size - begin < job.piece ? job.size - begin : job.piece;
    copy_bytes(job.destination + begin, job.source + begin, n, job.streaming);
}

static void *worker(void *arg)
{
    unsigned index = (unsigned)(uintptr_t)arg; /* piece 0 is the caller's */
    unsigned seen = 0;
    pthread_mutex_lock(&state_lock);
    for (;;) {
        while (job.generation == seen)
            pthread_cond_wait(&job_ready, &state_lock);
        seen = job.generation;
        pthread_mutex_unlock(&state_lock);
        copy_piece(index);
        pthread_mutex_lock(&state_lock);
        if (--job.pending == 0)
            pthread_cond_signal(&job_done);
    }
    return NULL;
}

/* A child of fork has none of the parent's threads: it copies alone from then on, and its copies
 * of the locks start unlocked (a parent's copy could hold them at the fork). */
static void forget_workers_in_child(void)
{
    worker_count = 0;
    job.pending = 0;
    pthread_mutex_init(&job_lock, NULL);
    pthread_mutex_init(&state_lock, NULL);
    pthread_cond_init(&job_ready, NULL);
    pthread_cond_init(&job_done, NULL);
}

static void start_workers(void)
{
    /* One copier for each CPU, up to eight. Two on two CPUs: on the H200 host bound to two
     * cores, staged transfers ran at 1.3-1.9x the raw call with two copiers against 0.7-0.97x
     * with one, and two VMs of 2 CPUs copied 1.2-2x faster with two; one VM of 2026-11-21 was
     * 25-30% slower (docs/performance.md, "Twenty-sixth session"). CPUs this thread may use
     * (gpumem_usable_cpus), not those the machine has: a process bound to one core of a large
     * machine, as MPI launchers bind them, or held to one CPU's time by a container's limit,
     * would otherwise start eight copiers there, about 15% slower than one on a VM. The
     * helpers inherit this thread's mask.
     * GPUMEM_COPY_THREADS (1-17) sets the number of copiers, for tuning and comparisons. */
    long cores = gpumem_usable_cpus();
    long copiers = cores < 1 ? 1 : cores < DEFAULT_COPIERS ? cores : DEFAULT_COPIERS;
    copiers = gpumem_env_copy_threads((unsigned)copiers, MAX_WORKERS + 1);
    unsigned wanted = (unsigned)copiers - 1;
    if (wanted && pthread_atfork(NULL, NULL, forget_workers_in_child) != 0)
        wanted = 0; /* without the handler a child would wait for workers it does not have */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (unsigned i = 0; i < wanted; i++) {
        pthread_t thread;
        if (pthread_create(&thread, &attr, worker, (void *)(uintptr_t)(i + 1)) != 0)
            break;
        worker_count++;
    }
    pthread_attr_destroy(&attr);
}

static void host_copy(void *destination, const void *source, size_t size, int streaming)
{
    if (size < GPUMEM_HOST_COPY_PARALLEL_MIN) {
        copy_bytes(destination, source, size, streaming);
        return;
    }
    pthread_once(&workers_once, start_workers);
    /* Another thread's copy already has the workers: copying alone beats waiting. */
    if (worker_count == 0 || pthread_mutex_trylock(&job_lock) != 0) {
        copy_bytes(destination, source, size, streaming);
        return;
    }
    unsigned pieces = worker_count + 1;
    pthread_mutex_lock(&state_lock);
    job.destination = destination;
    job.source = source;
    job.size = size;
    job.streaming = streaming;
    /* Pieces of whole 4 KiB pages, together at least `size`: the rounding goes up from the
     * exact share (size / pieces, itself rounded up), so the last piece is short, never
     * missing. */
    job.piece = ((size + pieces - 1) / pieces + PIECE_ALIGN - 1) & ~(size_t)(PIECE_ALIGN - 1);
    job.pending = worker_count;
    job.generation++;
    pthread_cond_broadcast(&job_ready);
    pthread_mutex_unlock(&state_lock);
    copy_piece(0);
    pthread_mutex_lock(&state_lock);
    while (job.pending)
        pthread_cond_wait(&job_done, &state_lock);
    pthread_mutex_unlock(&state_lock);
    pthread_mutex_unlock(&job_lock);
}

void gpumem_host_copy(void *destination, const void *source, size_t size)
{
    host_copy(destination, source, size, 0);
}

void gpumem_host_copy_read(void *destination, const void *source, size_t size, uint64_t total)
{
    host_copy(destination, source, size, total >= GPUMEM_HOST_COPY_STREAMED_READ);
}

void gpumem_host_fill(void *destination, uint32_t pattern, size_t size)
{
    unsigned char *p = destination;
    size_t filled = size < 4 ? size : 4;
    memcpy(p, &pattern, filled);
    /* Doubling the filled prefix keeps this a handful of large memcpy calls. */
    while (filled < size) {
        size_t n = filled < size - filled ? filled : size - filled;
        memcpy(p + filled, p, n);
        filled += n;
    }
}
