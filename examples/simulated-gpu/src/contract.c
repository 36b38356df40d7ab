/* What the simulated device checks of core.
 *
 * A backend validates nothing core validates (backend.h): it relies on core's promises. A real
 * backend that is handed a bad range writes where it should not, and the damage shows up far
 * away, if at all. This device is a test instrument, so it checks the promises instead of
 * relying on them, and a broken one stops the process (SIMGPU_CONTRACT=abort, the default:
 * the conformance suite reports the test as crashed, with this message on stderr) or is logged
 * as an error (SIMGPU_CONTRACT=log). These checks are not error returns: core is not told, and
 * a backend for a real runtime has none of them.
 *
 * Checked: ranges lie in their page (offset + size <= the page's size, size > 0), fills are
 * 4-byte aligned, page-to-page copies within one page do not overlap, pages are mapped only
 * when host-visible and not mapped already, flushed and invalidated only when mapped, not
 * coherent, and on atom boundaries; a page is unmapped and has no queued work when freed; a
 * stream has one operation at a time and nothing queued when destroyed; a page's state
 * changes (map, unmap, flush, invalidate, free) one at a time; a device is closed last. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "simgpu.h"

void sim_contract_broken(const char *operation, const char *format, ...)
{
    char detail[512];
    va_list args;
    va_start(args, format);
    vsnprintf(detail, sizeof detail, format, args);
    va_end(args);
    gpumem_backend_log(GPUMEM_LOG_ERROR, "simgpu: core broke the backend contract in %s: %s",
                       operation, detail);
    if (sim_cfg.contract_abort) {
        /* Also straight to stderr: the log may go to a callback that keeps it. */
        fprintf(stderr, "simgpu: core broke the backend contract in %s: %s (aborting; "
                        "SIMGPU_CONTRACT=log only logs)\n", operation, detail);
        fflush(stderr);
        abort();
    }
}

void sim_expect_range(const char *operation, const sim_page *page, uint64_t offset,
                      uint64_t size)
{
    SIM_EXPECT(size > 0 && offset <= page->size && size <= page->size - offset, operation,
               "range [%llu, +%llu) of a %llu-byte page", (unsigned long long)offset,
               (unsigned long long)size, (unsigned long long)page->size);
}

void sim_stream_enter(sim_stream *stream, const char *operation)
{
    if (atomic_load(&stream->wrapped))
        return; /* the application's queue: several threads at once (backend.h) */
    const char *other = atomic_exchange(&stream->busy, operation);
    SIM_EXPECT(other == NULL, operation,
               "stream %p is in %s on another thread: core serialises one stream's operations",
               (void *)stream, other);
}

void sim_stream_leave(sim_stream *stream)
{
    atomic_store(&stream->busy, NULL); /* unchecked entries of a wrapped queue set nothing */
}

void sim_page_enter(sim_page *page, const char *operation)
{
    const char *other = atomic_exchange(&page->busy, operation);
    SIM_EXPECT(other == NULL, operation,
               "page %p is in %s on another thread: core serialises map, unmap, flush, "
               "invalidate and free per pool",
               (void *)page, other);
}

void sim_page_leave(sim_page *page)
{
    atomic_store(&page->busy, NULL);
}
