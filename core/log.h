/* gpumem's log: a process-wide callback, or stderr filtered by GPUMEM_LOG. */
#ifndef GPUMEM_CORE_LOG_H
#define GPUMEM_CORE_LOG_H

#include <stdint.h>

void gpumem_log(int32_t level, const char *format, ...) __attribute__((format(printf, 2, 3)));

#endif
