/* Which sanitizer a test program is built with, for the tests that run fewer iterations under
 * one (each operation costs 5 to 20 times more there) or behave otherwise under one. gcc says so
 * with __SANITIZE_ADDRESS__ / __SANITIZE_THREAD__, clang with __has_feature. */
#ifndef GPUMEM_TESTS_SANITIZED_H
#define GPUMEM_TESTS_SANITIZED_H

#if defined(__SANITIZE_THREAD__)
#define TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifndef TEST_TSAN
#define TEST_TSAN 0
#endif
#ifndef TEST_ASAN
#define TEST_ASAN 0
#endif
#define TEST_SANITIZED (TEST_TSAN || TEST_ASAN)

/* A random test's `plain` steps, halved under a sanitizer: the same classes of input, fewer of
 * them (the plain build, in CI's first step, runs them all). */
#define TEST_SANITIZED_STEPS(plain) (TEST_SANITIZED ? (plain) / 2 : (plain))

#endif
