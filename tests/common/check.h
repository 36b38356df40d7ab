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

/* A call that must fail with `expected`; anything else shows the call, its result and the last
 * error. */
#define EXPECT_RESULT(call, expected)                                                       \
    do {                                                                                    \
        gpumem_result er_r_ = (call);                                                       \
        cr_assert_eq(er_r_, (expected), "%s -> %s, expected %s (%s)", #call,               \
                     gpumem_result_string(er_r_), gpumem_result_string(expected),           \
                     gpumem_last_error());                                                  \
    } while (0)

#endif
