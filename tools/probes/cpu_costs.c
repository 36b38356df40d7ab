/* What the host's CPU and kernel charge for the operations core's hot paths may use: whether
 * membarrier(2) works (without it every call's read-side section fences, and there is no lone
 * thread: docs/design.md); on x86-64 the clock (a chain of dependent multiplies); and the time
 * of a store and a load that depends on it, of a direct and an indirect call, of a full fence, a
 * locked read-modify-write, an exchange and a compare-and-swap, each in a loop of its own.
 *
 *   cc -O2 -o cpu_costs tools/probes/cpu_costs.c && taskset -c 3 ./cpu_costs
 */
#define _GNU_SOURCE
#include <linux/membarrier.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static _Atomic uint64_t counter; /* not `word`: under -masm=intel the assembler reads a keyword */
static volatile uint64_t plain;

/* A call the compiler cannot inline or see through, taking its argument by pointer. */
#if defined(__clang__)
#define OPAQUE __attribute__((noinline))
#else
#define OPAQUE __attribute__((noipa))
#endif
OPAQUE static void add_through(volatile uint64_t *to, uint64_t amount)
{
    *to += amount;
}
static void (*volatile indirect)(volatile uint64_t *, uint64_t) = add_through;

#define LOOPS 20000000u
#define TIME(label, body)                                                       \
    do {                                                                        \
        double best = 1e9;                                                      \
        for (int round = 0; round < 5; round++) {                               \
            double start = now();                                               \
            for (uint32_t i = 0; i < LOOPS; i++) {                              \
                body;                                                           \
            }                                                                   \
            double ns = (now() - start) * 1e9 / LOOPS;                          \
            best = ns < best ? ns : best;                                       \
        }                                                                       \
        printf("%-34s %7.2f ns\n", label, best);                                \
    } while (0)

int main(void)
{
    long query = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    long reg = syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0);
    if (reg != 0) {
        printf("membarrier query %#lx, register failed (%s): gpumem's calls fence for "
               "themselves here, and there is no lone thread\n",
               query, strerror(errno));
    } else {
        double start = now();
        long run = 0;
        for (int i = 0; i < 1000; i++)
            run |= syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
        double barrier_us = (now() - start) * 1e6 / 1000;
        printf("membarrier query %#lx, registered, private expedited %s (%.2f us each)\n",
               query, run == 0 ? "works" : "failed", barrier_us);
    }
#if defined(__x86_64__)
    /* Eight multiplies in a chain, each waiting for the one before: three cycles each on the
     * x86 cores of the last decade, Intel's and AMD's alike (a chain of adds would not do: newer
     * Intel cores fold an add of a constant at renaming and run such chains faster than one a
     * cycle). So a third of one's time is the clock's period; with an instruction count
     * (callgrind), the time of a pair then says how many instructions a cycle it ran. */
    {
/* One multiply, written in both of the compiler's dialects ({AT&T|Intel}). */
#define IMUL "imul {%1, %0|%0, %1}\n\t"
        double best = 1e9;
        for (int round = 0; round < 5; round++) {
            uint64_t x = 3, odd = 0x9e3779b97f4a7c15ull;
            double start = now();
            for (uint32_t i = 0; i < LOOPS; i++)
                __asm__ volatile(IMUL IMUL IMUL IMUL IMUL IMUL IMUL IMUL
                                 : "+r"(x)
                                 : "r"(odd));
            double ns = (now() - start) * 1e9 / (8.0 * LOOPS);
            best = ns < best ? ns : best;
        }
        printf("%-34s %7.3f ns (a clock of %.2f GHz)\n", "one multiply of a dependent chain",
               best, 3.0 / best);
#undef IMUL
    }
#endif
    /* Each iteration loads a value, adds one and stores it back, the next load depending on
     * that store: a chain through memory, as spilled registers and out-parameters make. On most
     * cores the store is forwarded to the load (4-5 cycles on Intel's); AMD's cores since Zen 2
     * rename such memory and run the chain at about a cycle a step. */
    TIME("store, then a dependent load", plain = plain + 1);
    TIME("direct call, argument by pointer", add_through(&plain, 1));
    TIME("indirect call, argument by pointer", indirect(&plain, 1));
    /* A sequentially consistent fence as core's GPUMEM_FULL_FENCE compiles it (GCC: a locked
     * or to the stack; clang: mfence); the empty asm keeps compilers from merging the fences of
     * successive iterations into one. */
    TIME("seq_cst fence, as core compiles it", {
        atomic_thread_fence(memory_order_seq_cst);
        __asm__ volatile("" ::: "memory");
    });
#if defined(__x86_64__)
    TIME("mfence", __asm__ volatile("mfence" ::: "memory"));
#endif
    TIME("locked add (fetch_add)", atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed));
    TIME("exchange (seq_cst store)", atomic_store_explicit(&counter, i, memory_order_seq_cst));
    TIME("compare-and-swap", {
        uint64_t expected = atomic_load_explicit(&counter, memory_order_relaxed);
        atomic_compare_exchange_strong(&counter, &expected, expected + 1);
    });
    return 0;
}
