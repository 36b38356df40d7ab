/* The conformance suite: what every backend must do. One program, gpumem-conformance (main.c),
 * run on one backend: in the tree once per backend with GPUMEM_BACKEND set (and again with
 * staging forced, guard margins on), and by a backend's author on their module
 * (docs/backends.md). main.c settles the backend before any test runs and sets GPUMEM_BACKEND to
 * its one name.
 *
 * Every test opens the backend's device in the suite's init fixture (conf_dev, conf_props);
 * a device that cannot be opened fails the test, or skips it when the program was run with
 * --skip-unavailable and gpumem says the backend is unavailable. Tests are written with
 * CONF_TEST so the device is closed inside the test body: whatever closing it logs (Vulkan
 * validation reports leaked objects at vkDestroyDevice) still counts against the test.
 */
#ifndef GPUMEM_TESTS_CONFORMANCE_H
#define GPUMEM_TESTS_CONFORMANCE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include "check.h"
#include "gpumem/backend.h"
#include "gpumem/gpumem.h"

extern gpumem_device conf_dev;
extern gpumem_device_properties conf_props;

void conf_setup(void);
void conf_teardown(void);
/* Closes conf_dev (asserting success) while the test still counts failures. */
void conf_finish(void);

/* The least level the suite prints of gpumem's log: GPUMEM_LOG (debug, info, warning, error),
 * as gpumem's own log would; warning when unset or unknown. */
int32_t conf_log_threshold(void);

/* Puts the suite's log callback back (validation messages fail the test) after a test
 * installed its own. */
void conf_log_restore(void);
/* The suite's log callback itself, for a test's own callback to pass on what it does not read. */
void conf_log(void *user, int32_t level, const char *message);

/* 1 when the suite runs with GPUMEM_DETECT_CORRUPTION=1: every host-visible buffer has guard
 * margins (and an overwritten one fails the test through the log). */
int conf_guard_margins(void);


/* The backend under test: GPUMEM_BACKEND, which main.c sets to one name ("host" when unset,
 * which happens only when the tests run without main.c). */
const char *conf_backend(void);

/* Set to "1" to run the suite on devices opened with GPUMEM_DEVICE_OPEN_EXTERNALLY_SYNCHRONIZED
 * (meson's conformance-*-external): tests whose calls overlap on one device skip there. */
#define CONF_EXTERNALLY_SYNCHRONIZED_ENV "GPUMEM_CONFORMANCE_EXTERNALLY_SYNCHRONIZED"

/* 1 when the suite's devices are externally synchronized (CONF_EXTERNALLY_SYNCHRONIZED_ENV). */
int conf_externally_synchronized(void);

/* Opens another device the way the fixture did (GPUMEM_BACKEND chooses; externally
 * synchronized when the suite's devices are). */
gpumem_result conf_open(gpumem_device *device);
/* The same for a backend named here (NULL: as conf_open). */
gpumem_result conf_open_backend(const char *backend, gpumem_device *device);

/* Skips the test, saying why: closes conf_dev first (where what closing logs still counts, and
 * since Criterion runs no .fini after a skip). Only where the test holds nothing else. */
#define CONF_SKIP(...)                 \
    do {                               \
        conf_finish();                 \
        cr_skip_test(__VA_ARGS__);     \
    } while (0)

/* For a test whose calls overlap on conf_dev from several threads, which an externally
 * synchronized device does not allow. */
#define CONF_SKIP_IF_EXTERNALLY_SYNCHRONIZED()                                               \
    do {                                                                                     \
        if (conf_externally_synchronized())                                                  \
            CONF_SKIP("its calls overlap on one device from several threads, which a device " \
                      "opened with GPUMEM_DEVICE_OPEN_EXTERNALLY_SYNCHRONIZED does not allow"); \
    } while (0)

/* Whether gpumem's registration cache may be on in this process: GPUMEM_REGISTRATION_CACHE
 * set (not 0) and libgpumem-memhooks loaded. */
int conf_registration_cache_on(void);

/* For a test of the registrations a synchronous transfer makes for itself, which it makes only
 * where the registration cache is off. */
#define CONF_SKIP_IF_REGISTRATION_CACHE()                                                    \
    do {                                                                                     \
        if (conf_registration_cache_on())                                                    \
            CONF_SKIP("the registration cache is on (GPUMEM_REGISTRATION_CACHE, with "        \
                      "libgpumem-memhooks loaded): transfers take its registrations, not the " \
                      "ones for themselves that this test checks");                          \
    } while (0)

/* Options go after the name as in Test(); leave out .timeout (the suite's applies): Criterion
 * 2.4.1 leaks in its runner for tests with their own timeout run with --jobs above 1. */
#define CONF_TEST(name, ...)                                  \
    static void conf_body_##name(void);                       \
    Test(conformance, name, ##__VA_ARGS__)                    \
    {                                                         \
        conf_body_##name();                                   \
        conf_finish();                                        \
    }                                                         \
    static void conf_body_##name(void)

/* A call that must fail with `expected` and say why. */
#define FAILS(call, expected)                                                                \
    do {                                                                                     \
        gpumem_result fails_r_ = (call);                                                     \
        gpumem_result fails_e_ = (expected);                                                 \
        cr_assert_eq(fails_r_, fails_e_, "%s -> %s, expected %s (%s)", #call,                \
                     gpumem_result_string(fails_r_), gpumem_result_string(fails_e_),        \
                     gpumem_last_error());                                                   \
        cr_assert_neq(gpumem_last_error()[0], '\0', "%s failed without a message", #call); \
    } while (0)

/* Deterministic bytes for a seed (xorshift), so each region's content is known. */
void conf_pattern(void *data, size_t size, uint64_t seed);

/* Index of the first differing byte, or size when equal. */
size_t conf_mismatch(const void *a, const void *b, size_t size);

/* Byte-exact comparison; the optional printf-style arguments say what was compared. */
#define ASSERT_BYTES(actual, expected, size, ...)                                            \
    do {                                                                                     \
        size_t ab_size_ = (size);                                                            \
        size_t ab_at_ = conf_mismatch((actual), (expected), ab_size_);                       \
        if (ab_at_ != ab_size_) {                                                            \
            cr_expect_fail("byte %zu of %zu differs: got 0x%02x, expected 0x%02x", ab_at_,   \
                           ab_size_, ((const uint8_t *)(actual))[ab_at_],                    \
                           ((const uint8_t *)(expected))[ab_at_]);                           \
            cr_assert_fail(__VA_ARGS__);                                                     \
        }                                                                                    \
    } while (0)

/* malloc that asserts. */
void *conf_alloc(size_t size);

/* The whole text of conf_dev's gpumem_device_dump_json or gpumem_device_summary (asserting the
 * calls succeed); free() it. */
char *conf_device_text(gpumem_result (*get)(gpumem_device, char *, uint64_t, uint64_t *));

/* The suite's backend's table as its module gives it (to be wrapped and registered again under
 * another name), or NULL with *why where the backend is built in. */
const gpumem_backend_vtable *conf_module_table(const char **why);

/* Asserts that gpumem_device_summary's line for the pool named `name` (unique on conf_dev)
 * counts the pages and allocations that gpumem_pool_stats_get gives for `pool`. */
void conf_expect_summary_counts(gpumem_pool pool, const char *name);

/* Occurrences of `needle` in `text`. */
int conf_count_of(const char *text, const char *needle);

/* A thread that makes one call on the device (so it holds an epoch record: other threads'
 * destroys then retire and wait for a barrier) and then waits, in no call, until
 * conf_idle_thread_end; begin returns once that call is made, and fails the test if it failed. */
void conf_idle_thread_begin(pthread_t *thread);
void conf_idle_thread_end(pthread_t thread);

/* A paged pool of memory type `type` (GPUMEM_POOL_MEMORY_TYPE_INDEX) with the given page size
 * and extra pool flags. */
gpumem_pool conf_type_pool(uint32_t type, uint64_t page_size, uint32_t flags, const char *name);

/* A paged pool chosen by flags only (0 required: any type). */
gpumem_pool conf_pool(uint64_t page_size);

gpumem_buffer conf_buffer(gpumem_pool pool, uint64_t size, uint64_t alignment);

int conf_is_power_of_two(uint64_t x);

uint32_t conf_type_flags(uint32_t type);

/* The first memory type with all of `flags` (and, when `without` is non-zero, none of it),
 * or UINT32_MAX. */
uint32_t conf_find_type(uint32_t flags, uint32_t without);

/* The first host-visible memory type; skips the test, saying why, on a device without one
 * (backend.h allows it: its transfers are the runtime's direct copies). */
uint32_t conf_host_visible_type(void);

#endif
