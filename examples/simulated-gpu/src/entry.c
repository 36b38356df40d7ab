/* The backend table and the module's entry point.
 *
 * Which operations a backend offers is part of its table, and core reads the table once, when
 * it registers the module (before any probe). A real backend's table is a constant. This one
 * leaves operations out when the environment says so (to make core take the paths it takes for
 * runtimes without them), so it builds its table once, when gpumem_backend_entry is first
 * called, into a static that lives as long as the process: core may keep the pointer. */
#include <pthread.h>

#include "simgpu.h"

static gpumem_backend_vtable table;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_build(void)
{
    sim_config_read(&sim_cfg);
    table = (gpumem_backend_vtable){
        .version = GPUMEM_BACKEND_VERSION,
        .name = "simgpu",
        /* A test instrument: never chosen over a real device (or the host) unless named. */
        .priority = 0,
        /* required */
        .probe = sim_probe,
        .device_open = sim_device_open,
        .device_close = sim_device_close,
        .device_properties = sim_device_properties,
        .page_allocate = sim_page_allocate,
        .page_free = sim_page_free,
        .copy_page_to_page = sim_copy_page_to_page,
        .page_map = sim_page_map, /* required: the device has host-visible memory */
        /* mapping */
        .page_unmap = sim_page_unmap,
        .page_flush = sim_page_flush,           /* required with a non-coherent type; */
        .page_invalidate = sim_page_invalidate, /* harmless without one: never called */
        /* addresses: a CUdeviceptr-like address per page, so no native objects are needed
         * (core reports memory = page address, address = page address + offset) */
        .page_address = sim_page_address,
        /* streams and events, on worker threads */
        .stream_create = sim_stream_create,
        .stream_destroy = sim_stream_destroy,
        .stream_synchronize = sim_stream_synchronize,
        .stream_native = sim_stream_native,
        .stream_wrap = sim_stream_wrap,
        .stream_unwrap = sim_stream_unwrap,
        .event_create = sim_event_create,
        .event_destroy = sim_event_destroy,
        .event_record = sim_event_record,
        .event_synchronize = sim_event_synchronize,
        /* direct host transfers and fills */
        .copy_host_to_page = sim_copy_host_to_page,
        .copy_page_to_host = sim_copy_page_to_host,
        .fill = sim_fill,
        /* host memory registration: bookkeeping with a runtime's rules (register.c) */
        .host_register = sim_host_register,
        .host_unregister = sim_host_unregister,
        .queue_registered_host_to_page = sim_queue_registered_host_to_page,
        .host_register_read_only = sim_host_register_read_only,
        /* native pools: stream-ordered, with a runtime's rules (pool.c); only with streams */
        .native_pool_create = sim_native_pool_create,
        .native_pool_destroy = sim_native_pool_destroy,
        .native_pool_allocate = sim_native_pool_allocate,
        .native_pool_free = sim_native_pool_free,
        .native_pool_stats = sim_native_pool_stats,
        /* Left out, so core does it: host_memory_is_pinned (all host memory, registered or
         * not, is copied alike, and large transfers are staged; SIMGPU_REPORTS_PINNED adds it,
         * below), device_native (all zero),
         * heap_budget (the heap's size, and core's own count), native_pool_trim (a trim waits
         * for the stream only: nothing is cached). */
    };
    /* What the configuration takes away. Groups go whole: core refuses a table with some of
     * a group's operations. */
    if (sim_cfg.reports_pinned)
        table.host_memory_is_pinned = sim_host_memory_is_pinned;
    if (sim_cfg.no_host_copies) {
        table.copy_host_to_page = NULL; /* core maps host-visible pages, and stages the rest */
        table.copy_page_to_host = NULL;
        table.queue_registered_host_to_page = NULL;
    }
    if (sim_cfg.no_fill)
        table.fill = NULL; /* core fills through a mapping, or copies a staged pattern */
    if (sim_cfg.no_events || sim_cfg.no_streams) {
        table.event_create = NULL; /* core waits for a whole stream where it would wait for */
        table.event_destroy = NULL; /* an event */
        table.event_record = NULL;
        table.event_synchronize = NULL;
    }
    if (sim_cfg.no_streams) {
        table.stream_create = NULL; /* every operation is done when it returns */
        table.stream_destroy = NULL;
        table.stream_synchronize = NULL;
        table.stream_native = NULL;
        table.stream_wrap = NULL;
        table.stream_unwrap = NULL;
        table.queue_registered_host_to_page = NULL; /* only with streams */
        table.native_pool_create = NULL; /* stream-ordered allocations need streams */
        table.native_pool_destroy = NULL;
        table.native_pool_allocate = NULL;
        table.native_pool_free = NULL;
        table.native_pool_stats = NULL;
    }
    if (sim_cfg.no_addresses) {
        /* Memory without addresses, as Vulkan's memory objects: core aligns offsets only, and
         * a native object per buffer stands for it. */
        table.page_address = NULL;
        table.native_buffer = sim_native_buffer;
        table.native_buffer_release = sim_native_buffer_release;
    }
}

GPUMEM_API const gpumem_backend_vtable *gpumem_backend_entry(void);

const gpumem_backend_vtable *gpumem_backend_entry(void)
{
    pthread_once(&table_once, table_build);
    return &table;
}
