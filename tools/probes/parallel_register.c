/* Does pinning pageable memory scale with threads? A transfer that registers its host memory for
 * itself (core/transfer_registration.c) spends most of its time in cuMemHostRegister and
 * cuMemHostUnregister, on one thread: on one and two cores a read stops near 1.5x the driver's
 * own copy (docs/performance.md, "Twenty-ninth session"). If the driver pins pieces on several
 * threads at once, a transfer on two to four cores could pin its pieces in parallel.
 *
 * For T = 1, 2 and 4 threads, `size` MiB of resident malloc memory in pieces of 16 MiB:
 *   pin     every piece registered (CU_MEMHOSTREGISTER_PORTABLE, as the CUDA backend
 *           registers), thread t taking pieces t, t + T, ...; the time until all are;
 *   pin-ro  the same with CU_MEMHOSTREGISTER_READ_ONLY too;
 *   unpin   every piece unregistered, the same way;
 *   read    a whole read: the threads pin the pieces, the main thread queues each piece's
 *           cuMemcpyDtoHAsync as soon as it is pinned, waits for the stream, and the threads
 *           unpin; against `raw`, cuMemcpyDtoH of the pageable memory;
 *   write   the same for cuMemcpyHtoDAsync, pieces pinned read-only, against cuMemcpyHtoD.
 * Rounds alternate; medians (and best) in ms, and for read and write in GB/s and as a ratio of
 * raw. Every read's bytes (what the write before it put there) are checked.
 *
 * Build here against the toolkit's stub, run on the GPU machine:
 *   gcc -O2 -I/usr/local/cuda/include tools/probes/parallel_register.c \
 *       -L/usr/local/cuda/lib64/stubs -lcuda -lpthread -o build-gpu/probes/parallel_register
 *   taskset -c 12-15 build-gpu/probes/parallel_register 64 9     # MiB, rounds */
#include "cuda_probe.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#define PIECE (16u << 20)
#define MAX_PIECES 64
#define MAX_THREADS 4
#define PAGE 4096u

enum { PIN, PIN_RO, UNPIN, MODES };

typedef struct job {
    char *host;
    size_t size, pieces;
    int mode;       /* PIN, PIN_RO or UNPIN */
    int threads;
    _Atomic int ready[MAX_PIECES]; /* piece k pinned */
} job;

typedef struct worker {
    job *job;
    int index;
    CUcontext context;
} worker;

static pthread_barrier_t start, done;
static job the_job;
static atomic_int quit;

static char *piece_at(const job *j, size_t k)
{
    return j->host + k * PIECE;
}

static size_t piece_size(const job *j, size_t k)
{
    return k + 1 < j->pieces ? PIECE : j->size - k * PIECE;
}

static void *work(void *arg)
{
    worker *w = arg;
    CHECK(cuCtxSetCurrent(w->context));
    for (;;) {
        pthread_barrier_wait(&start);
        if (atomic_load(&quit))
            return NULL;
        job *j = w->job;
        if (w->index < j->threads)
            for (size_t k = (size_t)w->index; k < j->pieces; k += (size_t)j->threads) {
                if (j->mode == UNPIN) {
                    CHECK(cuMemHostUnregister(piece_at(j, k)));
                } else {
                    unsigned flags = CU_MEMHOSTREGISTER_PORTABLE |
                                     (j->mode == PIN_RO ? CU_MEMHOSTREGISTER_READ_ONLY : 0);
                    CHECK(cuMemHostRegister(piece_at(j, k), piece_size(j, k), flags));
                    atomic_store(&j->ready[k], 1);
                }
            }
        pthread_barrier_wait(&done);
    }
}

/* Runs one mode on `threads` threads; with `dev`, queues each piece's copy once pinned. */
static double run(int mode, int threads, CUdeviceptr dev, int to_device, CUstream stream)
{
    job *j = &the_job;
    j->mode = mode;
    j->threads = threads;
    for (size_t k = 0; k < j->pieces; k++)
        atomic_store(&j->ready[k], 0);
    double t = now();
    pthread_barrier_wait(&start);
    if (dev) {
        for (size_t k = 0; k < j->pieces; k++) {
            while (!atomic_load(&j->ready[k]))
                sched_yield(); /* the workers may share this thread's cores */
            if (to_device)
                CHECK(cuMemcpyHtoDAsync(dev + k * PIECE, piece_at(j, k), piece_size(j, k),
                                        stream));
            else
                CHECK(cuMemcpyDtoHAsync(piece_at(j, k), dev + k * PIECE, piece_size(j, k),
                                        stream));
        }
    }
    pthread_barrier_wait(&done);
    if (dev)
        CHECK(cuStreamSynchronize(stream));
    return now() - t;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, by_value);
    return v[n / 2];
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 64;
    int rounds = argc > 2 ? atoi(argv[2]) : 9;
    if (!mib || mib > (size_t)MAX_PIECES * 16 || rounds < 1 || rounds > 99)
        return fprintf(stderr, "usage: parallel_register MiB(16..1024) rounds(1..99)\n"), 2;
    CUstream stream;
    CUcontext context = probe_open(&stream);
    size_t size = mib << 20;
    char *host = aligned_alloc(PAGE, size), *back = aligned_alloc(PAGE, size);
    for (size_t i = 0; i < size; i++)
        host[i] = (char)(i * 7 + 3);
    memset(back, 0, size);
    CUdeviceptr dev;
    CHECK(cuMemAlloc(&dev, size));
    the_job.size = size;
    the_job.pieces = (size + PIECE - 1) / PIECE;
    pthread_barrier_init(&start, NULL, MAX_THREADS + 1);
    pthread_barrier_init(&done, NULL, MAX_THREADS + 1);
    pthread_t thread[MAX_THREADS];
    worker workers[MAX_THREADS];
    for (int i = 0; i < MAX_THREADS; i++) {
        workers[i] = (worker){&the_job, i, context};
        pthread_create(&thread[i], NULL, work, &workers[i]);
    }
    static const int counts[] = {1, 2, 4};
    enum { COUNTS = 3 };
    double pin[COUNTS][99], pin_ro[COUNTS][99], unpin[COUNTS][99], rd[COUNTS][99],
        wr[COUNTS][99], raw_rd[99], raw_wr[99];
    for (int r = 0; r < rounds; r++) {
        double t = now();
        CHECK(cuMemcpyHtoD(dev, host, size));
        raw_wr[r] = now() - t;
        t = now();
        CHECK(cuMemcpyDtoH(back, dev, size));
        raw_rd[r] = now() - t;
        for (int c = 0; c < COUNTS; c++) {
            int n = counts[c];
            the_job.host = host;
            pin[c][r] = run(PIN, n, 0, 0, stream);
            unpin[c][r] = run(UNPIN, n, 0, 0, stream);
            pin_ro[c][r] = run(PIN_RO, n, 0, 0, stream);
            run(UNPIN, n, 0, 0, stream);
            wr[c][r] = run(PIN_RO, n, dev, 1, stream) + run(UNPIN, n, 0, 0, stream);
            the_job.host = back;
            memset(back, 0, size);
            rd[c][r] = run(PIN, n, dev, 0, stream) + run(UNPIN, n, 0, 0, stream);
            if (memcmp(back, host, size))
                return fprintf(stderr, "%d threads: the read's bytes differ\n", n), 1;
        }
    }
    double gb = (double)size / 1e9;
    printf("%zu MiB in %zu pieces of 16 MiB, %d rounds; medians in ms\n", mib, the_job.pieces,
           rounds);
    double raw_r = median(raw_rd, rounds), raw_w = median(raw_wr, rounds);
    printf("raw: read %.2f ms (%.1f GB/s), write %.2f ms (%.1f GB/s)\n", raw_r * 1e3,
           gb / raw_r, raw_w * 1e3, gb / raw_w);
    for (int c = 0; c < COUNTS; c++) {
        double p = median(pin[c], rounds), pr = median(pin_ro[c], rounds),
               u = median(unpin[c], rounds), rr = median(rd[c], rounds),
               ww = median(wr[c], rounds);
        printf("threads %d: pin %.2f  pin-ro %.2f  unpin %.2f  read %.2f (%.1f GB/s, %.2fx raw)"
               "  write %.2f (%.1f GB/s, %.2fx raw)\n",
               counts[c], p * 1e3, pr * 1e3, u * 1e3, rr * 1e3, gb / rr, raw_r / rr, ww * 1e3,
               gb / ww, raw_w / ww);
    }
    atomic_store(&quit, 1);
    pthread_barrier_wait(&start);
    for (int i = 0; i < MAX_THREADS; i++)
        pthread_join(thread[i], NULL);
    return 0;
}
