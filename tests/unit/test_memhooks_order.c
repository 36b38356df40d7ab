/* libgpumem-memhooks preloaded into a program whose allocator is not the C library's, and which
 * links a library that frees while it is initialized, before the hooks' own initialization: every
 * free and realloc must reach that allocator (the C library's free of its pointers aborts), then
 * and afterwards. Run with LD_PRELOAD=libgpumem-memhooks (tests/unit/meson.build). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

int memhooks_early_frees_done(void);

int main(void)
{
    if (!dlsym(RTLD_DEFAULT, "gpumem_memhooks_listen")) {
        fprintf(stderr, "libgpumem-memhooks is not loaded (LD_PRELOAD): nothing tested\n");
        return 77;
    }
    if (!memhooks_early_frees_done()) {
        fprintf(stderr, "the early frees did not run\n");
        return 1;
    }
    void *(*volatile allocate)(size_t) = malloc;
    void *(*volatile grow)(void *, size_t) = realloc;
    void (*volatile release)(void *) = free;
    for (int i = 0; i < 1000; i++)
        release(grow(allocate(16 + (size_t)i), 100000 + (size_t)i));
    puts("every free and realloc reached the program's allocator");
    return 0;
}
