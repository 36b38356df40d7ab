/* Bad input to every public function: tables of rows, one row per bad call, each with the
 * specific result it must give; every refusal must also leave a message in gpumem_last_error().
 * Each row runs on a fresh fixture of host objects (set up before it, torn down after it), so no
 * row sees another's damage, and nothing outlives its row (the suite runs under LeakSanitizer).
 *
 * The table is made of two parts:
 * - handle rows, generated: every function that takes a handle, crossed with every kind of bad
 *   handle (NULL, garbage, another kind's handle, destroyed directly or through its owner);
 * - argument rows, written out: NULL pointers, zero and overflowing sizes, out-of-range offsets,
 *   bad alignments, unknown flags and enum values, each with valid handles.
 *
 * Run with GPUMEM_BACKEND=host.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "gpumem/backend.h"
#include "gpumem/gpumem.h"

#define BUFFER_SIZE 4096u
#define VBLOCK_SIZE 65536u
#define GARBAGE 0xdeadbeef12345678ull

/* --- the fixture: built in every row's process, torn down after it --- */

typedef struct fixture {
    gpumem_device dev, dev2;
    gpumem_device_properties props;
    gpumem_pool pool, limited, pool2;
    gpumem_buffer buf, buf2, buf_dev2;
    gpumem_stream stream, default_stream, stream2;
    gpumem_vblock vb, vb2;
    gpumem_vblock_allocation allocation, allocation_freed, allocation_of_vb2;
    /* destroyed, directly or through their owner */
    gpumem_device dead_dev;
    gpumem_pool dead_pool, dead_pool_of_dev;
    gpumem_buffer dead_buf, dead_buf_reused, dead_buf_of_pool, dead_buf_of_dev;
    gpumem_stream dead_stream, dead_stream_of_dev, dead_default_stream;
    gpumem_vblock dead_vb, reused_slot_vb;
} fixture;

static fixture F;
static uint8_t host[2 * BUFFER_SIZE];

#define SETUP_OK(call)                                                                      \
    do {                                                                                    \
        gpumem_result setup_r_ = (call);                                                    \
        cr_assert_eq(setup_r_, GPUMEM_OK, "fixture: %s -> %s (%s)", #call,                  \
                     gpumem_result_string(setup_r_), gpumem_last_error());                  \
    } while (0)

static gpumem_buffer make_buffer(gpumem_pool pool, uint64_t size)
{
    gpumem_buffer b;
    SETUP_OK(gpumem_buffer_create(pool, &(gpumem_buffer_desc){.size = size}, &b));
    return b;
}

static gpumem_pool make_pool(gpumem_device dev, uint64_t page_size, uint64_t limit)
{
    gpumem_pool p;
    gpumem_pool_desc desc = {.page_size = page_size, .byte_limit = limit, .name = "badinput"};
    SETUP_OK(gpumem_pool_create(dev, &desc, &p));
    return p;
}

static void setup(void)
{
    memset(&F, 0, sizeof F);
    SETUP_OK(gpumem_device_open(NULL, &F.dev));
    SETUP_OK(gpumem_device_open(NULL, &F.dev2));
    SETUP_OK(gpumem_device_properties_get(F.dev, &F.props));
    F.pool = make_pool(F.dev, 1 << 20, 0);
    F.limited = make_pool(F.dev, 1 << 16, 4096);
    F.pool2 = make_pool(F.dev2, 1 << 20, 0);
    F.buf = make_buffer(F.pool, BUFFER_SIZE);
    F.buf2 = make_buffer(F.pool, BUFFER_SIZE);
    F.buf_dev2 = make_buffer(F.pool2, BUFFER_SIZE);
    SETUP_OK(gpumem_stream_create(F.dev, &F.stream));
    SETUP_OK(gpumem_device_default_stream(F.dev, &F.default_stream));
    SETUP_OK(gpumem_stream_create(F.dev2, &F.stream2));

    SETUP_OK(gpumem_vblock_create(VBLOCK_SIZE, &F.vb));
    SETUP_OK(gpumem_vblock_create(VBLOCK_SIZE, &F.vb2));
    uint64_t offset;
    SETUP_OK(gpumem_vblock_alloc(F.vb, 100, 0, &F.allocation, &offset));
    SETUP_OK(gpumem_vblock_alloc(F.vb, 100, 0, &F.allocation_freed, &offset));
    SETUP_OK(gpumem_vblock_free(F.vb, F.allocation_freed));
    /* vb2's third allocation: a record index that is not live in vb */
    gpumem_vblock_allocation a;
    for (int i = 0; i < 3; i++)
        SETUP_OK(gpumem_vblock_alloc(F.vb2, 10, 0, &a, &offset));
    F.allocation_of_vb2 = a;

    /* Destroyed directly. */
    F.dead_buf = make_buffer(F.pool, 64);
    SETUP_OK(gpumem_buffer_destroy(F.dead_buf));
    F.dead_buf_reused = make_buffer(F.pool, 64);
    SETUP_OK(gpumem_buffer_destroy(F.dead_buf_reused));
    SETUP_OK(gpumem_vblock_create(100, &F.reused_slot_vb)); /* likely takes the freed slot */
    F.dead_pool = make_pool(F.dev, 1 << 20, 0);
    F.dead_buf_of_pool = make_buffer(F.dead_pool, 64);
    SETUP_OK(gpumem_pool_destroy(F.dead_pool));
    SETUP_OK(gpumem_stream_create(F.dev, &F.dead_stream));
    SETUP_OK(gpumem_stream_destroy(F.dead_stream));
    SETUP_OK(gpumem_vblock_create(100, &F.dead_vb));
    SETUP_OK(gpumem_vblock_destroy(F.dead_vb));

    /* Destroyed through their closed device. */
    SETUP_OK(gpumem_device_open(NULL, &F.dead_dev));
    F.dead_pool_of_dev = make_pool(F.dead_dev, 1 << 20, 0);
    F.dead_buf_of_dev = make_buffer(F.dead_pool_of_dev, 64);
    SETUP_OK(gpumem_stream_create(F.dead_dev, &F.dead_stream_of_dev));
    SETUP_OK(gpumem_device_default_stream(F.dead_dev, &F.dead_default_stream));
    SETUP_OK(gpumem_device_close(F.dead_dev));
}

static void teardown(void)
{
    gpumem_log_set_callback(NULL, NULL);
    if (F.vb)
        gpumem_vblock_destroy(F.vb);
    if (F.vb2)
        gpumem_vblock_destroy(F.vb2);
    if (F.reused_slot_vb)
        gpumem_vblock_destroy(F.reused_slot_vb);
    if (F.dev)
        gpumem_device_close(F.dev);
    if (F.dev2)
        gpumem_device_close(F.dev2);
}

/* --- bad handles of each kind --- */

typedef struct variant {
    const char *name;
    gpumem_result expected;
} variant;

/* A live handle with a generation it never had: not a handle at all. */
static uint64_t future(const void *live)
{
    uint64_t h = (uint64_t)(uintptr_t)live;
    return h + (7ull << 32);
}

#define HANDLE(type, x) ((type)(uintptr_t)(x))

static const variant device_variants[] = {
    {"NULL device", GPUMEM_ERROR_INVALID_HANDLE},
    {"garbage device", GPUMEM_ERROR_INVALID_HANDLE},
    {"device with a future generation", GPUMEM_ERROR_INVALID_HANDLE},
    {"pool passed as device", GPUMEM_ERROR_INVALID_HANDLE},
    {"stream passed as device", GPUMEM_ERROR_INVALID_HANDLE},
    {"closed device", GPUMEM_ERROR_DESTROYED},
};

static gpumem_device bad_device(int v)
{
    switch (v) {
    case 0: return NULL;
    case 1: return HANDLE(gpumem_device, GARBAGE);
    case 2: return HANDLE(gpumem_device, future(F.dev));
    case 3: return HANDLE(gpumem_device, F.pool);
    case 4: return HANDLE(gpumem_device, F.stream);
    default: return F.dead_dev;
    }
}

static const variant pool_variants[] = {
    {"NULL pool", GPUMEM_ERROR_INVALID_HANDLE},
    {"garbage pool", GPUMEM_ERROR_INVALID_HANDLE},
    {"all-ones pool", GPUMEM_ERROR_INVALID_HANDLE},
    {"pool with a future generation", GPUMEM_ERROR_INVALID_HANDLE},
    {"buffer passed as pool", GPUMEM_ERROR_INVALID_HANDLE},
    {"device passed as pool", GPUMEM_ERROR_INVALID_HANDLE},
    {"destroyed pool", GPUMEM_ERROR_DESTROYED},
    {"pool of a closed device", GPUMEM_ERROR_DESTROYED},
};

static gpumem_pool bad_pool(int v)
{
    switch (v) {
    case 0: return NULL;
    case 1: return HANDLE(gpumem_pool, GARBAGE);
    case 2: return HANDLE(gpumem_pool, UINT64_MAX);
    case 3: return HANDLE(gpumem_pool, future(F.pool));
    case 4: return HANDLE(gpumem_pool, F.buf);
    case 5: return HANDLE(gpumem_pool, F.dev);
    case 6: return F.dead_pool;
    default: return F.dead_pool_of_dev;
    }
}

static const variant buffer_variants[] = {
    {"NULL buffer", GPUMEM_ERROR_INVALID_HANDLE},
    {"garbage buffer", GPUMEM_ERROR_INVALID_HANDLE},
    {"buffer with a zero index", GPUMEM_ERROR_INVALID_HANDLE},
    {"buffer with a future generation", GPUMEM_ERROR_INVALID_HANDLE},
    {"pool passed as buffer", GPUMEM_ERROR_INVALID_HANDLE},
    {"stream passed as buffer", GPUMEM_ERROR_INVALID_HANDLE},
    {"vblock passed as buffer", GPUMEM_ERROR_INVALID_HANDLE},
    {"destroyed buffer", GPUMEM_ERROR_DESTROYED},
    {"destroyed buffer whose slot was reused", GPUMEM_ERROR_DESTROYED},
    {"buffer of a destroyed pool", GPUMEM_ERROR_DESTROYED},
    {"buffer of a closed device", GPUMEM_ERROR_DESTROYED},
};

static gpumem_buffer bad_buffer(int v)
{
    switch (v) {
    case 0: return NULL;
    case 1: return HANDLE(gpumem_buffer, GARBAGE);
    case 2: return HANDLE(gpumem_buffer, 0xdeadbeef00000000ull);
    case 3: return HANDLE(gpumem_buffer, future(F.buf));
    case 4: return HANDLE(gpumem_buffer, F.pool);
    case 5: return HANDLE(gpumem_buffer, F.stream);
    case 6: return HANDLE(gpumem_buffer, F.vb);
    case 7: return F.dead_buf;
    case 8: return F.dead_buf_reused;
    case 9: return F.dead_buf_of_pool;
    default: return F.dead_buf_of_dev;
    }
}

static const variant stream_variants[] = {
    {"NULL stream", GPUMEM_ERROR_INVALID_HANDLE},
    {"garbage stream", GPUMEM_ERROR_INVALID_HANDLE},
    {"stream with a future generation", GPUMEM_ERROR_INVALID_HANDLE},
    {"device passed as stream", GPUMEM_ERROR_INVALID_HANDLE},
    {"buffer passed as stream", GPUMEM_ERROR_INVALID_HANDLE},
    {"destroyed stream", GPUMEM_ERROR_DESTROYED},
    {"stream of a closed device", GPUMEM_ERROR_DESTROYED},
    {"default stream of a closed device", GPUMEM_ERROR_DESTROYED},
};

static gpumem_stream bad_stream(int v)
{
    switch (v) {
    case 0: return NULL;
    case 1: return HANDLE(gpumem_stream, GARBAGE);
    case 2: return HANDLE(gpumem_stream, future(F.stream));
    case 3: return HANDLE(gpumem_stream, F.dev);
    case 4: return HANDLE(gpumem_stream, F.buf);
    case 5: return F.dead_stream;
    case 6: return F.dead_stream_of_dev;
    default: return F.dead_default_stream;
    }
}

static const variant vblock_variants[] = {
    {"NULL vblock", GPUMEM_ERROR_INVALID_HANDLE},
    {"garbage vblock", GPUMEM_ERROR_INVALID_HANDLE},
    {"vblock with a future generation", GPUMEM_ERROR_INVALID_HANDLE},
    {"pool passed as vblock", GPUMEM_ERROR_INVALID_HANDLE},
    {"destroyed vblock", GPUMEM_ERROR_DESTROYED},
};

static gpumem_vblock bad_vblock(int v)
{
    switch (v) {
    case 0: return NULL;
    case 1: return HANDLE(gpumem_vblock, GARBAGE);
    case 2: return HANDLE(gpumem_vblock, future(F.vb));
    case 3: return HANDLE(gpumem_vblock, F.pool);
    default: return F.dead_vb;
    }
}

/* --- calls that take a handle: each is tried with every bad handle of its kind --- */

typedef gpumem_result (*handle_call)(int variant);

/* device */
static gpumem_result d_close(int v) { return gpumem_device_close(bad_device(v)); }
static gpumem_result d_native(int v)
{
    gpumem_external_device n;
    return gpumem_device_native(bad_device(v), &n);
}
static gpumem_result d_properties(int v)
{
    gpumem_device_properties p;
    return gpumem_device_properties_get(bad_device(v), &p);
}
static gpumem_result d_dump(int v)
{
    uint64_t length;
    return gpumem_device_dump_json(bad_device(v), NULL, 0, &length);
}
static gpumem_result d_pool_create(int v)
{
    gpumem_pool p;
    return gpumem_pool_create(bad_device(v), &(gpumem_pool_desc){0}, &p);
}
static gpumem_result d_stream_create(int v)
{
    gpumem_stream s;
    return gpumem_stream_create(bad_device(v), &s);
}
static gpumem_result d_default_stream(int v)
{
    gpumem_stream s;
    return gpumem_device_default_stream(bad_device(v), &s);
}

/* pool */
static gpumem_result p_destroy(int v) { return gpumem_pool_destroy(bad_pool(v)); }
static gpumem_result p_trim(int v) { return gpumem_pool_trim(bad_pool(v)); }
static gpumem_result p_check(int v) { return gpumem_pool_check(bad_pool(v)); }
static gpumem_result p_stats(int v)
{
    gpumem_pool_stats s;
    return gpumem_pool_stats_get(bad_pool(v), &s);
}
static gpumem_result p_buffer_create(int v)
{
    gpumem_buffer b;
    return gpumem_buffer_create(bad_pool(v), &(gpumem_buffer_desc){.size = 64}, &b);
}
static gpumem_result p_buffer_import(int v)
{
    gpumem_buffer b;
    gpumem_import_desc desc = {.address = (uint64_t)(uintptr_t)host, .size = 64};
    return gpumem_buffer_import(bad_pool(v), &desc, &b);
}

/* buffer */
static gpumem_result b_destroy(int v) { return gpumem_buffer_destroy(bad_buffer(v)); }
static gpumem_result b_info(int v)
{
    gpumem_buffer_info i;
    return gpumem_buffer_info_get(bad_buffer(v), &i);
}
static gpumem_result b_native(int v)
{
    gpumem_native_buffer n;
    return gpumem_buffer_native(bad_buffer(v), &n);
}
static gpumem_result b_map(int v)
{
    void *p;
    return gpumem_buffer_map(bad_buffer(v), &p);
}
static gpumem_result b_unmap(int v) { return gpumem_buffer_unmap(bad_buffer(v)); }
static gpumem_result b_flush(int v) { return gpumem_buffer_flush(bad_buffer(v), 0, 16); }
static gpumem_result b_invalidate(int v) { return gpumem_buffer_invalidate(bad_buffer(v), 0, 16); }
static gpumem_result b_write(int v) { return gpumem_buffer_write(bad_buffer(v), 0, host, 16); }
static gpumem_result b_read(int v) { return gpumem_buffer_read(bad_buffer(v), 0, host, 16); }
static gpumem_result b_fill(int v) { return gpumem_buffer_fill(bad_buffer(v), 0, 16, 1); }
static gpumem_result b_copy_source(int v)
{
    return gpumem_buffer_copy(bad_buffer(v), 0, F.buf, 0, 16);
}
static gpumem_result b_copy_destination(int v)
{
    return gpumem_buffer_copy(F.buf, 0, bad_buffer(v), 0, 16);
}
static gpumem_result b_stream_write(int v)
{
    return gpumem_stream_write(F.stream, bad_buffer(v), 0, host, 16);
}
static gpumem_result b_stream_read(int v)
{
    return gpumem_stream_read(F.stream, bad_buffer(v), 0, host, 16);
}
static gpumem_result b_stream_fill(int v)
{
    return gpumem_stream_fill(F.stream, bad_buffer(v), 0, 16, 1);
}
static gpumem_result b_stream_copy_source(int v)
{
    return gpumem_stream_copy(F.stream, bad_buffer(v), 0, F.buf, 0, 16);
}
static gpumem_result b_stream_copy_destination(int v)
{
    return gpumem_stream_copy(F.stream, F.buf, 0, bad_buffer(v), 0, 16);
}

/* stream */
static gpumem_result s_destroy(int v) { return gpumem_stream_destroy(bad_stream(v)); }
static gpumem_result s_synchronize(int v) { return gpumem_stream_synchronize(bad_stream(v)); }
static gpumem_result s_native(int v)
{
    uint64_t n;
    return gpumem_stream_native(bad_stream(v), &n);
}
static gpumem_result s_write(int v) { return gpumem_stream_write(bad_stream(v), F.buf, 0, host, 16); }
static gpumem_result s_read(int v) { return gpumem_stream_read(bad_stream(v), F.buf, 0, host, 16); }
static gpumem_result s_fill(int v) { return gpumem_stream_fill(bad_stream(v), F.buf, 0, 16, 1); }
static gpumem_result s_copy(int v)
{
    return gpumem_stream_copy(bad_stream(v), F.buf, 0, F.buf2, 0, 16);
}

/* vblock */
static gpumem_result v_destroy(int v) { return gpumem_vblock_destroy(bad_vblock(v)); }
static gpumem_result v_alloc(int v)
{
    gpumem_vblock_allocation a;
    uint64_t o;
    return gpumem_vblock_alloc(bad_vblock(v), 16, 0, &a, &o);
}
static gpumem_result v_free(int v) { return gpumem_vblock_free(bad_vblock(v), F.allocation); }
static gpumem_result v_clear(int v) { return gpumem_vblock_clear(bad_vblock(v)); }
static gpumem_result v_stats(int v)
{
    gpumem_vblock_stats s;
    return gpumem_vblock_stats_get(bad_vblock(v), &s);
}

typedef struct handle_function {
    const char *name;
    handle_call call;
} handle_function;

#define FN(f, name) {name, f}

static const handle_function device_functions[] = {
    FN(d_close, "gpumem_device_close"),
    FN(d_native, "gpumem_device_native"),
    FN(d_properties, "gpumem_device_properties_get"),
    FN(d_dump, "gpumem_device_dump_json"),
    FN(d_pool_create, "gpumem_pool_create"),
    FN(d_stream_create, "gpumem_stream_create"),
    FN(d_default_stream, "gpumem_device_default_stream"),
};
static const handle_function pool_functions[] = {
    FN(p_destroy, "gpumem_pool_destroy"),
    FN(p_trim, "gpumem_pool_trim"),
    FN(p_check, "gpumem_pool_check"),
    FN(p_stats, "gpumem_pool_stats_get"),
    FN(p_buffer_create, "gpumem_buffer_create"),
    FN(p_buffer_import, "gpumem_buffer_import"),
};
static const handle_function buffer_functions[] = {
    FN(b_destroy, "gpumem_buffer_destroy"),
    FN(b_info, "gpumem_buffer_info_get"),
    FN(b_native, "gpumem_buffer_native"),
    FN(b_map, "gpumem_buffer_map"),
    FN(b_unmap, "gpumem_buffer_unmap"),
    FN(b_flush, "gpumem_buffer_flush"),
    FN(b_invalidate, "gpumem_buffer_invalidate"),
    FN(b_write, "gpumem_buffer_write"),
    FN(b_read, "gpumem_buffer_read"),
    FN(b_fill, "gpumem_buffer_fill"),
    FN(b_copy_source, "gpumem_buffer_copy (source)"),
    FN(b_copy_destination, "gpumem_buffer_copy (destination)"),
    FN(b_stream_write, "gpumem_stream_write (buffer)"),
    FN(b_stream_read, "gpumem_stream_read (buffer)"),
    FN(b_stream_fill, "gpumem_stream_fill (buffer)"),
    FN(b_stream_copy_source, "gpumem_stream_copy (source)"),
    FN(b_stream_copy_destination, "gpumem_stream_copy (destination)"),
};
static const handle_function stream_functions[] = {
    FN(s_destroy, "gpumem_stream_destroy"),
    FN(s_synchronize, "gpumem_stream_synchronize"),
    FN(s_native, "gpumem_stream_native"),
    FN(s_write, "gpumem_stream_write (stream)"),
    FN(s_read, "gpumem_stream_read (stream)"),
    FN(s_fill, "gpumem_stream_fill (stream)"),
    FN(s_copy, "gpumem_stream_copy (stream)"),
};
static const handle_function vblock_functions[] = {
    FN(v_destroy, "gpumem_vblock_destroy"),
    FN(v_alloc, "gpumem_vblock_alloc"),
    FN(v_free, "gpumem_vblock_free"),
    FN(v_clear, "gpumem_vblock_clear"),
    FN(v_stats, "gpumem_vblock_stats_get"),
};

/* --- argument rows --- */

typedef gpumem_result (*plain_call)(void);

/* A small backend table for registration rows: every required operation present. */
static gpumem_result stub_probe(uint32_t *count, char *reason, size_t size)
{
    snprintf(reason, size, "the badinput stub backend has no device");
    *count = 0;
    return GPUMEM_ERROR_UNAVAILABLE;
}
static gpumem_result stub_open(uint32_t i, const gpumem_external_device *e,
                               gpumem_backend_device **d)
{
    return gpumem_backend_error(GPUMEM_ERROR_UNAVAILABLE, "stub");
}
static void stub_close(gpumem_backend_device *d) {}
static gpumem_result stub_properties(gpumem_backend_device *d, gpumem_device_properties *p)
{
    return GPUMEM_ERROR_UNSUPPORTED;
}
static gpumem_result stub_page_allocate(gpumem_backend_device *d, uint32_t t, uint64_t s,
                                        gpumem_backend_page **p)
{
    return GPUMEM_ERROR_UNSUPPORTED;
}
static void stub_page_free(gpumem_backend_device *d, gpumem_backend_page *p) {}
static gpumem_result stub_page_map(gpumem_backend_device *d, gpumem_backend_page *p, void **m)
{
    return GPUMEM_ERROR_UNSUPPORTED;
}
static void stub_page_unmap(gpumem_backend_device *d, gpumem_backend_page *p) {}
static gpumem_result stub_page_range(gpumem_backend_device *d, gpumem_backend_page *p,
                                     uint64_t o, uint64_t s)
{
    return GPUMEM_ERROR_UNSUPPORTED;
}
static gpumem_result stub_native_buffer(gpumem_backend_device *d, gpumem_backend_page *p,
                                        uint64_t o, uint64_t s, gpumem_backend_buffer **b,
                                        gpumem_native_buffer *n)
{
    return GPUMEM_ERROR_UNSUPPORTED;
}
static gpumem_result stub_stream_create(gpumem_backend_device *d, gpumem_backend_stream **s)
{
    return GPUMEM_ERROR_UNSUPPORTED;
}
static void stub_stream_destroy(gpumem_backend_device *d, gpumem_backend_stream *s) {}
static gpumem_result stub_stream_synchronize(gpumem_backend_device *d, gpumem_backend_stream *s)
{
    return GPUMEM_ERROR_UNSUPPORTED;
}
static gpumem_result stub_stream_native(gpumem_backend_device *d, gpumem_backend_stream *s,
                                        uint64_t *n)
{
    return GPUMEM_ERROR_UNSUPPORTED;
}
static gpumem_result stub_event_create(gpumem_backend_device *d, gpumem_backend_event **e)
{
    return GPUMEM_ERROR_UNSUPPORTED;
}
static void stub_event_destroy(gpumem_backend_device *d, gpumem_backend_event *e) {}
static gpumem_result stub_event_record(gpumem_backend_device *d, gpumem_backend_stream *s,
                                       gpumem_backend_event *e)
{
    return GPUMEM_ERROR_UNSUPPORTED;
}
static gpumem_result stub_event_synchronize(gpumem_backend_device *d, gpumem_backend_event *e)
{
    return GPUMEM_ERROR_UNSUPPORTED;
}
static gpumem_result stub_copy(gpumem_backend_device *d, gpumem_backend_stream *s,
                               gpumem_backend_page *a, uint64_t ao, gpumem_backend_page *b,
                               uint64_t bo, uint64_t n)
{
    return GPUMEM_ERROR_UNSUPPORTED;
}

static gpumem_backend_vtable stub_table(const char *name)
{
    return (gpumem_backend_vtable){
        .version = GPUMEM_BACKEND_VERSION,
        .name = name,
        .probe = stub_probe,
        .device_open = stub_open,
        .device_close = stub_close,
        .device_properties = stub_properties,
        .page_allocate = stub_page_allocate,
        .page_free = stub_page_free,
        .page_map = stub_page_map,
        .page_unmap = stub_page_unmap,
        .page_flush = stub_page_range,
        .page_invalidate = stub_page_range,
        .native_buffer = stub_native_buffer,
        .stream_create = stub_stream_create,
        .stream_destroy = stub_stream_destroy,
        .stream_synchronize = stub_stream_synchronize,
        .stream_native = stub_stream_native,
        .event_create = stub_event_create,
        .event_destroy = stub_event_destroy,
        .event_record = stub_event_record,
        .event_synchronize = stub_event_synchronize,
        .copy_page_to_page = stub_copy,
    };
}

/* Registered tables must outlive the process's registry. */
static gpumem_backend_vtable registered;

static gpumem_result register_named(const char *name, void (*modify)(gpumem_backend_vtable *))
{
    registered = stub_table(name);
    modify(&registered);
    return gpumem_backend_register(&registered);
}

/* Rows share a process: each registration that may succeed has a name of its own. */
static gpumem_result register_modified(void (*modify)(gpumem_backend_vtable *))
{
    return register_named("badinput-refused", modify);
}

static void m_version_zero(gpumem_backend_vtable *t) { t->version = 0; }
static void m_version_next(gpumem_backend_vtable *t) { t->version = GPUMEM_BACKEND_VERSION + 1; }
static void m_version_max(gpumem_backend_vtable *t) { t->version = UINT32_MAX; }
/* Version 1 said its table's size in the word after the version: any other size is unknown. */
static void m_version_one_bad_size(gpumem_backend_vtable *t)
{
    t->version = 1;
    t->reserved0 = 8;
}
/* Groups: all of their operations or none. */
static void m_stream_alone(gpumem_backend_vtable *t) { t->stream_synchronize = NULL; }
static void m_event_alone(gpumem_backend_vtable *t) { t->event_record = NULL; }
static void m_events_without_streams(gpumem_backend_vtable *t)
{
    t->stream_create = NULL;
    t->stream_destroy = NULL;
    t->stream_synchronize = NULL;
    t->stream_native = NULL;
}
static gpumem_result stub_native_pool_create(gpumem_backend_device *d, uint32_t type,
                                             uint64_t threshold, gpumem_backend_pool **pool)
{
    return GPUMEM_ERROR_UNSUPPORTED;
}
static void m_native_pool_alone(gpumem_backend_vtable *t)
{
    t->native_pool_create = stub_native_pool_create;
}
/* Version 6: the image group, its optional operations without it, the host-registration pair. */
static gpumem_result stub_image_create(gpumem_backend_device *d, uint32_t type,
                                       const gpumem_image_desc *desc, gpumem_backend_image **image,
                                       gpumem_backend_image_requirements *requirements)
{
    return GPUMEM_ERROR_UNSUPPORTED;
}
static void m_image_alone(gpumem_backend_vtable *t) { t->image_create = stub_image_create; }
static gpumem_result stub_page_for_image(gpumem_backend_device *d, uint32_t type, uint64_t size,
                                         gpumem_backend_image *image, gpumem_backend_page **page)
{
    return GPUMEM_ERROR_UNSUPPORTED;
}
static void m_page_for_image_alone(gpumem_backend_vtable *t)
{
    t->page_allocate_for_image = stub_page_for_image;
}
static gpumem_result stub_host_register(gpumem_backend_device *d, void *memory, uint64_t size,
                                        gpumem_backend_registration **registration)
{
    return GPUMEM_ERROR_UNSUPPORTED;
}
static void m_host_register_alone(gpumem_backend_vtable *t)
{
    t->host_register = stub_host_register;
}
/* Version 7: queue_registered_host_to_page needs streams and host registration. */
static void stub_host_unregister(gpumem_backend_device *d,
                                 gpumem_backend_registration *registration)
{
}
static gpumem_result stub_queue(gpumem_backend_device *d, gpumem_backend_stream *s,
                                const void *source, gpumem_backend_page *page, uint64_t offset,
                                uint64_t size)
{
    return GPUMEM_ERROR_UNSUPPORTED;
}
static void m_queue_without_registration(gpumem_backend_vtable *t)
{
    t->queue_registered_host_to_page = stub_queue;
}
static void m_queue_without_streams(gpumem_backend_vtable *t)
{
    m_events_without_streams(t);
    t->event_create = NULL;
    t->event_destroy = NULL;
    t->event_record = NULL;
    t->event_synchronize = NULL;
    t->host_register = stub_host_register;
    t->host_unregister = stub_host_unregister;
    t->queue_registered_host_to_page = stub_queue;
}
static void m_read_only_without_registration(gpumem_backend_vtable *t)
{
    t->host_register_read_only = stub_host_register;
}
static void m_name_null(gpumem_backend_vtable *t) { t->name = NULL; }
static void m_name_empty(gpumem_backend_vtable *t) { t->name = ""; }
static void m_name_upper(gpumem_backend_vtable *t) { t->name = "Bad Name"; }
static void m_name_slash(gpumem_backend_vtable *t) { t->name = "../evil"; }
static void m_name_long(gpumem_backend_vtable *t)
{
    t->name = "a123456789b123456789c123456789d123456789e123456789f123456789g123"; /* 64 */
}
static void m_name_host(gpumem_backend_vtable *t) { t->name = "host"; }

/* Required operations, each removed in turn. */
#define REQUIRED_OPS(X)                                                                        \
    X(probe) X(device_open) X(device_close) X(device_properties) X(page_allocate) X(page_free) \
    X(copy_page_to_page)

#define REMOVE_OP(op)                                                  \
    static void m_no_##op(gpumem_backend_vtable *t) { t->op = NULL; } \
    static gpumem_result r_no_##op(void) { return register_modified(m_no_##op); }
REQUIRED_OPS(REMOVE_OP)

#define R(name, modify) \
    static gpumem_result name(void) { return register_modified(modify); }
R(r_version_zero, m_version_zero)
R(r_version_next, m_version_next)
R(r_version_max, m_version_max)
R(r_version_one_bad_size, m_version_one_bad_size)
R(r_stream_alone, m_stream_alone)
R(r_event_alone, m_event_alone)
R(r_events_without_streams, m_events_without_streams)
R(r_native_pool_alone, m_native_pool_alone)
R(r_image_alone, m_image_alone)
R(r_page_for_image_alone, m_page_for_image_alone)
R(r_host_register_alone, m_host_register_alone)
R(r_queue_without_registration, m_queue_without_registration)
R(r_queue_without_streams, m_queue_without_streams)
R(r_read_only_without_registration, m_read_only_without_registration)
R(r_name_null, m_name_null)
R(r_name_empty, m_name_empty)
R(r_name_upper, m_name_upper)
R(r_name_slash, m_name_slash)
R(r_name_long, m_name_long)
R(r_name_host, m_name_host)

static gpumem_result r_null(void) { return gpumem_backend_register(NULL); }

static void m_nothing(gpumem_backend_vtable *t) {}
static gpumem_result r_twice(void)
{
    static gpumem_backend_vtable first, second;
    first = stub_table("badinput-twice");
    second = first;
    gpumem_result r = gpumem_backend_register(&first);
    if (r != GPUMEM_OK)
        return GPUMEM_OK; /* the row then fails: the first registration was refused */
    return gpumem_backend_register(&second);
}

static gpumem_result open_unavailable(void)
{
    gpumem_result r = register_named("badinput-open", m_nothing);
    if (r != GPUMEM_OK)
        return GPUMEM_OK;
    gpumem_device d;
    return gpumem_device_open(&(gpumem_device_desc){.backend = "badinput-open"}, &d);
}
static gpumem_result count_unavailable(void)
{
    gpumem_result r = register_named("badinput-count", m_nothing);
    if (r != GPUMEM_OK)
        return GPUMEM_OK;
    uint32_t count;
    return gpumem_device_count("badinput-count", &count);
}

static gpumem_result backend_error_backend(void)
{
    return gpumem_backend_error(GPUMEM_ERROR_BACKEND, "native call %s failed", "x");
}
static gpumem_result backend_error_unknown(void)
{
    return gpumem_backend_error(-12345, "%d", 1);
}
static gpumem_result backend_error_ok(void) { return gpumem_backend_error(GPUMEM_OK, "fine"); }

/* Each first fails a call, so that "succeeds quietly" means the message was cleared. */
static void fail_once(void)
{
    gpumem_buffer_destroy(F.dead_buf);
}
static void ignore_log(void *user, int32_t level, const char *message) {}
static gpumem_result log_set(void)
{
    fail_once();
    return gpumem_log_set_callback(ignore_log, NULL);
}
static gpumem_result log_reset(void)
{
    fail_once();
    return gpumem_log_set_callback(NULL, NULL);
}
static gpumem_result log_user(void)
{
    fail_once();
    return gpumem_log_set_callback(ignore_log, (void *)host);
}

/* discovery */
static gpumem_result backend_count_null(void) { return gpumem_backend_count(NULL); }
static gpumem_result backend_info_null(void) { return gpumem_backend_info_get(0, NULL); }
static gpumem_result backend_info_past_end(void)
{
    uint32_t count = 0;
    gpumem_backend_info info;
    if (gpumem_backend_count(&count) != GPUMEM_OK)
        return GPUMEM_OK;
    return gpumem_backend_info_get(count, &info);
}
static gpumem_result backend_info_max(void)
{
    gpumem_backend_info info;
    return gpumem_backend_info_get(UINT32_MAX, &info);
}
static gpumem_result backend_find_null_name(void)
{
    gpumem_backend_info info;
    return gpumem_backend_find(NULL, &info);
}
static gpumem_result backend_find_null_info(void) { return gpumem_backend_find("host", NULL); }
static gpumem_result backend_find_unknown(void)
{
    gpumem_backend_info info;
    return gpumem_backend_find("no-such-backend", &info);
}
static gpumem_result backend_find_empty(void)
{
    gpumem_backend_info info;
    return gpumem_backend_find("", &info);
}
static gpumem_result backend_find_case(void)
{
    gpumem_backend_info info;
    return gpumem_backend_find("HOST", &info);
}
static gpumem_result backend_find_long(void)
{
    char name[1000];
    memset(name, 'h', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    gpumem_backend_info info;
    return gpumem_backend_find(name, &info);
}
static gpumem_result device_count_null(void) { return gpumem_device_count(NULL, NULL); }
static gpumem_result device_count_null_named(void) { return gpumem_device_count("host", NULL); }
static gpumem_result device_count_unknown(void)
{
    uint32_t c;
    return gpumem_device_count("no-such-backend", &c);
}

/* device_open */
static gpumem_result open_desc(gpumem_device_desc desc)
{
    gpumem_device d = NULL;
    gpumem_result r = gpumem_device_open(&desc, &d);
    if (r == GPUMEM_OK)
        gpumem_device_close(d); /* wrong, and reported, but not leaked */
    return r;
}
static gpumem_result open_null_out(void) { return gpumem_device_open(NULL, NULL); }
static gpumem_result open_desc_null_out(void)
{
    return gpumem_device_open(&(gpumem_device_desc){.backend = "host"}, NULL);
}
static gpumem_result open_unknown_flag(void)
{
    return open_desc((gpumem_device_desc){.flags = 1u << 2}); /* the first bit after the known */
}
static gpumem_result open_high_flag(void)
{
    return open_desc((gpumem_device_desc){.flags = GPUMEM_DEVICE_OPEN_INDEX | 0x80000000u});
}
static gpumem_result open_unknown_backend(void)
{
    return open_desc((gpumem_device_desc){.backend = "no-such-backend"});
}
static gpumem_result open_empty_backend(void)
{
    return open_desc((gpumem_device_desc){.backend = ""});
}
static gpumem_result open_index_one(void)
{
    return open_desc((gpumem_device_desc){.backend = "host", .flags = GPUMEM_DEVICE_OPEN_INDEX,
                                          .device_index = 1});
}
static gpumem_result open_index_max(void)
{
    return open_desc((gpumem_device_desc){.flags = GPUMEM_DEVICE_OPEN_INDEX,
                                          .device_index = UINT32_MAX});
}

/* device outputs */
static gpumem_result properties_null(void) { return gpumem_device_properties_get(F.dev, NULL); }
static gpumem_result native_null(void) { return gpumem_device_native(F.dev, NULL); }
static gpumem_result default_stream_null(void) { return gpumem_device_default_stream(F.dev, NULL); }
static gpumem_result stream_create_null(void) { return gpumem_stream_create(F.dev, NULL); }
static gpumem_result dump_null_length(void) { return gpumem_device_dump_json(F.dev, NULL, 0, NULL); }
static gpumem_result dump_null_buffer_with_capacity(void)
{
    uint64_t length;
    return gpumem_device_dump_json(F.dev, NULL, 100, &length);
}
static gpumem_result dump_zero_capacity(void)
{
    char text[4];
    uint64_t length;
    return gpumem_device_dump_json(F.dev, text, 0, &length);
}
static gpumem_result dump_one_byte(void)
{
    char text[1];
    uint64_t length;
    return gpumem_device_dump_json(F.dev, text, 1, &length);
}
static gpumem_result dump_exact_length(void)
{
    uint64_t length = 0;
    if (gpumem_device_dump_json(F.dev, NULL, 0, &length) != GPUMEM_OK)
        return GPUMEM_OK;
    char text[1 << 16];
    if (length >= sizeof text)
        return GPUMEM_OK;
    return gpumem_device_dump_json(F.dev, text, length, &length); /* no room for the NUL */
}

/* memory_type_find */
static gpumem_result find(const gpumem_device_properties *p, uint32_t required,
                          uint32_t preferred, uint32_t flags, uint64_t heap)
{
    uint32_t type;
    return gpumem_memory_type_find(p, required, preferred, flags, heap, &type);
}
static gpumem_result find_null_properties(void) { return find(NULL, 0, 0, 0, 0); }
static gpumem_result find_null_out(void)
{
    return gpumem_memory_type_find(&F.props, 0, 0, 0, 0, NULL);
}
static gpumem_result find_unknown_required(void) { return find(&F.props, 1u << 4, 0, 0, 0); }
static gpumem_result find_all_required(void) { return find(&F.props, UINT32_MAX, 0, 0, 0); }
static gpumem_result find_unknown_preferred(void) { return find(&F.props, 0, 1u << 31, 0, 0); }
static gpumem_result find_unknown_flags(void) { return find(&F.props, 0, 0, 1u << 1, 0); }
static gpumem_result find_high_flags(void)
{
    return find(&F.props, 0, 0, GPUMEM_MEMORY_TYPE_EXACT | 0x80000000u, 0);
}
static gpumem_result find_too_many_types(void)
{
    gpumem_device_properties p = F.props;
    p.memory_type_count = GPUMEM_MAX_MEMORY_TYPES + 1;
    return find(&p, 0, 0, 0, 0);
}
static gpumem_result find_too_many_heaps(void)
{
    gpumem_device_properties p = F.props;
    p.memory_heap_count = GPUMEM_MAX_MEMORY_HEAPS + 1;
    return find(&p, 0, 0, 0, 0);
}
static gpumem_result find_huge_type_count(void)
{
    gpumem_device_properties p = F.props;
    p.memory_type_count = UINT32_MAX;
    return find(&p, 0, 0, 0, 0);
}
static gpumem_result find_no_types(void)
{
    gpumem_device_properties p = F.props;
    p.memory_type_count = 0;
    return find(&p, 0, 0, 0, 0);
}
static gpumem_result find_exact_no_match(void)
{
    return find(&F.props, GPUMEM_MEMORY_DEVICE_LOCAL, 0, GPUMEM_MEMORY_TYPE_EXACT, 0);
}
static gpumem_result find_heap_too_small(void) { return find(&F.props, 0, 0, 0, UINT64_MAX); }

/* pool_create */
static gpumem_result pool_with(gpumem_pool_desc desc)
{
    gpumem_pool p = NULL;
    gpumem_result r = gpumem_pool_create(F.dev, &desc, &p);
    if (r == GPUMEM_OK)
        gpumem_pool_destroy(p);
    return r;
}
static gpumem_result pool_null_out(void)
{
    return gpumem_pool_create(F.dev, &(gpumem_pool_desc){0}, NULL);
}
static gpumem_result pool_null_desc_null_out(void) { return gpumem_pool_create(F.dev, NULL, NULL); }
static gpumem_result pool_kind_two(void) { return pool_with((gpumem_pool_desc){.kind = 2}); }
static gpumem_result pool_kind_max(void) { return pool_with((gpumem_pool_desc){.kind = UINT32_MAX}); }
static gpumem_result pool_flag_unknown(void)
{
    return pool_with((gpumem_pool_desc){.flags = 1u << 4});
}
static gpumem_result pool_native_guarded(void)
{
    return pool_with((gpumem_pool_desc){.kind = GPUMEM_POOL_NATIVE,
                                        .flags = GPUMEM_POOL_DETECT_CORRUPTION});
}
static gpumem_result pool_flag_high(void)
{
    return pool_with((gpumem_pool_desc){.flags = GPUMEM_POOL_PERSISTENT_MAP | 0x80000000u});
}
static gpumem_result pool_required_unknown(void)
{
    return pool_with((gpumem_pool_desc){.required_flags = 1u << 4});
}
static gpumem_result pool_preferred_unknown(void)
{
    return pool_with((gpumem_pool_desc){.preferred_flags = 1u << 31});
}
static gpumem_result pool_type_index_past_end(void)
{
    return pool_with((gpumem_pool_desc){.flags = GPUMEM_POOL_MEMORY_TYPE_INDEX,
                                        .memory_type_index = F.props.memory_type_count});
}
static gpumem_result pool_type_index_max(void)
{
    return pool_with((gpumem_pool_desc){.flags = GPUMEM_POOL_MEMORY_TYPE_INDEX,
                                        .memory_type_index = UINT32_MAX});
}
static gpumem_result pool_page_max(void)
{
    return pool_with((gpumem_pool_desc){.page_size = UINT64_MAX});
}
static gpumem_result pool_page_wraps(void)
{
    /* rounding up to min_alignment would wrap around 2^64 */
    return pool_with((gpumem_pool_desc){.page_size = UINT64_MAX - 2});
}
static gpumem_result pool_page_above_max_allocation(void)
{
    return pool_with((gpumem_pool_desc){.page_size = F.props.max_allocation_size + 1});
}
static gpumem_result pool_native_on_host(void)
{
    return pool_with((gpumem_pool_desc){.kind = GPUMEM_POOL_NATIVE});
}
static gpumem_result pool_exact_no_match(void)
{
    return pool_with((gpumem_pool_desc){.flags = GPUMEM_POOL_EXACT_MATCH,
                                        .required_flags = GPUMEM_MEMORY_DEVICE_LOCAL});
}

/* buffer_create */
static gpumem_result buffer_in(gpumem_pool pool, gpumem_buffer_desc desc)
{
    gpumem_buffer b = NULL;
    gpumem_result r = gpumem_buffer_create(pool, &desc, &b);
    if (r == GPUMEM_OK)
        gpumem_buffer_destroy(b);
    return r;
}
static gpumem_result buffer_with(gpumem_buffer_desc desc) { return buffer_in(F.pool, desc); }
static gpumem_result buffer_null_desc(void)
{
    gpumem_buffer b;
    return gpumem_buffer_create(F.pool, NULL, &b);
}
static gpumem_result buffer_null_out(void)
{
    return gpumem_buffer_create(F.pool, &(gpumem_buffer_desc){.size = 64}, NULL);
}
static gpumem_result buffer_size_zero(void) { return buffer_with((gpumem_buffer_desc){0}); }
static gpumem_result buffer_size_max(void)
{
    return buffer_with((gpumem_buffer_desc){.size = UINT64_MAX});
}
static gpumem_result buffer_size_wraps_with_alignment(void)
{
    return buffer_with((gpumem_buffer_desc){.size = UINT64_MAX - 100, .alignment = 4096});
}
static gpumem_result buffer_size_above_max_allocation(void)
{
    return buffer_with((gpumem_buffer_desc){.size = F.props.max_allocation_size + 1});
}
static gpumem_result buffer_dedicated_size_max(void)
{
    return buffer_with((gpumem_buffer_desc){.size = UINT64_MAX, .flags = GPUMEM_BUFFER_DEDICATED});
}
static gpumem_result buffer_alignment_three(void)
{
    return buffer_with((gpumem_buffer_desc){.size = 64, .alignment = 3});
}
static gpumem_result buffer_alignment_48(void)
{
    return buffer_with((gpumem_buffer_desc){.size = 64, .alignment = 48});
}
static gpumem_result buffer_alignment_max(void)
{
    return buffer_with((gpumem_buffer_desc){.size = 64, .alignment = UINT64_MAX});
}
static gpumem_result buffer_alignment_high_bits(void)
{
    return buffer_with((gpumem_buffer_desc){.size = 64, .alignment = (1ull << 63) | 1});
}
static gpumem_result buffer_flag_unknown(void)
{
    return buffer_with((gpumem_buffer_desc){.size = 64, .flags = 1u << 2});
}
static gpumem_result buffer_usage_unknown(void)
{
    return buffer_with((gpumem_buffer_desc){.size = 64, .usage = GPUMEM_BUFFER_USAGE_ALL + 1});
}
static gpumem_result buffer_flag_high(void)
{
    return buffer_with(
        (gpumem_buffer_desc){.size = 64, .flags = GPUMEM_BUFFER_DEDICATED | 0x80000000u});
}
static gpumem_result buffer_over_limit(void)
{
    return buffer_in(F.limited, (gpumem_buffer_desc){.size = 64});
}
static gpumem_result buffer_dedicated_over_limit(void)
{
    return buffer_in(F.limited, (gpumem_buffer_desc){.size = 8192, .flags = GPUMEM_BUFFER_DEDICATED});
}

/* buffer_import: the test's own host memory */
static gpumem_result import_with(gpumem_import_desc desc)
{
    gpumem_buffer b = NULL;
    gpumem_result r = gpumem_buffer_import(F.pool, &desc, &b);
    if (r == GPUMEM_OK)
        gpumem_buffer_destroy(b);
    return r;
}
static gpumem_import_desc host_desc(void)
{
    return (gpumem_import_desc){.address = (uint64_t)(uintptr_t)host, .size = BUFFER_SIZE};
}
static gpumem_result import_null_desc(void)
{
    gpumem_buffer b;
    return gpumem_buffer_import(F.pool, NULL, &b);
}
static gpumem_result import_null_out(void)
{
    gpumem_import_desc desc = host_desc();
    return gpumem_buffer_import(F.pool, &desc, NULL);
}
static gpumem_result import_size_zero(void)
{
    gpumem_import_desc desc = host_desc();
    desc.size = 0;
    return import_with(desc);
}
static gpumem_result import_size_above_max_allocation(void)
{
    gpumem_import_desc desc = host_desc();
    desc.size = F.props.max_allocation_size + 1;
    return import_with(desc);
}
static gpumem_result import_flag(void)
{
    gpumem_import_desc desc = host_desc();
    desc.flags = 1;
    return import_with(desc);
}
static gpumem_result import_reserved(void)
{
    gpumem_import_desc desc = host_desc();
    desc.reserved = 0x80000000u;
    return import_with(desc);
}
static gpumem_result import_address_zero(void)
{
    return import_with((gpumem_import_desc){.size = BUFFER_SIZE});
}
static gpumem_result import_memory_on_host(void)
{
    gpumem_import_desc desc = host_desc();
    desc.memory = desc.address;
    return import_with(desc);
}
static gpumem_result import_offset_one(void)
{
    gpumem_import_desc desc = host_desc();
    desc.offset = 1;
    return import_with(desc);
}
static gpumem_result import_address_wraps(void)
{
    gpumem_import_desc desc = host_desc();
    desc.address = UINT64_MAX - 100;
    return import_with(desc);
}
static gpumem_result import_offset_wraps(void)
{
    gpumem_import_desc desc = host_desc();
    desc.offset = UINT64_MAX - UINT64_MAX % F.props.min_alignment;
    return import_with(desc);
}
static gpumem_result import_the_pools_own_page(void)
{
    gpumem_native_buffer n;
    if (gpumem_buffer_native(F.buf, &n) != GPUMEM_OK)
        return GPUMEM_OK;
    return import_with((gpumem_import_desc){.address = n.address, .size = 64});
}

/* buffer outputs and mapping */
static gpumem_result info_null(void) { return gpumem_buffer_info_get(F.buf, NULL); }
static gpumem_result buffer_native_null(void) { return gpumem_buffer_native(F.buf, NULL); }
static gpumem_result map_null(void) { return gpumem_buffer_map(F.buf, NULL); }
static gpumem_result unmap_unmapped(void) { return gpumem_buffer_unmap(F.buf); }
static gpumem_result unmap_twice(void)
{
    void *p;
    if (gpumem_buffer_map(F.buf, &p) != GPUMEM_OK || gpumem_buffer_unmap(F.buf) != GPUMEM_OK)
        return GPUMEM_OK;
    return gpumem_buffer_unmap(F.buf);
}
static gpumem_result pool_stats_null(void) { return gpumem_pool_stats_get(F.pool, NULL); }

/* ranges, shared by flush, invalidate, write, read, copy and fill */
typedef struct bad_range {
    uint64_t offset, size;
} bad_range;

static const bad_range out_of_range[] = {
    {BUFFER_SIZE, 4},              /* starts at the end */
    {BUFFER_SIZE + 4, 4},          /* starts past the end */
    {0, BUFFER_SIZE + 4},          /* too long */
    {BUFFER_SIZE - 4, 8},          /* crosses the end */
    {UINT64_MAX - 3, 4},           /* offset near 2^64 */
    {4, UINT64_MAX - 3},           /* size near 2^64 */
    {1ull << 63, 1ull << 63},      /* offset + size == 2^64 wraps to 0 */
    {UINT64_MAX - 3, 8},           /* offset + size wraps to 4 */
};
#define OUT_OF_RANGE_COUNT (sizeof out_of_range / sizeof out_of_range[0])

static gpumem_result range_flush(int i)
{
    return gpumem_buffer_flush(F.buf, out_of_range[i].offset, out_of_range[i].size);
}
static gpumem_result range_invalidate(int i)
{
    return gpumem_buffer_invalidate(F.buf, out_of_range[i].offset, out_of_range[i].size);
}
static gpumem_result range_write(int i)
{
    return gpumem_buffer_write(F.buf, out_of_range[i].offset, host, out_of_range[i].size);
}
static gpumem_result range_read(int i)
{
    return gpumem_buffer_read(F.buf, out_of_range[i].offset, host, out_of_range[i].size);
}
static gpumem_result range_fill(int i)
{
    return gpumem_buffer_fill(F.buf, out_of_range[i].offset, out_of_range[i].size, 7);
}
static gpumem_result range_copy_source(int i)
{
    return gpumem_buffer_copy(F.buf, out_of_range[i].offset, F.buf2, 0, out_of_range[i].size);
}
static gpumem_result range_copy_destination(int i)
{
    return gpumem_buffer_copy(F.buf2, 0, F.buf, out_of_range[i].offset, out_of_range[i].size);
}
static gpumem_result range_stream_write(int i)
{
    return gpumem_stream_write(F.stream, F.buf, out_of_range[i].offset, host,
                               out_of_range[i].size);
}
static gpumem_result range_stream_read(int i)
{
    return gpumem_stream_read(F.stream, F.buf, out_of_range[i].offset, host,
                              out_of_range[i].size);
}
static gpumem_result range_stream_fill(int i)
{
    return gpumem_stream_fill(F.stream, F.buf, out_of_range[i].offset, out_of_range[i].size, 7);
}
static gpumem_result range_stream_copy(int i)
{
    return gpumem_stream_copy(F.stream, F.buf2, 0, F.buf, out_of_range[i].offset,
                              out_of_range[i].size);
}

static const handle_function range_functions[] = {
    FN(range_flush, "gpumem_buffer_flush"),
    FN(range_invalidate, "gpumem_buffer_invalidate"),
    FN(range_write, "gpumem_buffer_write"),
    FN(range_read, "gpumem_buffer_read"),
    FN(range_fill, "gpumem_buffer_fill"),
    FN(range_copy_source, "gpumem_buffer_copy (source)"),
    FN(range_copy_destination, "gpumem_buffer_copy (destination)"),
    FN(range_stream_write, "gpumem_stream_write"),
    FN(range_stream_read, "gpumem_stream_read"),
    FN(range_stream_fill, "gpumem_stream_fill"),
    FN(range_stream_copy, "gpumem_stream_copy"),
};

/* NULL host pointers and zero sizes */
static gpumem_result write_null(void) { return gpumem_buffer_write(F.buf, 0, NULL, 16); }
static gpumem_result read_null(void) { return gpumem_buffer_read(F.buf, 0, NULL, 16); }
static gpumem_result stream_write_null(void)
{
    return gpumem_stream_write(F.stream, F.buf, 0, NULL, 16);
}
static gpumem_result stream_read_null(void)
{
    return gpumem_stream_read(F.stream, F.buf, 0, NULL, 16);
}
static gpumem_result write_zero(void) { return gpumem_buffer_write(F.buf, 0, host, 0); }
static gpumem_result read_zero(void) { return gpumem_buffer_read(F.buf, 0, host, 0); }
static gpumem_result copy_zero(void) { return gpumem_buffer_copy(F.buf, 0, F.buf2, 0, 0); }
static gpumem_result fill_zero(void) { return gpumem_buffer_fill(F.buf, 0, 0, 1); }
static gpumem_result stream_write_zero(void)
{
    return gpumem_stream_write(F.stream, F.buf, 0, host, 0);
}
static gpumem_result stream_read_zero(void) { return gpumem_stream_read(F.stream, F.buf, 0, host, 0); }
static gpumem_result stream_copy_zero(void)
{
    return gpumem_stream_copy(F.stream, F.buf, 0, F.buf2, 0, 0);
}
static gpumem_result stream_fill_zero(void) { return gpumem_stream_fill(F.stream, F.buf, 0, 0, 1); }
static gpumem_result flush_zero(void) { return gpumem_buffer_flush(F.buf, 0, 0); }
static gpumem_result invalidate_zero(void) { return gpumem_buffer_invalidate(F.buf, 0, 0); }
static gpumem_result write_null_zero(void) { return gpumem_buffer_write(F.buf, 0, NULL, 0); }

/* fill alignment */
static gpumem_result fill_offset_one(void) { return gpumem_buffer_fill(F.buf, 1, 4, 1); }
static gpumem_result fill_offset_two(void) { return gpumem_buffer_fill(F.buf, 2, 8, 1); }
static gpumem_result fill_size_three(void) { return gpumem_buffer_fill(F.buf, 0, 3, 1); }
static gpumem_result fill_size_six(void) { return gpumem_buffer_fill(F.buf, 4, 6, 1); }
static gpumem_result stream_fill_offset(void) { return gpumem_stream_fill(F.stream, F.buf, 3, 4, 1); }
static gpumem_result stream_fill_size(void) { return gpumem_stream_fill(F.stream, F.buf, 0, 5, 1); }

/* copies that overlap, and across devices */
static gpumem_result copy_overlap_forward(void) { return gpumem_buffer_copy(F.buf, 0, F.buf, 8, 16); }
static gpumem_result copy_overlap_backward(void) { return gpumem_buffer_copy(F.buf, 8, F.buf, 0, 16); }
static gpumem_result copy_same_range(void) { return gpumem_buffer_copy(F.buf, 0, F.buf, 0, 1); }
static gpumem_result copy_overlap_one_byte(void)
{
    return gpumem_buffer_copy(F.buf, 0, F.buf, 15, 16);
}
static gpumem_result stream_copy_overlap(void)
{
    return gpumem_stream_copy(F.stream, F.buf, 100, F.buf, 50, 100);
}
static gpumem_result copy_across_devices(void)
{
    return gpumem_buffer_copy(F.buf, 0, F.buf_dev2, 0, 16);
}
static gpumem_result copy_across_devices_reverse(void)
{
    return gpumem_buffer_copy(F.buf_dev2, 0, F.buf, 0, 16);
}
static gpumem_result stream_copy_across_devices(void)
{
    return gpumem_stream_copy(F.stream, F.buf, 0, F.buf_dev2, 0, 16);
}
static gpumem_result stream_other_device_write(void)
{
    return gpumem_stream_write(F.stream2, F.buf, 0, host, 16);
}
static gpumem_result stream_other_device_read(void)
{
    return gpumem_stream_read(F.stream2, F.buf, 0, host, 16);
}
static gpumem_result stream_other_device_fill(void)
{
    return gpumem_stream_fill(F.stream2, F.buf, 0, 16, 1);
}
static gpumem_result stream_other_device_copy(void)
{
    return gpumem_stream_copy(F.stream2, F.buf, 0, F.buf2, 0, 16);
}

/* streams */
static gpumem_result stream_native_null(void) { return gpumem_stream_native(F.stream, NULL); }
static gpumem_result destroy_default_stream(void) { return gpumem_stream_destroy(F.default_stream); }

/* vblocks */
static gpumem_result vblock_size_zero(void)
{
    gpumem_vblock v;
    return gpumem_vblock_create(0, &v);
}
static gpumem_result vblock_null_out(void) { return gpumem_vblock_create(100, NULL); }
static gpumem_result vblock_alloc_with(uint64_t size, uint64_t alignment)
{
    gpumem_vblock_allocation a;
    uint64_t o;
    return gpumem_vblock_alloc(F.vb, size, alignment, &a, &o);
}
static gpumem_result valloc_zero(void) { return vblock_alloc_with(0, 0); }
static gpumem_result valloc_max(void) { return vblock_alloc_with(UINT64_MAX, 0); }
static gpumem_result valloc_past_size(void) { return vblock_alloc_with(VBLOCK_SIZE + 1, 0); }
static gpumem_result valloc_whole_while_used(void) { return vblock_alloc_with(VBLOCK_SIZE, 0); }
static gpumem_result valloc_wraps(void) { return vblock_alloc_with(UINT64_MAX - 100, 4096); }
static gpumem_result valloc_alignment_three(void) { return vblock_alloc_with(16, 3); }
static gpumem_result valloc_alignment_max(void) { return vblock_alloc_with(16, UINT64_MAX); }
static gpumem_result valloc_alignment_above_size(void)
{
    /* a power of two, larger than the block: only offset 0 qualifies, and it is taken */
    return vblock_alloc_with(16, 1ull << 40);
}
static gpumem_result valloc_null_allocation(void)
{
    uint64_t o;
    return gpumem_vblock_alloc(F.vb, 16, 0, NULL, &o);
}
static gpumem_result valloc_null_offset(void)
{
    gpumem_vblock_allocation a;
    return gpumem_vblock_alloc(F.vb, 16, 0, &a, NULL);
}
static gpumem_result vfree_zero(void) { return gpumem_vblock_free(F.vb, 0); }
static gpumem_result vfree_garbage(void) { return gpumem_vblock_free(F.vb, GARBAGE); }
static gpumem_result vfree_all_ones(void) { return gpumem_vblock_free(F.vb, UINT64_MAX); }
static gpumem_result vfree_freed(void) { return gpumem_vblock_free(F.vb, F.allocation_freed); }
static gpumem_result vfree_other_block(void)
{
    return gpumem_vblock_free(F.vb, F.allocation_of_vb2);
}
static gpumem_result vfree_twice(void)
{
    if (gpumem_vblock_free(F.vb, F.allocation) != GPUMEM_OK)
        return GPUMEM_OK;
    return gpumem_vblock_free(F.vb, F.allocation);
}
static gpumem_result vfree_after_clear(void)
{
    if (gpumem_vblock_clear(F.vb) != GPUMEM_OK)
        return GPUMEM_OK;
    return gpumem_vblock_free(F.vb, F.allocation);
}
static gpumem_result vfree_future_generation(void)
{
    return gpumem_vblock_free(F.vb, F.allocation + (5ull << 32));
}
static gpumem_result vstats_null(void) { return gpumem_vblock_stats_get(F.vb, NULL); }

typedef struct plain_row {
    const char *name;
    plain_call call;
    gpumem_result expected;
} plain_row;

#define INVALID GPUMEM_ERROR_INVALID_ARGUMENT

static const plain_row plain_rows[] = {
    /* registration */
    {"register: NULL table", r_null, INVALID},
    {"register: version 0", r_version_zero, GPUMEM_ERROR_ABI_MISMATCH},
    {"register: a later version", r_version_next, GPUMEM_ERROR_ABI_MISMATCH},
    {"register: version UINT32_MAX", r_version_max, GPUMEM_ERROR_ABI_MISMATCH},
    {"register: version 1 of an unknown size", r_version_one_bad_size,
     GPUMEM_ERROR_ABI_MISMATCH},
    {"register: a stream group without stream_synchronize", r_stream_alone, INVALID},
    {"register: an event group without event_record", r_event_alone, INVALID},
    {"register: events without streams", r_events_without_streams, INVALID},
    {"register: native_pool_create alone", r_native_pool_alone, INVALID},
    {"register: image_create without the rest of the image group", r_image_alone, INVALID},
    {"register: page_allocate_for_image without image operations", r_page_for_image_alone,
     INVALID},
    {"register: host_register without host_unregister", r_host_register_alone, INVALID},
    {"register: queue_registered_host_to_page without host_register",
     r_queue_without_registration, INVALID},
    {"register: queue_registered_host_to_page without streams", r_queue_without_streams,
     INVALID},
    {"register: host_register_read_only without host_register",
     r_read_only_without_registration, INVALID},
    {"register: NULL name", r_name_null, INVALID},
    {"register: empty name", r_name_empty, INVALID},
    {"register: name with upper case and space", r_name_upper, INVALID},
    {"register: name with a path", r_name_slash, INVALID},
    {"register: name of 64 characters", r_name_long, INVALID},
    {"register: name of a registered backend", r_name_host, INVALID},
    {"register: the same name twice", r_twice, INVALID},
#define MISSING_ROW(op) {"register: required operation " #op " missing", r_no_##op, INVALID},
    REQUIRED_OPS(MISSING_ROW)
    {"device_open: registered backend without a device", open_unavailable,
     GPUMEM_ERROR_UNAVAILABLE},
    {"device_count: registered backend without a device", count_unavailable,
     GPUMEM_ERROR_UNAVAILABLE},

    /* discovery */
    {"backend_count: NULL count", backend_count_null, INVALID},
    {"backend_info_get: NULL info", backend_info_null, INVALID},
    {"backend_info_get: index == count", backend_info_past_end, GPUMEM_ERROR_NOT_FOUND},
    {"backend_info_get: index UINT32_MAX", backend_info_max, GPUMEM_ERROR_NOT_FOUND},
    {"backend_find: NULL name", backend_find_null_name, INVALID},
    {"backend_find: NULL info", backend_find_null_info, INVALID},
    {"backend_find: unknown name", backend_find_unknown, GPUMEM_ERROR_NOT_FOUND},
    {"backend_find: empty name", backend_find_empty, GPUMEM_ERROR_NOT_FOUND},
    {"backend_find: name in the wrong case", backend_find_case, GPUMEM_ERROR_NOT_FOUND},
    {"backend_find: 999-character name", backend_find_long, GPUMEM_ERROR_NOT_FOUND},
    {"device_count: NULL count", device_count_null, INVALID},
    {"device_count: NULL count, named backend", device_count_null_named, INVALID},
    {"device_count: unknown backend", device_count_unknown, GPUMEM_ERROR_NOT_FOUND},

    /* device_open */
    {"device_open: NULL desc and output", open_null_out, INVALID},
    {"device_open: NULL output", open_desc_null_out, INVALID},
    {"device_open: unknown flag", open_unknown_flag, INVALID},
    {"device_open: unknown high flag", open_high_flag, INVALID},
    {"device_open: unknown backend", open_unknown_backend, GPUMEM_ERROR_NOT_FOUND},
    {"device_open: empty backend name", open_empty_backend, GPUMEM_ERROR_NOT_FOUND},
    {"device_open: device index past the last", open_index_one, GPUMEM_ERROR_NOT_FOUND},
    {"device_open: device index UINT32_MAX", open_index_max, GPUMEM_ERROR_NOT_FOUND},

    /* device outputs */
    {"device_properties_get: NULL properties", properties_null, INVALID},
    {"device_native: NULL native", native_null, INVALID},
    {"device_default_stream: NULL stream", default_stream_null, INVALID},
    {"stream_create: NULL stream", stream_create_null, INVALID},
    {"device_dump_json: NULL length", dump_null_length, INVALID},
    {"device_dump_json: NULL buffer with a capacity", dump_null_buffer_with_capacity, INVALID},
    {"device_dump_json: zero capacity", dump_zero_capacity, GPUMEM_ERROR_INSUFFICIENT_BUFFER},
    {"device_dump_json: one byte", dump_one_byte, GPUMEM_ERROR_INSUFFICIENT_BUFFER},
    {"device_dump_json: no room for the NUL", dump_exact_length,
     GPUMEM_ERROR_INSUFFICIENT_BUFFER},

    /* memory_type_find */
    {"memory_type_find: NULL properties", find_null_properties, INVALID},
    {"memory_type_find: NULL output", find_null_out, INVALID},
    {"memory_type_find: unknown required flag", find_unknown_required, INVALID},
    {"memory_type_find: every required flag", find_all_required, INVALID},
    {"memory_type_find: unknown preferred flag", find_unknown_preferred, INVALID},
    {"memory_type_find: unknown flag", find_unknown_flags, INVALID},
    {"memory_type_find: unknown high flag", find_high_flags, INVALID},
    {"memory_type_find: 33 memory types", find_too_many_types, INVALID},
    {"memory_type_find: 17 heaps", find_too_many_heaps, INVALID},
    {"memory_type_find: UINT32_MAX memory types", find_huge_type_count, INVALID},
    {"memory_type_find: no memory types", find_no_types, GPUMEM_ERROR_NOT_FOUND},
    {"memory_type_find: exact match of nothing", find_exact_no_match, GPUMEM_ERROR_NOT_FOUND},
    {"memory_type_find: heap of UINT64_MAX bytes", find_heap_too_small, GPUMEM_ERROR_NOT_FOUND},

    /* pool_create */
    {"pool_create: NULL output", pool_null_out, INVALID},
    {"pool_create: NULL desc and output", pool_null_desc_null_out, INVALID},
    {"pool_create: kind 2", pool_kind_two, INVALID},
    {"pool_create: kind UINT32_MAX", pool_kind_max, INVALID},
    {"pool_create: unknown flag", pool_flag_unknown, INVALID},
    {"pool_create: unknown high flag", pool_flag_high, INVALID},
    {"pool_create: unknown required memory flag", pool_required_unknown, INVALID},
    {"pool_create: unknown preferred memory flag", pool_preferred_unknown, INVALID},
    {"pool_create: memory type index == count", pool_type_index_past_end, GPUMEM_ERROR_NOT_FOUND},
    {"pool_create: memory type index UINT32_MAX", pool_type_index_max, GPUMEM_ERROR_NOT_FOUND},
    {"pool_create: page size UINT64_MAX", pool_page_max, INVALID},
    {"pool_create: page size that wraps when rounded", pool_page_wraps, INVALID},
    {"pool_create: page size above max_allocation_size", pool_page_above_max_allocation,
     INVALID},
    {"pool_create: native kind on host", pool_native_on_host, GPUMEM_ERROR_UNSUPPORTED},
    {"pool_create: guard margins in a native pool", pool_native_guarded,
     GPUMEM_ERROR_UNSUPPORTED},
    {"pool_create: exact match of nothing", pool_exact_no_match, GPUMEM_ERROR_NOT_FOUND},
    {"pool_stats_get: NULL stats", pool_stats_null, INVALID},

    /* buffer_create */
    {"buffer_create: NULL desc", buffer_null_desc, INVALID},
    {"buffer_create: NULL output", buffer_null_out, INVALID},
    {"buffer_create: size 0", buffer_size_zero, INVALID},
    {"buffer_create: size UINT64_MAX", buffer_size_max, GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY},
    {"buffer_create: size + alignment wraps", buffer_size_wraps_with_alignment,
     GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY},
    {"buffer_create: size above max_allocation_size", buffer_size_above_max_allocation,
     GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY},
    {"buffer_create: dedicated, size UINT64_MAX", buffer_dedicated_size_max,
     GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY},
    {"buffer_create: alignment 3", buffer_alignment_three, INVALID},
    {"buffer_create: alignment 48", buffer_alignment_48, INVALID},
    {"buffer_create: alignment UINT64_MAX", buffer_alignment_max, INVALID},
    {"buffer_create: alignment 2^63 + 1", buffer_alignment_high_bits, INVALID},
    {"buffer_create: unknown flag", buffer_flag_unknown, INVALID},
    {"buffer_create: unknown usage", buffer_usage_unknown, INVALID},
    {"buffer_create: unknown high flag", buffer_flag_high, INVALID},
    {"buffer_create: over the pool's byte limit", buffer_over_limit,
     GPUMEM_ERROR_LIMIT_EXCEEDED},
    {"buffer_create: dedicated, over the pool's byte limit", buffer_dedicated_over_limit,
     GPUMEM_ERROR_LIMIT_EXCEEDED},

    /* buffer_import */
    {"buffer_import: NULL desc", import_null_desc, INVALID},
    {"buffer_import: NULL output", import_null_out, INVALID},
    {"buffer_import: size 0", import_size_zero, INVALID},
    {"buffer_import: size above max_allocation_size", import_size_above_max_allocation,
     INVALID},
    {"buffer_import: unknown flag", import_flag, INVALID},
    {"buffer_import: reserved not 0", import_reserved, INVALID},
    {"buffer_import: address 0", import_address_zero, INVALID},
    {"buffer_import: a memory object on host", import_memory_on_host, INVALID},
    {"buffer_import: offset 1", import_offset_one, INVALID},
    {"buffer_import: address + size wraps", import_address_wraps, INVALID},
    {"buffer_import: offset + size wraps", import_offset_wraps, INVALID},
    {"buffer_import: memory of the pool's own page", import_the_pools_own_page, INVALID},

    /* buffer outputs and mapping */
    {"buffer_info_get: NULL info", info_null, INVALID},
    {"buffer_native: NULL native", buffer_native_null, INVALID},
    {"buffer_map: NULL data", map_null, INVALID},
    {"buffer_unmap: never mapped", unmap_unmapped, GPUMEM_ERROR_BAD_STATE},
    {"buffer_unmap: one unmap too many", unmap_twice, GPUMEM_ERROR_BAD_STATE},

    /* NULL host pointers and zero sizes */
    {"buffer_write: NULL data", write_null, INVALID},
    {"buffer_read: NULL data", read_null, INVALID},
    {"stream_write: NULL data", stream_write_null, INVALID},
    {"stream_read: NULL data", stream_read_null, INVALID},
    {"buffer_write: size 0", write_zero, INVALID},
    {"buffer_write: NULL data, size 0", write_null_zero, INVALID},
    {"buffer_read: size 0", read_zero, INVALID},
    {"buffer_copy: size 0", copy_zero, INVALID},
    {"buffer_fill: size 0", fill_zero, INVALID},
    {"stream_write: size 0", stream_write_zero, INVALID},
    {"stream_read: size 0", stream_read_zero, INVALID},
    {"stream_copy: size 0", stream_copy_zero, INVALID},
    {"stream_fill: size 0", stream_fill_zero, INVALID},
    {"buffer_flush: size 0", flush_zero, INVALID},
    {"buffer_invalidate: size 0", invalidate_zero, INVALID},

    /* fill alignment */
    {"buffer_fill: offset 1", fill_offset_one, INVALID},
    {"buffer_fill: offset 2", fill_offset_two, INVALID},
    {"buffer_fill: size 3", fill_size_three, INVALID},
    {"buffer_fill: size 6", fill_size_six, INVALID},
    {"stream_fill: offset 3", stream_fill_offset, INVALID},
    {"stream_fill: size 5", stream_fill_size, INVALID},

    /* overlapping copies, and objects of two devices */
    {"buffer_copy: overlap, forwards", copy_overlap_forward, INVALID},
    {"buffer_copy: overlap, backwards", copy_overlap_backward, INVALID},
    {"buffer_copy: the same range", copy_same_range, INVALID},
    {"buffer_copy: overlap of one byte", copy_overlap_one_byte, INVALID},
    {"stream_copy: overlap", stream_copy_overlap, INVALID},
    {"buffer_copy: to a buffer of another device", copy_across_devices, INVALID},
    {"buffer_copy: from a buffer of another device", copy_across_devices_reverse, INVALID},
    {"stream_copy: to a buffer of another device", stream_copy_across_devices, INVALID},
    {"stream_write: stream of another device", stream_other_device_write, INVALID},
    {"stream_read: stream of another device", stream_other_device_read, INVALID},
    {"stream_fill: stream of another device", stream_other_device_fill, INVALID},
    {"stream_copy: stream of another device", stream_other_device_copy, INVALID},

    /* streams */
    {"stream_native: NULL native", stream_native_null, INVALID},
    {"stream_destroy: the default stream", destroy_default_stream, GPUMEM_ERROR_BAD_STATE},

    /* vblocks */
    {"vblock_create: size 0", vblock_size_zero, INVALID},
    {"vblock_create: NULL output", vblock_null_out, INVALID},
    {"vblock_alloc: size 0", valloc_zero, INVALID},
    {"vblock_alloc: size UINT64_MAX", valloc_max, GPUMEM_ERROR_LIMIT_EXCEEDED},
    {"vblock_alloc: size above the block", valloc_past_size, GPUMEM_ERROR_LIMIT_EXCEEDED},
    {"vblock_alloc: the whole block while part is used", valloc_whole_while_used,
     GPUMEM_ERROR_LIMIT_EXCEEDED},
    {"vblock_alloc: size + alignment wraps", valloc_wraps, GPUMEM_ERROR_LIMIT_EXCEEDED},
    {"vblock_alloc: alignment 3", valloc_alignment_three, INVALID},
    {"vblock_alloc: alignment UINT64_MAX", valloc_alignment_max, INVALID},
    {"vblock_alloc: alignment 2^40, offset 0 taken", valloc_alignment_above_size,
     GPUMEM_ERROR_LIMIT_EXCEEDED},
    {"vblock_alloc: NULL allocation", valloc_null_allocation, INVALID},
    {"vblock_alloc: NULL offset", valloc_null_offset, INVALID},
    {"vblock_free: allocation 0", vfree_zero, GPUMEM_ERROR_INVALID_HANDLE},
    {"vblock_free: garbage allocation", vfree_garbage, GPUMEM_ERROR_INVALID_HANDLE},
    {"vblock_free: all-ones allocation", vfree_all_ones, GPUMEM_ERROR_INVALID_HANDLE},
    {"vblock_free: freed allocation", vfree_freed, GPUMEM_ERROR_INVALID_HANDLE},
    {"vblock_free: allocation of another block", vfree_other_block,
     GPUMEM_ERROR_INVALID_HANDLE},
    {"vblock_free: twice", vfree_twice, GPUMEM_ERROR_INVALID_HANDLE},
    {"vblock_free: after clear", vfree_after_clear, GPUMEM_ERROR_INVALID_HANDLE},
    {"vblock_free: allocation with a future generation", vfree_future_generation,
     GPUMEM_ERROR_INVALID_HANDLE},
    {"vblock_stats_get: NULL stats", vstats_null, INVALID},
};

/* Functions with nothing to refuse: they must succeed, quietly. */
static const plain_row quiet_rows[] = {
    {"log_set_callback: a callback", log_set, GPUMEM_OK},
    {"log_set_callback: NULL restores the default", log_reset, GPUMEM_OK},
    {"log_set_callback: a callback with user data", log_user, GPUMEM_OK},
};

/* gpumem_backend_error only returns what it is given (the message is for core to pick up). */
static const plain_row passthrough_rows[] = {
    {"backend_error: returns GPUMEM_ERROR_BACKEND", backend_error_backend, GPUMEM_ERROR_BACKEND},
    {"backend_error: returns an unknown value", backend_error_unknown, -12345},
    {"backend_error: returns GPUMEM_OK", backend_error_ok, GPUMEM_OK},
};

/* --- running the table --- */

/* Rows run one after another in one process per group, each on a fresh fixture: a process per
 * row would take minutes under the sanitizers. BADINPUT_TRACE=1 prints each row before it runs,
 * to name the row of a crash. */

enum { MESSAGE_REQUIRED = 0, MESSAGE_EMPTY = 1, MESSAGE_ANY = 2 };

static int tracing(void)
{
    const char *env = getenv("BADINPUT_TRACE");
    return env && *env && strcmp(env, "0") != 0;
}

static size_t failures;

static void check_row(const char *name, gpumem_result got, gpumem_result expected, int message)
{
    const char *text = gpumem_last_error();
    cr_assert_not_null(text, "[%s] gpumem_last_error() returned NULL", name);
    int ok = got == expected;
    cr_expect(ok, "[%s] returned %s (%d), expected %s (%d); message: \"%s\"", name,
              gpumem_result_string(got), got, gpumem_result_string(expected), expected, text);
    if (message == MESSAGE_REQUIRED && text[0] == '\0') {
        cr_expect_fail("[%s] failed with an empty gpumem_last_error()", name);
        ok = 0;
    } else if (message == MESSAGE_EMPTY && text[0] != '\0') {
        cr_expect_fail("[%s] succeeded, yet gpumem_last_error() is \"%s\"", name, text);
        ok = 0;
    }
    failures += !ok;
}

static void run_handle_rows(const handle_function *functions, size_t count,
                            const variant *variants, size_t variant_count)
{
    for (size_t f = 0; f < count; f++)
        for (size_t v = 0; v < variant_count; v++) {
            char name[192];
            snprintf(name, sizeof name, "%s: %s", functions[f].name, variants[v].name);
            if (tracing())
                fprintf(stderr, "badinput row: %s\n", name);
            setup();
            gpumem_result got = functions[f].call((int)v);
            check_row(name, got, variants[v].expected, MESSAGE_REQUIRED);
            teardown();
        }
}

static void run_plain_rows(const plain_row *rows, size_t count, int message)
{
    for (size_t i = 0; i < count; i++) {
        if (tracing())
            fprintf(stderr, "badinput row: %s\n", rows[i].name);
        setup();
        gpumem_result got = rows[i].call();
        check_row(rows[i].name, got, rows[i].expected, message);
        teardown();
    }
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Every row's failure is reported (cr_expect); the count closes the test. */
static void done(size_t rows)
{
    cr_assert_eq(failures, 0, "%zu of %zu rows failed", failures, rows);
}

Test(badinput, device_handles)
{
    run_handle_rows(device_functions, COUNT(device_functions), device_variants,
                    COUNT(device_variants));
    done(COUNT(device_functions) * COUNT(device_variants));
}

Test(badinput, pool_handles)
{
    run_handle_rows(pool_functions, COUNT(pool_functions), pool_variants, COUNT(pool_variants));
    done(COUNT(pool_functions) * COUNT(pool_variants));
}

Test(badinput, buffer_handles)
{
    run_handle_rows(buffer_functions, COUNT(buffer_functions), buffer_variants,
                    COUNT(buffer_variants));
    done(COUNT(buffer_functions) * COUNT(buffer_variants));
}

Test(badinput, stream_handles)
{
    run_handle_rows(stream_functions, COUNT(stream_functions), stream_variants,
                    COUNT(stream_variants));
    done(COUNT(stream_functions) * COUNT(stream_variants));
}

Test(badinput, vblock_handles)
{
    run_handle_rows(vblock_functions, COUNT(vblock_functions), vblock_variants,
                    COUNT(vblock_variants));
    done(COUNT(vblock_functions) * COUNT(vblock_variants));
}

Test(badinput, out_of_range)
{
    for (size_t f = 0; f < COUNT(range_functions); f++)
        for (size_t i = 0; i < OUT_OF_RANGE_COUNT; i++) {
            char name[192];
            snprintf(name, sizeof name, "%s: offset %llu, size %llu is out of range",
                     range_functions[f].name, (unsigned long long)out_of_range[i].offset,
                     (unsigned long long)out_of_range[i].size);
            if (tracing())
                fprintf(stderr, "badinput row: %s\n", name);
            setup();
            gpumem_result got = range_functions[f].call((int)i);
            check_row(name, got, GPUMEM_ERROR_OUT_OF_RANGE, MESSAGE_REQUIRED);
            teardown();
        }
    done(COUNT(range_functions) * OUT_OF_RANGE_COUNT);
}

Test(badinput, arguments)
{
    run_plain_rows(plain_rows, COUNT(plain_rows), MESSAGE_REQUIRED);
    done(COUNT(plain_rows));
}

Test(badinput, nothing_to_refuse)
{
    run_plain_rows(quiet_rows, COUNT(quiet_rows), MESSAGE_EMPTY);
    run_plain_rows(passthrough_rows, COUNT(passthrough_rows), MESSAGE_ANY);
    done(COUNT(quiet_rows) + COUNT(passthrough_rows));
}

/* --- what the table cannot say --- */

Test(badinput, result_strings_and_last_error, .init = setup, .fini = teardown)
{
    cr_assert_str_eq(gpumem_result_string(GPUMEM_OK), "GPUMEM_OK");
    cr_assert_str_eq(gpumem_result_string(GPUMEM_ERROR_DESTROYED), "GPUMEM_ERROR_DESTROYED");
    const gpumem_result unknown[] = {1, -17, 12345, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < COUNT(unknown); i++) {
        const char *s = gpumem_result_string(unknown[i]);
        cr_assert_not_null(s);
        cr_assert_str_eq(s, "GPUMEM_RESULT_UNKNOWN", "result %d is \"%s\"", unknown[i], s);
    }
    for (gpumem_result r = GPUMEM_ERROR_CORRUPTED; r <= GPUMEM_OK; r++)
        cr_assert_str_neq(gpumem_result_string(r), "GPUMEM_RESULT_UNKNOWN", "result %d", r);

    /* A failure leaves a message; the next success clears it. */
    cr_assert_eq(gpumem_buffer_destroy(F.dead_buf), GPUMEM_ERROR_DESTROYED);
    cr_assert_neq(gpumem_last_error()[0], '\0');
    gpumem_buffer_info info;
    cr_assert_eq(gpumem_buffer_info_get(F.buf, &info), GPUMEM_OK);
    cr_assert_str_eq(gpumem_last_error(), "", "after a success: \"%s\"", gpumem_last_error());
    cr_assert_eq(gpumem_vblock_free(F.vb, 0), GPUMEM_ERROR_INVALID_HANDLE);
    gpumem_vblock_stats vs;
    cr_assert_eq(gpumem_vblock_stats_get(F.vb, &vs), GPUMEM_OK);
    cr_assert_str_eq(gpumem_last_error(), "");
    /* A virtual block's alloc and free too: with an error to clear they take their full call
     * (their quick path is only for threads with nothing to clear), and clear it. */
    gpumem_vblock_allocation va;
    uint64_t vo;
    cr_assert_eq(gpumem_vblock_free(F.vb, 0), GPUMEM_ERROR_INVALID_HANDLE);
    cr_assert_eq(gpumem_vblock_alloc(F.vb, 64, 0, &va, &vo), GPUMEM_OK);
    cr_assert_str_eq(gpumem_last_error(), "", "after an alloc: \"%s\"", gpumem_last_error());
    cr_assert_eq(gpumem_vblock_free(F.vb, 0), GPUMEM_ERROR_INVALID_HANDLE);
    cr_assert_eq(gpumem_vblock_free(F.vb, va), GPUMEM_OK);
    cr_assert_str_eq(gpumem_last_error(), "", "after a free: \"%s\"", gpumem_last_error());

    cr_assert_eq(gpumem_version(), GPUMEM_VERSION_MAJOR * 10000u + GPUMEM_VERSION_MINOR * 100u +
                                       GPUMEM_VERSION_PATCH);
    /* Logging at levels outside the enum does not crash. */
    gpumem_backend_log(-5, "below debug");
    gpumem_backend_log(99, "above error %s", "x");
}

/* After every refused call the objects still work: nothing was half done. */
Test(badinput, objects_survive_bad_calls, .init = setup, .fini = teardown)
{
    uint8_t data[64], out[64];
    for (int i = 0; i < 64; i++)
        data[i] = (uint8_t)(i * 7 + 1);
    cr_assert_eq(gpumem_buffer_write(F.buf, 0, data, sizeof data), GPUMEM_OK);
    for (size_t f = 0; f < COUNT(range_functions); f++)
        for (size_t i = 0; i < OUT_OF_RANGE_COUNT; i++)
            range_functions[f].call((int)i);
    copy_overlap_forward();
    fill_offset_two();
    buffer_size_max();
    buffer_alignment_three();
    buffer_over_limit();
    unmap_unmapped();
    destroy_default_stream();
    cr_assert_eq(gpumem_stream_synchronize(F.stream), GPUMEM_OK);
    cr_assert_eq(gpumem_buffer_read(F.buf, 0, out, sizeof out), GPUMEM_OK);
    cr_assert_eq(memcmp(out, data, sizeof out), 0, "a refused call changed the buffer");
    gpumem_pool_stats s;
    cr_assert_eq(gpumem_pool_stats_get(F.pool, &s), GPUMEM_OK);
    cr_assert_eq(s.allocation_count, 2, "the pool holds %llu buffers",
                 (unsigned long long)s.allocation_count);
    cr_assert_eq(gpumem_pool_stats_get(F.limited, &s), GPUMEM_OK);
    cr_assert_eq(s.reserved_bytes, 0);
    cr_assert_eq(s.allocation_count, 0);
    gpumem_vblock_stats vs;
    cr_assert_eq(gpumem_vblock_stats_get(F.vb, &vs), GPUMEM_OK);
    cr_assert_eq(vs.allocation_count, 1);
    cr_assert_eq(gpumem_stream_synchronize(F.default_stream), GPUMEM_OK);
}

/* Huge virtual blocks: either refused or working; never wrong. */
Test(badinput, huge_vblocks, .init = setup, .fini = teardown)
{
    const uint64_t sizes[] = {UINT64_MAX, 1ull << 63, (1ull << 63) + 1};
    for (size_t i = 0; i < COUNT(sizes); i++) {
        gpumem_vblock v = NULL;
        gpumem_result r = gpumem_vblock_create(sizes[i], &v);
        if (r != GPUMEM_OK) {
            cr_assert(r == GPUMEM_ERROR_INVALID_ARGUMENT || r == GPUMEM_ERROR_LIMIT_EXCEEDED,
                      "vblock of %llu bytes: %s", (unsigned long long)sizes[i],
                      gpumem_result_string(r));
            cr_assert_neq(gpumem_last_error()[0], '\0');
            continue;
        }
        gpumem_vblock_allocation a, b;
        uint64_t oa, ob;
        cr_assert_eq(gpumem_vblock_alloc(v, 1ull << 62, 0, &a, &oa), GPUMEM_OK, "%s",
                     gpumem_last_error());
        cr_assert_eq(gpumem_vblock_alloc(v, 1000, 4096, &b, &ob), GPUMEM_OK, "%s",
                     gpumem_last_error());
        cr_assert_eq(ob % 4096, 0);
        cr_assert(ob >= oa + (1ull << 62) || ob + 1000 <= oa, "allocations overlap");
        gpumem_vblock_stats s;
        cr_assert_eq(gpumem_vblock_stats_get(v, &s), GPUMEM_OK);
        cr_assert_eq(s.size, sizes[i]);
        cr_assert_eq(s.allocation_count, 2);
        cr_assert_eq(gpumem_vblock_alloc(v, UINT64_MAX, 0, &a, &oa), GPUMEM_ERROR_LIMIT_EXCEEDED);
        cr_assert_eq(gpumem_vblock_destroy(v), GPUMEM_OK);
    }
}

/* Bad values in the environment variables gpumem reads. Each test is a process of its own, so
 * setenv here changes nothing elsewhere. */
static gpumem_result open_with_env(const char *name, const char *value)
{
    setenv(name, value, 1);
    gpumem_device d = NULL;
    gpumem_result r = gpumem_device_open(NULL, &d);
    if (r == GPUMEM_OK)
        gpumem_device_close(d);
    unsetenv(name);
    setenv("GPUMEM_BACKEND", "host", 1);
    return r;
}

Test(badinput, environment)
{
    static const struct {
        const char *name, *value;
        gpumem_result expected;
    } rows[] = {
        {"GPUMEM_DEVICE", "abc", GPUMEM_ERROR_INVALID_ARGUMENT},
        {"GPUMEM_DEVICE", "-1", GPUMEM_ERROR_INVALID_ARGUMENT},
        {"GPUMEM_DEVICE", "1x", GPUMEM_ERROR_INVALID_ARGUMENT},
        {"GPUMEM_DEVICE", "99999999999999999999", GPUMEM_ERROR_INVALID_ARGUMENT},
        {"GPUMEM_DEVICE", "4294967296", GPUMEM_ERROR_INVALID_ARGUMENT},
        {"GPUMEM_DEVICE", "7", GPUMEM_ERROR_NOT_FOUND},
        {"GPUMEM_BACKEND", "no-such-backend", GPUMEM_ERROR_NOT_FOUND},
        {"GPUMEM_BACKEND", "host,no-such-backend", GPUMEM_ERROR_NOT_FOUND},
        {"GPUMEM_BACKEND", ",,, ,", GPUMEM_ERROR_INVALID_ARGUMENT},
    };
    for (size_t i = 0; i < COUNT(rows); i++) {
        gpumem_result r = open_with_env(rows[i].name, rows[i].value);
        cr_expect_eq(r, rows[i].expected, "[%s=%s] device_open -> %s, expected %s (%s)",
                     rows[i].name, rows[i].value, gpumem_result_string(r),
                     gpumem_result_string(rows[i].expected), gpumem_last_error());
        cr_expect_neq(gpumem_last_error()[0], '\0', "[%s=%s] no message", rows[i].name,
                      rows[i].value);
    }
}

/* Staging chunk sizes that are garbage or overflow when rounded to the alignment must not
 * break transfers: they fall back to a usable chunk (as garbage text already does). */
Test(badinput, staging_chunk_environment)
{
    static const char *const values[] = {"abc", "0", "-5", "1", "18446744073709551615",
                                         "18446744073709551600", "99999999999999999999999"};
    for (size_t i = 0; i < COUNT(values); i++) {
        setenv("GPUMEM_STAGING", "always", 1);
        setenv("GPUMEM_STAGING_CHUNK", values[i], 1);
        gpumem_device d;
        gpumem_result r = gpumem_device_open(NULL, &d);
        cr_assert_eq(r, GPUMEM_OK, "[GPUMEM_STAGING_CHUNK=%s] open: %s (%s)", values[i],
                     gpumem_result_string(r), gpumem_last_error());
        gpumem_pool pool;
        gpumem_buffer b;
        uint8_t in[3000], out[3000];
        for (size_t k = 0; k < sizeof in; k++)
            in[k] = (uint8_t)(k * 13 + i);
        memset(out, 0, sizeof out);
        cr_assert_eq(gpumem_pool_create(d, &(gpumem_pool_desc){.page_size = 1 << 20}, &pool),
                     GPUMEM_OK);
        cr_assert_eq(gpumem_buffer_create(pool, &(gpumem_buffer_desc){.size = sizeof in}, &b),
                     GPUMEM_OK);
        r = gpumem_buffer_write(b, 0, in, sizeof in);
        cr_expect_eq(r, GPUMEM_OK, "[GPUMEM_STAGING_CHUNK=%s] write: %s (%s)", values[i],
                     gpumem_result_string(r), gpumem_last_error());
        r = gpumem_buffer_read(b, 0, out, sizeof out);
        cr_expect_eq(r, GPUMEM_OK, "[GPUMEM_STAGING_CHUNK=%s] read: %s (%s)", values[i],
                     gpumem_result_string(r), gpumem_last_error());
        cr_expect_eq(memcmp(in, out, sizeof in), 0, "[GPUMEM_STAGING_CHUNK=%s] data differs",
                     values[i]);
        r = gpumem_buffer_fill(b, 0, 2000, 0x01020304u);
        cr_expect_eq(r, GPUMEM_OK, "[GPUMEM_STAGING_CHUNK=%s] fill: %s (%s)", values[i],
                     gpumem_result_string(r), gpumem_last_error());
        cr_assert_eq(gpumem_device_close(d), GPUMEM_OK);
    }
    unsetenv("GPUMEM_STAGING");
    unsetenv("GPUMEM_STAGING_CHUNK");
}

/* "Outputs are written only on success": failed calls leave their outputs as they were. */
#define SENTINEL 0xA5u

static int untouched(const void *p, size_t size)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < size; i++)
        if (b[i] != SENTINEL)
            return 0;
    return 1;
}

#define EXPECT_UNTOUCHED(call, out)                                                        \
    do {                                                                                   \
        memset(&(out), SENTINEL, sizeof(out));                                             \
        gpumem_result eu_r_ = (call);                                                      \
        cr_expect_neq(eu_r_, GPUMEM_OK, "%s succeeded", #call);                            \
        cr_expect(untouched(&(out), sizeof(out)), "%s -> %s wrote its output", #call,      \
                  gpumem_result_string(eu_r_));                                            \
    } while (0)

Test(badinput, outputs_untouched_on_failure, .init = setup, .fini = teardown)
{
    gpumem_device dev;
    gpumem_pool pool;
    gpumem_buffer buffer;
    gpumem_stream stream;
    gpumem_vblock vblock;
    gpumem_vblock_allocation allocation;
    uint64_t offset, native;
    uint32_t u32;
    gpumem_backend_info binfo;
    gpumem_device_properties props;
    gpumem_external_device ext;
    gpumem_pool_stats pstats;
    gpumem_buffer_info binfo2;
    gpumem_native_buffer nbuf;
    gpumem_vblock_stats vstats;
    void *mapped;

    EXPECT_UNTOUCHED(gpumem_device_open(&(gpumem_device_desc){.backend = "no-such"}, &dev), dev);
    EXPECT_UNTOUCHED(gpumem_device_count("no-such", &u32), u32);
    EXPECT_UNTOUCHED(gpumem_backend_info_get(UINT32_MAX, &binfo), binfo);
    EXPECT_UNTOUCHED(gpumem_backend_find("no-such", &binfo), binfo);
    EXPECT_UNTOUCHED(gpumem_device_properties_get(F.dead_dev, &props), props);
    EXPECT_UNTOUCHED(gpumem_device_native(F.dead_dev, &ext), ext);
    EXPECT_UNTOUCHED(gpumem_memory_type_find(&F.props, GPUMEM_MEMORY_DEVICE_LOCAL, 0,
                                             GPUMEM_MEMORY_TYPE_EXACT, 0, &u32),
                     u32);
    EXPECT_UNTOUCHED(gpumem_pool_create(F.dev, &(gpumem_pool_desc){.kind = 9}, &pool), pool);
    EXPECT_UNTOUCHED(gpumem_pool_create(F.dead_dev, NULL, &pool), pool);
    EXPECT_UNTOUCHED(gpumem_pool_stats_get(F.dead_pool, &pstats), pstats);
    EXPECT_UNTOUCHED(gpumem_buffer_create(F.pool, &(gpumem_buffer_desc){0}, &buffer), buffer);
    EXPECT_UNTOUCHED(gpumem_buffer_create(F.limited, &(gpumem_buffer_desc){.size = 64}, &buffer),
                     buffer);
    EXPECT_UNTOUCHED(gpumem_buffer_info_get(F.dead_buf, &binfo2), binfo2);
    EXPECT_UNTOUCHED(gpumem_buffer_native(F.dead_buf_of_pool, &nbuf), nbuf);
    EXPECT_UNTOUCHED(gpumem_buffer_map(F.dead_buf_of_dev, &mapped), mapped);
    EXPECT_UNTOUCHED(gpumem_buffer_read(F.buf, BUFFER_SIZE - 8, host, 16), host);
    EXPECT_UNTOUCHED(gpumem_stream_read(F.stream, F.buf, 0, host, BUFFER_SIZE + 1), host);
    EXPECT_UNTOUCHED(gpumem_stream_create(F.dead_dev, &stream), stream);
    EXPECT_UNTOUCHED(gpumem_device_default_stream(F.dead_dev, &stream), stream);
    EXPECT_UNTOUCHED(gpumem_stream_native(F.dead_stream, &native), native);
    EXPECT_UNTOUCHED(gpumem_vblock_create(0, &vblock), vblock);
    EXPECT_UNTOUCHED(gpumem_vblock_alloc(F.vb, VBLOCK_SIZE, 0, &allocation, &offset), allocation);
    EXPECT_UNTOUCHED(gpumem_vblock_alloc(F.vb, VBLOCK_SIZE, 0, &allocation, &offset), offset);
    EXPECT_UNTOUCHED(gpumem_vblock_stats_get(F.dead_vb, &vstats), vstats);
    uint64_t length;
    EXPECT_UNTOUCHED(gpumem_device_dump_json(F.dead_dev, NULL, 0, &length), length);
}
