/* Ops made of other ops: every handle argument bad, or objects of two devices together. */
#include "fuzz_internal.h"

/* Functions that take a device, each with a bad one. */
static void bad_device_call(fz_ctx *c)
{
    fz_expect faults = 0;
    gpumem_device dev = (gpumem_device)(uintptr_t)fz_bad_handle(c, FZ_DEVICE, &faults);
    gpumem_result r;
    switch (fz_below(c, 7)) {
    case 0: {
        gpumem_device_properties p;
        r = gpumem_device_properties_get(dev, &p);
        fz_call(c, "gpumem_device_properties_get", r, faults, 0);
        break;
    }
    case 1: {
        gpumem_external_device n;
        r = gpumem_device_native(dev, &n);
        fz_call(c, "gpumem_device_native", r, faults, 0);
        break;
    }
    case 2: {
        uint64_t length;
        r = gpumem_device_dump_json(dev, NULL, 0, &length);
        fz_call(c, "gpumem_device_dump_json", r, faults, 0);
        break;
    }
    case 3: {
        gpumem_stream s;
        r = gpumem_device_default_stream(dev, &s);
        fz_call(c, "gpumem_device_default_stream", r, faults, 0);
        break;
    }
    case 4:
        fz_call(c, "gpumem_device_close", gpumem_device_close(dev), faults, 0);
        break;
    case 5: {
        gpumem_pool p;
        r = gpumem_pool_create(dev, NULL, &p);
        fz_call(c, "gpumem_pool_create", r, faults, 0);
        break;
    }
    default: {
        gpumem_stream s;
        r = gpumem_stream_create(dev, &s);
        fz_call(c, "gpumem_stream_create", r, faults, 0);
        break;
    }
    }
}

void fz_op_bad_handle(fz_ctx *c)
{
    c->force_bad = 1;
    switch (fz_below(c, 26)) {
    case 0: bad_device_call(c); break;
    case 1: fz_op_pool_create(c); break;
    case 2: fz_op_pool_destroy(c); break;
    case 3: fz_op_pool_trim(c); break;
    case 4: fz_op_pool_stats(c); break;
    case 5: fz_op_buffer_create(c); break;
    case 6: fz_op_buffer_destroy(c); break;
    case 7: fz_op_buffer_info(c); break;
    case 8: fz_op_buffer_native(c); break;
    case 9: fz_op_map(c); break;
    case 10: fz_op_unmap(c); break;
    case 11: fz_op_flush(c); break;
    case 12: fz_op_write(c, (int)fz_below(c, 2)); break;
    case 13: fz_op_read(c, (int)fz_below(c, 2)); break;
    case 14: fz_op_copy(c, (int)fz_below(c, 2)); break;
    case 15: fz_op_fill(c, (int)fz_below(c, 2)); break;
    case 16: fz_op_stream_create(c); break;
    case 17: fz_op_stream_destroy(c); break;
    case 18: fz_op_stream_sync(c); break;
    case 19: fz_op_vblock_alloc(c); break;
    case 20: fz_op_vblock_free(c); break;
    case 21: fz_op_vblock_clear(c); break;
    case 22: fz_op_vblock_stats(c); break;
    case 23: fz_op_vblock_destroy(c); break;
    case 24: fz_op_device_close(c); break;
    default: bad_device_call(c); break;
    }
    c->force_bad = 0;
}

void fz_op_cross_device(fz_ctx *c)
{
    if (fz_count_live(c, FZ_DEVICE) < 2) {
        fz_device_open_plain(c);
        return;
    }
    c->force_cross = 1;
    switch (fz_below(c, 6)) {
    case 0: fz_op_write(c, 1); break;
    case 1: fz_op_read(c, 1); break;
    case 2: fz_op_fill(c, 1); break;
    case 3: fz_op_copy(c, 1); break;
    default: fz_op_copy(c, 0); break;
    }
    c->force_cross = 0;
}
