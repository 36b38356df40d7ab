/* Every host allocation of core goes through these functions: one place to count them, and to
 * make the k-th one fail on purpose, so that tests reach every allocation's failure path (as
 * SQLite's test builds do). Out of tests, the failure switch costs one predictable branch. */
#ifndef GPUMEM_CORE_ALLOC_H
#define GPUMEM_CORE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void *gpumem_alloc(size_t size);
void *gpumem_alloc_zeroed(size_t count, size_t size);
void *gpumem_alloc_aligned(size_t alignment, size_t size); /* size a multiple of alignment */
void *gpumem_realloc(void *memory, size_t size);
char *gpumem_strdup(const char *text);
void gpumem_free(void *memory);

/* For tests (not exported by libgpumem; the failure-injection test links core directly).
 * From now on, allocation number `k` (1 = the next one) fails, and so does every later one while
 * `sticky` is set; 0 turns failures off. Returns the number of allocations made since the last
 * call, so a test first counts a scenario's allocations, then fails each in turn. */
uint64_t gpumem_alloc_fail_at(uint64_t k, int sticky);
/* The code address that asked for the last allocation made to fail (NULL when none did since the
 * last call), so a test can count the distinct sites it reached. */
void *gpumem_alloc_failed_site(void);

#endif
