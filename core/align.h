/* Rounding up to a power of two, for offsets, sizes, pitches and host pages. */
#ifndef GPUMEM_CORE_ALIGN_H
#define GPUMEM_CORE_ALIGN_H

#include <stdint.h>

/* 1 for 1, 2, 4, ...; 0 for 0 and every other value. */
static inline int gpumem_is_power_of_two(uint64_t x)
{
    return x && !(x & (x - 1));
}

/* `value` rounded up to a multiple of `alignment` (a power of two); the caller keeps it from
 * passing 2^64. */
static inline uint64_t gpumem_align_up(uint64_t value, uint64_t alignment)
{
    return (value + alignment - 1) & ~(alignment - 1);
}

/* The whole pages of `page` bytes (a power of two) that hold [address, address + size), size
 * > 0: [*begin, *end). 0 where the range wraps, or its last page would end past the address
 * space. */
static inline int gpumem_whole_pages(uintptr_t address, uint64_t size, uintptr_t page,
                                     uintptr_t *begin, uintptr_t *end)
{
    uintptr_t last = address + (uintptr_t)(size - 1u);
    if (last < address || last > UINTPTR_MAX - page)
        return 0;
    *begin = address & ~(page - 1u);
    *end = (last | (page - 1u)) + 1u;
    return 1;
}

#endif
