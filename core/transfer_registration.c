#include "transfer_registration.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "align.h"
#include "error.h"
#include "log.h"

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t registration_ended = PTHREAD_COND_INITIALIZER;
static gpumem_list registrations = {&registrations, &registrations}; /* under registry_lock */
static _Atomic uint32_t live;    /* registrations for a transfer, made or being made */
static _Atomic uint32_t copying; /* host transfers in flight on devices that can register */
static pthread_once_t page_once = PTHREAD_ONCE_INIT;
static uintptr_t page_size;

static void read_page_size(void)
{
    long page = sysconf(_SC_PAGESIZE);
    page_size = page > 0 ? (uintptr_t)page : 4096u;
}

static int can_register(const gpumem_device_obj *device)
{
    return device->staging.dma_host_transfers;
}

/* A live registration of this thread's (mine) or of another's (registry lock held). */
static int held(pthread_t self, int mine)
{
    for (const gpumem_list *l = registrations.next; l != &registrations; l = l->next)
        if ((pthread_equal(GPUMEM_CONTAINER_OF(l, gpumem_transfer_registration, link)->owner,
                           self) != 0) == mine)
            return 1;
    return 0;
}

int gpumem_transfer_registration_enter(const gpumem_device_obj *device)
{
    if (!can_register(device))
        return 0;
    atomic_fetch_add(&copying, 1);
    if (atomic_load(&live) == 0)
        return 0;
    pthread_t self = pthread_self();
    pthread_mutex_lock(&registry_lock);
    while (held(self, 0))
        pthread_cond_wait(&registration_ended, &registry_lock);
    int inside = held(self, 1);
    pthread_mutex_unlock(&registry_lock);
    return inside;
}

void gpumem_transfer_registration_leave(const gpumem_device_obj *device)
{
    if (can_register(device))
        atomic_fetch_sub(&copying, 1);
}

/* Off the list, and wakes the transfers that wait (registry lock not held). */
static void withdraw(gpumem_transfer_registration *registration)
{
    pthread_mutex_lock(&registry_lock);
    gpumem_list_remove(&registration->link);
    atomic_fetch_sub(&live, 1);
    pthread_cond_broadcast(&registration_ended);
    pthread_mutex_unlock(&registry_lock);
}

/* Where piece k of the transfer starts in its host memory; the page that holds piece k - 1's
 * last byte is piece k - 1's. */
static char *piece_start(const gpumem_transfer_registration *w, uint32_t k)
{
    if (k == 0)
        return w->host;
    uintptr_t at = (uintptr_t)w->host + k * w->piece;
    return (char *)((at + page_size - 1u) & ~(page_size - 1u));
}

static char *piece_end(const gpumem_transfer_registration *w, uint32_t k)
{
    return k + 1 < w->pieces ? piece_start(w, k + 1) : w->host + w->size;
}

/* How the transfer is cut: where the backend can queue its copies (a read's always), into
 * size / GPUMEM_TRANSFER_REGISTRATION_PIECE pieces (at most GPUMEM_TRANSFER_REGISTRATION_PIECES)
 * of equal length, but for the page rounding of their starts (so each is 16 MiB less a few
 * pages or more); else whole. */
static void cut(gpumem_transfer_registration *w)
{
    uint64_t pieces = w->size / GPUMEM_TRANSFER_REGISTRATION_PIECE;
    if (pieces > GPUMEM_TRANSFER_REGISTRATION_PIECES)
        pieces = GPUMEM_TRANSFER_REGISTRATION_PIECES;
    if ((!w->read && !w->device->ops->queue_registered_host_to_page) || pieces < 2)
        pieces = 1;
    /* The last piece starts less than a page past (pieces - 1) x piece, which leaves it more
     * than 16 MiB less 8 bytes: every piece holds bytes. */
    w->pieces = (uint32_t)pieces;
    w->piece = (w->size + pieces - 1u) / pieces;
}

/* Registers piece w->made's whole pages: GPUMEM_OK, or what the runtime answered (no error
 * left: that much of the transfer goes unregistered). */
static gpumem_result register_piece(gpumem_transfer_registration *w)
{
    uintptr_t begin = 0, end = 0; /* the whole range's pages did not wrap: a piece's do not */
    const char *from = piece_start(w, w->made), *to = piece_end(w, w->made);
    gpumem_whole_pages((uintptr_t)from, (uint64_t)(to - from), page_size, &begin, &end);
    gpumem_device_obj *device = w->device;
    const gpumem_backend_vtable *ops = device->ops;
    /* The device only reads a write's source: read-only pinning costs less, where there is. */
    gpumem_result r = (!w->read && ops->host_register_read_only ? ops->host_register_read_only
                                                                : ops->host_register)(
        device->native, (void *)begin, end - begin, &w->native[w->made]);
    if (r == GPUMEM_OK)
        w->made++;
    else
        gpumem_error_clear();
    return r;
}

static void log_refused(const gpumem_transfer_registration *w, gpumem_result r)
{
    const char *from = piece_start(w, w->made);
    const char *what = w->read ? "read" : "write";
    gpumem_log_after_call(GPUMEM_LOG_DEBUG, "the runtime did not register %llu bytes at %p for a %s (%s); "
               "%s %s goes unregistered", (unsigned long long)(piece_end(w, w->made) - from),
               (const void *)from, what, gpumem_result_string(r),
               w->made ? "the rest of the" : "the", what);
}

int gpumem_transfer_registration_begin(gpumem_device_obj *device, void *host, uint64_t size,
                                       int read, gpumem_transfer_registration *registration)
{
    pthread_once(&page_once, read_page_size);
    uintptr_t begin, end;
    if (!can_register(device) || !size ||
        !gpumem_whole_pages((uintptr_t)host, size, page_size, &begin, &end))
        return 0;
    *registration = (gpumem_transfer_registration){.device = device, .host = host, .size = size,
                                                   .read = read, .begin = begin, .end = end,
                                                   .owner = pthread_self()};
    cut(registration);
    pthread_mutex_lock(&registry_lock);
    atomic_fetch_add(&live, 1);
    int busy = atomic_load(&copying) > 1; /* the transfer itself is one */
    if (busy)
        atomic_fetch_sub(&live, 1);
    else
        gpumem_list_push(&registrations, &registration->link);
    pthread_mutex_unlock(&registry_lock);
    if (busy)
        return 0;
    gpumem_result r = register_piece(registration);
    if (r == GPUMEM_OK)
        return 1;
    withdraw(registration); /* before the log, whose callback may make calls that would wait */
    log_refused(registration, r);
    return 0;
}

/* One piece's copy, or the rest of the transfer's from `from` on: queued, where registered;
 * *operation names the backend's operation, for the error. */
static gpumem_result copy_piece(const gpumem_transfer_registration *w,
                                gpumem_backend_stream *stream, gpumem_backend_page *page,
                                uint64_t offset, char *from, uint64_t size, int registered,
                                const char **operation)
{
    const gpumem_backend_vtable *ops = w->device->ops;
    gpumem_backend_device *native = w->device->native;
    uint64_t at = offset + (uint64_t)(from - w->host);
    if (w->read) {
        *operation = "copy_page_to_host"; /* queued: it may fill `from` by the stream's end */
        return ops->copy_page_to_host(native, stream, page, at, from, size);
    }
    if (!registered || w->pieces == 1) {
        *operation = "copy_host_to_page";
        return ops->copy_host_to_page(native, stream, from, page, at, size);
    }
    *operation = "queue_registered_host_to_page";
    return ops->queue_registered_host_to_page(native, stream, from, page, at, size);
}

gpumem_result gpumem_transfer_registration_copy(gpumem_transfer_registration *w,
                                                gpumem_backend_stream *stream,
                                                gpumem_backend_page *page, uint64_t offset)
{
    gpumem_device_obj *device = w->device;
    const char *operation = "";
    gpumem_result r = GPUMEM_OK;
    /* A write registered whole is copied by copy_host_to_page, which has read the source when
     * it returns: no wait. */
    if (w->pieces == 1 && !w->read) {
        r = copy_piece(w, stream, page, offset, w->host, w->size, 1, &operation);
        return r == GPUMEM_OK ? r : gpumem_fail_backend(r, operation);
    }
    for (uint32_t k = 0; k < w->pieces && r == GPUMEM_OK; k++) {
        char *from = piece_start(w, k);
        gpumem_result refused = k == w->made ? register_piece(w) : GPUMEM_OK;
        if (refused != GPUMEM_OK) {
            log_refused(w, refused);
            r = copy_piece(w, stream, page, offset, from, w->size - (uint64_t)(from - w->host), 0,
                           &operation);
            break;
        }
        r = copy_piece(w, stream, page, offset, from, (uint64_t)(piece_end(w, k) - from), 1,
                       &operation);
    }
    /* The failure's detail first: a failed wait would overwrite the backend's message. */
    if (r != GPUMEM_OK)
        gpumem_fail_backend(r, operation);
    gpumem_result waited = gpumem_device_stream_synchronize(device, stream);
    if (r != GPUMEM_OK)
        return r;
    return waited == GPUMEM_OK ? waited : gpumem_fail_backend(waited, "stream_synchronize");
}

void gpumem_transfer_registration_end(gpumem_transfer_registration *registration)
{
    gpumem_device_obj *device = registration->device;
    for (uint32_t k = 0; k < registration->made; k++)
        device->ops->host_unregister(device->native, registration->native[k]);
    withdraw(registration);
}

int gpumem_transfer_registration_overlaps(const void *host, uint64_t size)
{
    uintptr_t begin = (uintptr_t)host, end = begin + size;
    int found = 0;
    pthread_mutex_lock(&registry_lock);
    for (const gpumem_list *l = registrations.next; l != &registrations && !found; l = l->next) {
        const gpumem_transfer_registration *w =
            GPUMEM_CONTAINER_OF(l, gpumem_transfer_registration, link);
        found = begin < w->end && w->begin < end;
    }
    pthread_mutex_unlock(&registry_lock);
    return found;
}
