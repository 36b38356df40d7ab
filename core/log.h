/* gpumem's log: a process-wide callback, or stderr filtered by GPUMEM_LOG. */
#ifndef GPUMEM_CORE_LOG_H
#define GPUMEM_CORE_LOG_H

#include <stdint.h>

void gpumem_log(int32_t level, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* 1 when a message at `level` goes anywhere (a callback is set, or GPUMEM_LOG lets it through
 * to stderr): callers on hot paths ask first, so that a debug message costs no formatting when
 * nobody reads it. */
int gpumem_log_wants(int32_t level);
/* Reads GPUMEM_LOG again for gpumem_log_wants (each device open calls it). */
void gpumem_log_refresh(void);

#endif
