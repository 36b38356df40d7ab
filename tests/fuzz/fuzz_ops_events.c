/* Events: a point recorded on one stream, waited for by the host or by another stream of the
 * device, checked through the model of pending work. After the host waits for an event, the
 * reads queued on its stream before it are complete and their bytes are checked at once; after
 * another stream waits for it, buffers with work pending on the first stream may be used by
 * the second without a synchronize (the model hands them over), which would read or overwrite
 * the wrong bytes if the wait did not hold. Bad handles, another device's stream and an event
 * used after its destroy must be refused. */
#include "fuzz_internal.h"

/* The refusals: a destroyed event, a stream posing as an event, another device's stream. */
static void bad_use(fz_ctx *c, int device, gpumem_event event, int stream)
{
    gpumem_stream handle = c->streams[stream].handle;
    gpumem_event posing = (gpumem_event)(uintptr_t)handle;
    fz_call(c, "gpumem_event_record", gpumem_event_record(posing, handle), FZ_HANDLE, 0);
    fz_call(c, "gpumem_stream_wait_event", gpumem_stream_wait_event(handle, posing), FZ_HANDLE,
            0);
    int other = fz_pick_stream(c, -1);
    if (other >= 0 && c->streams[other].device != device)
        fz_call(c, "gpumem_event_record",
                gpumem_event_record(event, c->streams[other].handle), FZ_ARG, 0);
}

void fz_op_event(fz_ctx *c)
{
    int d = fz_pick_device(c);
    if (d < 0) {
        fz_device_open_plain(c);
        return;
    }
    int a = fz_pick_stream(c, d), b = fz_pick_stream(c, d);
    if (a < 0 || b < 0)
        return;
    gpumem_event event = (gpumem_event)(uintptr_t)FZ_SENTINEL;
    gpumem_result r = gpumem_event_create(c->devices[d].handle, &event);
    if (!fz_call(c, "gpumem_event_create", r, 0, FZ_RESOURCE) || r != GPUMEM_OK)
        return;
    if (fz_chance(c, 1, 8))
        bad_use(c, d, event, a);
    int ok = fz_call(c, "gpumem_event_record", gpumem_event_record(event, c->streams[a].handle),
                     0, 0);
    if (ok && fz_chance(c, 1, 2)) {
        /* The host waits: what stream a queued before the record is done. */
        ok = fz_call(c, "gpumem_event_synchronize", gpumem_event_synchronize(event), 0, 0) &&
             fz_stream_done(c, a);
    } else if (ok) {
        /* Stream b waits: its later work comes after a's, so a's buffers pass to b. */
        ok = fz_call(c, "gpumem_stream_wait_event",
                     gpumem_stream_wait_event(c->streams[b].handle, event), 0, 0);
        for (int i = 0; ok && i < FZ_MAX_BUFFERS; i++)
            if (c->buffers[i].live && c->buffers[i].pending == a)
                c->buffers[i].pending = b;
    }
    /* Destroyed at once (also after a failure): a wait already queued does not need it. */
    r = gpumem_event_destroy(event);
    if (!fz_call(c, "gpumem_event_destroy", r, 0, 0) || !ok)
        return;
    if (fz_chance(c, 1, 4)) {
        fz_call(c, "gpumem_event_synchronize", gpumem_event_synchronize(event), FZ_DESTROYED, 0);
        fz_call(c, "gpumem_event_destroy", gpumem_event_destroy(event), FZ_DESTROYED, 0);
    }
}
