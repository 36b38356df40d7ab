/* The HIP backend's clean failures, on a machine with the HIP runtime and no AMD GPU (as CI
 * has), and with the runtime's file name overridden to a missing one. Only test bodies call
 * gpumem: each runs in a process of its own, and the registry probes once per process, so
 * GPUMEM_HIP_LIBRARY as set for the test is what the probe sees. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "gpumem/gpumem.h"

static gpumem_backend_info hip_info(void)
{
    gpumem_backend_info info;
    gpumem_result r = gpumem_backend_find("hip", &info);
    cr_assert_eq(r, GPUMEM_OK, "the hip backend is built: %s", gpumem_last_error());
    return info;
}

/* Opening must fail with the probe's reason and the list of what is available. */
static void assert_open_fails(const char *reason)
{
    gpumem_device_desc desc = {.backend = "hip"};
    gpumem_device device;
    gpumem_result r = gpumem_device_open(&desc, &device);
    cr_assert_eq(r, GPUMEM_ERROR_UNAVAILABLE, "-> %s (%s)", gpumem_result_string(r),
                 gpumem_last_error());
    const char *message = gpumem_last_error();
    cr_assert(strstr(message, reason), "'%s' does not say '%s'", message, reason);
    const char *list = strstr(message, "available backends: ");
    cr_assert(list && strstr(list, "host"), "'%s' does not list the available backends",
              message);
}

Test(hip, runtime_without_device)
{
    if (getenv("GPUMEM_HIP_LIBRARY"))
        cr_skip("GPUMEM_HIP_LIBRARY is set: this test is about the default runtime");
    gpumem_backend_info info = hip_info();
    if (info.available)
        cr_skip("this machine has a HIP device");
    if (strstr(info.reason, "not found"))
        cr_skip("needs the HIP runtime installed without a GPU: %s", info.reason);
    cr_assert(strstr(info.reason, "no HIP device"), "reason: %s", info.reason);
    cr_assert_eq(info.device_count, 0);
    assert_open_fails(info.reason);
}

Test(hip, runtime_library_missing)
{
    const char *file = getenv("GPUMEM_HIP_LIBRARY");
    if (!file)
        cr_skip("run with GPUMEM_HIP_LIBRARY naming a missing file");
    gpumem_backend_info info = hip_info();
    cr_assert_eq(info.available, 0);
    const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    char expected[256];
    snprintf(expected, sizeof expected, "%s not found", base);
    cr_assert(strstr(info.reason, expected), "reason '%s' does not say '%s'", info.reason,
              expected);
    assert_open_fails(expected);
}

Test(hip, runtime_of_another_major)
{
    const char *file = getenv("GPUMEM_HIP_LIBRARY");
    if (!file)
        cr_skip("run with GPUMEM_HIP_LIBRARY naming a runtime that says it is HIP 6.2");
    gpumem_backend_info info = hip_info();
    cr_assert_eq(info.available, 0, "a HIP 6.2 runtime was taken");
    cr_assert_eq(info.device_count, 0);
    cr_assert(strstr(info.reason, "is HIP 6.2") &&
                  strstr(info.reason, "built with the headers of HIP 5."),
              "reason: %s", info.reason);
    assert_open_fails("is HIP 6.2");
}
