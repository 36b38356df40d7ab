/* Where a write that registers its pages for itself (core/transfer_registration.c) loses against
 * registering by hand: gpumem_buffer_write of resident malloc memory, side by side in one
 * process with the driver's copy and with register-copy-unregister made by hand in the ways a
 * backend could make it:
 *   raw       cuMemcpyHtoD from the pageable memory;
 *   reg0      cuMemHostRegister(flags 0), cuMemcpyHtoD, cuMemHostUnregister (transient_register.c);
 *   portable  the same with CU_MEMHOSTREGISTER_PORTABLE, as the CUDA backend registers;
 *   backend   PORTABLE, cuMemcpyHtoDAsync on a non-blocking stream, cuStreamSynchronize,
 *             unregister: the calls the CUDA backend makes for a registered write;
 *   piecesN   `backend` in pieces of N MiB (8, 16, 32), each registered while the previous
 *             one's DMA runs; one wait, then each piece unregistered;
 *   early16   pieces16, but each piece unregistered as soon as an event says its copy is done,
 *             while the later pieces' copies run;
 *   readonly16 pieces16 registered with CU_MEMHOSTREGISTER_READ_ONLY too (the device only
 *             reads a write's source);
 *   gpumem    gpumem_buffer_write on a device opened in this process (GPUMEM_STAGING as set);
 *   staged    gpumem_buffer_write on a second device, opened with GPUMEM_STAGING=always;
 * and the same for reads, against cuMemcpyDtoH: registered whole (portable, queued, a wait),
 * in pieces of 16 MiB, gpumem_buffer_read, and staged.
 * Rounds alternate the modes; medians and best in GB/s, and for `backend` the median of each
 * phase in ms. Every mode's bytes are checked once at the end of the rounds.
 *
 * Build here against the toolkit's stub and a build folder, run on the GPU machine:
 *   gcc -O2 -Iinclude -Ibuild-gpu/include -I/usr/local/cuda/include \
 *       tools/probes/write_registration_gap.c -Lbuild-gpu/lib -lgpumem \
 *       -L/usr/local/cuda/lib64/stubs -lcuda -Wl,-rpath,'$ORIGIN/../lib' \
 *       -o build-gpu/probes/write_registration_gap
 *   GPUMEM_BACKEND=cuda taskset -c 15 build-gpu/probes/write_registration_gap 64 9   # MiB, rounds */
#include "cuda_probe.h"
#include <gpumem/gpumem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GCHECK(call)                                                                       \
    do {                                                                                   \
        if ((call) != GPUMEM_OK) {                                                         \
            fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #call,                   \
                    gpumem_last_error());                                                 \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

enum {
    RAW, REG0, PORTABLE, BACKEND, PIECES8, PIECES16, PIECES32, EARLY16, READONLY16, GPUMEM,
    STAGED, READ_RAW, READ_WHOLE, READ_PIECES16, READ_GPUMEM, READ_STAGED, MODES
};
static const char *const names[MODES] = {
    "raw",         "reg0",      "portable",   "backend",     "pieces8",     "pieces16",
    "pieces32",    "early16",   "readonly16", "gpumem",      "staged",      "read raw",
    "read whole",  "read pieces", "read gpumem", "read staged"};
enum { REGISTER, COPY, UNREGISTER, PHASES };

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, by_value);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

typedef struct target {
    char *host;
    size_t size;
    CUdeviceptr raw;
    CUstream stream;
    gpumem_buffer buffer, staged; /* on a device in the default mode, and staging always */
} target;

/* The host range's whole pages, as core registers them. */
static void whole_pages(const char *host, size_t size, uintptr_t *lo, uintptr_t *hi)
{
    *lo = (uintptr_t)host & ~(uintptr_t)4095u;
    *hi = ((uintptr_t)host + size + 4095u) & ~(uintptr_t)4095u;
}

/* One registered write of [host, host + size) into dev: the backend's calls. */
static void registered_write(const target *t, const char *host, size_t size, CUdeviceptr dev,
                             unsigned flags, int async, double *phase)
{
    uintptr_t lo, hi;
    whole_pages(host, size, &lo, &hi);
    double a = now();
    CHECK(cuMemHostRegister((void *)lo, hi - lo, flags));
    double b = now();
    if (async) {
        CHECK(cuMemcpyHtoDAsync(dev, host, size, t->stream));
        CHECK(cuStreamSynchronize(t->stream));
    } else {
        CHECK(cuMemcpyHtoD(dev, host, size));
    }
    double c = now();
    CHECK(cuMemHostUnregister((void *)lo));
    double d = now();
    if (phase) {
        phase[REGISTER] = (b - a) * 1e3;
        phase[COPY] = (c - b) * 1e3;
        phase[UNREGISTER] = (d - c) * 1e3;
    }
}

/* The write in pieces of `piece` bytes, each registered while the previous one's DMA runs,
 * then one wait, then every piece unregistered. A copy must lie within one registration (the
 * driver refuses one across two), so each piece ends where its whole pages do. */
static void pieces_with(const target *t, size_t piece, int to_device, unsigned flags,
                        int early);

static void pieces(const target *t, size_t piece, int to_device)
{
    pieces_with(t, piece, to_device, CU_MEMHOSTREGISTER_PORTABLE, 0);
}

static void pieces_with(const target *t, size_t piece, int to_device, unsigned flags, int early)
{
    uintptr_t lo[256], hi;
    CUevent copied[256];
    int ended = 0;
    size_t done = 0;
    int n = 0;
    while (done < t->size && n < 256) {
        size_t want = t->size - done < piece ? t->size - done : piece;
        whole_pages(t->host + done, want, &lo[n], &hi);
        if (n > 0 && lo[n] < (uintptr_t)t->host + done)
            lo[n] += 4096u; /* the page holding the previous piece's last byte is that piece's */
        size_t bytes = hi - ((uintptr_t)t->host + done);
        if (bytes > t->size - done)
            bytes = t->size - done;
        CHECK(cuMemHostRegister((void *)lo[n], hi - lo[n], flags));
        if (to_device)
            CHECK(cuMemcpyHtoDAsync(t->raw + done, t->host + done, bytes, t->stream));
        else
            CHECK(cuMemcpyDtoHAsync(t->host + done, t->raw + done, bytes, t->stream));
        done += bytes;
        if (early) {
            CHECK(cuEventCreate(&copied[n], CU_EVENT_DISABLE_TIMING));
            CHECK(cuEventRecord(copied[n], t->stream));
            if (n > 0) { /* the previous piece's copy is done by now, or nearly */
                CHECK(cuEventSynchronize(copied[n - 1]));
                CHECK(cuMemHostUnregister((void *)lo[n - 1]));
                ended = n;
            }
        }
        n++;
    }
    CHECK(cuStreamSynchronize(t->stream));
    for (int i = ended; i < n; i++)
        CHECK(cuMemHostUnregister((void *)lo[i]));
    for (int i = 0; early && i < n; i++)
        CHECK(cuEventDestroy(copied[i]));
}

static void one(const target *t, int mode, double *phase)
{
    switch (mode) {
    case RAW:
        CHECK(cuMemcpyHtoD(t->raw, t->host, t->size));
        break;
    case REG0:
        registered_write(t, t->host, t->size, t->raw, 0, 0, NULL);
        break;
    case PORTABLE:
        registered_write(t, t->host, t->size, t->raw, CU_MEMHOSTREGISTER_PORTABLE, 0, NULL);
        break;
    case BACKEND:
        registered_write(t, t->host, t->size, t->raw, CU_MEMHOSTREGISTER_PORTABLE, 1, phase);
        break;
    case PIECES8:
    case PIECES16:
    case PIECES32:
        pieces(t, (size_t)8 << (20 + mode - PIECES8), 1);
        break;
    case EARLY16:
        pieces_with(t, (size_t)16 << 20, 1, CU_MEMHOSTREGISTER_PORTABLE, 1);
        break;
    case READONLY16:
        pieces_with(t, (size_t)16 << 20, 1,
                    CU_MEMHOSTREGISTER_PORTABLE | CU_MEMHOSTREGISTER_READ_ONLY, 0);
        break;
    case GPUMEM:
        GCHECK(gpumem_buffer_write(t->buffer, 0, t->host, t->size));
        break;
    case STAGED:
        GCHECK(gpumem_buffer_write(t->staged, 0, t->host, t->size));
        break;
    case READ_RAW:
        CHECK(cuMemcpyDtoH(t->host, t->raw, t->size));
        break;
    case READ_WHOLE:
        pieces(t, t->size, 0);
        break;
    case READ_PIECES16:
        pieces(t, (size_t)16 << 20, 0);
        break;
    case READ_GPUMEM:
        GCHECK(gpumem_buffer_read(t->buffer, 0, t->host, t->size));
        break;
    default:
        GCHECK(gpumem_buffer_read(t->staged, 0, t->host, t->size));
        break;
    }
}

/* The device's bytes after one more transfer of each mode, against the source; for a read,
 * the host's after it, against what was written there first. */
static int bytes_match(const target *t, int mode)
{
    memset(t->host, 0x11 + mode, t->size);
    if (mode >= READ_RAW) {
        char *expected = malloc(t->size);
        memset(expected, 0x11 + mode, t->size);
        CHECK(cuMemcpyHtoD(t->raw, expected, t->size));
        GCHECK(gpumem_buffer_write(t->buffer, 0, expected, t->size));
        GCHECK(gpumem_buffer_write(t->staged, 0, expected, t->size));
        memset(t->host, 0, t->size);
        one(t, mode, NULL);
        int same = memcmp(expected, t->host, t->size) == 0;
        free(expected);
        return same;
    }
    one(t, mode, NULL);
    char *back = malloc(t->size);
    if (mode >= GPUMEM)
        GCHECK(gpumem_buffer_read(mode == GPUMEM ? t->buffer : t->staged, 0, back, t->size));
    else
        CHECK(cuMemcpyDtoH(back, t->raw, t->size));
    int same = memcmp(back, t->host, t->size) == 0;
    free(back);
    return same;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 64;
    int rounds = argc > 2 ? atoi(argv[2]) : 9;
    if (mib == 0 || rounds < 1 || rounds > 1000)
        return fprintf(stderr, "usage: %s [MiB] [rounds]\n", argv[0]), 2;

    gpumem_device device, staging_device;
    gpumem_device_desc dd = {0};
    GCHECK(gpumem_device_open(&dd, &device));
    const char *mode = getenv("GPUMEM_STAGING");
    char *saved = mode ? strdup(mode) : NULL;
    setenv("GPUMEM_STAGING", "always", 1);
    GCHECK(gpumem_device_open(&dd, &staging_device));
    if (saved)
        setenv("GPUMEM_STAGING", saved, 1);
    else
        unsetenv("GPUMEM_STAGING");
    free(saved);
    gpumem_pool pool, staging_pool;
    gpumem_pool_desc pd = {.required_flags = GPUMEM_MEMORY_DEVICE_LOCAL};
    GCHECK(gpumem_pool_create(device, &pd, &pool));
    GCHECK(gpumem_pool_create(staging_device, &pd, &staging_pool));
    target t = {.size = mib << 20};
    GCHECK(gpumem_buffer_create(pool, &(gpumem_buffer_desc){.size = t.size}, &t.buffer));
    GCHECK(gpumem_buffer_create(staging_pool, &(gpumem_buffer_desc){.size = t.size}, &t.staged));

    /* The device gpumem opened is the primary context of CUDA's device 0 (the default). */
    probe_open(&t.stream);
    CHECK(cuMemAlloc(&t.raw, t.size));
    t.host = malloc(t.size);
    memset(t.host, 0x5a, t.size); /* resident, as the bench's memory */

    double *gbs = malloc(sizeof(double) * MODES * (size_t)rounds);
    double *phase = malloc(sizeof(double) * PHASES * (size_t)rounds);
    for (int m = 0; m < MODES; m++)
        one(&t, m, NULL); /* warm-up */
    for (int r = 0; r < rounds; r++) {
        for (int m = 0; m < MODES; m++) {
            double start = now();
            one(&t, m, m == BACKEND ? phase + PHASES * r : NULL);
            gbs[m * rounds + r] = (double)t.size / (now() - start) / 1e9;
        }
    }
    printf("write_registration_gap: %zu MiB, %d rounds (GB/s: median, best; x over raw)\n", mib,
           rounds);
    double raw = 0;
    for (int m = 0; m < MODES; m++) {
        double *v = gbs + m * rounds;
        double med = median(v, rounds);
        if (m == RAW || m == READ_RAW)
            raw = med;
        printf("  %-12s %7.2f %7.2f  %.2fx  bytes %s\n", names[m], med, v[rounds - 1], med / raw,
               bytes_match(&t, m) ? "ok" : "WRONG");
    }
    double reg[1000], copy[1000], unreg[1000];
    for (int r = 0; r < rounds; r++) {
        reg[r] = phase[PHASES * r + REGISTER];
        copy[r] = phase[PHASES * r + COPY];
        unreg[r] = phase[PHASES * r + UNREGISTER];
    }
    printf("  backend phases, ms: register %.3f, copy %.3f, unregister %.3f\n",
           median(reg, rounds), median(copy, rounds), median(unreg, rounds));

    CHECK(cuMemFree(t.raw));
    probe_close(t.stream);
    GCHECK(gpumem_pool_destroy(pool));
    GCHECK(gpumem_pool_destroy(staging_pool));
    GCHECK(gpumem_device_close(device));
    GCHECK(gpumem_device_close(staging_device));
    free(t.host);
    free(gbs);
    free(phase);
    return 0;
}
