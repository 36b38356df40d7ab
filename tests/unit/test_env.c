/* Bad values of the GPUMEM_* environment variables, through the public API: each gets exactly
 * one warning (however often it is read) that names the variable, the value and what is used
 * instead, and transfers keep working; GPUMEM_BACKEND of any length works or fails naming it.
 * Criterion runs each test (and each parameter) in a process of its own. */
#include "registry_helpers.h"

#include <criterion/parameterized.h>

typedef struct env_case {
    char value[40];
    char used[40]; /* what the warning must say is used instead */
} env_case;

static gpumem_device open_default(void)
{
    gpumem_device device;
    cr_assert_eq(gpumem_device_open(NULL, &device), GPUMEM_OK, "%s", gpumem_last_error());
    return device;
}

/* Opens and closes the default device `times` times, with transfers on the last. */
static void open_a_few_times(int times, size_t transfer)
{
    for (int i = 0; i < times; i++) {
        gpumem_device device = open_default();
        if (i == times - 1)
            check_transfers(device, transfer);
        cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
    }
}

Test(env, log_garbage)
{
    setenv("GPUMEM_LOG", "garbage", 1);
    capture_warnings();
    open_a_few_times(3, 100);
    gpumem_backend_log(GPUMEM_LOG_WARNING, "a message");
    cr_expect_eq(warnings_with("GPUMEM_LOG='garbage'", "using warning"), 1, "%s",
                 all_warnings());
    cr_expect_eq(warnings_with("GPUMEM_LOG", NULL), 1, "%s", all_warnings());
}

/* Without a callback the level is read at every message, from inside the warning about it
 * too: still one warning, and the messages at or above the default level are printed. */
Test(env, log_garbage_on_stderr)
{
    setenv("GPUMEM_LOG", "verbose", 1);
    char path[] = "/tmp/gpumem-test-stderr-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    fflush(stderr);
    int saved = dup(2);
    cr_assert_eq(dup2(fd, 2), 2);
    for (int i = 0; i < 3; i++)
        gpumem_backend_log(GPUMEM_LOG_WARNING, "message %d", i);
    gpumem_backend_log(GPUMEM_LOG_INFO, "not printed");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char text[4096] = "";
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    close(fd);
    unlink(path);
    cr_assert_gt(n, 0);
    text[n] = '\0';
    int warnings_seen = 0;
    for (const char *p = text; (p = strstr(p, "GPUMEM_LOG='verbose'")); p++)
        warnings_seen++;
    cr_expect_eq(warnings_seen, 1, "%s", text);
    cr_expect(strstr(text, "using warning"), "%s", text);
    cr_expect(strstr(text, "message 2"), "%s", text);
    cr_expect(strstr(text, "not printed") == NULL, "%s", text);
}

Test(env, staging_sometimes)
{
    setenv("GPUMEM_STAGING", "sometimes", 1);
    capture_warnings();
    open_a_few_times(3, 100);
    cr_expect_eq(warnings_with("GPUMEM_STAGING='sometimes'", "using auto"), 1, "%s",
                 all_warnings());
    cr_expect_eq(warnings_with("GPUMEM_STAGING", NULL), 1, "%s", all_warnings());
}

/* A variable set anew between opens, back and forth: each bad value is warned about once, not
 * again each time the other was read in between. */
Test(env, values_that_change_between_opens_warn_once_each)
{
    const char *values[] = {"loud", "quiet", "loud", "quiet", "loud", "soft", "quiet", "soft"};
    capture_warnings();
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        setenv("GPUMEM_STAGING", values[i], 1);
        open_a_few_times(1, 100);
    }
    cr_expect_eq(warnings_with("GPUMEM_STAGING='loud'", "using auto"), 1, "%s", all_warnings());
    cr_expect_eq(warnings_with("GPUMEM_STAGING='quiet'", "using auto"), 1, "%s", all_warnings());
    cr_expect_eq(warnings_with("GPUMEM_STAGING='soft'", "using auto"), 1, "%s", all_warnings());
    cr_expect_eq(warnings_with("GPUMEM_STAGING", NULL), 3, "%s", all_warnings());
}

/* A number past 64 bits is out of range, not silently the largest: warned about, and the
 * nearest allowed number used. */
Test(env, registration_cache_past_64_bits)
{
    setenv("GPUMEM_REGISTRATION_CACHE", "99999999999999999999999999", 1);
    capture_warnings();
    open_a_few_times(2, 4u << 20);
    cr_expect_eq(warnings_with("GPUMEM_REGISTRATION_CACHE='99999999999999999999999999'",
                               "using 18446744073709551615"),
                 1, "%s", all_warnings());
}

Test(env, vulkan_validation_unknown)
{
    setenv("GPUMEM_VULKAN_VALIDATION", "yes", 1);
    capture_warnings();
    open_a_few_times(2, 100);
    cr_expect_eq(warnings_with("GPUMEM_VULKAN_VALIDATION='yes'", "using 1"), 1, "%s",
                 all_warnings());
    cr_expect_eq(warnings_with("GPUMEM_VULKAN_VALIDATION", NULL), 1, "%s", all_warnings());
}

/* Read with the epochs' setup, at the first call that uses objects (check_transfers makes a
 * pool): a bad value keeps membarrier(2), with one warning. */
Test(env, membarrier_unknown)
{
    setenv("GPUMEM_MEMBARRIER", "off", 1);
    capture_warnings();
    open_a_few_times(2, 100);
    cr_expect_eq(warnings_with("GPUMEM_MEMBARRIER='off'", "using 1"), 1, "%s", all_warnings());
    cr_expect_eq(warnings_with("GPUMEM_MEMBARRIER", NULL), 1, "%s", all_warnings());
}

Test(env, documented_values_warn_nothing)
{
    setenv("GPUMEM_MEMBARRIER", "0", 1);
    setenv("GPUMEM_LOG", "error", 1);
    setenv("GPUMEM_STAGING", "always", 1);
    setenv("GPUMEM_STAGING_CHUNK", "65536", 1);
    setenv("GPUMEM_COPY_THREADS", "2", 1);
    setenv("GPUMEM_VULKAN_VALIDATION", "0", 1);
    setenv("GPUMEM_DEVICE", "0", 1);
    setenv("GPUMEM_PLUGIN_PATH", "", 1);
    capture_warnings();
    open_a_few_times(2, 16 << 20);
    cr_expect_eq(warnings_with("GPUMEM_", NULL), 0, "%s", all_warnings());
}

/* GPUMEM_COPY_THREADS is read when the copy threads start: at the first large staged copy. */
ParameterizedTestParameters(env, copy_threads)
{
    static env_case cases[] = {
        {"0", "outside 1 to 17; using 1"},     {"1000", "outside 1 to 17; using 17"},
        {"-1", "(the default)"},               {"abc", "(the default)"},
        {"5abc", "(the default)"},             {" 4", "(the default)"},
        {"99999999999999999999999", "using 17"},
    };
    return cr_make_param_array(env_case, cases, sizeof cases / sizeof *cases);
}

ParameterizedTest(env_case *c, env, copy_threads)
{
    setenv("GPUMEM_COPY_THREADS", c->value, 1);
    setenv("GPUMEM_STAGING", "always", 1); /* 8 MiB chunks: copies large enough for threads */
    capture_warnings();
    open_a_few_times(2, 20 << 20);
    char quoted[64];
    snprintf(quoted, sizeof quoted, "GPUMEM_COPY_THREADS='%s'", c->value);
    cr_expect_eq(warnings_with(quoted, c->used), 1, "[%s] %s", c->value, all_warnings());
    cr_expect_eq(warnings_with("GPUMEM_COPY_THREADS", NULL), 1, "[%s] %s", c->value,
                 all_warnings());
}

/* The size a GPUMEM_STAGING_CHUNK warning says is used, checked against the device. */
static unsigned long long chunk_used(gpumem_device device)
{
    const char *w = warning_with("GPUMEM_STAGING_CHUNK");
    const char *using = strstr(w, "; using ");
    cr_assert_not_null(using, "no size in '%s'", w);
    unsigned long long used = strtoull(using + 8, NULL, 10);
    gpumem_device_properties p;
    cr_assert_eq(gpumem_device_properties_get(device, &p), GPUMEM_OK);
    uint64_t heap = 0;
    for (uint32_t i = 0; i < p.memory_type_count; i++)
        if (p.memory_types[i].flags & GPUMEM_MEMORY_HOST_VISIBLE &&
            p.memory_heaps[p.memory_types[i].heap_index].size > heap)
            heap = p.memory_heaps[p.memory_types[i].heap_index].size;
    cr_expect_geq(used, 4096, "%s", w);
    cr_expect_leq(used, 1ull << 30, "%s", w);
    cr_expect_leq(used, p.max_allocation_size, "%s", w);
    cr_expect_leq(used * 4, heap / 4, "four chunks fit in a quarter of the heap: %s", w);
    return used;
}

ParameterizedTestParameters(env, staging_chunk)
{
    static env_case cases[] = {
        {"0", "is below 4096 bytes; using 4096"},
        {"1", "is below 4096 bytes; using 4096"},
        {"1099511627776", "is above 1073741824 bytes"},
        {"abc", "is not a size in bytes"},
        {"-5", "is not a size in bytes"},
        {"64k", "is not a size in bytes"},
        {"18446744073709551615", "is above 1073741824 bytes"},
    };
    return cr_make_param_array(env_case, cases, sizeof cases / sizeof *cases);
}

ParameterizedTest(env_case *c, env, staging_chunk)
{
    setenv("GPUMEM_STAGING_CHUNK", c->value, 1);
    setenv("GPUMEM_STAGING", "always", 1);
    capture_warnings();
    open_a_few_times(2, 3000);
    char quoted[64];
    snprintf(quoted, sizeof quoted, "GPUMEM_STAGING_CHUNK='%s'", c->value);
    cr_expect_eq(warnings_with(quoted, c->used), 1, "[%s] %s", c->value, all_warnings());
    cr_expect_eq(warnings_with("GPUMEM_STAGING_CHUNK", NULL), 1, "[%s] %s", c->value,
                 all_warnings());
    gpumem_device device = open_default();
    chunk_used(device);
    check_transfers(device, 100);
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
}

/* A 1 TiB chunk on Vulkan once became a 2 GiB one, and every staged transfer then failed to
 * allocate its four chunks. */
Test(env, staging_chunk_of_a_tebibyte_on_vulkan)
{
    setenv("GPUMEM_BACKEND", "vulkan", 1);
    setenv("GPUMEM_STAGING", "always", 1);
    setenv("GPUMEM_STAGING_CHUNK", "1099511627776", 1);
    capture_warnings();
    gpumem_backend_info info;
    if (gpumem_backend_find("vulkan", &info) != GPUMEM_OK || !info.available)
        cr_skip_test("no Vulkan device here");
    gpumem_device device = open_default();
    check_transfers(device, 100);
    check_transfers(device, 3 << 20);
    cr_expect_eq(warnings_with("GPUMEM_STAGING_CHUNK='1099511627776'", "; using "), 1, "%s",
                 all_warnings());
    unsigned long long used = chunk_used(device);
    cr_expect_lt(used, 1ull << 30, "lavapipe's 2 GiB heap holds no four 1 GiB chunks");
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
    device = open_default();
    check_transfers(device, 100);
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
    cr_expect_eq(warnings_with("GPUMEM_STAGING_CHUNK", NULL), 1, "%s", all_warnings());
}

/* A list longer than any buffer: nothing is cut. */
Test(env, backend_list_of_any_length)
{
    size_t pad = 3000;
    char *list = malloc(pad * 2 + 16);
    cr_assert_not_null(list);
    for (size_t i = 0; i < pad; i++)
        memcpy(list + 2 * i, ", ", 2);
    strcpy(list + 2 * pad, "host");
    setenv("GPUMEM_BACKEND", list, 1);
    gpumem_device device = open_default();
    gpumem_device_properties p;
    cr_assert_eq(gpumem_device_properties_get(device, &p), GPUMEM_OK);
    cr_expect_str_eq(p.backend, "host");
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
    free(list);
}

Test(env, backend_name_of_any_length_is_named_in_the_error)
{
    size_t length = 2000;
    char *name = malloc(length + 16);
    cr_assert_not_null(name);
    memset(name, 'x', length);
    strcpy(name + length, "yz");
    setenv("GPUMEM_BACKEND", name, 1);
    gpumem_device device;
    cr_expect_eq(gpumem_device_open(NULL, &device), GPUMEM_ERROR_NOT_FOUND);
    cr_expect(strstr(gpumem_last_error(), "unknown backend 'xxxx"), "%s", gpumem_last_error());
    cr_expect(strstr(gpumem_last_error(), "(2002 characters)"), "%s", gpumem_last_error());
    cr_expect(strstr(gpumem_last_error(), "GPUMEM_BACKEND"), "%s", gpumem_last_error());
    cr_expect(strstr(gpumem_last_error(), "available backends: host"), "%s",
              gpumem_last_error());

    /* "host" after the long name is not reached: the unknown name is an error of its own. */
    strcat(name, ",host");
    setenv("GPUMEM_BACKEND", name, 1);
    cr_expect_eq(gpumem_device_open(NULL, &device), GPUMEM_ERROR_NOT_FOUND);
    cr_expect(strstr(gpumem_last_error(), "(2002 characters)"), "%s", gpumem_last_error());

    gpumem_device_desc desc = {.backend = name};
    name[length + 2] = '\0';
    cr_expect_eq(gpumem_device_open(&desc, &device), GPUMEM_ERROR_NOT_FOUND);
    cr_expect(strstr(gpumem_last_error(), "(2002 characters)"), "%s", gpumem_last_error());
    gpumem_backend_info info;
    cr_expect_eq(gpumem_backend_find(name, &info), GPUMEM_ERROR_NOT_FOUND);
    free(name);
}
