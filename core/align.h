/* Rounding up to a power of two, for offsets, sizes and pitches. */
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

#endif
