/* Pageable transfers by registering the application's memory for the one transfer only, on a
 * process bound to few CPUs: does pinning the pages (cuMemHostRegister), copying by DMA and
 * unpinning them beat the driver's own copy of pageable memory, where core's staging cannot (one
 * CPU copies no faster than the driver does)?
 *
 * Modes, each timed whole over `size` bytes of malloc memory, best and median of `rounds`:
 *   raw     cuMemcpyHtoD / cuMemcpyDtoH from the pageable memory;
 *   whole   register the whole range, copy, synchronize, unregister;
 *   chunked the range in chunks: register chunk k+1 while chunk k's copy runs on a stream, and
 *           unregister each chunk once its copy has finished.
 * The phases of `chunked` (register, waiting, unregister) are summed and printed too.
 *
 * Build here against the toolkit's stub, run on the GPU machine:
 *   gcc -O2 -I/usr/local/cuda/include tools/probes/transient_register.c \
 *       -L/usr/local/cuda/lib64/stubs -lcuda -o transient_register
 *   taskset -c 9 ./transient_register 64 8 7      # MiB, chunk MiB, rounds */
#include "cuda_probe.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAGE 4096u
#define MAX_CHUNKS 4096

typedef struct phases {
    double reg, wait, unreg;
} phases;

static void chunked(char *host, CUdeviceptr dev, size_t size, size_t chunk, int to_device,
                    CUstream stream, CUevent *done, phases *p)
{
    /* Chunk boundaries on pages, so that two chunks never share one (a page registered twice
     * fails); the first chunk starts at the page that holds host's first byte. */
    uintptr_t base = (uintptr_t)host & ~(uintptr_t)(PAGE - 1u);
    uintptr_t end = ((uintptr_t)host + size + PAGE - 1u) & ~(uintptr_t)(PAGE - 1u);
    size_t n = (end - base + chunk - 1u) / chunk;
    double t;
    for (size_t k = 0; k <= n; k++) {
        if (k < n) {
            uintptr_t lo = base + k * chunk, hi = lo + chunk < end ? lo + chunk : end;
            t = now();
            CHECK(cuMemHostRegister((void *)lo, hi - lo, 0));
            p->reg += now() - t;
            uintptr_t from = lo > (uintptr_t)host ? lo : (uintptr_t)host;
            uintptr_t to = hi < (uintptr_t)host + size ? hi : (uintptr_t)host + size;
            size_t at = from - (uintptr_t)host;
            if (to_device)
                CHECK(cuMemcpyHtoDAsync(dev + at, (void *)from, to - from, stream));
            else
                CHECK(cuMemcpyDtoHAsync((void *)from, dev + at, to - from, stream));
            CHECK(cuEventRecord(done[k], stream));
        }
        if (k > 0) {
            t = now();
            CHECK(cuEventSynchronize(done[k - 1]));
            p->wait += now() - t;
            t = now();
            CHECK(cuMemHostUnregister((void *)(base + (k - 1) * chunk)));
            p->unreg += now() - t;
        }
    }
}

int main(int argc, char **argv)
{
    size_t size = (size_t)(argc > 1 ? atoi(argv[1]) : 64) << 20;
    size_t chunk = (size_t)(argc > 2 ? atoi(argv[2]) : 8) << 20;
    int rounds = argc > 3 ? atoi(argv[3]) : 7;
    if (rounds < 1 || rounds > 64 || chunk == 0 || size / chunk + 2 > MAX_CHUNKS)
        return 2;
    CUstream stream;
    probe_open(&stream);
    static CUevent done[MAX_CHUNKS];
    for (size_t k = 0; k < size / chunk + 2; k++)
        CHECK(cuEventCreate(&done[k], CU_EVENT_DISABLE_TIMING));
    CUdeviceptr dev;
    CHECK(cuMemAlloc(&dev, size));
    char *host = malloc(size + 64) + 16; /* not on a page boundary, as malloc memory may be */
    char *check = malloc(size);
    if (!host || !check)
        return 3;
    for (size_t i = 0; i < size; i++)
        host[i] = (char)(i * 131u + 7u);
    const char *modes[] = {"raw", "whole", "chunked"};
    for (int dir = 0; dir < 2; dir++) {
        for (int m = 0; m < 3; m++) {
            double s[64];
            phases p = {0};
            for (int r = 0; r < rounds; r++) {
                double t = now();
                if (m == 0) {
                    if (dir == 0)
                        CHECK(cuMemcpyHtoD(dev, host, size));
                    else
                        CHECK(cuMemcpyDtoH(host, dev, size));
                } else if (m == 1) {
                    uintptr_t lo = (uintptr_t)host & ~(uintptr_t)(PAGE - 1u);
                    uintptr_t hi = ((uintptr_t)host + size + PAGE - 1u) & ~(uintptr_t)(PAGE - 1u);
                    CHECK(cuMemHostRegister((void *)lo, hi - lo, 0));
                    if (dir == 0)
                        CHECK(cuMemcpyHtoDAsync(dev, host, size, stream));
                    else
                        CHECK(cuMemcpyDtoHAsync(host, dev, size, stream));
                    CHECK(cuStreamSynchronize(stream));
                    CHECK(cuMemHostUnregister((void *)lo));
                } else {
                    chunked(host, dev, size, chunk, dir == 0, stream, done, &p);
                }
                s[r] = now() - t;
            }
            double sorted[64];
            memcpy(sorted, s, sizeof(double) * (size_t)rounds);
            qsort(sorted, (size_t)rounds, sizeof(double), by_value);
            printf("%s %-7s %zu MiB chunk %zu MiB: best %.2f GB/s, median %.2f GB/s",
                   dir == 0 ? "H2D" : "D2H", modes[m], size >> 20, chunk >> 20,
                   (double)size / sorted[0] * 1e-9, (double)size / sorted[rounds / 2] * 1e-9);
            if (m == 2)
                printf(" (per round: register %.2f ms, wait %.2f ms, unregister %.2f ms)",
                       p.reg * 1e3 / rounds, p.wait * 1e3 / rounds, p.unreg * 1e3 / rounds);
            printf("\n");
        }
        /* Byte-exact both ways: device to host lands what host to device sent. */
        memset(check, 0, size);
        CHECK(cuMemcpyDtoH(check, dev, size));
        if (memcmp(check, host, size) != 0) {
            printf("MISMATCH\n");
            return 4;
        }
    }
    return 0;
}
