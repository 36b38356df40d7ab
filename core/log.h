/* gpumem's log: a process-wide callback, or stderr filtered by GPUMEM_LOG. */
#ifndef GPUMEM_CORE_LOG_H
#define GPUMEM_CORE_LOG_H

#include <stdatomic.h>
#include <stdint.h>

void gpumem_log(int32_t level, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* The lowest level a message goes anywhere at: GPUMEM_LOG_DEBUG while a callback is set, else
 * GPUMEM_LOG's level as gpumem_log_refresh last read it. */
extern _Atomic int32_t gpumem_log_lowest;

/* 1 when a message at `level` goes anywhere: callers on hot paths ask first, so that a debug
 * message costs one load, and no formatting, when nobody reads it. */
static inline int gpumem_log_wants(int32_t level)
{
    return level >= atomic_load_explicit(&gpumem_log_lowest, memory_order_relaxed);
}

/* Reads GPUMEM_LOG again for gpumem_log_wants (each device open calls it). */
void gpumem_log_refresh(void);

#endif
