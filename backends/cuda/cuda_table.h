/* CUDA's table of runtime operations for gpurt. */
#ifndef GPUMEM_CUDA_TABLE_H
#define GPUMEM_CUDA_TABLE_H

#include "gpurt_runtime.h"

extern const gpurt_runtime cuda_table;

#endif
