/* core/lock.h's thread pointer written out in assembly, for compilers without
 * __builtin_thread_pointer (GCC before 11, clang before 14 on x86-64): built here with the
 * builtin turned off, it must give the same value as the builtin, on every thread. */
#define GPUMEM_LOCK_HAS_THREAD_POINTER 0
#include <criterion/criterion.h>
#include <pthread.h>

#include "lock.h"

#if GPUMEM_LOCK_LONE_THREAD
static void *compare(void *arg)
{
    (void)arg;
    return (void *)(uintptr_t)(gpumem_lock_self() == (uintptr_t)__builtin_thread_pointer());
}

Test(lock_asm, the_assembly_gives_the_thread_pointer)
{
    cr_assert_eq(gpumem_lock_self(), (uintptr_t)__builtin_thread_pointer());
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, compare, NULL), 0);
    for (int i = 0; i < 4; i++) {
        void *same;
        pthread_join(t[i], &same);
        cr_assert_eq((uintptr_t)same, 1, "thread %d read another pointer", i);
    }
}
#else
Test(lock_asm, the_assembly_gives_the_thread_pointer)
{
    cr_skip_test("no lone thread on this platform: the assembly is not built");
}
#endif
