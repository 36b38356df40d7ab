/* Registering pageable memory for the length of one synchronous transfer, a write or a read
 * (transfer.c says when).
 *
 * On a device opened on few usable CPUs, core's staging cannot beat the runtime's own copy of
 * pageable memory by much, but pinning the pages costs those CPUs less than copying them: a
 * transfer that registers its host memory's whole pages, copies by DMA and unregisters them
 * runs faster than the runtime's copy (docs/performance.md, "Twenty-seventh session" to
 * "Twenty-ninth session").
 *
 * Pinning is the transfer's largest cost, and the DMA waits for it. So where the backend can
 * queue the copies (a read always can: copy_page_to_host may fill its destination by the
 * stream's completion; a write where the backend has queue_registered_host_to_page), a
 * transfer of 2 x GPUMEM_TRANSFER_REGISTRATION_PIECE bytes or more is registered in
 * size / that many pieces (at most GPUMEM_TRANSFER_REGISTRATION_PIECES) of equal length, each
 * after the first starting on a page boundary so that no page is registered twice: piece
 * k + 1 is registered while piece k's copy runs, then the transfer waits once for its stream
 * and unregisters every piece (docs/performance.md, "Twenty-eighth session"). The device only
 * reads a write's source, so a write's pieces are registered read-only where the backend can
 * (host_register_read_only), which pins faster; a read's are registered plainly.
 *
 * While the pages are registered, the runtime treats them as pinned for every call of the
 * process: another thread's transfer of memory on those pages would be copied by asynchronous
 * DMA that could still be running when the transfer unregisters them. So registrations and
 * host transfers exclude each other, process-wide, as Dekker's algorithm does with two flags:
 * - a host transfer on a device that can register counts itself in `copying` before it looks
 *   at `live`, and waits, if any, until every registration of other threads has ended;
 * - a registering transfer, counted in `copying` as any other, counts itself in `live` before
 *   it looks at `copying`, and registers only where no other host transfer is in flight (else
 *   it goes unregistered, as before).
 * Both look and count under sequentially consistent atomics, so at least one of the two sees
 * the other. A transfer waits before it takes its stream's lock; a registering transfer
 * registers under its stream's lock and unregisters before it lets go, once its copies are
 * done (it waits for its stream; a write registered whole has read its source when
 * copy_host_to_page returns). No thread that holds the stream's lock can then be waiting
 * for the registration, and the registered transfer needs no other lock (the registry's is
 * never held while another is taken).
 */
#ifndef GPUMEM_CORE_TRANSFER_REGISTRATION_H
#define GPUMEM_CORE_TRANSFER_REGISTRATION_H

#include <pthread.h>
#include <stdint.h>

#include "device.h"
#include "list.h"

#define GPUMEM_TRANSFER_REGISTRATION_PIECE (16u << 20) /* the smallest piece */
#define GPUMEM_TRANSFER_REGISTRATION_PIECES 8u

typedef struct gpumem_transfer_registration {
    gpumem_list link; /* on the process's list while live */
    gpumem_device_obj *device;
    char *host;           /* the write's source, or the read's destination */
    uint64_t size;
    int read;             /* 1: a read (the device writes `host`), 0: a write */
    uint64_t piece;       /* bytes of host memory per piece, before its start is rounded to a
                             page */
    uint32_t pieces;      /* how many the transfer is cut into (1: registered whole) */
    uint32_t made;        /* registered so far: native[0, made) */
    gpumem_backend_registration *native[GPUMEM_TRANSFER_REGISTRATION_PIECES];
    uintptr_t begin, end; /* whole pages of the whole host range */
    pthread_t owner;      /* the transferring thread */
} gpumem_transfer_registration;

/* Host transfers of devices whose runtime copies host memory by DMA and registers it
 * (staging.h, dma_host_transfers; the others' copies are the host's own), before they take
 * their stream's lock: between the two, no other thread holds a registration for one
 * transfer. The calling thread's own are not waited for (a call from a log callback inside its
 * transfer): enter says 1 then, and the call must wait for its stream before it returns, as
 * its copy could otherwise outlive the registration. */
int gpumem_transfer_registration_enter(const gpumem_device_obj *device);
void gpumem_transfer_registration_leave(const gpumem_device_obj *device);

/* Inside its enter and leave: 1 when the transfer of [host, host + size) (`read`: from the
 * device into it; else a write from it) is registered for the calling thread (its first piece,
 * or the whole), under its stream's lock; 0, leaving no error, where the backend cannot
 * register, another host transfer is in flight (the transfer's own is one), or the runtime
 * refuses (pages registered already): the transfer then goes unregistered. Two transfers that
 * begin at once both see the other and neither registers, so none waits for the other. */
int gpumem_transfer_registration_begin(gpumem_device_obj *device, void *host, uint64_t size,
                                       int read, gpumem_transfer_registration *registration);
/* The transfer itself, into or from `page` at `offset`, on `stream`: the whole by
 * copy_host_to_page or copy_page_to_host, or piece after piece, each registered while the one
 * before is copied; then a wait for the stream (whatever failed: no copy may outlive the
 * registration). A piece the runtime does not register goes, with the rest of the transfer,
 * to the same copy unregistered. When this returns the copies are done, or the wait failed
 * (which says the stream's work runs no further: backend.h, stream_synchronize). Errors are
 * set (gpumem_fail_backend). */
gpumem_result gpumem_transfer_registration_copy(gpumem_transfer_registration *registration,
                                                gpumem_backend_stream *stream,
                                                gpumem_backend_page *page, uint64_t offset);
/* Unregisters every piece made, after the transfer, whatever its copy and wait answered. A
 * failed wait cannot say whether a copy still runs, but the application owns the memory and may
 * free it once the call has returned: a registration left behind would outlive it, and the
 * runtime would copy later transfers of those addresses to and from the pages it pinned, which
 * no longer back them. (CUDA's stream errors are mostly the context's: it then runs no more
 * work; backend.h asks that a failed wait mean it.) Conformance tests make the stream wait (after
 * the copies are done) and each copy in turn fail, and check that nothing stays registered. */
void gpumem_transfer_registration_end(gpumem_transfer_registration *registration);

/* 1 when a live registration for a transfer shares a byte with [host, host + size): the
 * application's registration of that memory is refused as busy (registration.c). */
int gpumem_transfer_registration_overlaps(const void *host, uint64_t size);

#endif
