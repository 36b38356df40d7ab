/* Guard margins (GPUMEM_POOL_DETECT_CORRUPTION): bytes of a known pattern on both sides of a
 * buffer in host-visible memory, written when the buffer is made and checked when it is
 * destroyed or on demand, so that a write past either end shows as soon as it can be seen. */
#ifndef GPUMEM_CORE_MARGIN_H
#define GPUMEM_CORE_MARGIN_H

#include "buffer.h"

/* The margin before a buffer of this alignment: at least GPUMEM_GUARD_MARGIN, and a multiple of
 * the alignment so that the buffer stays aligned. 0 for pools without margins. */
uint64_t gpumem_margin_before(const gpumem_pool_obj *pool, uint64_t alignment);

/* The bytes a buffer of `size` takes with its margins, or 0 when that overflows. */
uint64_t gpumem_margin_total(const gpumem_pool_obj *pool, uint64_t size, uint64_t before);

/* Writes the pattern into a new buffer's margins (pool lock held). */
gpumem_result gpumem_margin_write(gpumem_buffer_obj *buffer);

/* Checks a buffer's margins (pool lock held): GPUMEM_ERROR_CORRUPTED with the first overwritten
 * byte's buffer, pool and offset as the message, which is also logged as an error under
 * `function`'s name. */
gpumem_result gpumem_margin_check(gpumem_buffer_obj *buffer, const char *function);

#endif
