/* Deterministic test data: distinct bytes per seed, so that a mix-up of two regions shows. */
#ifndef GPUMEM_TESTS_PATTERN_H
#define GPUMEM_TESTS_PATTERN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void test_pattern(void *data, size_t size, uint64_t seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
    uint8_t *p = data;
    size_t i = 0;
    for (; i + 8 <= size; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(p + i, &x, 8);
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    for (; i < size; i++, x >>= 8)
        p[i] = (uint8_t)x;
}

#endif
