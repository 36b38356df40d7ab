/* An allocator of its own, as jemalloc or mimalloc is to the C library: each block carries a
 * header in front of the C library's, so the C library's free of one of its pointers aborts.
 * For test_memhooks_order.c. */
#include <malloc.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

void *__libc_malloc(size_t size);
void __libc_free(void *pointer);
void *__libc_realloc(void *pointer, size_t size);

#define HEADER 32
#define EXPORT __attribute__((visibility("default")))

EXPORT void *malloc(size_t size)
{
    char *block = __libc_malloc(size + HEADER);
    if (!block)
        return NULL;
    memcpy(block, &size, sizeof size);
    return block + HEADER;
}

EXPORT void free(void *pointer)
{
    if (pointer)
        __libc_free((char *)pointer - HEADER);
}

EXPORT void *calloc(size_t count, size_t size)
{
    void *p = malloc(count * size);
    if (p)
        memset(p, 0, count * size);
    return p;
}

EXPORT void *realloc(void *pointer, size_t size)
{
    if (!pointer)
        return malloc(size);
    char *block = __libc_realloc((char *)pointer - HEADER, size + HEADER);
    if (!block)
        return NULL;
    memcpy(block, &size, sizeof size);
    return block + HEADER;
}

EXPORT size_t malloc_usable_size(void *pointer)
{
    size_t size;
    memcpy(&size, (char *)pointer - HEADER, sizeof size);
    return size;
}
