/* Buffer usage (gpumem_buffer_desc.usage) on every backend: each usage and combination makes a
 * buffer that transfers like any other, sharing pages with buffers of other usage; addresses
 * where memory has them (with GPUMEM_BUFFER_USAGE_DEVICE_ADDRESS on Vulkan, where the device
 * enabled bufferDeviceAddress); bad usage bits and flags are refused. What each usage means to
 * Vulkan is checked by tests/vulkan with the validation layer. */
#include <stdlib.h>

#include "conformance.h"

#define PAGE (4u << 20)

CONF_TEST(every_usage_makes_a_buffer_that_transfers)
{
    gpumem_pool pool = conf_pool(PAGE);
    gpumem_buffer keep[GPUMEM_BUFFER_USAGE_ALL + 1] = {0};
    uint8_t data[1024], back[1024];
    srand(31);
    uint32_t made = 0, refused = 0;
    for (uint32_t usage = 0; usage <= GPUMEM_BUFFER_USAGE_ALL; usage++) {
        for (uint32_t flags = 0; flags <= GPUMEM_BUFFER_CONCURRENT;
             flags += GPUMEM_BUFFER_CONCURRENT) {
            gpumem_buffer_desc desc = {.size = 4 + (uint64_t)rand() % 5000,
                                       .alignment = rand() % 2 ? 256 : 0,
                                       .flags = flags,
                                       .usage = usage};
            gpumem_buffer buffer;
            gpumem_result r = gpumem_buffer_create(pool, &desc, &buffer);
            if (r == GPUMEM_ERROR_UNSUPPORTED && (usage & GPUMEM_BUFFER_USAGE_DEVICE_ADDRESS)) {
                refused++; /* a device without addresses for buffers says so */
                continue;
            }
            OK(r);
            made++;
            uint64_t n = desc.size < sizeof data ? desc.size : sizeof data;
            conf_pattern(data, n, usage * 2 + flags);
            OK(gpumem_buffer_write(buffer, 0, data, n));
            OK(gpumem_buffer_read(buffer, 0, back, n));
            ASSERT_BYTES(back, data, n, "usage 0x%x, flags 0x%x", usage, flags);
            gpumem_buffer_info info;
            OK(gpumem_buffer_info_get(buffer, &info));
            gpumem_native_buffer native;
            gpumem_result nr = gpumem_buffer_native(buffer, &native);
            cr_assert(nr == GPUMEM_OK || nr == GPUMEM_ERROR_UNSUPPORTED, "%s",
                      gpumem_last_error());
            /* The address is aligned where memory has addresses, else the offset (Vulkan's
             * device addresses are the driver's: its offset is what gpumem aligns). */
            int by_address = nr == GPUMEM_OK && native.address &&
                             strcmp(conf_backend(), "vulkan") != 0;
            uint64_t where = by_address ? native.address : info.offset;
            if (desc.alignment)
                cr_assert_eq(where % desc.alignment, 0, "usage 0x%x: at %llu, alignment %llu",
                             usage, (unsigned long long)where,
                             (unsigned long long)desc.alignment);
            if (nr == GPUMEM_OK && (usage & GPUMEM_BUFFER_USAGE_DEVICE_ADDRESS))
                cr_assert_neq(native.address, 0, "usage 0x%x: no address", usage);
            if (rand() % 2) {
                OK(gpumem_buffer_destroy(buffer));
            } else {
                if (keep[usage])
                    OK(gpumem_buffer_destroy(keep[usage]));
                keep[usage] = buffer;
            }
        }
    }
    /* A device has addresses for buffers or has not: it refuses every usage with
     * DEVICE_ADDRESS (half of them, with and without CONCURRENT) or none. */
    cr_assert(refused == 0 || refused == GPUMEM_BUFFER_USAGE_ALL + 1, "%u made, %u refused",
              made, refused);
    OK(gpumem_pool_check(pool));
}

CONF_TEST(bad_usage_and_flags_are_refused)
{
    gpumem_pool pool = conf_pool(PAGE);
    gpumem_buffer buffer;
    gpumem_buffer_desc desc = {.size = 64, .usage = GPUMEM_BUFFER_USAGE_ALL + 1};
    FAILS(gpumem_buffer_create(pool, &desc, &buffer), GPUMEM_ERROR_INVALID_ARGUMENT);
    desc.usage = 1u << 31;
    FAILS(gpumem_buffer_create(pool, &desc, &buffer), GPUMEM_ERROR_INVALID_ARGUMENT);
    desc.usage = 0;
    desc.flags = 1u << 5;
    FAILS(gpumem_buffer_create(pool, &desc, &buffer), GPUMEM_ERROR_INVALID_ARGUMENT);
    gpumem_stream stream;
    OK(gpumem_stream_create(conf_dev, &stream));
    desc.flags = 0;
    desc.usage = 1u << 30;
    FAILS(gpumem_buffer_create_on_stream(pool, &desc, stream, &buffer),
          GPUMEM_ERROR_INVALID_ARGUMENT);
    OK(gpumem_stream_destroy(stream));
}
