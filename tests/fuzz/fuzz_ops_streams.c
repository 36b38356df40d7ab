/* Streams: create, destroy (never the default one), synchronize. Their transfers are in
 * fuzz_ops_transfers.c. */
#include "fuzz_internal.h"

#define MAX_CREATED_PER_DEVICE 4

static int created_streams(const fz_ctx *c, int device)
{
    int n = 0;
    for (int s = 0; s < FZ_MAX_STREAMS; s++)
        n += c->streams[s].live && !c->streams[s].is_default && c->streams[s].device == device;
    return n;
}

void fz_op_stream_create(fz_ctx *c)
{
    int d = fz_pick_device(c);
    if (d < 0) {
        fz_device_open_plain(c);
        return;
    }
    fz_expect faults = 0;
    gpumem_device device = c->devices[d].handle;
    gpumem_stream stream = (gpumem_stream)(uintptr_t)FZ_SENTINEL, *out = &stream;
    int full = created_streams(c, d) >= MAX_CREATED_PER_DEVICE || fz_free_slot(c, FZ_STREAM) < 0;
    if (full || fz_chance(c, 1, 16)) {
        if (fz_chance(c, 1, 2))
            out = NULL, faults |= FZ_ARG;
        else
            device = (gpumem_device)(uintptr_t)fz_bad_handle(c, FZ_DEVICE, &faults);
    }
    if (c->force_bad)
        device = (gpumem_device)(uintptr_t)fz_bad_handle(c, FZ_DEVICE, &faults);
    gpumem_result r = gpumem_stream_create(device, out);
    if (!fz_call(c, "gpumem_stream_create", r, faults, 0))
        return;
    if (faults) {
        fz_untouched(c, "gpumem_stream_create", (uint64_t)(uintptr_t)stream);
        return;
    }
    int s = fz_free_slot(c, FZ_STREAM);
    c->streams[s] = (fz_stream){.live = 1, .device = d, .handle = stream};
}

void fz_op_stream_destroy(fz_ctx *c)
{
    int s = fz_pick_created_stream(c);
    fz_expect faults = 0;
    gpumem_stream handle;
    if (s < 0 || fz_chance(c, 1, 8)) {
        int d = fz_pick_device(c);
        if (d < 0) {
            fz_device_open_plain(c);
            return;
        }
        handle = c->streams[c->devices[d].default_stream].handle;
        faults = FZ_BIT(GPUMEM_ERROR_BAD_STATE); /* the default stream lives with its device */
    } else {
        handle = c->streams[s].handle;
    }
    if (fz_bad(c, 10))
        handle = (gpumem_stream)(uintptr_t)fz_bad_handle(c, FZ_STREAM, &faults);
    gpumem_result r = gpumem_stream_destroy(handle);
    if (!fz_call(c, "gpumem_stream_destroy", r, faults, 0) || faults)
        return;
    /* The destroy waited for the stream's work: its reads are complete. */
    if (fz_finish_reads(c, s))
        fz_forget_stream(c, s);
}

void fz_op_stream_sync(fz_ctx *c)
{
    int s = fz_pick_stream(c, -1);
    if (s < 0 || fz_bad(c, 16)) {
        fz_expect faults = 0;
        gpumem_stream handle = (gpumem_stream)(uintptr_t)fz_bad_handle(c, FZ_STREAM, &faults);
        fz_call(c, "gpumem_stream_synchronize", gpumem_stream_synchronize(handle), faults, 0);
        return;
    }
    fz_sync(c, s);
}
