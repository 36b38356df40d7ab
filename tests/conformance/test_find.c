/* Buffers found by address (gpumem_buffer_find): random buffers in paged, dedicated and
 * native allocations are created and destroyed, and addresses in, at the edges of and just
 * outside every buffer, live or destroyed, are looked up and checked against a model. */
#include <stdlib.h>

#include "conformance.h"

#define PAGE (1ull << 20)
#define BUFFERS 300

typedef struct placed {
    gpumem_buffer buffer;
    uint64_t address;
    uint64_t size;
    int live;
} placed;

/* The model's answer: the live buffer holding address, or -1. */
static int model_find(const placed *all, int count, uint64_t address)
{
    for (int i = 0; i < count; i++)
        if (all[i].live && address >= all[i].address && address - all[i].address < all[i].size)
            return i;
    return -1;
}

static void check_lookup(const placed *all, int count, uint64_t address)
{
    int expected = model_find(all, count, address);
    gpumem_buffer found = NULL;
    uint64_t offset = 0;
    if (expected < 0) {
        FAILS(gpumem_buffer_find(conf_dev, address, &found, &offset), GPUMEM_ERROR_NOT_FOUND);
        return;
    }
    OK(gpumem_buffer_find(conf_dev, address, &found, &offset));
    cr_assert_eq(found, all[expected].buffer, "address 0x%llx: another buffer was found",
                 (unsigned long long)address);
    cr_assert_eq(offset, address - all[expected].address, "address 0x%llx: offset %llu",
                 (unsigned long long)address, (unsigned long long)offset);
}

CONF_TEST(buffers_are_found_by_their_addresses)
{
    gpumem_pool pools[3];
    int pool_count = 0;
    pools[pool_count++] = conf_pool(PAGE);
    pools[pool_count++] = conf_pool(4 * PAGE);
    if (conf_props.native_pools) {
        gpumem_pool_desc desc = {.kind = GPUMEM_POOL_NATIVE, .name = "native"};
        OK(gpumem_pool_create(conf_dev, &desc, &pools[pool_count++]));
    }
    gpumem_native_buffer native;
    gpumem_buffer probe = conf_buffer(pools[0], 64, 0);
    OK(gpumem_buffer_native(probe, &native));
    gpumem_buffer found;
    uint64_t offset;
    if (native.address == 0) {
        /* Memory without addresses (Vulkan): nothing to look up by. */
        FAILS(gpumem_buffer_find(conf_dev, 4096, &found, &offset), GPUMEM_ERROR_UNSUPPORTED);
        return;
    }
    OK(gpumem_buffer_destroy(probe));

    placed *all = conf_alloc(BUFFERS * sizeof *all);
    srand(20261130);
    for (int i = 0; i < BUFFERS; i++) {
        /* Mostly small buffers, some over half a page (dedicated), some aligned. */
        uint64_t size = rand() % 8 == 0 ? PAGE / 2 + (uint64_t)rand() % PAGE
                                        : 1 + (uint64_t)rand() % 5000;
        int pool = rand() % pool_count;
        /* Native pools align to min_alignment only (a larger alignment is UNSUPPORTED). */
        uint64_t alignment = rand() % 4 == 0 && pool < 2 ? 1ull << (rand() % 13) : 0;
        all[i] = (placed){.buffer = conf_buffer(pools[pool], size, alignment), .size = size,
                          .live = 1};
        OK(gpumem_buffer_native(all[i].buffer, &native));
        all[i].address = native.address;
        /* Now and then destroy one made before. */
        if (rand() % 3 == 0) {
            int victim = rand() % (i + 1);
            if (all[victim].live) {
                OK(gpumem_buffer_destroy(all[victim].buffer));
                all[victim].live = 0;
            }
        }
    }
    for (int i = 0; i < BUFFERS; i++) {
        uint64_t start = all[i].address, end = start + all[i].size;
        check_lookup(all, BUFFERS, start);
        check_lookup(all, BUFFERS, end - 1);
        check_lookup(all, BUFFERS, start + (uint64_t)rand() % all[i].size);
        check_lookup(all, BUFFERS, start - 1);
        check_lookup(all, BUFFERS, end);
    }
    check_lookup(all, BUFFERS, 0);
    check_lookup(all, BUFFERS, UINT64_MAX);

    /* Bad arguments, and a destroyed pool's buffers. */
    FAILS(gpumem_buffer_find(conf_dev, all[0].address, NULL, &offset),
          GPUMEM_ERROR_INVALID_ARGUMENT);
    FAILS(gpumem_buffer_find(conf_dev, all[0].address, &found, NULL),
          GPUMEM_ERROR_INVALID_ARGUMENT);
    FAILS(gpumem_buffer_find(NULL, all[0].address, &found, &offset),
          GPUMEM_ERROR_INVALID_HANDLE);
    gpumem_buffer last = conf_buffer(pools[0], 100, 0);
    OK(gpumem_buffer_native(last, &native));
    OK(gpumem_pool_destroy(pools[0]));
    FAILS(gpumem_buffer_find(conf_dev, native.address, &found, &offset), GPUMEM_ERROR_NOT_FOUND);
    free(all);
}

CONF_TEST(buffers_of_another_device_are_not_found)
{
    gpumem_device other;
    OK(conf_open(&other));
    gpumem_pool pool;
    gpumem_pool_desc desc = {0};
    OK(gpumem_pool_create(other, &desc, &pool));
    gpumem_buffer theirs = conf_buffer(pool, 256, 0);
    gpumem_native_buffer native;
    OK(gpumem_buffer_native(theirs, &native));
    gpumem_buffer found;
    uint64_t offset;
    if (native.address) {
        FAILS(gpumem_buffer_find(conf_dev, native.address, &found, &offset),
              GPUMEM_ERROR_NOT_FOUND);
        OK(gpumem_buffer_find(other, native.address + 10, &found, &offset));
        cr_assert_eq(found, theirs);
        cr_assert_eq(offset, 10);
    }
    OK(gpumem_device_close(other));
    FAILS(gpumem_buffer_find(other, native.address, &found, &offset), GPUMEM_ERROR_DESTROYED);
}

/* --- lookups while buffers come and go, the reuse cache keeping and handing them back --- */

#define CHURN_STEPS 3000
#define CHURN_LIVE 48

/* A size for the churn: mostly a few sizes' classes (each class about 3% wide), so that a
 * create often takes a buffer the reuse cache kept, with another size than the one destroyed;
 * sometimes one the cache keeps no buffer of (over PAGE / 16), or a page of its own. */
static uint64_t churn_size(void)
{
    static const uint64_t around[] = {300, 1000, 4000, 20000, 60000};
    int pick = rand() % 16;
    if (pick == 0)
        return PAGE / 2 + 1 + (uint64_t)rand() % PAGE; /* a page of its own */
    if (pick == 1)
        return 70000 + (uint64_t)rand() % 100000;
    uint64_t base = around[rand() % 5];
    return base + (uint64_t)rand() % (base / 40 + 1);
}

/* Looks up addresses in, at the edges of and just outside a buffer of the model, live or not,
 * and the end a buffer had where another, smaller one now stands. */
static void check_around(const placed *all, int count, const placed *p, uint64_t old_size)
{
    uint64_t start = p->address, end = start + p->size;
    check_lookup(all, count, start);
    check_lookup(all, count, end - 1);
    check_lookup(all, count, end);
    check_lookup(all, count, start - 1);
    check_lookup(all, count, start + (uint64_t)rand() % p->size);
    if (old_size > p->size)
        check_lookup(all, count, start + old_size - 1);
}

/* `steps` creates and destroys of random buffers in `pool` (indexed from the start: the caller
 * looks an address up first, which indexes every pool of the device), with lookups against the
 * model after each; every `trim_every` steps the pool is trimmed, which frees what the reuse
 * cache keeps. Returns how many creates were placed where a destroyed buffer of the churn had
 * begun: records the cache kept and a create took again, or ranges the suballocator placed anew
 * there; an address alone cannot tell which (that the first kind is reached, mutants of its
 * path show: docs/reliability.md). */
static int churn_and_look(gpumem_pool pool, int steps, int trim_every)
{
    placed *all = conf_alloc((size_t)steps * sizeof *all);
    int count = 0, live = 0, again = 0;
    gpumem_native_buffer native;
    /* Images come and go among the buffers where the pool takes them: ranges of the pages that
     * are not buffers, whose addresses no lookup finds (a buffer placed above one finds its
     * neighbour below by another way than one placed above a buffer). */
    enum { IMAGES = 6 };
    gpumem_image images[IMAGES];
    int image_count = 0, with_images = 1;
    for (int step = 0; step < steps; step++) {
        if (with_images && rand() % 8 == 0) {
            if (image_count == IMAGES || (image_count && rand() % 2)) {
                int i = rand() % image_count;
                OK(gpumem_image_destroy(images[i]));
                images[i] = images[--image_count];
            } else {
                gpumem_image_desc desc = {.type = GPUMEM_IMAGE_2D,
                                          .format = GPUMEM_FORMAT_R8_UNORM,
                                          .width = 16 + (uint32_t)rand() % 200,
                                          .height = 16 + (uint32_t)rand() % 64};
                gpumem_result r = gpumem_image_create(pool, &desc, &images[image_count]);
                if (r == GPUMEM_ERROR_UNSUPPORTED) { /* native pools; devices without images */
                    with_images = 0;
                } else {
                    OK(r);
                    image_count++;
                }
            }
        }
        if (live < CHURN_LIVE && (live == 0 || rand() % 2)) {
            uint64_t size = churn_size();
            placed *p = &all[count];
            *p = (placed){.buffer = conf_buffer(pool, size, 0), .size = size, .live = 1};
            OK(gpumem_buffer_native(p->buffer, &native));
            p->address = native.address;
            /* The latest destroyed buffer that began here: its size, to look past the new end. */
            uint64_t old_size = 0;
            for (int i = count - 1; i >= 0 && !old_size; i--)
                if (!all[i].live && all[i].address == p->address)
                    old_size = all[i].size;
            again += old_size != 0;
            count++;
            live++;
            check_around(all, count, p, old_size);
        } else {
            int victim;
            do
                victim = rand() % count;
            while (!all[victim].live);
            OK(gpumem_buffer_destroy(all[victim].buffer));
            all[victim].live = 0;
            live--;
            check_around(all, count, &all[victim], 0);
        }
        if (trim_every && step % trim_every == trim_every - 1)
            OK(gpumem_pool_trim(pool));
        /* A few buffers of the model at random, live or destroyed. */
        for (int k = 0; k < 3; k++)
            check_around(all, count, &all[rand() % count], 0);
    }
    for (int i = 0; i < count; i++)
        if (all[i].live)
            OK(gpumem_buffer_destroy(all[i].buffer));
    while (image_count)
        OK(gpumem_image_destroy(images[--image_count]));
    free(all);
    return again;
}

/* A small buffer of `pool`, and where it starts; skips the test where memory has no
 * addresses. */
static gpumem_buffer probe_or_skip(gpumem_pool pool, uint64_t *address)
{
    gpumem_buffer probe = conf_buffer(pool, 64, 0);
    gpumem_native_buffer native;
    OK(gpumem_buffer_native(probe, &native));
    if (native.address == 0)
        CONF_SKIP("memory without addresses: nothing to look buffers up by");
    *address = native.address;
    return probe;
}

/* Finds the probe at its address (a lookup, which indexes every pool of the device from here
 * on), then destroys it. */
static void look_up_and_destroy(gpumem_buffer probe, uint64_t address)
{
    gpumem_buffer found;
    uint64_t offset;
    OK(gpumem_buffer_find(conf_dev, address, &found, &offset));
    cr_assert(found == probe && offset == 0, "the probe was not found at its start");
    OK(gpumem_buffer_destroy(probe));
}

/* A destroyed buffer's address finds nothing while the reuse cache keeps its range, a kept
 * buffer made again is found with its new size (and not past it), and one freed from the cache
 * (a trim) or placed anew is found as any other; in a paged pool and a native one (where every
 * destroy frees), searched from the start, so that every create and destroy keeps the index,
 * alone and beside a thread with an epoch record (destroyed buffers then wait in retired
 * batches, kept or freed at a reclaim). */
CONF_TEST(buffers_made_again_from_the_reuse_cache_are_found_with_their_new_sizes)
{
    gpumem_pool pool = conf_pool(PAGE);
    uint64_t address;
    gpumem_buffer probe = probe_or_skip(pool, &address);
    look_up_and_destroy(probe, address);
    gpumem_buffer found;
    uint64_t offset;
    gpumem_native_buffer native;
    /* A native pool (no reuse cache: every destroy frees), made now and indexed by a lookup
     * before its first buffer, as the paged pool is. */
    gpumem_pool native_pool = NULL;
    if (conf_props.native_pools) {
        gpumem_pool_desc desc = {.kind = GPUMEM_POOL_NATIVE, .name = "native"};
        OK(gpumem_pool_create(conf_dev, &desc, &native_pool));
        FAILS(gpumem_buffer_find(conf_dev, 1, &found, &offset), GPUMEM_ERROR_NOT_FOUND);
    }
    srand(20261206);
    int again = churn_and_look(pool, CHURN_STEPS, 0);
    cr_expect(again > CHURN_STEPS / 20, "only %d of %d steps placed a buffer where a destroyed "
              "one had begun: the churn hardly reused a range", again, CHURN_STEPS);
    churn_and_look(pool, CHURN_STEPS / 2, 97);
    if (native_pool)
        churn_and_look(native_pool, CHURN_STEPS / 4, 0);
    /* Beside a thread with an epoch record: destroyed buffers wait in retired batches. */
    pthread_t idle;
    conf_idle_thread_begin(&idle);
    churn_and_look(pool, CHURN_STEPS / 2, 0);
    if (native_pool)
        churn_and_look(native_pool, CHURN_STEPS / 4, 0);
    conf_idle_thread_end(idle);
    if (native_pool)
        OK(gpumem_pool_destroy(native_pool));
    /* A pool destroyed with live and kept buffers in its index (its close drops the tree whole:
     * the sanitized runs check what that frees), and its buffers not found after. */
    gpumem_buffer kept = conf_buffer(pool, 1000, 0), last = conf_buffer(pool, 1000, 0);
    OK(gpumem_buffer_destroy(kept));
    OK(gpumem_buffer_native(last, &native));
    OK(gpumem_pool_destroy(pool));
    FAILS(gpumem_buffer_find(conf_dev, native.address, &found, &offset), GPUMEM_ERROR_NOT_FOUND);
}

/* A pool searched only after buffers were destroyed in it: their records, kept by the reuse
 * cache or waiting in retired batches (a thread with an epoch record is beside), never went
 * into the index, and creates after the first lookup take them again, beside ranges the index
 * does not know (a node goes in by a search from the root there, not beside its neighbour). */
CONF_TEST(buffers_made_from_records_destroyed_before_a_pools_first_lookup_are_found)
{
    enum { BEFORE = 40 };
    gpumem_pool pool = conf_pool(PAGE);
    uint64_t address;
    gpumem_buffer probe = probe_or_skip(pool, &address);
    srand(20261207);
    pthread_t idle;
    conf_idle_thread_begin(&idle);
    gpumem_buffer before[BEFORE];
    for (int i = 0; i < BEFORE; i++)
        before[i] = conf_buffer(pool, churn_size(), 0);
    for (int i = 0; i < BEFORE; i++)
        OK(gpumem_buffer_destroy(before[i]));
    look_up_and_destroy(probe, address); /* the pool's first lookup */
    churn_and_look(pool, CHURN_STEPS / 2, 0);
    conf_idle_thread_end(idle);
    churn_and_look(pool, CHURN_STEPS / 4, 0);
    OK(gpumem_pool_destroy(pool));
}
