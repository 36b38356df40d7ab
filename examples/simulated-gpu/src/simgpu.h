/* simgpu: a simulated discrete GPU, as a gpumem backend module.
 *
 * The "device" is host memory the module owns, arranged the way a discrete GPU arranges its
 * memory, so that every path core takes for one is taken here, on any machine:
 *
 *   heap 0  device memory      type DEVICE_LOCAL                  the host cannot map it
 *   heap 1  host memory        type HOST_VISIBLE | HOST_COHERENT  mapped directly
 *                              type HOST_VISIBLE | HOST_CACHED    optional, not coherent: the
 *                                                                 host sees its own copy of the
 *                                                                 bytes until it flushes or
 *                                                                 invalidates
 *
 * Streams are queues run by a worker thread each, after an optional delay per operation, so
 * work really is asynchronous; events complete when a worker reaches them. What the device
 * offers (host copies, fills, events, streams, addresses) and how it aligns its pages are set by
 * environment variables (config.c, README.md), read once, when the module is registered.
 *
 * Files, one concept each, as a backend for a real runtime would be split:
 *   config.c    the configuration, from the environment
 *   entry.c     the backend table, built from the configuration, and gpumem_backend_entry
 *   device.c    probe, open and close, properties: the memory types and heaps
 *   page.c      pages: allocation, addresses, mapping, flush and invalidate, native buffers
 *   stream.c    streams and events, on worker threads
 *   copy.c      copies and fills: what the operations do, queued or at once
 *   pool.c      native pools: a stream-ordered allocator with a runtime's rules
 *   contract.c  what the simulated device checks of core (backend.h's promises)
 *
 * Only the installed public headers are used: <gpumem/backend.h> (which includes
 * <gpumem/gpumem.h>).
 */
#ifndef SIMGPU_H
#define SIMGPU_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <gpumem/backend.h>

/* --- configuration (config.c) --- */

enum {
    SIMGPU_NONCOHERENT_OFF = 0,  /* no non-coherent type */
    SIMGPU_NONCOHERENT_ADD = 1,  /* a third type: host-visible, cached, not coherent */
    SIMGPU_NONCOHERENT_ONLY = 2, /* the host-visible type itself is not coherent */
};

typedef struct sim_config {
    uint32_t devices;             /* SIMGPU_DEVICES */
    uint64_t device_memory;       /* SIMGPU_DEVICE_MEMORY_MIB, in bytes: heap 0 */
    uint64_t host_memory;         /* SIMGPU_HOST_MEMORY_MIB, in bytes: heap 1 */
    uint32_t noncoherent;         /* SIMGPU_NONCOHERENT: SIMGPU_NONCOHERENT_* */
    int no_host_copies;           /* SIMGPU_NO_HOST_COPIES */
    int no_fill;                  /* SIMGPU_NO_FILL */
    int no_events;                /* SIMGPU_NO_EVENTS */
    int no_streams;               /* SIMGPU_NO_STREAMS (no events either) */
    int no_addresses;             /* SIMGPU_NO_ADDRESSES */
    int reports_pinned;           /* SIMGPU_REPORTS_PINNED: host_memory_is_pinned, as runtimes */
    uint64_t stream_delay_ns;     /* SIMGPU_STREAM_DELAY_US, in nanoseconds */
    uint64_t min_alignment;       /* SIMGPU_MIN_ALIGNMENT */
    uint64_t page_alignment;      /* SIMGPU_PAGE_ALIGNMENT: of the addresses pages get */
    uint64_t atom_size;           /* SIMGPU_ATOM_SIZE: non_coherent_atom_size */
    int contract_abort;           /* SIMGPU_CONTRACT: 1 abort (default), 0 log only */
    char error[GPUMEM_REASON_SIZE]; /* the first bad variable, for probe to report; or "" */
} sim_config;

/* The configuration of this process, read once (sim_config_read, from the entry point). */
extern sim_config sim_cfg;
void sim_config_read(sim_config *config);
/* A short description of what differs from the defaults, for the device's name. */
void sim_config_describe(const sim_config *config, char *out, size_t size);

/* --- objects --- */

enum { SIM_HEAP_DEVICE = 0, SIM_HEAP_HOST = 1, SIM_HEAP_COUNT = 2 };

/* The device's address space starts high (as a GPU's virtual addresses do), each device in a
 * range of its own, so that an address never looks like a host pointer or another device's. */
#define SIM_ADDRESS_BASE (1ull << 48)
#define SIM_ADDRESS_RANGE (1ull << 52)

typedef struct sim_device {
    uint32_t index;
    uint32_t type_count;
    gpumem_memory_type types[3];
    char name[GPUMEM_NAME_SIZE * 4];
    uint64_t heap_size[SIM_HEAP_COUNT];
    uint64_t max_allocation;         /* the largest page: it must fit either heap */
    _Atomic uint64_t heap_used[SIM_HEAP_COUNT];
    _Atomic uint64_t next_address;   /* the device's address space: a cursor, never reused */
    /* Live objects, so that device_close can check it was called last. */
    _Atomic int64_t pages, streams, events, views, pools;
    /* Host memory registered with the device (register.c). */
    pthread_mutex_t registration_lock;
    struct gpumem_backend_registration *registrations;
} sim_device;

typedef struct sim_page {
    sim_device *device;
    uint32_t type;
    uint32_t flags;            /* the memory type's GPUMEM_MEMORY_* flags */
    uint64_t size;
    uint64_t address;          /* in the simulated device's address space */
    /* The bytes as the device sees them: what copies and fills read and write. */
    unsigned char *bytes;
    /* Non-coherent memory only: the host's view (what page_map returns), and what that view
     * held when the host last flushed or invalidated it, or the garbage the device left in it
     * when it wrote there since (copy.c). An atom of the host view that differs from `known`
     * was written by the host (page.c). */
    unsigned char *host_view;
    unsigned char *known;
    int mapped;
    /* The state-changing operation (map, flush, ...) running on the page, or NULL. */
    _Atomic(const char *) busy;
    _Atomic int64_t pending;   /* operations queued on streams that use this page */
    /* A native pool's allocation (pool.c): its pool, the stream it was made on, and whether
     * that stream's worker has reached the allocation (SIM_OP_ALLOCATED); NULL otherwise. */
    struct sim_pool *pool;
    struct sim_stream *allocated_on;
    _Atomic int allocated;
} sim_page;

/* One operation, as a stream queues it (or runs it at once). */
typedef enum sim_op_kind {
    SIM_OP_COPY,   /* page -> page */
    SIM_OP_WRITE,  /* host -> page, from the operation's own copy of the bytes */
    SIM_OP_REGISTERED_WRITE, /* host -> page, from registered host memory, read when it runs */
    SIM_OP_READ,   /* page -> host */
    SIM_OP_FILL,
    SIM_OP_EVENT,  /* an event's completion point */
    SIM_OP_ALLOCATED, /* a native pool's allocation point: the destination page is allocated */
    SIM_OP_FREE,   /* a native pool's free: `freed` goes back to the device */
} sim_op_kind;

typedef struct sim_event sim_event;

typedef struct sim_op {
    struct sim_op *next;
    sim_op_kind kind;
    sim_page *source, *destination;
    uint64_t source_offset, destination_offset, size;
    void *host;                /* READ: where the bytes go; the WRITEs: where they come from */
    int registered;            /* READ: `host` was registered when the read was queued */
    uint32_t pattern;          /* FILL */
    sim_event *event;          /* EVENT */
    uint64_t generation;       /* EVENT: which recording of the event this is */
    sim_page *freed;           /* FREE (not `destination`: nothing is left to count on it) */
    unsigned char data[];      /* WRITE: the bytes, copied when the write was queued */
} sim_op;

typedef struct sim_stream sim_stream;

struct sim_stream {
    sim_device *device;
    pthread_t worker;
    pthread_mutex_t lock;
    pthread_cond_t work;       /* an operation was queued, or the worker must stop */
    pthread_cond_t done;       /* an operation completed */
    sim_op *head, *tail;
    uint64_t submitted, completed;
    int stop;
    /* The operation running on the stream (contract.c), or NULL. */
    _Atomic(const char *) busy;
    /* Core's wraps of it not yet unwrapped (stream_wrap, stream_unwrap): while there are any
     * it is the application's queue too, which takes operations from several threads at once
     * (backend.h), so contract.c does not hold core to one at a time on it. */
    _Atomic int wrapped;
};

/* A native pool (pool.c): the runtime's stream-ordered allocator. */
typedef struct sim_pool {
    sim_device *device;
    uint32_t memory_type;
    _Atomic int64_t live;          /* allocations no free was queued for yet */
    _Atomic uint64_t bytes;        /* of the allocations not yet given back by a free's run */
    _Atomic int references;        /* the owner, and each allocation not yet given back */
} sim_pool;

struct sim_event {
    pthread_mutex_t lock;
    pthread_cond_t done;
    uint64_t recorded;         /* recordings so far */
    uint64_t completed;        /* the latest recording a worker reached */
    _Atomic int references;    /* the event's owner, and each queued completion point */
    sim_device *device;
};

/* What native_buffer makes for a buffer when pages have no addresses (SIMGPU_NO_ADDRESSES):
 * a native object over the range, as a VkBuffer is. */
typedef struct sim_view {
    sim_page *page;
    uint64_t offset, size;
} sim_view;

/* --- operations, by file (each is the table's operation of the same name, sim_ prefixed) --- */

/* device.c */
gpumem_result sim_probe(uint32_t *device_count, char *reason, size_t size);
gpumem_result sim_device_open(uint32_t index,
                                              const gpumem_external_device *external,
                                              gpumem_backend_device **device);
void sim_device_close(gpumem_backend_device *device);
gpumem_result sim_device_properties(gpumem_backend_device *device,
                                                    gpumem_device_properties *properties);

/* page.c */
/* A page of `size` bytes (any size) of a memory type, taken from its heap: what page_allocate
 * and native pools' allocations make. */
gpumem_result sim_page_create(sim_device *device, uint32_t memory_type, uint64_t size,
                              sim_page **page);
gpumem_result sim_page_allocate(gpumem_backend_device *device,
                                                uint32_t memory_type, uint64_t size,
                                                gpumem_backend_page **page);
void sim_page_free(gpumem_backend_device *device, gpumem_backend_page *page);
gpumem_result sim_page_map(gpumem_backend_device *device,
                                           gpumem_backend_page *page, void **data);
void sim_page_unmap(gpumem_backend_device *device, gpumem_backend_page *page);
gpumem_result sim_page_flush(gpumem_backend_device *device,
                                             gpumem_backend_page *page, uint64_t offset,
                                             uint64_t size);
gpumem_result sim_page_invalidate(gpumem_backend_device *device,
                                                  gpumem_backend_page *page, uint64_t offset,
                                                  uint64_t size);
uint64_t sim_page_address(gpumem_backend_device *device,
                                          gpumem_backend_page *page);
gpumem_result sim_native_buffer(gpumem_backend_device *device,
                                                gpumem_backend_page *page, uint64_t offset,
                                                uint64_t size, gpumem_backend_buffer **cache,
                                                gpumem_native_buffer *native);
void sim_native_buffer_release(gpumem_backend_device *device,
                                               gpumem_backend_buffer *cache);

/* stream.c */
gpumem_result sim_stream_create(gpumem_backend_device *device,
                                                gpumem_backend_stream **stream);
void sim_stream_destroy(gpumem_backend_device *device,
                                        gpumem_backend_stream *stream);
gpumem_result sim_stream_synchronize(gpumem_backend_device *device,
                                                     gpumem_backend_stream *stream);
gpumem_result sim_stream_native(gpumem_backend_device *device,
                                                gpumem_backend_stream *stream,
                                                uint64_t *native);
gpumem_result sim_stream_wrap(gpumem_backend_device *device, uint64_t native,
                              gpumem_backend_stream **stream);
void sim_stream_unwrap(gpumem_backend_device *device, gpumem_backend_stream *stream);
gpumem_result sim_event_create(gpumem_backend_device *device,
                                               gpumem_backend_event **event);
void sim_event_destroy(gpumem_backend_device *device,
                                       gpumem_backend_event *event);
gpumem_result sim_event_record(gpumem_backend_device *device,
                                               gpumem_backend_stream *stream,
                                               gpumem_backend_event *event);
gpumem_result sim_event_synchronize(gpumem_backend_device *device,
                                                    gpumem_backend_event *event);
/* Queues an operation on a stream, which takes it over. */
void sim_submit(gpumem_backend_stream *stream, sim_op *op);
/* Drops a reference to an event (the last one frees it). */
void sim_event_release(sim_event *event);

/* copy.c */
gpumem_result sim_copy_page_to_page(gpumem_backend_device *device,
                                                    gpumem_backend_stream *stream,
                                                    gpumem_backend_page *source,
                                                    uint64_t source_offset,
                                                    gpumem_backend_page *destination,
                                                    uint64_t destination_offset,
                                                    uint64_t size);
gpumem_result sim_copy_host_to_page(gpumem_backend_device *device,
                                                    gpumem_backend_stream *stream,
                                                    const void *source,
                                                    gpumem_backend_page *destination,
                                                    uint64_t destination_offset,
                                                    uint64_t size);
gpumem_result sim_queue_registered_host_to_page(gpumem_backend_device *device,
                                               gpumem_backend_stream *stream, const void *source,
                                               gpumem_backend_page *destination,
                                               uint64_t destination_offset, uint64_t size);
gpumem_result sim_copy_page_to_host(gpumem_backend_device *device,
                                                    gpumem_backend_stream *stream,
                                                    gpumem_backend_page *source,
                                                    uint64_t source_offset, void *destination,
                                                    uint64_t size);
gpumem_result sim_fill(gpumem_backend_device *device,
                                       gpumem_backend_stream *stream, gpumem_backend_page *page,
                                       uint64_t offset, uint64_t size, uint32_t pattern);
/* Does what the operation says (on a worker thread, or at once without streams). */
void sim_op_run(sim_op *op);

/* pool.c */
gpumem_result sim_native_pool_create(gpumem_backend_device *device, uint32_t memory_type,
                                     uint64_t release_threshold, gpumem_backend_pool **pool);
void sim_native_pool_destroy(gpumem_backend_device *device, gpumem_backend_pool *pool);
gpumem_result sim_native_pool_allocate(gpumem_backend_device *device, gpumem_backend_pool *pool,
                                       gpumem_backend_stream *stream, uint64_t size,
                                       gpumem_backend_page **page);
void sim_native_pool_free(gpumem_backend_device *device, gpumem_backend_pool *pool,
                          gpumem_backend_stream *stream, gpumem_backend_page *page);
gpumem_result sim_native_pool_stats(gpumem_backend_device *device, gpumem_backend_pool *pool,
                                    uint64_t *reserved, uint64_t *used);
/* The runtime's rule for a native pool's page, `use` ("freed", "used") on stream s by
 * `operation`: its allocating stream comes first, or has reached the allocation. */
void sim_native_expect_reached(const sim_stream *s, sim_page *p, const char *operation,
                               const char *use);
/* A native pool's free, as a stream's worker reaches it (SIM_OP_FREE). */
void sim_native_pool_release(sim_page *page);

/* register.c */
gpumem_result sim_host_register(gpumem_backend_device *device, void *host, uint64_t size,
                                gpumem_backend_registration **registration);
void sim_host_unregister(gpumem_backend_device *device,
                         gpumem_backend_registration *registration);
/* 1 when [host, host + size) lies in one live registration of the device's. */
int sim_host_registered(sim_device *device, const void *host, uint64_t size);
/* host_memory_is_pinned (SIMGPU_REPORTS_PINNED): registered memory is pinned, as a runtime
 * reports it; core then copies large transfers of it directly, by DMA, as on CUDA. */
int sim_host_memory_is_pinned(gpumem_backend_device *device, const void *host, uint64_t size);
gpumem_result sim_host_register_read_only(gpumem_backend_device *device, void *host,
                                          uint64_t size,
                                          gpumem_backend_registration **registration);
/* 1 when [host, host + size) shares a byte with a live read-only registration. */
int sim_host_read_only(sim_device *device, const void *host, uint64_t size);
/* Frees a run operation (and lets go of its event). */
void sim_op_free(sim_op *op);

/* contract.c: core broke a promise of backend.h. Logs it as an error, and aborts unless
 * SIMGPU_CONTRACT=log. */
void sim_contract_broken(const char *operation, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
#define SIM_EXPECT(condition, operation, ...)                                               \
    do {                                                                                    \
        if (!(condition))                                                                   \
            sim_contract_broken(operation, __VA_ARGS__);                                    \
    } while (0)
/* The range [offset, offset + size) lies in the page and is not empty. */
void sim_expect_range(const char *operation, const sim_page *page,
                                      uint64_t offset, uint64_t size);
/* Marks an operation on a stream (or page) as running, and checks that no other one is. */
void sim_stream_enter(sim_stream *stream, const char *operation);
void sim_stream_leave(sim_stream *stream);
void sim_page_enter(sim_page *page, const char *operation);
void sim_page_leave(sim_page *page);

#endif
