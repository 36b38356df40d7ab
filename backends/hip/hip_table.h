/* HIP's table of runtime operations for gpurt. */
#ifndef GPUMEM_HIP_TABLE_H
#define GPUMEM_HIP_TABLE_H

#include "gpurt_runtime.h"

extern const gpurt_runtime hip_table;

#endif
