#include "alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static _Atomic int armed;         /* a test has called gpumem_alloc_fail_at: count and check */
static _Atomic uint64_t made;     /* allocations asked for since the last gpumem_alloc_fail_at */
static _Atomic uint64_t fail_at;  /* 0: none fails */
static _Atomic int fail_sticky;
static void *_Atomic failed_site; /* the caller of the last allocation made to fail */

/* 1 when this allocation, asked for at `site`, must fail. */
static int injected(void *site)
{
    if (__builtin_expect(!atomic_load_explicit(&armed, memory_order_relaxed), 1))
        return 0;
    uint64_t n = atomic_fetch_add_explicit(&made, 1, memory_order_relaxed) + 1;
    uint64_t k = atomic_load_explicit(&fail_at, memory_order_relaxed);
    if (!k || !(n == k || (n > k && atomic_load_explicit(&fail_sticky, memory_order_relaxed))))
        return 0;
    atomic_store(&failed_site, site);
    return 1;
}

void *gpumem_alloc_failed_site(void)
{
    return atomic_exchange(&failed_site, NULL);
}

uint64_t gpumem_alloc_fail_at(uint64_t k, int sticky)
{
    atomic_store(&armed, 1);
    atomic_store(&fail_sticky, sticky);
    atomic_store(&fail_at, k);
    return atomic_exchange(&made, 0);
}

void *gpumem_alloc(size_t size)
{
    return injected(__builtin_return_address(0)) ? NULL : malloc(size);
}

void *gpumem_alloc_zeroed(size_t count, size_t size)
{
    return injected(__builtin_return_address(0)) ? NULL : calloc(count, size);
}

void *gpumem_alloc_aligned(size_t alignment, size_t size)
{
    return injected(__builtin_return_address(0)) ? NULL : aligned_alloc(alignment, size);
}

void *gpumem_realloc(void *memory, size_t size)
{
    return injected(__builtin_return_address(0)) ? NULL : realloc(memory, size);
}

char *gpumem_strdup(const char *text)
{
    size_t n = strlen(text) + 1;
    char *copy = injected(__builtin_return_address(0)) ? NULL : malloc(n);
    return copy ? memcpy(copy, text, n) : NULL;
}

void gpumem_free(void *memory)
{
    free(memory);
}
