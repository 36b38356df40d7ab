/* Copies and fills. Each operation is described once (a sim_op), then run at once when the
 * device has no streams, or queued on the stream and run by its worker later.
 *
 * The promises these rely on (backend.h): ranges lie in their pages, fills are 4-byte aligned,
 * a copy within one page never overlaps itself, and one stream's operations never run at once.
 * Those are core's to keep; the simulated device checks them (contract.c) where a real backend
 * would simply trust them. What is the backend's own to keep:
 * - a write has read its source before it returns: a queued write takes a copy of the bytes;
 * - a read may fill its destination later, by the stream's completion: the worker writes it;
 * - a copy queued from registered memory reads it when it runs, as DMA does, and checks that
 *   the memory is registered still (core must wait for the stream before it unregisters);
 *   a read queued into registered memory checks the same when it runs. */
#include <stdlib.h>
#include <string.h>

#include "simgpu.h"

/* What the host's view of non-coherent memory shows where the device wrote and the host has
 * not invalidated since: not the old bytes (which could happen to equal the new ones and hide
 * a missing invalidate) but garbage, different at every position. Writing it back (a flush of
 * an atom the host wrote only part of) is as wrong as it looks. */
static void poison_host_view(sim_page *p, uint64_t offset, uint64_t size)
{
    if (!p->host_view)
        return;
    for (uint64_t i = offset; i < offset + size; i++) {
        unsigned char garbage = (unsigned char)(((i * 0x9E3779B1u) >> 24) ^ 0xA5u);
        p->host_view[i] = garbage;
        p->known[i] = garbage; /* the host did not write it: a flush leaves it alone */
    }
}

void sim_op_run(sim_op *op)
{
    if (op->destination)
        poison_host_view(op->destination, op->destination_offset, op->size);
    switch (op->kind) {
    case SIM_OP_COPY:
        memcpy(op->destination->bytes + op->destination_offset,
               op->source->bytes + op->source_offset, (size_t)op->size);
        break;
    case SIM_OP_WRITE:
        memcpy(op->destination->bytes + op->destination_offset, op->host, (size_t)op->size);
        break;
    case SIM_OP_REGISTERED_WRITE:
        SIM_EXPECT(sim_host_registered(op->destination->device, op->host, op->size),
                   "queue_registered_host_to_page", "%llu bytes at %p were unregistered before "
                   "the copy queued from them ran", (unsigned long long)op->size, op->host);
        memcpy(op->destination->bytes + op->destination_offset, op->host, (size_t)op->size);
        break;
    case SIM_OP_READ:
        SIM_EXPECT(!sim_host_read_only(op->source->device, op->host, op->size),
                   "copy_page_to_host", "%llu bytes at %p share a page with memory registered "
                   "read-only (a write's source, which core registers for the write alone)",
                   (unsigned long long)op->size, op->host);
        SIM_EXPECT(!op->registered ||
                       sim_host_registered(op->source->device, op->host, op->size),
                   "copy_page_to_host", "%llu bytes at %p were unregistered before the read "
                   "queued into them ran", (unsigned long long)op->size, op->host);
        memcpy(op->host, op->source->bytes + op->source_offset, (size_t)op->size);
        break;
    case SIM_OP_FILL: {
        /* One pattern, then doubling copies of what is filled already. */
        unsigned char *p = op->destination->bytes + op->destination_offset;
        size_t size = (size_t)op->size, done = 4;
        memcpy(p, &op->pattern, 4);
        while (done < size) {
            size_t n = done < size - done ? done : size - done;
            memcpy(p + done, p, n);
            done += n;
        }
        break;
    }
    case SIM_OP_ALLOCATED:
        atomic_store(&op->destination->allocated, 1);
        break;
    case SIM_OP_FREE:
        sim_native_pool_release(op->freed);
        break;
    case SIM_OP_EVENT: {
        sim_event *e = op->event;
        pthread_mutex_lock(&e->lock);
        if (op->generation > e->completed)
            e->completed = op->generation;
        pthread_cond_broadcast(&e->done);
        pthread_mutex_unlock(&e->lock);
        break;
    }
    }
}

void sim_op_free(sim_op *op)
{
    if (op->kind == SIM_OP_EVENT)
        sim_event_release(op->event);
    free(op);
}

/* Runs the operation at once (no streams), or queues a copy of it (with the bytes to write,
 * for a write). */
static gpumem_result issue(gpumem_backend_stream *stream, const sim_op *op,
                           const char *operation)
{
    sim_stream *s = (sim_stream *)stream;
    SIM_EXPECT((s == NULL) == (sim_cfg.no_streams != 0), operation,
               "stream %p, yet the device %s streams", (void *)s,
               sim_cfg.no_streams ? "has no" : "has");
    if (!s) {
        sim_op now = *op;
        sim_op_run(&now);
        return GPUMEM_OK;
    }
    sim_stream_enter(s, operation);
    size_t extra = op->kind == SIM_OP_WRITE ? (size_t)op->size : 0;
    sim_op *queued = malloc(sizeof *queued + extra);
    if (!queued) {
        sim_stream_leave(s);
        return gpumem_backend_error(GPUMEM_ERROR_OUT_OF_HOST_MEMORY,
                                    "simgpu: no memory to queue %s of %llu bytes", operation,
                                    (unsigned long long)op->size);
    }
    *queued = *op;
    if (op->kind == SIM_OP_WRITE) { /* the caller may reuse its bytes once this returns */
        memcpy(queued->data, op->host, extra);
        queued->host = queued->data;
    }
    sim_submit(stream, queued);
    sim_stream_leave(s);
    return GPUMEM_OK;
}

gpumem_result sim_copy_page_to_page(gpumem_backend_device *device,
                                    gpumem_backend_stream *stream, gpumem_backend_page *source,
                                    uint64_t source_offset, gpumem_backend_page *destination,
                                    uint64_t destination_offset, uint64_t size)
{
    sim_page *from = (sim_page *)source, *to = (sim_page *)destination;
    sim_expect_range("copy_page_to_page", from, source_offset, size);
    sim_expect_range("copy_page_to_page", to, destination_offset, size);
    SIM_EXPECT(from != to || source_offset + size <= destination_offset ||
                   destination_offset + size <= source_offset,
               "copy_page_to_page", "[%llu, +%llu) and [%llu, +%llu) of one page overlap",
               (unsigned long long)source_offset, (unsigned long long)size,
               (unsigned long long)destination_offset, (unsigned long long)size);
    sim_op op = {.kind = SIM_OP_COPY, .source = from, .source_offset = source_offset,
                 .destination = to, .destination_offset = destination_offset, .size = size};
    return issue(stream, &op, "copy_page_to_page");
}

gpumem_result sim_copy_host_to_page(gpumem_backend_device *device,
                                    gpumem_backend_stream *stream, const void *source,
                                    gpumem_backend_page *destination,
                                    uint64_t destination_offset, uint64_t size)
{
    sim_page *to = (sim_page *)destination;
    sim_expect_range("copy_host_to_page", to, destination_offset, size);
    sim_op op = {.kind = SIM_OP_WRITE, .destination = to,
                 .destination_offset = destination_offset, .size = size,
                 .host = (void *)(uintptr_t)source};
    return issue(stream, &op, "copy_host_to_page");
}

gpumem_result sim_queue_registered_host_to_page(gpumem_backend_device *device,
                                               gpumem_backend_stream *stream, const void *source,
                                               gpumem_backend_page *destination,
                                               uint64_t destination_offset, uint64_t size)
{
    sim_page *to = (sim_page *)destination;
    sim_expect_range("queue_registered_host_to_page", to, destination_offset, size);
    SIM_EXPECT(sim_host_registered((sim_device *)device, source, size),
               "queue_registered_host_to_page", "%llu bytes at %p are not in one registration",
               (unsigned long long)size, source);
    sim_op op = {.kind = SIM_OP_REGISTERED_WRITE, .destination = to,
                 .destination_offset = destination_offset, .size = size,
                 .host = (void *)(uintptr_t)source};
    return issue(stream, &op, "queue_registered_host_to_page");
}

gpumem_result sim_copy_page_to_host(gpumem_backend_device *device,
                                    gpumem_backend_stream *stream, gpumem_backend_page *source,
                                    uint64_t source_offset, void *destination, uint64_t size)
{
    sim_page *from = (sim_page *)source;
    sim_expect_range("copy_page_to_host", from, source_offset, size);
    sim_op op = {.kind = SIM_OP_READ, .source = from, .source_offset = source_offset,
                 .size = size, .host = destination,
                 .registered = sim_host_registered((sim_device *)device, destination, size)};
    return issue(stream, &op, "copy_page_to_host");
}

gpumem_result sim_fill(gpumem_backend_device *device, gpumem_backend_stream *stream,
                       gpumem_backend_page *page, uint64_t offset, uint64_t size,
                       uint32_t pattern)
{
    sim_page *to = (sim_page *)page;
    sim_expect_range("fill", to, offset, size);
    SIM_EXPECT(offset % 4 == 0 && size % 4 == 0, "fill",
               "offset %llu and size %llu are not multiples of 4", (unsigned long long)offset,
               (unsigned long long)size);
    sim_op op = {.kind = SIM_OP_FILL, .destination = to, .destination_offset = offset,
                 .size = size, .pattern = pattern};
    return issue(stream, &op, "fill");
}
