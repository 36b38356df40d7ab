/* The debug log of public calls (docs/api.md, "Logging"): every call, with its arguments, its
 * outputs on success and its result; failures with their message; nothing for calls a log
 * callback makes (no recursion); nothing at all while nobody reads debug messages. Runs on the
 * host backend. (check_call_log.py checks that every exported function logs.) */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "check.h"
#include "gpumem/gpumem.h"

#define LINES 64

static char lines[LINES][1024];
static int line_count, calls_from_callback;

static void keep(void *user, int32_t level, const char *message)
{
    (void)user;
    if (level == GPUMEM_LOG_DEBUG && strncmp(message, "gpumem_", 7) == 0 && line_count < LINES)
        snprintf(lines[line_count++], sizeof lines[0], "%s", message);
    if (calls_from_callback) {
        uint32_t count; /* a call from the callback: not logged, or this would never end */
        gpumem_backend_count(&count);
    }
}

/* The kept line that starts with `start`, or NULL. */
static const char *line_starting(const char *start)
{
    for (int i = 0; i < line_count; i++)
        if (strncmp(lines[i], start, strlen(start)) == 0)
            return lines[i];
    return NULL;
}

static void expect_line(const char *expected)
{
    const char *found = line_starting(expected);
    cr_assert(found && strcmp(found, expected) == 0, "expected \"%s\"; got \"%s\" (%d lines)",
              expected, found ? found : "none", line_count);
}

Test(call_log, calls_arguments_outputs_and_results)
{
    OK(gpumem_log_set_callback(keep, NULL));
    gpumem_device device;
    gpumem_device_desc desc = {.backend = "host"};
    OK(gpumem_device_open(&desc, &device));
    gpumem_pool pool;
    gpumem_pool_desc pool_desc = {.page_size = 1 << 20, .name = "logged"};
    OK(gpumem_pool_create(device, &pool_desc, &pool));
    gpumem_buffer buffer;
    gpumem_buffer_desc buffer_desc = {.size = 4096, .alignment = 256, .name = "b"};
    OK(gpumem_buffer_create(pool, &buffer_desc, &buffer));
    char data[16] = "0123456789abcdef";
    OK(gpumem_buffer_write(buffer, 8, data, sizeof data));
    cr_assert_eq(gpumem_buffer_write(buffer, 0, data, 0), GPUMEM_ERROR_INVALID_ARGUMENT);
    OK(gpumem_buffer_destroy(buffer));
    char expected[1024];
    snprintf(expected, sizeof expected,
             "gpumem_pool_create(device %#llx, desc {kind 0, flags 0, required_flags 0, "
             "preferred_flags 0, memory_type_index 0, page_size 1048576, byte_limit 0, name "
             "\"logged\"}) -> GPUMEM_OK: pool %#llx",
             (unsigned long long)(uintptr_t)device, (unsigned long long)(uintptr_t)pool);
    expect_line(expected);
    snprintf(expected, sizeof expected,
             "gpumem_buffer_create(pool %#llx, desc {size 4096, alignment 256, flags 0, usage 0, "
             "name \"b\"}) -> GPUMEM_OK: buffer %#llx",
             (unsigned long long)(uintptr_t)pool, (unsigned long long)(uintptr_t)buffer);
    expect_line(expected);
    snprintf(expected, sizeof expected,
             "gpumem_buffer_write(buffer %#llx, offset 8, data %p, size 16) -> GPUMEM_OK",
             (unsigned long long)(uintptr_t)buffer, (void *)data);
    expect_line(expected);
    snprintf(expected, sizeof expected,
             "gpumem_buffer_write(buffer %#llx, offset 0, data %p, size 0) -> "
             "GPUMEM_ERROR_INVALID_ARGUMENT: gpumem_buffer_write: size is 0",
             (unsigned long long)(uintptr_t)buffer, (void *)data);
    expect_line(expected);
    /* A failed create logs no output: outputs are written only on success. */
    gpumem_buffer none;
    buffer_desc.size = 0;
    cr_assert_eq(gpumem_buffer_create(pool, &buffer_desc, &none), GPUMEM_ERROR_INVALID_ARGUMENT);
    const char *failed = NULL;
    for (int i = 0; i < line_count; i++)
        if (strstr(lines[i], "size 0, alignment 256"))
            failed = lines[i];
    cr_assert(failed && strstr(failed, "-> GPUMEM_ERROR_INVALID_ARGUMENT: ") &&
                  !strstr(failed, "buffer 0x"),
              "%s", failed ? failed : "none");
    OK(gpumem_device_close(device));
    snprintf(expected, sizeof expected, "gpumem_device_close(device %#llx) -> GPUMEM_OK",
             (unsigned long long)(uintptr_t)device);
    expect_line(expected);
    OK(gpumem_log_set_callback(NULL, NULL));
}

/* Virtual blocks' alloc and free have a quick path that skips the log's test; with a reader
 * of the log they take the full call, so every call is logged, successes and failures alike. */
Test(call_log, virtual_block_calls)
{
    OK(gpumem_log_set_callback(keep, NULL));
    gpumem_vblock vblock;
    OK(gpumem_vblock_create(1 << 20, &vblock));
    gpumem_vblock_allocation allocation;
    uint64_t offset;
    OK(gpumem_vblock_alloc(vblock, 100, 0, &allocation, &offset));
    OK(gpumem_vblock_free(vblock, allocation));
    cr_assert_eq(gpumem_vblock_free(vblock, allocation), GPUMEM_ERROR_INVALID_HANDLE);
    char expected[512];
    snprintf(expected, sizeof expected,
             "gpumem_vblock_alloc(vblock %#llx, size 100, alignment 0) -> GPUMEM_OK: "
             "allocation %#llx, offset %llu",
             (unsigned long long)(uintptr_t)vblock, (unsigned long long)allocation,
             (unsigned long long)offset);
    expect_line(expected);
    snprintf(expected, sizeof expected,
             "gpumem_vblock_free(vblock %#llx, allocation %#llx) -> GPUMEM_OK",
             (unsigned long long)(uintptr_t)vblock, (unsigned long long)allocation);
    expect_line(expected);
    snprintf(expected, sizeof expected,
             "gpumem_vblock_free(vblock %#llx, allocation %#llx) -> GPUMEM_ERROR_INVALID_HANDLE: "
             "gpumem_vblock_free: %#llx is not a live allocation of this vblock",
             (unsigned long long)(uintptr_t)vblock, (unsigned long long)allocation,
             (unsigned long long)allocation);
    int found = 0;
    for (int i = 0; i < line_count; i++)
        found += strcmp(lines[i], expected) == 0;
    cr_assert_eq(found, 1, "expected \"%s\" once", expected);
    OK(gpumem_vblock_destroy(vblock));
    OK(gpumem_log_set_callback(NULL, NULL));
}

Test(call_log, calls_from_the_callback_are_not_logged)
{
    OK(gpumem_log_set_callback(keep, NULL));
    calls_from_callback = 1;
    uint32_t count;
    OK(gpumem_backend_count(&count));
    OK(gpumem_backend_count(&count));
    calls_from_callback = 0;
    int logged = 0;
    for (int i = 0; i < line_count; i++)
        logged += strncmp(lines[i], "gpumem_backend_count(", 21) == 0;
    cr_assert_eq(logged, 2, "the two calls, not the callback's (%d lines)", logged);
    OK(gpumem_log_set_callback(NULL, NULL));
}

/* Without a callback and with GPUMEM_LOG above debug (the tests run at warning), no call is
 * logged: stderr, where gpumem's own log goes, stays empty. */
Test(call_log, nothing_without_a_reader)
{
    fflush(stderr);
    FILE *saved = stderr;
    char buffer[256] = {0};
    stderr = fmemopen(buffer, sizeof buffer, "w");
    uint32_t count;
    OK(gpumem_backend_count(&count));
    gpumem_vblock vblock;
    OK(gpumem_vblock_create(1 << 20, &vblock));
    OK(gpumem_vblock_destroy(vblock));
    fclose(stderr);
    stderr = saved;
    cr_assert_eq(buffer[0], 0, "written: %s", buffer);
}
