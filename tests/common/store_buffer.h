/* Widening the window that a missing memory barrier leaves open, so that a test of a protocol
 * whose correctness rests on a barrier (the epochs' read side, unit-epoch) fails when the barrier
 * is gone, rather than by rare chance.
 *
 * A core makes its stores visible in program order, from a queue (the store buffer), while its
 * later loads go ahead. Before the store a test is about (a call's epoch), test_store_buffer_fill
 * stores to lines that are rarely in the cache: the store then waits behind them, far longer
 * than the few nanoseconds it would otherwise, while the loads after it run. A protocol with its
 * barrier in place is unaffected. */
#ifndef GPUMEM_TESTS_STORE_BUFFER_H
#define GPUMEM_TESTS_STORE_BUFFER_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum { TEST_STORE_BUFFER_LINES = 1 << 16, TEST_STORE_BUFFER_STORES = 40 };

typedef struct test_store_buffer {
    unsigned char *lines; /* TEST_STORE_BUFFER_LINES cache lines (4 MiB) */
    unsigned seed;
} test_store_buffer;

/* 0 when out of memory. */
static inline int test_store_buffer_init(test_store_buffer *b, unsigned seed)
{
    b->lines = malloc((size_t)TEST_STORE_BUFFER_LINES * 64);
    b->seed = seed * 7919u + 1u;
    /* Touched now: a store's page fault would drain the queue and close the window. Not with
     * zeros, which the compiler may turn into calloc, whose fresh pages stay untouched. */
    if (b->lines)
        memset(b->lines, 1, (size_t)TEST_STORE_BUFFER_LINES * 64);
    return b->lines != NULL;
}

static inline void test_store_buffer_fill(test_store_buffer *b)
{
    for (int k = 0; k < TEST_STORE_BUFFER_STORES; k++) {
        b->seed = b->seed * 1103515245u + 12345u;
        b->lines[(size_t)((b->seed >> 8) % TEST_STORE_BUFFER_LINES) * 64] = (unsigned char)k;
    }
    /* The stores are never read: this keeps the compiler from dropping them. */
    __asm__ volatile("" : : "r"(b->lines) : "memory");
}

static inline void test_store_buffer_free(test_store_buffer *b)
{
    free(b->lines);
    b->lines = NULL;
}

#endif
