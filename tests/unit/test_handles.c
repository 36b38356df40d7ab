/* Generation-checked handles: live lookups, destroyed and foreign handles, slot reuse. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "handles.h"

static int objects[64];

Test(handles, live_handle_finds_its_object)
{
    uint64_t h = gpumem_handle_create(GPUMEM_HANDLE_POOL, &objects[0]);
    cr_assert_neq(h, 0);
    void *o = NULL;
    cr_assert_eq(gpumem_handle_get(h, GPUMEM_HANDLE_POOL, "t", &o), GPUMEM_OK);
    cr_assert_eq(o, &objects[0]);
    gpumem_handle_destroy(h);
}

Test(handles, destroyed_handle_reports_destroyed_even_after_slot_reuse)
{
    uint64_t h = gpumem_handle_create(GPUMEM_HANDLE_BUFFER, &objects[1]);
    gpumem_handle_destroy(h);
    void *o = NULL;
    cr_assert_eq(gpumem_handle_get(h, GPUMEM_HANDLE_BUFFER, "t", &o), GPUMEM_ERROR_DESTROYED);
    cr_assert(strstr(gpumem_last_error(), "destroyed"));
    /* The slot is reused by a new object of another kind: the old handle stays dead. */
    uint64_t h2 = gpumem_handle_create(GPUMEM_HANDLE_POOL, &objects[2]);
    cr_assert_eq((uint32_t)h2, (uint32_t)h, "the freed slot should be reused");
    cr_assert_neq(h2, h);
    cr_assert_eq(gpumem_handle_get(h, GPUMEM_HANDLE_BUFFER, "t", &o), GPUMEM_ERROR_DESTROYED);
    cr_assert_eq(gpumem_handle_get(h, GPUMEM_HANDLE_POOL, "t", &o), GPUMEM_ERROR_DESTROYED);
    cr_assert_eq(gpumem_handle_get(h2, GPUMEM_HANDLE_POOL, "t", &o), GPUMEM_OK);
    cr_assert_eq(o, &objects[2]);
    gpumem_handle_destroy(h2);
}

Test(handles, double_destroy_is_harmless)
{
    uint64_t h = gpumem_handle_create(GPUMEM_HANDLE_STREAM, &objects[3]);
    gpumem_handle_destroy(h);
    gpumem_handle_destroy(h); /* must not free the slot twice */
    uint64_t a = gpumem_handle_create(GPUMEM_HANDLE_STREAM, &objects[4]);
    uint64_t b = gpumem_handle_create(GPUMEM_HANDLE_STREAM, &objects[5]);
    cr_assert_neq((uint32_t)a, (uint32_t)b, "one slot handed out twice");
    gpumem_handle_destroy(a);
    gpumem_handle_destroy(b);
}

Test(handles, wrong_kind_null_and_garbage_are_invalid)
{
    uint64_t h = gpumem_handle_create(GPUMEM_HANDLE_DEVICE, &objects[6]);
    void *o = NULL;
    cr_assert_eq(gpumem_handle_get(h, GPUMEM_HANDLE_POOL, "t", &o), GPUMEM_ERROR_INVALID_HANDLE);
    cr_assert_eq(gpumem_handle_get(0, GPUMEM_HANDLE_POOL, "t", &o), GPUMEM_ERROR_INVALID_HANDLE);
    cr_assert_eq(gpumem_handle_get(0xdeadbeef12345678ull, GPUMEM_HANDLE_POOL, "t", &o),
                 GPUMEM_ERROR_INVALID_HANDLE);
    cr_assert_eq(gpumem_handle_get(h + (1ull << 32), GPUMEM_HANDLE_DEVICE, "t", &o),
                 GPUMEM_ERROR_INVALID_HANDLE, "a future generation is not a handle");
    cr_assert(strlen(gpumem_last_error()) > 0);
    gpumem_handle_destroy(h);
}

Test(handles, table_grows_past_one_chunk)
{
    enum { N = 10000 };
    static uint64_t h[N];
    for (int i = 0; i < N; i++)
        cr_assert_neq(h[i] = gpumem_handle_create(GPUMEM_HANDLE_BUFFER, &objects[i % 64]), 0);
    for (int i = 0; i < N; i++) {
        void *o;
        cr_assert_eq(gpumem_handle_get(h[i], GPUMEM_HANDLE_BUFFER, "t", &o), GPUMEM_OK);
        cr_assert_eq(o, &objects[i % 64]);
    }
    for (int i = 0; i < N; i++)
        gpumem_handle_destroy(h[i]);
}

static void *churn(void *arg)
{
    for (int i = 0; i < 20000; i++) {
        uint64_t h = gpumem_handle_create(GPUMEM_HANDLE_BUFFER, arg);
        void *o = NULL;
        if (!h || gpumem_handle_get(h, GPUMEM_HANDLE_BUFFER, "t", &o) != GPUMEM_OK || o != arg)
            return (void *)1;
        gpumem_handle_destroy(h);
    }
    return NULL;
}

Test(handles, concurrent_create_and_destroy)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, churn, &objects[10 + i]);
    for (int i = 0; i < 4; i++) {
        void *failed;
        pthread_join(t[i], &failed);
        cr_assert_null(failed, "thread %d saw a wrong object", i);
    }
}
