/* A library whose initialization frees and reallocates (as a C++ library's static objects do):
 * linked by the program, it is initialized before a preloaded libgpumem-memhooks. For
 * test_memhooks_order.c. */
#include <stdlib.h>

static int done;

__attribute__((visibility("default"))) int memhooks_early_frees_done(void);
int memhooks_early_frees_done(void)
{
    return done;
}

__attribute__((constructor)) static void early_frees(void)
{
    /* Through volatile pointers, so that the compiler keeps every call. */
    void *(*volatile allocate)(size_t) = malloc;
    void *(*volatile grow)(void *, size_t) = realloc;
    void (*volatile release)(void *) = free;
    for (int i = 0; i < 16; i++) {
        char *p = allocate(24 + (size_t)i * 40);
        p = grow(p, 4096 + (size_t)i);
        release(p);
    }
    done = 1;
}
