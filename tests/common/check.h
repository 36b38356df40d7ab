/* Assertions the suites share. */
#ifndef GPUMEM_TESTS_CHECK_H
#define GPUMEM_TESTS_CHECK_H

#include <criterion/criterion.h>

#include "gpumem/gpumem.h"

/* A call that must succeed; a failure shows the call, its result and the last error. */
#define OK(call)                                                                             \
    do {                                                                                     \
        gpumem_result ok_r_ = (call);                                                        \
        cr_assert_eq(ok_r_, GPUMEM_OK, "%s -> %s (%s)", #call, gpumem_result_string(ok_r_), \
                     gpumem_last_error());                                                   \
    } while (0)

#endif
