/* Streams and events, on worker threads.
 *
 * A stream is an in-order queue with a worker thread of its own, as a GPU's queue is an engine
 * that runs what was submitted while the host goes on. Submitting an operation only queues it;
 * the worker runs the queue in order, waiting SIMGPU_STREAM_DELAY_US before each operation, so
 * that work is done later than the call that submitted it, and much later with a delay: core
 * must synchronize before it relies on a result, and a missing wait shows as wrong bytes.
 *
 * An event is a point in a stream: recording it queues a completion point, and the event is
 * complete when the worker reaches it (a later recording replaces an earlier one, as in CUDA).
 * An event lives as long as someone holds it: its owner (until event_destroy) and every
 * completion point still queued, so that destroying an event with a recording in flight, or a
 * stream with an event's last recording, frees nothing that is still used. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "simgpu.h"

static void delay(void)
{
    uint64_t ns = sim_cfg.stream_delay_ns;
    struct timespec t = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (ns && nanosleep(&t, &t) != 0 && errno == EINTR) {
    }
}

static void *worker_main(void *arg)
{
    sim_stream *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->head && !s->stop)
            pthread_cond_wait(&s->work, &s->lock);
        sim_op *op = s->head;
        if (!op)
            break; /* stop, and nothing left */
        s->head = op->next;
        if (!s->head)
            s->tail = NULL;
        pthread_mutex_unlock(&s->lock);
        delay();
        sim_op_run(op);
        /* The pages' last use by this operation: one may be freed as soon as this is done. */
        if (op->source)
            atomic_fetch_sub(&op->source->pending, 1);
        if (op->destination)
            atomic_fetch_sub(&op->destination->pending, 1);
        sim_op_free(op);
        pthread_mutex_lock(&s->lock);
        s->completed++;
        pthread_cond_broadcast(&s->done);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

void sim_submit(gpumem_backend_stream *stream, sim_op *op)
{
    sim_stream *s = (sim_stream *)stream;
    /* A native pool's pages are used in stream order after their allocation (pool.c). */
    if (op->source && op->source->pool)
        sim_native_expect_reached(s, op->source, "a queued operation's source", "used");
    if (op->destination && op->destination->pool)
        sim_native_expect_reached(s, op->destination, "a queued operation's destination", "used");
    /* The pages stay in use until the worker has run the operation (page_free checks). */
    if (op->source)
        atomic_fetch_add(&op->source->pending, 1);
    if (op->destination)
        atomic_fetch_add(&op->destination->pending, 1);
    op->next = NULL;
    pthread_mutex_lock(&s->lock);
    if (s->tail)
        s->tail->next = op;
    else
        s->head = op;
    s->tail = op;
    s->submitted++;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->lock);
}

gpumem_result sim_stream_create(gpumem_backend_device *device, gpumem_backend_stream **out)
{
    sim_device *d = (sim_device *)device;
    sim_stream *s = calloc(1, sizeof *s);
    if (!s)
        return gpumem_backend_error(GPUMEM_ERROR_OUT_OF_HOST_MEMORY,
                                    "simgpu: no memory for a stream");
    s->device = d;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->work, NULL);
    pthread_cond_init(&s->done, NULL);
    int e = pthread_create(&s->worker, NULL, worker_main, s);
    if (e != 0) {
        pthread_cond_destroy(&s->done);
        pthread_cond_destroy(&s->work);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return gpumem_backend_error(e == EAGAIN ? GPUMEM_ERROR_OUT_OF_HOST_MEMORY
                                                : GPUMEM_ERROR_BACKEND,
                                    "simgpu: pthread_create for a stream's worker: %s",
                                    strerror(e));
    }
    atomic_fetch_add(&d->streams, 1);
    *out = (gpumem_backend_stream *)s;
    return GPUMEM_OK;
}

/* Everything submitted so far has run. Lock held. */
static void drain_locked(sim_stream *s)
{
    uint64_t target = s->submitted;
    while (s->completed < target)
        pthread_cond_wait(&s->done, &s->lock);
}

void sim_stream_destroy(gpumem_backend_device *device, gpumem_backend_stream *stream)
{
    sim_device *d = (sim_device *)device;
    sim_stream *s = (sim_stream *)stream;
    sim_stream_enter(s, "stream_destroy");
    pthread_mutex_lock(&s->lock);
    uint64_t queued = s->submitted - s->completed;
    SIM_EXPECT(queued == 0, "stream_destroy",
               "stream %p has %llu operations queued: core synchronizes a stream before it "
               "destroys it",
               (void *)s, (unsigned long long)queued);
    s->stop = 1; /* the worker runs what is left (only when the contract was broken), then ends */
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->worker, NULL);
    pthread_cond_destroy(&s->done);
    pthread_cond_destroy(&s->work);
    pthread_mutex_destroy(&s->lock);
    free(s);
    atomic_fetch_sub(&d->streams, 1);
}

gpumem_result sim_stream_synchronize(gpumem_backend_device *device,
                                     gpumem_backend_stream *stream)
{
    sim_stream *s = (sim_stream *)stream;
    sim_stream_enter(s, "stream_synchronize");
    pthread_mutex_lock(&s->lock);
    drain_locked(s);
    pthread_mutex_unlock(&s->lock);
    sim_stream_leave(s);
    return GPUMEM_OK;
}

gpumem_result sim_stream_native(gpumem_backend_device *device, gpumem_backend_stream *stream,
                                uint64_t *native)
{
    /* What an application would submit its own work to: here, the queue itself. */
    *native = (uint64_t)(uintptr_t)stream;
    return GPUMEM_OK;
}

/* An application's stream, as stream_native gave it (the queue itself): gpumem uses it and
 * never destroys it. */
gpumem_result sim_stream_wrap(gpumem_backend_device *device, uint64_t native,
                              gpumem_backend_stream **stream)
{
    if (native == 0)
        return gpumem_backend_error(GPUMEM_ERROR_INVALID_ARGUMENT,
                                    "simgpu: stream 0 is no queue of this device");
    atomic_fetch_add(&((sim_stream *)(uintptr_t)native)->wrapped, 1);
    *stream = (gpumem_backend_stream *)(uintptr_t)native;
    return GPUMEM_OK;
}

/* Core is done with a wrap: once none is left, the queue is core's alone again, and
 * contract.c checks one operation at a time on it. */
void sim_stream_unwrap(gpumem_backend_device *device, gpumem_backend_stream *stream)
{
    atomic_fetch_sub(&((sim_stream *)stream)->wrapped, 1);
}

/* --- events --- */

gpumem_result sim_event_create(gpumem_backend_device *device, gpumem_backend_event **out)
{
    sim_device *d = (sim_device *)device;
    sim_event *e = calloc(1, sizeof *e);
    if (!e)
        return gpumem_backend_error(GPUMEM_ERROR_OUT_OF_HOST_MEMORY,
                                    "simgpu: no memory for an event");
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->done, NULL);
    atomic_init(&e->references, 1);
    e->device = d;
    atomic_fetch_add(&d->events, 1);
    *out = (gpumem_backend_event *)e;
    return GPUMEM_OK;
}

void sim_event_release(sim_event *e)
{
    if (atomic_fetch_sub(&e->references, 1) != 1)
        return;
    pthread_cond_destroy(&e->done);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

void sim_event_destroy(gpumem_backend_device *device, gpumem_backend_event *event)
{
    atomic_fetch_sub(&((sim_device *)device)->events, 1);
    sim_event_release((sim_event *)event);
}

gpumem_result sim_event_record(gpumem_backend_device *device, gpumem_backend_stream *stream,
                               gpumem_backend_event *event)
{
    sim_stream *s = (sim_stream *)stream;
    sim_event *e = (sim_event *)event;
    sim_stream_enter(s, "event_record");
    sim_op *op = calloc(1, sizeof *op);
    if (!op) {
        sim_stream_leave(s);
        return gpumem_backend_error(GPUMEM_ERROR_OUT_OF_HOST_MEMORY,
                                    "simgpu: no memory to record an event");
    }
    pthread_mutex_lock(&e->lock);
    op->generation = ++e->recorded;
    pthread_mutex_unlock(&e->lock);
    op->kind = SIM_OP_EVENT;
    op->event = e;
    atomic_fetch_add(&e->references, 1); /* the completion point holds the event */
    sim_submit(stream, op);
    sim_stream_leave(s);
    return GPUMEM_OK;
}

gpumem_result sim_event_synchronize(gpumem_backend_device *device, gpumem_backend_event *event)
{
    sim_event *e = (sim_event *)event;
    pthread_mutex_lock(&e->lock);
    uint64_t target = e->recorded; /* never recorded: 0, complete at once */
    while (e->completed < target)
        pthread_cond_wait(&e->done, &e->lock);
    pthread_mutex_unlock(&e->lock);
    return GPUMEM_OK;
}
