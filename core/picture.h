/* The picture of a device dump: an SVG of every pool and page, with allocations as colored spans
 * in proportion to their place in the page (gpumem_dump_svg; docs/json.md, "Pictures"). */
#ifndef GPUMEM_CORE_PICTURE_H
#define GPUMEM_CORE_PICTURE_H

#include "gpumem/gpumem.h"
#include "json.h"

/* Layout, in SVG pixels: a page of the pool's page size is BAR_WIDTH wide. */
#define GPUMEM_PICTURE_BAR_WIDTH 1000

/* Appends the SVG of `dump_json` (the text of gpumem_device_dump_json) to `svg`. A dump it
 * cannot read is GPUMEM_ERROR_INVALID_ARGUMENT with a message naming what is wrong and where;
 * no memory is GPUMEM_ERROR_OUT_OF_HOST_MEMORY. Either way the caller frees `svg`. */
gpumem_result gpumem_picture_svg(const char *dump_json, gpumem_json *svg);

#endif
