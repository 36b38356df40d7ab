/* A page: one native allocation, whatever its kind; native pool allocations are pages too. */
#ifndef GPUMEM_GPURT_PAGE_H
#define GPUMEM_GPURT_PAGE_H

#include "gpurt_device.h"

typedef struct gpurt_page {
    uint64_t address; /* for the device; with unified addressing also pinned memory's */
    void *host;       /* the host's pointer, for pinned and managed memory; else NULL */
    uint64_t size;
    gpurt_memory_kind kind;
    int imported; /* the application's memory (gpurt_page_import): never freed here */
} gpurt_page;

static inline gpurt_page *gpurt_page_of(gpumem_backend_page *page)
{
    return (gpurt_page *)page;
}

#endif
