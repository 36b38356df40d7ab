/* GPUMEM_DEVICE_OPEN_EXTERNALLY_SYNCHRONIZED reaches the locks it is for: white-box, through
 * core's objects behind the public handles (linked with core and the built-in backends). What an
 * unshared lock does is test_lock.c's; that such a device passes the conformance suite is
 * conformance-host-external's (tests/conformance/meson.build). */
#include <criterion/criterion.h>

#include "device.h"
#include "gpumem/gpumem.h"
#include "pool.h"
#include "stream.h"

/* A device opened with GPUMEM_DEVICE_OPEN_EXTERNALLY_SYNCHRONIZED makes every lock it owns
 * unshared (its pools' and their arenas', its streams', the default one included); a device
 * opened without it, none. */
static void check_device_locks(uint32_t flags, const gpumem_external_device *external,
                               uint32_t unshared)
{
    gpumem_device device;
    gpumem_device_desc desc = {.backend = "host", .flags = flags, .external = external};
    cr_assert_eq(gpumem_device_open(&desc, &device), GPUMEM_OK, "%s", gpumem_last_error());
    gpumem_pool pool, arenas;
    cr_assert_eq(gpumem_pool_create(device, &(gpumem_pool_desc){0}, &pool), GPUMEM_OK);
    cr_assert_eq(gpumem_pool_create(device, &(gpumem_pool_desc){.arena_count = 3}, &arenas),
                 GPUMEM_OK, "%s", gpumem_last_error());
    gpumem_stream stream;
    cr_assert_eq(gpumem_stream_create(device, &stream), GPUMEM_OK);

    gpumem_device_obj *d;
    gpumem_pool_obj *p, *a;
    gpumem_stream_obj *s;
    cr_assert_eq(gpumem_device_get(device, &d), GPUMEM_OK);
    cr_assert_eq(gpumem_pool_get(pool, &p), GPUMEM_OK);
    cr_assert_eq(gpumem_pool_get(arenas, &a), GPUMEM_OK);
    cr_assert_eq(gpumem_stream_get(stream, &s), GPUMEM_OK);
    cr_assert_eq(p->lock.unshared, unshared);
    cr_assert_eq(a->arena_count, 3u);
    for (uint32_t k = 0; k < a->arena_count; k++)
        cr_assert_eq(a->arenas[k]->lock.unshared, unshared, "arena %u", k);
    cr_assert_eq(s->lock.unshared, unshared);
    cr_assert_eq(d->default_stream->lock.unshared, unshared);

    /* and the device works as any other */
    gpumem_buffer b;
    uint32_t word = 0x5eed, back = 0;
    cr_assert_eq(gpumem_buffer_create(arenas, &(gpumem_buffer_desc){.size = 64}, &b), GPUMEM_OK);
    cr_assert_eq(gpumem_buffer_write(b, 8, &word, sizeof word), GPUMEM_OK);
    cr_assert_eq(gpumem_buffer_read(b, 8, &back, sizeof back), GPUMEM_OK);
    cr_assert_eq(back, word);
    cr_assert_eq(gpumem_buffer_destroy(b), GPUMEM_OK);
    cr_assert_eq(gpumem_buffer_destroy(b), GPUMEM_ERROR_DESTROYED);
    cr_assert_eq(gpumem_device_close(device), GPUMEM_OK);
}

Test(external_sync, a_flagged_device_owns_only_unshared_locks)
{
    check_device_locks(GPUMEM_DEVICE_OPEN_EXTERNALLY_SYNCHRONIZED, NULL, 1);
    check_device_locks(GPUMEM_DEVICE_OPEN_EXTERNALLY_SYNCHRONIZED | GPUMEM_DEVICE_OPEN_INDEX, NULL,
                       1);
    /* the other flag alone, or none, leaves every lock shared */
    check_device_locks(0, NULL, 0);
    check_device_locks(GPUMEM_DEVICE_OPEN_INDEX, NULL, 0);
    /* on the native objects under another device ("bring your own device") alike */
    gpumem_device owner;
    gpumem_external_device native;
    cr_assert_eq(gpumem_device_open(&(gpumem_device_desc){.backend = "host"}, &owner), GPUMEM_OK);
    cr_assert_eq(gpumem_device_native(owner, &native), GPUMEM_OK);
    check_device_locks(GPUMEM_DEVICE_OPEN_EXTERNALLY_SYNCHRONIZED, &native, 1);
    check_device_locks(0, &native, 0);
    cr_assert_eq(gpumem_device_close(owner), GPUMEM_OK);
}
