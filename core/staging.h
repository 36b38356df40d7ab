/* Staging: moving data between host memory and device memory the host cannot reach directly
 * (or only slowly, as pageable memory on CUDA), through host-visible chunks that the device
 * copies from or into. Several chunks are in flight at once; each has an event, so a chunk is
 * reused as soon as the copy that read it has finished, and host-side copies overlap the
 * device's. Without events, a staged call waits for its own stream before it returns. The policy that decides when to stage lives in transfer.c.
 */
#ifndef GPUMEM_CORE_STAGING_H
#define GPUMEM_CORE_STAGING_H

#include <pthread.h>
#include <stdint.h>

#include "gpumem/backend.h"

#define GPUMEM_STAGING_MAX_CHUNKS 8

/* In auto mode, a transfer of pageable memory that waits for its copy (a synchronous one, or a
 * read) and that the runtime can copy by itself is staged only where the thread that opened the
 * device may use this many CPUs or more. On fewer, the pipeline's host copies lose to the
 * runtime's own copy of pageable memory (docs/performance.md, "Twenty-sixth session"). */
#define GPUMEM_STAGING_MIN_CPUS 2

/* In auto mode, a synchronous write of pageable memory that would otherwise be staged or given
 * to the runtime's own copy registers its pages for itself (transfer_registration.h) where the
 * thread that opened the device may use fewer CPUs than this: on one to three, pinning the
 * pages (read-only, in pieces) costs less than either copy; on four, staging matched it
 * (docs/performance.md, "Twenty-seventh session" to "Twenty-ninth session"). */
#define GPUMEM_REGISTERED_WRITES_BELOW_CPUS 4

/* The same for a synchronous read, whose pages are registered plainly (the device writes
 * them): on one CPU, registered in pieces, it ran 1.4-1.8x the runtime's own copy, and on two
 * 1.3-1.9x, where staging ran 0.6-1.8x; on three, staging won (docs/performance.md,
 * "Twenty-ninth session"). */
#define GPUMEM_REGISTERED_READS_BELOW_CPUS 3

typedef enum gpumem_staging_mode {
    GPUMEM_STAGING_AUTO = 0,   /* stage only when it is needed or faster */
    GPUMEM_STAGING_ALWAYS = 1, /* GPUMEM_STAGING=always: for testing the staging path */
    GPUMEM_STAGING_NEVER = 2,  /* GPUMEM_STAGING=never: for comparing against direct copies */
    GPUMEM_STAGING_PAGEABLE = 3, /* GPUMEM_STAGING=pageable: auto, staging large pageable
                                    transfers on any number of CPUs */
} gpumem_staging_mode;

typedef struct gpumem_staging_chunk {
    gpumem_backend_page *page;
    void *host;
    gpumem_backend_event *event;   /* NULL when the backend has no events */
    int pending; /* without events: work queued on the calling stream still uses it */
} gpumem_staging_chunk;

typedef struct gpumem_staging {
    pthread_mutex_t lock;      /* made and destroyed with the device */
    gpumem_staging_mode mode;
    int has_type;              /* a host-visible memory type exists */
    long usable_cpus;          /* CPUs the opening thread could run on, when the device opened */
    /* The runtime copies host memory by DMA into memory the host cannot map, and can register
     * host memory: its host transfers take part in transfer_registration.h's exclusion. */
    int dma_host_transfers;
    uint32_t memory_type;
    int coherent;
    uint64_t chunk_size;
    uint32_t chunk_count;
    uint32_t allocated;        /* chunks allocated so far (lazily, on first use) */
    uint32_t next;
    gpumem_staging_chunk chunks[GPUMEM_STAGING_MAX_CHUNKS];
} gpumem_staging;

struct gpumem_device_obj;

/* Reads GPUMEM_STAGING and GPUMEM_STAGING_CHUNK, counts the CPUs the calling thread may run
 * on, and picks the staging memory type. */
gpumem_result gpumem_staging_init(struct gpumem_device_obj *device);
/* Waits for and frees the chunks (the lock stays, for the device's streams' last steps). */
void gpumem_staging_release(struct gpumem_device_obj *device);

/* A staged transfer in `count` pieces of at most a chunk each (a buffer's range in chunk-sized
 * pieces, an image box in slices, rows or parts of rows): `host` moves piece i between the host
 * and the start of a chunk's memory (a write packs it there, a read unpacks it), and `device`
 * queues the device's copy of piece i between the chunk's page (from offset 0) and the device
 * memory. `bytes` is piece i's size in the chunk. */
typedef struct gpumem_staging_job {
    uint64_t count;
    uint64_t (*bytes)(const struct gpumem_staging_job *job, uint64_t i);
    void (*host)(const struct gpumem_staging_job *job, uint64_t i, void *chunk);
    gpumem_result (*device)(const struct gpumem_staging_job *job, uint64_t i,
                            gpumem_backend_page *chunk);
} gpumem_staging_job;

/* Runs a job as a write (host, then device, per piece) or a read (device, then host), with
 * the chunks in flight as for a buffer's transfer. `what` names it in errors ("a staged
 * write"). The stream's lock is held by the caller. */
gpumem_result gpumem_staging_run(struct gpumem_device_obj *device, gpumem_backend_stream *stream,
                                 const gpumem_staging_job *job, int read, const char *what);

/* The chunks' size, which pieces of a job may not exceed. */
uint64_t gpumem_staging_chunk_size(const struct gpumem_device_obj *device);

/* Each returns when the host side is done: a write has read all of `source`, a read has filled
 * all of `destination`. The stream's lock is held by the caller. */
gpumem_result gpumem_staging_write(struct gpumem_device_obj *device,
                                   gpumem_backend_stream *stream, gpumem_backend_page *page,
                                   uint64_t offset, const void *source, uint64_t size);
gpumem_result gpumem_staging_read(struct gpumem_device_obj *device,
                                  gpumem_backend_stream *stream, gpumem_backend_page *page,
                                  uint64_t offset, void *destination, uint64_t size);
gpumem_result gpumem_staging_fill(struct gpumem_device_obj *device,
                                  gpumem_backend_stream *stream, gpumem_backend_page *page,
                                  uint64_t offset, uint64_t size, uint32_t pattern);

#endif
