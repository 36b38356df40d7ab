/* Registering pageable memory for the length of one synchronous write (transfer.c says when).
 *
 * On a device opened on one to three usable CPUs, core's staging cannot beat the runtime's own
 * copy of pageable memory by much, but pinning the pages costs those CPUs less than copying
 * them: a write that registers its source's whole pages, copies by DMA and unregisters them
 * runs at about twice the runtime's copy, and more in pieces (docs/performance.md,
 * "Twenty-seventh session" to "Twenty-ninth session").
 *
 * Pinning is the write's largest cost, and the DMA waits for it. So where the backend can queue
 * a copy of registered memory without waiting (queue_registered_host_to_page), a write of
 * 2 x GPUMEM_WRITE_REGISTRATION_PIECE bytes or more is registered in size / that many pieces
 * (at most GPUMEM_WRITE_REGISTRATION_PIECES) of equal length, each after the first starting on
 * a page boundary so that no page is registered twice: piece k + 1 is registered while piece
 * k's copy runs, then the write waits once for its stream and unregisters every piece
 * (docs/performance.md, "Twenty-eighth session"). The device only reads the source, so each
 * piece is registered read-only where the backend can (host_register_read_only), which pins
 * faster.
 *
 * While the pages are registered, the runtime treats them as pinned for every call of the
 * process: another thread's transfer of memory on those pages would be copied by asynchronous
 * DMA that could still be running when the write unregisters them. So registrations and host
 * transfers exclude each other, process-wide, as Dekker's algorithm does with two flags:
 * - a host transfer on a device that can register counts itself in `copying` before it looks
 *   at `live`, and waits, if any, until every registration of other threads has ended;
 * - a write, counted in `copying` as any transfer, counts itself in `live` before it looks at
 *   `copying`, and registers only where no other host transfer is in flight (else it goes
 *   unregistered, as before).
 * Both look and count under sequentially consistent atomics, so at least one of the two sees
 * the other. A transfer waits before it takes its stream's lock; a write registers under its
 * stream's lock and unregisters before it lets go, once its copy has read the source (a
 * backend's write has when it returns: backend.h). No thread that holds the stream's lock can
 * then be waiting for the registration, and the registered write needs no other lock (the
 * registry's is never held while another is taken).
 */
#ifndef GPUMEM_CORE_WRITE_REGISTRATION_H
#define GPUMEM_CORE_WRITE_REGISTRATION_H

#include <pthread.h>
#include <stdint.h>

#include "device.h"
#include "list.h"

#define GPUMEM_WRITE_REGISTRATION_PIECE (16u << 20) /* the smallest piece */
#define GPUMEM_WRITE_REGISTRATION_PIECES 8u

typedef struct gpumem_write_registration {
    gpumem_list link; /* on the process's list while live */
    gpumem_device_obj *device;
    const char *host;     /* the write's source */
    uint64_t size;
    uint64_t piece;       /* bytes of source per piece, before its start is rounded to a page */
    uint32_t pieces;      /* how many the write is cut into (1: registered whole) */
    uint32_t made;        /* registered so far: native[0, made) */
    gpumem_backend_registration *native[GPUMEM_WRITE_REGISTRATION_PIECES];
    uintptr_t begin, end; /* whole pages of the whole source */
    pthread_t owner;      /* the writing thread */
} gpumem_write_registration;

/* Host transfers of devices whose runtime copies host memory by DMA and registers it
 * (staging.h, dma_host_transfers; the others' copies are the host's own), before they take
 * their stream's lock: between the two, no other thread holds a registration for one write.
 * The calling thread's own are not waited for (a call from a log callback inside its write):
 * begin says 1 then, and the call must wait for its stream before it returns, as its copy
 * could otherwise outlive the registration. */
int gpumem_write_registration_transfer_begin(const gpumem_device_obj *device);
void gpumem_write_registration_transfer_end(const gpumem_device_obj *device);

/* Inside its transfer_begin and transfer_end: 1 when the write of [host, host + size) is
 * registered for the calling thread (its first piece, or the whole), under its stream's lock;
 * 0, leaving no error, where the backend cannot register, another host transfer is in flight
 * (the write's own is one), or the runtime refuses (pages registered already): the write then
 * goes unregistered. Two writes that begin at once both see the other's transfer and neither
 * registers, so none waits for the other. */
int gpumem_write_registration_begin(gpumem_device_obj *device, const void *host, uint64_t size,
                                    gpumem_write_registration *registration);
/* The write itself, into `page` from `offset`, on `stream`: the whole by copy_host_to_page, or
 * piece after piece, each registered while the one before is copied, then a wait for the
 * stream (whatever failed: no copy may outlive the registration). A piece the runtime does not
 * register goes, with the rest of the write, to copy_host_to_page unregistered. When this
 * returns the source has been read. Errors are set (gpumem_fail_backend). */
gpumem_result gpumem_write_registration_write(gpumem_write_registration *registration,
                                              gpumem_backend_stream *stream,
                                              gpumem_backend_page *page, uint64_t offset);
/* Unregisters every piece made, after the write. */
void gpumem_write_registration_end(gpumem_write_registration *registration);

/* 1 when a live registration for a write shares a byte with [host, host + size): the
 * application's registration of that memory is refused as busy (registration.c). */
int gpumem_write_registration_overlaps(const void *host, uint64_t size);

#endif
