/* The host backend's pages as the kernel sees them: every page starts on a 2 MiB boundary, and a
 * page of at least 2 MiB is advised for transparent huge pages (MADV_HUGEPAGE, "hg" among the
 * mapping's VmFlags in /proc/self/smaps), one below is not (no huge page fits it). Pages of
 * sizes around 2 MiB, 4 MiB and the default page, shared and dedicated, each written and read
 * back byte for byte through the backend's copies and a mapping. Asks the kernel for the advice,
 * not for huge pages: whether the kernel backs the range with them depends on its settings and
 * on free memory, which no test here controls. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpumem/gpumem.h"
#include "pattern.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define HUGE_PAGE (2 * MiB)

/* The mapping of /proc/self/smaps that holds `address`: its start, end and whether its VmFlags
 * carry `flag`; 0 when no mapping holds it or the kernel shows no VmFlags. */
static int find_mapping(uintptr_t address, const char *flag, uintptr_t *start, uintptr_t *end,
                        int *has_flag)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    cr_assert_not_null(f, "/proc/self/smaps cannot be read");
    char line[512];
    int inside = 0, found = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long a, b;
        if (sscanf(line, "%lx-%lx ", &a, &b) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            inside = address >= a && address < b;
            if (inside) {
                *start = a;
                *end = b;
            }
        } else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            char spaced[8];
            snprintf(spaced, sizeof spaced, " %s", flag);
            *has_flag = strstr(line, spaced) != NULL;
            found = 1;
            break;
        }
    }
    fclose(f);
    return found;
}

static int kernel_has_transparent_huge_pages(void)
{
    return access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) == 0;
}

/* A buffer of `size` in a pool of `page_size` (0: the default), dedicated or not: its page's
 * mapping starts on a 2 MiB boundary and is advised for huge pages exactly when the page holds
 * at least 2 MiB; every byte written lands. */
static void check_page(gpumem_device device, uint64_t page_size, uint64_t size, int dedicated,
                       uint64_t seed)
{
    gpumem_pool_desc pool_desc = {.page_size = page_size, .name = "host-pages"};
    gpumem_pool pool;
    cr_assert_eq(gpumem_pool_create(device, &pool_desc, &pool), GPUMEM_OK, "%s",
                 gpumem_last_error());
    gpumem_buffer_desc desc = {.size = size, .flags = dedicated ? GPUMEM_BUFFER_DEDICATED : 0};
    gpumem_buffer buffer;
    cr_assert_eq(gpumem_buffer_create(pool, &desc, &buffer), GPUMEM_OK, "%s",
                 gpumem_last_error());
    gpumem_buffer_info info;
    cr_assert_eq(gpumem_buffer_info_get(buffer, &info), GPUMEM_OK);
    uint64_t page_bytes = info.page_size;
    cr_assert(info.dedicated || !dedicated, "a buffer made dedicated has no page of its own");
    void *data;
    cr_assert_eq(gpumem_buffer_map(buffer, &data), GPUMEM_OK, "%s", gpumem_last_error());
    uintptr_t page_address = (uintptr_t)data - info.offset, start = 0, end = 0;
    int advised = 0;
    cr_assert(find_mapping(page_address, "hg", &start, &end, &advised),
              "no mapping with VmFlags holds the page at %#lx", (unsigned long)page_address);
    /* The mapping holds the whole page: advice on its first part alone would show in the
     * mapping that holds its first byte, as a mapping of its own. */
    cr_assert_geq(end, page_address + page_bytes,
                  "the mapping [%#lx, %#lx) that holds a page of %llu bytes at %#lx ends inside it",
                  (unsigned long)start, (unsigned long)end, (unsigned long long)page_bytes,
                  (unsigned long)page_address);
    cr_assert_eq(page_address % HUGE_PAGE, 0,
                 "a page of %llu bytes starts at %#lx, not on a 2 MiB boundary",
                 (unsigned long long)page_bytes, (unsigned long)page_address);
    cr_assert_eq(advised, page_bytes >= HUGE_PAGE,
                 "a page of %llu bytes (%s buffer of %llu in a pool of %llu-byte pages) is %s "
                 "for huge pages",
                 (unsigned long long)page_bytes, info.dedicated ? "a dedicated" : "a shared",
                 (unsigned long long)size, (unsigned long long)page_size,
                 advised ? "advised" : "not advised");
    /* Every byte, through the backend's copy, then seen through the mapping and read back. */
    unsigned char *expected = malloc(size), *actual = malloc(size);
    cr_assert(expected && actual);
    test_pattern(expected, size, seed);
    cr_assert_eq(gpumem_buffer_write(buffer, 0, expected, size), GPUMEM_OK, "%s",
                 gpumem_last_error());
    cr_assert(memcmp(data, expected, size) == 0, "the mapping of a %llu-byte buffer differs",
              (unsigned long long)size);
    memset(actual, 0xee, size);
    cr_assert_eq(gpumem_buffer_read(buffer, 0, actual, size), GPUMEM_OK, "%s",
                 gpumem_last_error());
    cr_assert(memcmp(actual, expected, size) == 0, "a read of a %llu-byte buffer differs",
              (unsigned long long)size);
    free(expected);
    free(actual);
    cr_assert_eq(gpumem_buffer_unmap(buffer), GPUMEM_OK);
    cr_assert_eq(gpumem_buffer_destroy(buffer), GPUMEM_OK);
    cr_assert_eq(gpumem_pool_destroy(pool), GPUMEM_OK);
}

Test(host_pages, pages_of_2_MiB_or_more_are_advised_for_huge_pages_and_keep_every_byte)
{
    if (!kernel_has_transparent_huge_pages())
        cr_skip_test("this kernel has no transparent huge pages "
                     "(/sys/kernel/mm/transparent_hugepage/enabled is missing)");
    gpumem_device_desc device_desc = {.backend = "host"};
    gpumem_device device;
    cr_assert_eq(gpumem_device_open(&device_desc, &device), GPUMEM_OK, "%s",
                 gpumem_last_error());
    /* Page sizes around the huge page and its double, and the default. */
    static const uint64_t boundaries[] = {HUGE_PAGE, 2 * HUGE_PAGE};
    static const int64_t deltas[] = {-8192, -4096, 0, 4096, 8192};
    uint64_t seed = 1;
    for (unsigned i = 0; i < sizeof boundaries / sizeof *boundaries; i++)
        for (unsigned k = 0; k < sizeof deltas / sizeof *deltas; k++) {
            uint64_t page_size = boundaries[i] + (uint64_t)deltas[k];
            check_page(device, page_size, 4 * KiB + 3, 0, seed++);      /* shared */
            check_page(device, page_size, page_size / 2 - 4096, 0, seed++); /* shared, near half */
            /* dedicated, the page holding just the buffer */
            check_page(device, 0, page_size + 1, 1, seed++);
            check_page(device, 0, page_size - 1, 1, seed++);
        }
    check_page(device, 0, 64 * KiB, 0, seed++); /* the default page */
    check_page(device, 0, 40 * MiB + 5, 0, seed++); /* a page of its own past half the default */
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
}
