/* core/env.c's helpers that the public API does not show on their own: the list walker, the
 * quoting of long values, and GPUMEM_DEVICE's parse (strict digits, 32 bits). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"

Test(env_internal, list_items_are_not_copied_or_cut)
{
    const char *list = " ,cuda,, vulkan ,host,";
    const char *cursor = list, *item;
    size_t length;
    const char *expected[] = {"cuda", "vulkan", "host"};
    for (int i = 0; i < 3; i++) {
        cr_assert(gpumem_env_list_next(&cursor, ", ", &item, &length));
        cr_expect_eq(length, strlen(expected[i]));
        cr_expect(strncmp(item, expected[i], length) == 0);
    }
    cr_expect_not(gpumem_env_list_next(&cursor, ", ", &item, &length));
    cursor = "";
    cr_expect_not(gpumem_env_list_next(&cursor, ":", &item, &length));
}

Test(env_internal, long_values_are_quoted_with_their_length)
{
    char value[300], out[128];
    memset(value, 'a', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    gpumem_env_quote(value, strlen(value), out, sizeof out);
    cr_expect(strstr(out, "...' (299 characters)"), "%s", out);
    gpumem_env_quote("host", 4, out, sizeof out);
    cr_expect_str_eq(out, "'host'");
}

Test(env_internal, device_index)
{
    int set = -1;
    uint32_t index = 7;
    unsetenv("GPUMEM_DEVICE");
    cr_expect_eq(gpumem_env_device(&set, &index), GPUMEM_OK);
    cr_expect_eq(set, 0);
    setenv("GPUMEM_DEVICE", "", 1);
    cr_expect_eq(gpumem_env_device(&set, &index), GPUMEM_OK);
    cr_expect_eq(set, 0);
    setenv("GPUMEM_DEVICE", "4294967295", 1);
    cr_expect_eq(gpumem_env_device(&set, &index), GPUMEM_OK);
    cr_expect_eq(set, 1);
    cr_expect_eq(index, 4294967295u);
    static const char *const bad[] = {"4294967296", "-1", "+1", " 1", "1x", "x", "0x10"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        setenv("GPUMEM_DEVICE", bad[i], 1);
        cr_expect_eq(gpumem_env_device(&set, &index), GPUMEM_ERROR_INVALID_ARGUMENT,
                     "%s", bad[i]);
        cr_expect(strstr(gpumem_last_error(), "GPUMEM_DEVICE="), "%s", gpumem_last_error());
    }
}

Test(env_internal, chunk_fits_the_device)
{
    gpumem_device_properties p = {0};
    p.memory_type_count = 2;
    p.memory_heap_count = 2;
    p.memory_types[0] = (gpumem_memory_type){.flags = GPUMEM_MEMORY_DEVICE_LOCAL,
                                             .heap_index = 0};
    p.memory_types[1] = (gpumem_memory_type){.flags = GPUMEM_MEMORY_HOST_VISIBLE,
                                             .heap_index = 1};
    p.memory_heaps[0].size = 64ull << 30;
    p.memory_heaps[1].size = 256ull << 20; /* a quarter for 4 chunks: 16 MiB each */
    p.max_allocation_size = 1ull << 40;
    unsetenv("GPUMEM_STAGING_CHUNK");
    cr_expect_eq(gpumem_env_staging_chunk(&p, 256, 4), 8ull << 20);
    setenv("GPUMEM_STAGING_CHUNK", "1073741824", 1);
    cr_expect_eq(gpumem_env_staging_chunk(&p, 256, 4), 16ull << 20);
    p.max_allocation_size = 1ull << 20;
    cr_expect_eq(gpumem_env_staging_chunk(&p, 256, 4), 1ull << 20);
    setenv("GPUMEM_STAGING_CHUNK", "5000", 1);
    cr_expect_eq(gpumem_env_staging_chunk(&p, 256, 4), 5120, "rounded up to the alignment");
    p.memory_heaps[1].size = 4096; /* absurdly small: one alignment unit at least */
    cr_expect_eq(gpumem_env_staging_chunk(&p, 256, 4), 256);
}
