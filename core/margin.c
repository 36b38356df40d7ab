#include "margin.h"

#include <stdio.h>
#include <string.h>

#include "align.h"
#include "error.h"
#include "hot.h"
#include "log.h"

#define PATTERN 0x7ba3c55eu /* no common fill value or small integer looks like it */

uint64_t gpumem_margin_before(const gpumem_pool_obj *pool, uint64_t alignment)
{
    if (!(pool->flags & GPUMEM_POOL_DETECT_CORRUPTION))
        return 0;
    return gpumem_align_up(GPUMEM_GUARD_MARGIN, alignment);
}

uint64_t gpumem_margin_total(const gpumem_pool_obj *pool, uint64_t size, uint64_t before)
{
    if (!before)
        return size;
    uint64_t total = size + before + GPUMEM_GUARD_MARGIN;
    return total > size ? total : 0;
}

/* The byte of the pattern at `position` of the page, so that both margins read the same way
 * wherever they start. */
static unsigned char pattern_byte(uint64_t position)
{
    return (unsigned char)(PATTERN >> (8 * (position & 3)));
}

/* The buffer's two margins, [first, first + size) each, as page offsets. */
typedef struct margins {
    uint64_t before, before_size, after, after_size;
} margins;

static margins margins_of(const gpumem_buffer_obj *b)
{
    return (margins){b->offset - b->margin, b->margin, b->offset + b->size,
                     GPUMEM_GUARD_MARGIN};
}

/* Makes the device's view and the host's agree over the margins (non-coherent memory). */
static gpumem_result sync_range(gpumem_buffer_obj *b, uint64_t first, uint64_t size, int flush)
{
    gpumem_pool_obj *pool = b->pool;
    if (pool->memory_flags & GPUMEM_MEMORY_HOST_COHERENT)
        return GPUMEM_OK;
    gpumem_device_obj *device = pool->device;
    uint64_t atom = device->properties.non_coherent_atom_size;
    uint64_t begin = first & ~(atom - 1), end = gpumem_align_up(first + size, atom);
    if (end > b->page->size)
        end = b->page->size;
    gpumem_result r = (flush ? device->ops->page_flush : device->ops->page_invalidate)(
        device->native, b->page->native, begin, end - begin);
    return r == GPUMEM_OK ? r : gpumem_fail_backend(r, flush ? "page_flush" : "page_invalidate");
}

/* Both margins: flushed after the host wrote them, or invalidated before it reads them. */
static gpumem_result sync_margins(gpumem_buffer_obj *b, const margins *m, int flush)
{
    gpumem_result r = sync_range(b, m->before, m->before_size, flush);
    return r == GPUMEM_OK ? sync_range(b, m->after, m->after_size, flush) : r;
}

/* The margins' work, out of line: pools without margins (most) see only the test in
 * gpumem_margin_write and gpumem_margin_check. */
GPUMEM_RARE static gpumem_result write_margins(gpumem_buffer_obj *b)
{
    gpumem_pool_obj *pool = b->pool;
    gpumem_result r = gpumem_page_map(pool, b->page);
    if (r != GPUMEM_OK)
        return r;
    unsigned char *host = b->page->host;
    margins m = margins_of(b);
    /* The atom after the buffer's last byte holds margin bytes in part: brought in first, so
     * the flush below writes back no stale bytes of it (see transfer.c's partial atoms). */
    r = sync_margins(b, &m, 0);
    if (r != GPUMEM_OK) {
        gpumem_page_unmap(pool, b->page);
        return r;
    }
    for (uint64_t i = 0; i < m.before_size; i++)
        host[m.before + i] = pattern_byte(m.before + i);
    for (uint64_t i = 0; i < m.after_size; i++)
        host[m.after + i] = pattern_byte(m.after + i);
    r = sync_margins(b, &m, 1);
    gpumem_page_unmap(pool, b->page);
    return r;
}

/* The first byte of [first, first + size) that lost its pattern, or UINT64_MAX. */
static uint64_t first_overwritten(const unsigned char *host, uint64_t first, uint64_t size)
{
    for (uint64_t i = 0; i < size; i++)
        if (host[first + i] != pattern_byte(first + i))
            return first + i;
    return UINT64_MAX;
}

/* Whether b has guard margins. The pool's flag first: b->margin is on the record's third line,
 * which neither a destroy nor a create that takes a kept record reads otherwise (buffer.h). */
static inline int has_margins(const gpumem_buffer_obj *b)
{
    return (b->pool->flags & GPUMEM_POOL_DETECT_CORRUPTION) && b->margin;
}

gpumem_result gpumem_margin_write(gpumem_buffer_obj *b)
{
    return has_margins(b) ? write_margins(b) : GPUMEM_OK;
}

GPUMEM_RARE static gpumem_result check_margins(gpumem_buffer_obj *b, const char *function)
{
    gpumem_pool_obj *pool = b->pool;
    gpumem_result r = gpumem_page_map(pool, b->page);
    if (r != GPUMEM_OK)
        return r;
    margins m = margins_of(b);
    const unsigned char *host = b->page->host;
    uint64_t before = UINT64_MAX, after = UINT64_MAX;
    if (!(pool->memory_flags & GPUMEM_MEMORY_HOST_COHERENT)) {
        /* First the host's view of the atoms that hold margin bytes only: nothing but the host
         * writes those (buffers start on atoms, so the margin before is all such atoms), so an
         * overrun through a mapping that was never flushed shows there, and an invalidate
         * would discard it. The atom shared with the buffer's last bytes may be stale in the
         * host's view after the device wrote them: it is checked in the device's view only. */
        uint64_t atom = pool->device->properties.non_coherent_atom_size;
        uint64_t own = gpumem_align_up(m.after, atom), end = m.after + m.after_size;
        before = first_overwritten(host, m.before, m.before_size);
        if (own < end)
            after = first_overwritten(host, own, end - own);
        if (before == UINT64_MAX && after == UINT64_MAX)
            r = sync_margins(b, &m, 0); /* then the device's view */
    }
    if (r == GPUMEM_OK && before == UINT64_MAX && after == UINT64_MAX) {
        before = first_overwritten(host, m.before, m.before_size);
        after = first_overwritten(host, m.after, m.after_size);
    }
    gpumem_page_unmap(pool, b->page);
    if (r != GPUMEM_OK || (before == UINT64_MAX && after == UINT64_MAX))
        return r;
    char where[96];
    if (before != UINT64_MAX)
        snprintf(where, sizeof where, "%llu bytes before its start",
                 (unsigned long long)(b->offset - before));
    else
        snprintf(where, sizeof where, "%llu bytes after its end (byte %llu of the buffer)",
                 (unsigned long long)(after - m.after), (unsigned long long)(after - b->offset));
    r = gpumem_fail(GPUMEM_ERROR_CORRUPTED,
                    "the guard margin of buffer 0x%llx%s%s%s (%llu bytes at offset %llu of page "
                    "%u) of pool '%s' was overwritten at page offset %llu, %s",
                    (unsigned long long)b->handle, b->name ? " '" : "", b->name ? b->name : "",
                    b->name ? "'" : "", (unsigned long long)b->size,
                    (unsigned long long)b->offset, b->page->id, pool->name,
                    (unsigned long long)(before != UINT64_MAX ? before : after), where);
    gpumem_log_after_call(GPUMEM_LOG_ERROR, "%s: %s", function, gpumem_this_thread.message);
    return r;
}

gpumem_result gpumem_margin_check(gpumem_buffer_obj *b, const char *function)
{
    return has_margins(b) ? check_margins(b, function) : GPUMEM_OK;
}
