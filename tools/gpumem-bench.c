/* gpumem-bench: how fast gpumem is. Each measurement is the median of --repeats runs; random
 * traces come from a fixed seed (or --seed's) and are generated before the clock starts, so runs
 * are reproducible and only the measured calls are timed. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "bench_trace.h"
#include "format.h"
#include "gpumem/gpumem.h"

#ifdef GPUMEM_BENCH_VULKAN
#include "bench_vulkan.h"
#endif
#ifdef GPUMEM_BENCH_CUDA
#include "bench_cuda.h"
#endif


typedef struct bench_context {
    bench_options options;
    const char *section; /* NULL: all */
    gpumem_device device;
    gpumem_device_properties properties;
    /* A backend section that failed part way: it reported what it measured, so the report is
     * finished, and the exit status says 1 (a section's failure of its own stops the run). */
    const char *partial;
} bench_context;

/* --- failures --- */

static int failed(gpumem_result r, const char *what)
{
    fprintf(stderr, "gpumem-bench: %s: %s: %s\n", what, gpumem_result_string(r),
            gpumem_last_error());
    return 1;
}

/* --- section vblock --- */

typedef struct vblock_run {
    double ns_per_pair;
    double span_over_used;
    double span_over_requested;
} vblock_run;

static gpumem_result vblock_fill(gpumem_vblock vb, const trace *t,
                                 gpumem_vblock_allocation *live)
{
    uint64_t offset;
    for (uint32_t i = 0; i < t->live; i++) {
        gpumem_result r = gpumem_vblock_alloc(vb, t->fill_sizes[i], TRACE_VBLOCK_ALIGNMENT,
                                              &live[i], &offset);
        if (r != GPUMEM_OK)
            return r;
    }
    return GPUMEM_OK;
}

/* The timed loop: nothing but the pairs (the error check is one predictable branch). */
static gpumem_result vblock_churn(gpumem_vblock vb, const trace *t,
                                  gpumem_vblock_allocation *live)
{
    uint64_t offset;
    for (uint32_t i = 0; i < t->steps; i++) {
        gpumem_vblock_allocation *slot = &live[t->victims[i]];
        gpumem_result r = gpumem_vblock_free(vb, *slot);
        if (r == GPUMEM_OK)
            r = gpumem_vblock_alloc(vb, t->sizes[i], TRACE_VBLOCK_ALIGNMENT, slot, &offset);
        if (r != GPUMEM_OK)
            return r;
    }
    return GPUMEM_OK;
}

/* Bytes the trace's live allocations asked for at its end (what the application holds). */
static uint64_t requested_at_end(const trace *t)
{
    uint64_t *size = malloc(t->live * sizeof *size);
    if (!size)
        return 0;
    memcpy(size, t->fill_sizes, t->live * sizeof *size);
    for (uint32_t i = 0; i < t->steps; i++)
        size[t->victims[i]] = t->sizes[i];
    uint64_t total = 0;
    for (uint32_t i = 0; i < t->live; i++)
        total += size[i];
    free(size);
    return total;
}

static int vblock_once(const trace *t, gpumem_vblock_allocation *live, vblock_run *run)
{
    gpumem_vblock vb;
    gpumem_result r = gpumem_vblock_create(TRACE_VBLOCK_SIZE, &vb);
    if (r != GPUMEM_OK)
        return failed(r, "vblock create");
    gpumem_vblock_stats stats;
    double start = 0, end = 0;
    if ((r = vblock_fill(vb, t, live)) == GPUMEM_OK) {
        start = bench_now();
        r = vblock_churn(vb, t, live);
        end = bench_now();
    }
    if (r == GPUMEM_OK)
        r = gpumem_vblock_stats_get(vb, &stats);
    if (r != GPUMEM_OK)
        failed(r, "vblock trace"); /* before destroy, which clears the message */
    gpumem_vblock_destroy(vb);
    if (r != GPUMEM_OK)
        return 1;
    run->ns_per_pair = (end - start) * 1e9 / t->steps;
    run->span_over_used = stats.used_bytes ? (double)stats.span / (double)stats.used_bytes : 0;
    uint64_t requested = requested_at_end(t);
    run->span_over_requested = requested ? (double)stats.span / (double)requested : 0;
    return 0;
}

/* One trace of the suballocator: `prefix` names its results ("" for the log-uniform 10k-live
 * trace, whose names predate the others). */
static int vblock_trace(bench_context *c, const char *prefix, uint32_t live_count, double low,
                        double high)
{
    uint32_t repeats = c->options.repeats;
    trace t;
    uint32_t steps = c->options.quick ? 200000 : 2000000;
    if (trace_make(&t, c->options.seed, live_count, steps, low, high))
        return 1;
    gpumem_vblock_allocation *live = malloc(t.live * sizeof *live);
    double *ns = malloc(repeats * sizeof *ns);
    int status = !live || !ns ? bench_out_of_memory("vblock") : 0;
    vblock_run run = {0};
    char what[64], name[64];
    snprintf(what, sizeof what, "vblock/%strace", prefix);
    bench_progress(&c->options, what, 0, repeats);
    for (uint32_t i = 0; i < repeats && !status; i++) {
        status = vblock_once(&t, live, &run);
        ns[i] = run.ns_per_pair;
        bench_progress(&c->options, what, i + 1, repeats);
    }
    if (!status) {
        snprintf(name, sizeof name, "%salloc_free_pair", prefix);
        bench_result_runs(&c->options, "vblock", name, ns, repeats, "ns/pair");
        /* The trace and the allocator are deterministic: every run ends with the same span. */
        snprintf(name, sizeof name, "%sspan_over_used", prefix);
        bench_result(&c->options, "vblock", name, run.span_over_used, "x");
        /* Over the bytes asked for: used bytes include padding and remainders kept in blocks. */
        snprintf(name, sizeof name, "%sspan_over_requested", prefix);
        bench_result(&c->options, "vblock", name, run.span_over_requested, "x");
    }
    free(ns);
    free(live);
    trace_free(&t);
    return status;
}

/* The traces of docs/performance.md: log-uniform 256 B to 4 MiB with 10k and 100k live, equal
 * 64 KiB sizes, and bimodal sizes (90% small, 10% 1-4 MiB). */
static int bench_vblock(bench_context *c)
{
    int status = vblock_trace(c, "", 10000, 256, 4 << 20);
    if (!status)
        status = vblock_trace(c, "live_100k_", 100000, 256, 4 << 20);
    if (!status)
        status = vblock_trace(c, "equal_64k_", 10000, 64 << 10, 0);
    if (!status)
        status = vblock_trace(c, "bimodal_", 10000, 0, 0);
    return status;
}

/* --- section pool --- */

static gpumem_result pool_fill(gpumem_pool pool, const trace *t, gpumem_buffer *live)
{
    for (uint32_t i = 0; i < t->live; i++) {
        gpumem_buffer_desc desc = {.size = t->fill_sizes[i]};
        gpumem_result r = gpumem_buffer_create(pool, &desc, &live[i]);
        if (r != GPUMEM_OK)
            return r;
    }
    return GPUMEM_OK;
}

static gpumem_result pool_churn(gpumem_pool pool, const trace *t, gpumem_buffer *live)
{
    for (uint32_t i = 0; i < t->steps; i++) {
        gpumem_buffer *slot = &live[t->victims[i]];
        gpumem_buffer_desc desc = {.size = t->sizes[i]};
        gpumem_result r = gpumem_buffer_destroy(*slot);
        if (r == GPUMEM_OK)
            r = gpumem_buffer_create(pool, &desc, slot);
        if (r != GPUMEM_OK)
            return r;
    }
    return GPUMEM_OK;
}

/* `nested` scratch buffers (64 KiB, then 20,000 bytes more each) made and destroyed in reverse
 * order, `steps` times, in a fresh pool of `device` beside SCRATCH_LIVE smaller live buffers
 * made first (temporaries in a loop, after an application's own buffers); *ns is the time per
 * buffer made and destroyed. */
enum { SCRATCH_LIVE = 64, SCRATCH_NESTED = 3 };

static int pool_scratch(gpumem_device device, uint32_t steps, uint32_t nested, double *ns)
{
    gpumem_pool_desc pool_desc = {.name = "bench scratch", .kind = GPUMEM_POOL_PAGED};
    gpumem_pool pool;
    gpumem_result r = gpumem_pool_create(device, &pool_desc, &pool);
    if (r != GPUMEM_OK)
        return failed(r, "pool create");
    gpumem_buffer live[SCRATCH_LIVE];
    for (uint32_t i = 0; i < SCRATCH_LIVE && r == GPUMEM_OK; i++) {
        gpumem_buffer_desc desc = {.size = 4096 + 512 * (uint64_t)i};
        r = gpumem_buffer_create(pool, &desc, &live[i]);
    }
    const char *what = r == GPUMEM_OK ? "scratch buffer" : "scratch pool's live buffers";
    gpumem_buffer scratch[SCRATCH_NESTED];
    double start = bench_now();
    for (uint32_t i = 0; i < steps && r == GPUMEM_OK; i++) {
        uint32_t made = 0;
        for (; made < nested && r == GPUMEM_OK; made++) {
            gpumem_buffer_desc desc = {.size = (64 << 10) + 20000 * (uint64_t)made};
            r = gpumem_buffer_create(pool, &desc, &scratch[made]);
        }
        made -= r != GPUMEM_OK; /* the failed one was not made */
        while (made) {
            gpumem_result destroyed = gpumem_buffer_destroy(scratch[--made]);
            r = r == GPUMEM_OK ? destroyed : r;
        }
    }
    *ns = (bench_now() - start) * 1e9 / ((double)steps * nested);
    if (r != GPUMEM_OK) { /* said before the pool goes, which clears the message */
        failed(r, what);
        gpumem_pool_destroy(pool);
        return 1;
    }
    r = gpumem_pool_destroy(pool); /* its live buffers with it */
    return r == GPUMEM_OK ? 0 : failed(r, "pool destroy");
}

/* Lookups in a random order of the live buffers, drawn before the timing. An order repeated
 * round after round would be learnt by the branch predictor (the first version of this
 * benchmark looked the buffers up in the same order each round, and read a third of what a
 * random order costs); this many draws are far more than a predictor holds. */
#define FIND_ORDER 65536u
#define FIND_ORDER_SEED 0x66696e64u /* "find" */

/* Looks live buffers up by the address of their middle byte, `rounds` times as many lookups as
 * there are buffers, each of a buffer drawn at random; the time per lookup.
 * GPUMEM_ERROR_UNSUPPORTED where memory has no addresses. */
static gpumem_result pool_finds(bench_context *c, const trace *t, const gpumem_buffer *live,
                                uint32_t rounds, double *ns)
{
    uint64_t *addresses = malloc(t->live * sizeof *addresses);
    if (!addresses)
        return GPUMEM_ERROR_OUT_OF_HOST_MEMORY;
    gpumem_result r = GPUMEM_OK;
    for (uint32_t i = 0; i < t->live && r == GPUMEM_OK; i++) {
        gpumem_native_buffer native;
        gpumem_buffer_info info;
        if ((r = gpumem_buffer_native(live[i], &native)) == GPUMEM_OK &&
            (r = gpumem_buffer_info_get(live[i], &info)) == GPUMEM_OK)
            addresses[i] = native.address + info.size / 2;
    }
    uint32_t *order = malloc(FIND_ORDER * sizeof *order);
    if (!order) {
        free(addresses);
        return GPUMEM_ERROR_OUT_OF_HOST_MEMORY;
    }
    rng draws = {.state = c->options.seed ^ FIND_ORDER_SEED}; /* not the trace's numbers */
    for (uint32_t k = 0; k < FIND_ORDER; k++)
        order[k] = rng_below(&draws, t->live);
    gpumem_buffer found;
    uint64_t offset;
    uint64_t lookups = (uint64_t)rounds * t->live;
    double start = bench_now();
    for (uint64_t k = 0; k < lookups && r == GPUMEM_OK; k++)
        r = gpumem_buffer_find(c->device, addresses[order[k % FIND_ORDER]], &found, &offset);
    *ns = (bench_now() - start) * 1e9 / (double)lookups;
    free(order);
    free(addresses);
    return r;
}

/* One run on a fresh pool of `kind` of `device`; *ns is the time per pair, overhead[0] reserved
 * over used at the end, overhead[1] reserved over the bytes the live buffers asked for (used
 * bytes count what a buffer holds: its class's rounding, a larger kept range it took).
 * `indexed`: the pool is searched by address once before the run (so it keeps its address index
 * up to date through it), and *find_ns is the time of a lookup afterwards; returns -1 where
 * memory has no addresses. */
static int pool_once(bench_context *c, gpumem_device device, const trace *t, gpumem_buffer *live,
                     int indexed, uint32_t kind, double *ns, double *overhead,
                     double *find_ns)
{
    gpumem_pool_desc desc = {.name = "bench", .kind = kind};
    gpumem_pool pool;
    gpumem_result r = gpumem_pool_create(device, &desc, &pool);
    if (r != GPUMEM_OK)
        return failed(r, "pool create");
    gpumem_pool_stats stats;
    double start = 0, end = 0;
    if ((r = pool_fill(pool, t, live)) == GPUMEM_OK && indexed)
        r = pool_finds(c, t, live, 1, find_ns);
    if (r == GPUMEM_ERROR_UNSUPPORTED) {
        gpumem_pool_destroy(pool);
        return -1;
    }
    if (r == GPUMEM_OK) {
        start = bench_now();
        r = pool_churn(pool, t, live);
        end = bench_now();
    }
    if (r == GPUMEM_OK && indexed)
        r = pool_finds(c, t, live, c->options.quick ? 40 : 400, find_ns);
    if (r == GPUMEM_OK)
        r = gpumem_pool_stats_get(pool, &stats);
    if (r != GPUMEM_OK) {
        failed(r, "pool trace");
        gpumem_pool_destroy(pool);
        return 1;
    }
    if ((r = gpumem_pool_destroy(pool)) != GPUMEM_OK)
        return failed(r, "pool destroy");
    *ns = (end - start) * 1e9 / t->steps;
    uint64_t requested = requested_at_end(t);
    overhead[0] = stats.used_bytes ? (double)stats.reserved_bytes / (double)stats.used_bytes : 0;
    overhead[1] = requested ? (double)stats.reserved_bytes / (double)requested : 0;
    return 0;
}

/* The benchmark's device again, opened with GPUMEM_DEVICE_OPEN_EXTERNALLY_SYNCHRONIZED (its
 * pools take no lock); *device stays NULL, and the row is left out, where the library refuses
 * the flag as unknown (an earlier libgpumem, compared through tools/bench-libs.sh). */
static int open_external(bench_context *c, gpumem_device *device)
{
    gpumem_device_desc desc = {
        .backend = c->properties.backend,
        .flags = GPUMEM_DEVICE_OPEN_INDEX | GPUMEM_DEVICE_OPEN_EXTERNALLY_SYNCHRONIZED,
        .device_index = c->properties.device_index,
    };
    gpumem_result r = gpumem_device_open(&desc, device);
    if (r == GPUMEM_ERROR_INVALID_ARGUMENT) {
        fprintf(stderr, "gpumem-bench: pool/create_destroy_pair_external left out: %s\n",
                gpumem_last_error());
        *device = NULL;
        return 0;
    }
    return r == GPUMEM_OK ? 0 : failed(r, "externally synchronized device open");
}

static int bench_pool(bench_context *c)
{
    uint32_t repeats = c->options.repeats;
    trace t;
    if (trace_make(&t, c->options.seed, c->options.pool_live, c->options.quick ? 20000 : 200000,
                   256, 1 << 20))
        return 1;
    gpumem_buffer *live = malloc(t.live * sizeof *live);
    double *ns = malloc(7 * repeats * sizeof *ns);
    double overhead[2] = {0, 0}, unused[2];
    int status = !live || !ns ? bench_out_of_memory("pool") : 0, indexed_status = 0;
    double *indexed_ns = ns + repeats, *find_ns = ns + 2 * repeats;
    double *external_ns = ns + 3 * repeats;
    /* The runtime's own pool where the device has one: each create and destroy a stream-ordered
     * allocation and free (a host's create waits for the default stream). */
    double *native_ns = ns + 4 * repeats;
    double *scratch_ns = ns + 5 * repeats, *nested_ns = ns + 6 * repeats;
    int native = c->properties.native_pools;
    gpumem_device external = NULL;
    if (!status)
        status = open_external(c, &external);
    bench_progress(&c->options, "pool", 0, repeats);
    for (uint32_t i = 0; i < repeats && !status; i++) {
        /* Plain (with the scratch loops after it), indexed and externally synchronized runs
         * alternate, so that all see the same machine. A failure of the plain, scratch or
         * externally synchronized runs ends the section. */
        status = pool_once(c, c->device, &t, live, 0, GPUMEM_POOL_PAGED, &ns[i], overhead,
                           unused);
        if (!status)
            status = pool_scratch(c->device, t.steps, 1, &scratch_ns[i]);
        if (!status)
            status = pool_scratch(c->device, t.steps / SCRATCH_NESTED, SCRATCH_NESTED,
                                  &nested_ns[i]);
        if (!status && !indexed_status)
            indexed_status = pool_once(c, c->device, &t, live, 1, GPUMEM_POOL_PAGED,
                                       &indexed_ns[i], unused, &find_ns[i]);
        if (indexed_status > 0)
            status = indexed_status;
        if (!status && external)
            status = pool_once(c, external, &t, live, 0, GPUMEM_POOL_PAGED, &external_ns[i],
                               unused, unused);
        /* Best effort: a native run that fails drops its own row only, saying why. */
        if (!status && native &&
            pool_once(c, c->device, &t, live, 0, GPUMEM_POOL_NATIVE, &native_ns[i], unused,
                      unused) != 0) {
            fprintf(stderr, "gpumem-bench: pool/create_destroy_pair_native left out\n");
            native = 0;
        }
        bench_progress(&c->options, "pool", i + 1, repeats);
    }
    gpumem_result closed = external ? gpumem_device_close(external) : GPUMEM_OK;
    if (closed != GPUMEM_OK && !status)
        status = failed(closed, "externally synchronized device close");
    if (!status) {
        bench_result_runs(&c->options, "pool", "create_destroy_pair", ns, repeats, "ns/pair");
        bench_result(&c->options, "pool", "reserved_over_used", overhead[0], "x");
        bench_result(&c->options, "pool", "reserved_over_requested", overhead[1], "x");
        bench_result_runs(&c->options, "pool", "create_destroy_pair_scratch", scratch_ns, repeats,
                          "ns/pair");
        bench_result_runs(&c->options, "pool", "create_destroy_pair_scratch_nested", nested_ns,
                          repeats, "ns/pair");
        if (indexed_status == 0) {
            bench_result_runs(&c->options, "pool", "create_destroy_pair_indexed", indexed_ns,
                              repeats, "ns/pair");
            bench_result_runs(&c->options, "pool", "find_by_address", find_ns, repeats,
                              "ns/call");
        }
        if (external)
            bench_result_runs(&c->options, "pool", "create_destroy_pair_external", external_ns,
                              repeats, "ns/pair");
        if (native)
            bench_result_runs(&c->options, "pool", "create_destroy_pair_native", native_ns,
                              repeats, "ns/pair");
    }
    free(ns);
    free(live);
    trace_free(&t);
    return status;
}

/* --- section transfer --- */

typedef struct transfer_setup {
    uint64_t size;
    gpumem_pool pool;
    gpumem_buffer buffer;
    unsigned char *source;      /* host memory the writes read */
    unsigned char *destination; /* host memory the reads fill */
} transfer_setup;

/* Device-local memory is what applications move data into; a device without any (none is
 * known yet) still gets a number from its default pool. */
static gpumem_result transfer_pool(gpumem_device device, gpumem_pool *pool)
{
    gpumem_pool_desc desc = {.required_flags = GPUMEM_MEMORY_DEVICE_LOCAL, .name = "transfer"};
    gpumem_result r = gpumem_pool_create(device, &desc, pool);
    if (r == GPUMEM_ERROR_NOT_FOUND) {
        desc.required_flags = 0;
        r = gpumem_pool_create(device, &desc, pool);
    }
    return r;
}

static int transfer_open(bench_context *c, transfer_setup *s)
{
    s->size = c->options.transfer_size;
    s->source = malloc(s->size);
    s->destination = malloc(s->size);
    if (!s->source || !s->destination)
        return bench_out_of_memory("transfer buffers");
    /* Touched, so the first measured run does not pay for the kernel's page faults (and not
     * with zeros, which a compiler may turn into a calloc that touches nothing). */
    for (uint64_t i = 0; i < s->size; i++)
        s->source[i] = (unsigned char)(i * 131 + (i >> 12));
    memset(s->destination, 0xa5, s->size);
    gpumem_result r = transfer_pool(c->device, &s->pool);
    if (r != GPUMEM_OK)
        return failed(r, "transfer pool");
    gpumem_buffer_desc desc = {.size = s->size};
    if ((r = gpumem_buffer_create(s->pool, &desc, &s->buffer)) != GPUMEM_OK)
        return failed(r, "transfer buffer");
    /* One untimed round trip warms the page (and any staging), and proves the data arrives. */
    if ((r = gpumem_buffer_write(s->buffer, 0, s->source, s->size)) != GPUMEM_OK)
        return failed(r, "buffer write");
    if ((r = gpumem_buffer_read(s->buffer, 0, s->destination, s->size)) != GPUMEM_OK)
        return failed(r, "buffer read");
    if (memcmp(s->source, s->destination, s->size) != 0) {
        fprintf(stderr, "gpumem-bench: transfer: read back differs from what was written\n");
        return 1;
    }
    return 0;
}

static void transfer_close(transfer_setup *s)
{
    if (s->pool)
        gpumem_pool_destroy(s->pool);
    free(s->source);
    free(s->destination);
}

enum { TRANSFER_WRITE, TRANSFER_WRITE_NEW, TRANSFER_READ, TRANSFER_MEMCPY };

/* A write into a buffer made for it and destroyed after it: what the first write into new memory
 * costs, the create, the runtime's first touches of the memory and the destroy included. The
 * buffer has a page of its own (at any --size), which its destroy gives back. Measured last, as
 * it needs room for a second buffer of the size. */
static gpumem_result transfer_write_new(transfer_setup *s)
{
    gpumem_buffer_desc desc = {.size = s->size, .flags = GPUMEM_BUFFER_DEDICATED};
    gpumem_buffer buffer;
    gpumem_result r = gpumem_buffer_create(s->pool, &desc, &buffer);
    if (r != GPUMEM_OK)
        return r;
    r = gpumem_buffer_write(buffer, 0, s->source, s->size);
    gpumem_result destroyed = gpumem_buffer_destroy(buffer);
    return r != GPUMEM_OK ? r : destroyed;
}

static gpumem_result transfer_once(transfer_setup *s, int kind)
{
    switch (kind) {
    case TRANSFER_WRITE: return gpumem_buffer_write(s->buffer, 0, s->source, s->size);
    case TRANSFER_WRITE_NEW: return transfer_write_new(s);
    case TRANSFER_READ: return gpumem_buffer_read(s->buffer, 0, s->destination, s->size);
    default: memcpy(s->destination, s->source, s->size); return GPUMEM_OK;
    }
}

static int transfer_measure(bench_context *c, transfer_setup *s, int kind, const char *name)
{
    uint32_t repeats = c->options.repeats;
    double *seconds = malloc(repeats * sizeof *seconds);
    if (!seconds)
        return bench_out_of_memory("transfer");
    char what[64];
    snprintf(what, sizeof what, "transfer/%s", name);
    bench_progress(&c->options, what, 0, repeats);
    for (uint32_t i = 0; i < repeats; i++) {
        double start = bench_now();
        gpumem_result r = transfer_once(s, kind);
        seconds[i] = bench_now() - start;
        if (r != GPUMEM_OK) {
            free(seconds);
            return failed(r, what);
        }
        bench_progress(&c->options, what, i + 1, repeats);
    }
    /* A read of the copy keeps the compiler from dropping a memcpy whose result is unused. */
    volatile unsigned char sink = s->destination[s->size - 1];
    (void)sink;
    for (uint32_t i = 0; i < repeats; i++)
        seconds[i] = (double)s->size / seconds[i] * 1e-9; /* GB/s of each run */
    bench_result_runs(&c->options, "transfer", name, seconds, repeats, "GB/s");
    free(seconds);
    return 0;
}

static int bench_transfer(bench_context *c)
{
    transfer_setup s = {0};
    int status = transfer_open(c, &s);
    if (!status)
        status = transfer_measure(c, &s, TRANSFER_WRITE, "write");
    if (!status)
        status = transfer_measure(c, &s, TRANSFER_READ, "read");
    if (!status)
        status = transfer_measure(c, &s, TRANSFER_MEMCPY, "memcpy");
    if (!status)
        status = transfer_measure(c, &s, TRANSFER_WRITE_NEW, "write-new");
    transfer_close(&s);
    return status;
}

/* --- section call: what the HAL itself costs per call --- */

/* A tiny transfer costs next to nothing natively (on host, a 4-byte memcpy), so its time is
 * the HAL's own: the handle lookup, the checks, the path choice, the guards around the call. */
typedef enum call_kind { CALL_WRITE4, CALL_READ4, CALL_INFO, CALL_MEMCPY4 } call_kind;

static gpumem_result call_loop(gpumem_buffer buffer, call_kind kind, uint32_t calls,
                               unsigned char *host)
{
    gpumem_buffer_info info;
    gpumem_result r = GPUMEM_OK;
    for (uint32_t i = 0; i < calls && r == GPUMEM_OK; i++) {
        switch (kind) {
        case CALL_WRITE4: r = gpumem_buffer_write(buffer, (i & 255) * 4, host, 4); break;
        case CALL_READ4: r = gpumem_buffer_read(buffer, (i & 255) * 4, host, 4); break;
        case CALL_INFO: r = gpumem_buffer_info_get(buffer, &info); break;
        case CALL_MEMCPY4:
            /* The same work without the HAL: a 4-byte copy the compiler must keep. */
            memcpy(host + 4 + (i & 255) * 4, host, 4);
            __asm__ volatile("" : : "r"(host) : "memory");
            break;
        }
    }
    return r;
}

static int call_measure(bench_context *c, gpumem_buffer buffer, call_kind kind,
                        const char *name)
{
    uint32_t repeats = c->options.repeats, calls = c->options.quick ? 100000 : 2000000;
    unsigned char host[4 + 1024] = {1, 2, 3, 4};
    double *ns = malloc(repeats * sizeof *ns);
    if (!ns)
        return bench_out_of_memory("call");
    gpumem_result r = call_loop(buffer, kind, calls / 10, host); /* warm */
    for (uint32_t i = 0; i < repeats && r == GPUMEM_OK; i++) {
        double start = bench_now();
        r = call_loop(buffer, kind, calls, host);
        ns[i] = (bench_now() - start) * 1e9 / calls;
    }
    if (r == GPUMEM_OK)
        bench_result_runs(&c->options, "call", name, ns, repeats, "ns/call");
    free(ns);
    return r == GPUMEM_OK ? 0 : failed(r, name);
}

/* On the host backend whatever the device: there the native work is a memcpy, so what is left
 * is the HAL's own cost (on a GPU the runtime's microseconds would hide it). */
static int bench_call(bench_context *c)
{
    gpumem_device host;
    gpumem_device_desc dd = {.backend = "host"};
    gpumem_result r = gpumem_device_open(&dd, &host);
    if (r != GPUMEM_OK)
        return failed(r, "host device open");
    gpumem_pool pool;
    gpumem_pool_desc pd = {.name = "call"};
    if ((r = gpumem_pool_create(host, &pd, &pool)) != GPUMEM_OK) {
        gpumem_device_close(host);
        return failed(r, "pool create");
    }
    gpumem_buffer buffer;
    gpumem_buffer_desc bd = {.size = 4096};
    int status = (r = gpumem_buffer_create(pool, &bd, &buffer)) != GPUMEM_OK
                     ? failed(r, "buffer create")
                     : 0;
    if (!status)
        status = call_measure(c, buffer, CALL_WRITE4, "write_4_bytes");
    if (!status)
        status = call_measure(c, buffer, CALL_READ4, "read_4_bytes");
    if (!status)
        status = call_measure(c, buffer, CALL_INFO, "buffer_info");
    if (!status)
        status = call_measure(c, buffer, CALL_MEMCPY4, "memcpy_4_bytes");
    gpumem_device_close(host);
    return status;
}

/* --- backend sections --- */

static int bench_backend(bench_context *c, const char *backend)
{
    if (strcmp(c->properties.backend, backend) != 0) {
        if (!c->section)
            return 0; /* all sections: the ones of other backends do not apply */
        fprintf(stderr, "gpumem-bench: section '%s' needs the %s backend; the device is %s's"
                        " (set GPUMEM_BACKEND=%s)\n", backend, backend, c->properties.backend,
                backend);
        return 1;
    }
#ifdef GPUMEM_BENCH_VULKAN
    if (strcmp(backend, "vulkan") == 0) {
        if (bench_vulkan(c->device, &c->options))
            c->partial = backend;
        return 0;
    }
#endif
#ifdef GPUMEM_BENCH_CUDA
    if (strcmp(backend, "cuda") == 0) {
        if (bench_cuda(c->device, &c->options))
            c->partial = backend;
        return 0;
    }
#endif
    if (!c->section)
        return 0;
    fprintf(stderr, "gpumem-bench: this gpumem-bench was built without the %s section\n",
            backend);
    return 1;
}

static int bench_vulkan_section(bench_context *c)
{
    return bench_backend(c, "vulkan");
}

static int bench_cuda_section(bench_context *c)
{
    return bench_backend(c, "cuda");
}

/* --- section scale: how the costs grow with live allocations and threads --- */

static const uint32_t scale_live[] = {1000, 10000, 100000, 1000000};
/* The pool's counts: scale_live's, after two whose records all stay in a core's first-level
 * cache (16) or nearly (256, as many as the pool section's trace holds), so that the rows show
 * what a pair costs without waiting for memory. */
static const uint32_t scale_pool_live[] = {16, 256, 1000, 10000, 100000, 1000000};

/* The suballocator alone, log-uniform 256 B to 64 KiB, at 1k to 1M live allocations. */
static int scale_vblock(bench_context *c)
{
    int status = 0;
    for (size_t k = 0; k < sizeof scale_live / sizeof scale_live[0] && !status; k++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "scale_live_%u_", scale_live[k]);
        status = vblock_trace(c, prefix, scale_live[k], 256, 64 << 10);
    }
    return status;
}

/* A pool trace of scale: live buffers of `low` to `high` bytes in pages of `page_size` (0: the
 * default), named `stem` (pool_live_N_... or pool_pages_live_N_...). */
typedef struct scale_pool_kind {
    const char *stem;
    uint64_t page_size;
    double low, high;
    uint32_t quick_live; /* the most live buffers a --quick run makes */
} scale_pool_kind;

/* 256 B to 4 KiB in the default pages: a few pages even at a million buffers. */
static const scale_pool_kind small_buffers = {"pool", 0, 256, 4 << 10, 100000};
/* 8 to 256 KiB in pages of 1 MiB: a page for every 15 buffers, as large buffers in a large pool
 * (10,000 buffers of 256 KiB to 8 MiB in 32 MiB pages take 805 pages, 23 GB). A create that
 * missed the reuse cache walked the pages, 2.4 ns each, before the pool's page index. */
static const scale_pool_kind many_pages = {"pool_pages", 1 << 20, 8 << 10, 256 << 10, 1000};
static const uint32_t many_pages_live[] = {1000, 10000, 40000};

/* Buffers of the default device's paged pool, of `kind`, at each of `count` numbers of live
 * buffers; `suffix` ends the results' names. */
static int scale_pool_of(bench_context *c, const scale_pool_kind *kind,
                         const uint32_t *live_counts, size_t count, const char *suffix)
{
    uint32_t repeats = c->options.repeats;
    double *ns = malloc(repeats * sizeof *ns);
    int status = ns ? 0 : bench_out_of_memory("scale");
    for (size_t k = 0; k < count && !status; k++) {
        uint32_t live_count = live_counts[k];
        if (c->options.quick && live_count > kind->quick_live)
            break; /* a smoke run: a million buffers take a while to make */
        trace t;
        uint32_t steps = c->options.quick ? 100000 : 1000000;
        if (trace_make(&t, c->options.seed, live_count, steps, kind->low, kind->high)) {
            status = 1;
            break;
        }
        gpumem_buffer *live = malloc(t.live * sizeof *live);
        status = live ? 0 : bench_out_of_memory("scale");
        gpumem_pool_stats stats = {0};
        int left_out = 0; /* the device's memory is too small for the trace (then no row) */
        for (uint32_t i = 0; i < repeats && !status && !left_out; i++) {
            gpumem_pool_desc desc = {.name = "scale", .page_size = kind->page_size};
            gpumem_pool pool = NULL;
            gpumem_result r = gpumem_pool_create(c->device, &desc, &pool);
            double start = 0, end = 0;
            if (r == GPUMEM_OK && (r = pool_fill(pool, &t, live)) == GPUMEM_OK) {
                start = bench_now();
                r = pool_churn(pool, &t, live);
                end = bench_now();
            }
            if (r == GPUMEM_OK) /* the pages a create may walk: deterministic, as the trace */
                r = gpumem_pool_stats_get(pool, &stats);
            if (r == GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY) {
                fprintf(stderr, "gpumem-bench: scale/%s_live_%u left out: %s\n", kind->stem,
                        live_count, gpumem_last_error());
                left_out = 1;
            } else if (r != GPUMEM_OK) {
                status = failed(r, "scale pool");
            }
            if (pool)
                gpumem_pool_destroy(pool);
            ns[i] = (end - start) * 1e9 / t.steps;
        }
        if (!status && !left_out) {
            char name[48];
            snprintf(name, sizeof name, "%s_live_%u_create_destroy_pair%s", kind->stem,
                     live_count, suffix);
            bench_result_runs(&c->options, "scale", name, ns, repeats, "ns/pair");
            snprintf(name, sizeof name, "%s_live_%u_pages%s", kind->stem, live_count, suffix);
            bench_result(&c->options, "scale", name, (double)stats.page_count, "pages");
        }
        free(live);
        trace_free(&t);
        if (left_out)
            break; /* more buffers would not fit either */
    }
    free(ns);
    return status;
}

static int scale_pool(bench_context *c, const uint32_t *live_counts, size_t count,
                      const char *suffix)
{
    return scale_pool_of(c, &small_buffers, live_counts, count, suffix);
}

/* One thread's churn on the shared pool: its own 1,000 live buffers, made by the thread (in
 * its arena, where the pool has arenas) before the clock starts. */
typedef struct scale_worker {
    pthread_t thread;
    gpumem_pool pool;
    const trace *trace;
    gpumem_buffer *live;
    pthread_barrier_t *filled; /* every worker, and the thread that times them */
    gpumem_result result;
} scale_worker;

static void *scale_work(void *argument)
{
    scale_worker *w = argument;
    gpumem_result filled = pool_fill(w->pool, w->trace, w->live);
    pthread_barrier_wait(w->filled);
    w->result = filled == GPUMEM_OK ? pool_churn(w->pool, w->trace, w->live) : filled;
    return NULL;
}

/* Where the threads of scale_threads create. */
typedef enum scale_sharing {
    ONE_POOL,  /* one pool of one arena */
    OWN_POOLS, /* a pool each */
    ARENAS,    /* one pool with an arena for each thread (gpumem_pool_desc.arena_count) */
} scale_sharing;

/* 1, 2, 4 and 8 threads creating and destroying buffers at once, as `sharing` says: the time
 * per pair each thread sees, and the pairs per microsecond of all threads together. */
static int scale_threads(bench_context *c, scale_sharing sharing)
{
    enum { MOST = 8 };
    uint32_t repeats = c->options.repeats;
    trace t;
    if (trace_make(&t, c->options.seed, 1000, c->options.quick ? 50000 : 500000, 256, 4 << 10))
        return 1;
    scale_worker workers[MOST];
    gpumem_buffer *live = malloc((size_t)MOST * t.live * sizeof *live);
    double *ns = malloc(repeats * sizeof *ns);
    int status = live && ns ? 0 : bench_out_of_memory("scale");
    for (uint32_t threads = 1; threads <= MOST && !status; threads *= 2) {
        for (uint32_t i = 0; i < repeats && !status; i++) {
            gpumem_pool_desc desc = {.name = "threads",
                                     .arena_count = sharing == ARENAS ? threads : 0};
            gpumem_pool pools[MOST] = {NULL};
            uint32_t pool_count = sharing == OWN_POOLS ? threads : 1;
            gpumem_result r = GPUMEM_OK;
            for (uint32_t k = 0; k < pool_count && r == GPUMEM_OK; k++)
                r = gpumem_pool_create(c->device, &desc, &pools[k]);
            if (r != GPUMEM_OK) {
                status = failed(r, "scale threads");
                for (uint32_t k = 0; k < pool_count; k++)
                    if (pools[k])
                        gpumem_pool_destroy(pools[k]);
                break;
            }
            pthread_barrier_t filled;
            pthread_barrier_init(&filled, NULL, threads + 1);
            uint32_t started = 0;
            for (; started < threads; started++) {
                workers[started] = (scale_worker){.pool = pools[started % pool_count], .trace = &t,
                                                  .live = live + (size_t)started * t.live,
                                                  .filled = &filled};
                if (pthread_create(&workers[started].thread, NULL, scale_work,
                                   &workers[started]) != 0)
                    break;
            }
            if (started < threads) { /* no thread: abort() is all a barrier short of one allows */
                fprintf(stderr, "gpumem-bench: scale: no thread\n");
                abort();
            }
            pthread_barrier_wait(&filled);
            double start = bench_now();
            for (uint32_t k = 0; k < started; k++) {
                pthread_join(workers[k].thread, NULL);
                if (workers[k].result != GPUMEM_OK && !status)
                    status = failed(workers[k].result, "scale thread");
            }
            ns[i] = (bench_now() - start) * 1e9 / t.steps;
            pthread_barrier_destroy(&filled);
            for (uint32_t k = 0; k < pool_count; k++)
                if (pools[k])
                    gpumem_pool_destroy(pools[k]);
        }
        if (!status) {
            char name[48];
            const char *where = sharing == OWN_POOLS ? "own_pools"
                                : sharing == ARENAS  ? "arenas"
                                                     : "one_pool";
            snprintf(name, sizeof name, "threads_%u_%s_ns_per_pair_per_thread", threads, where);
            double median = bench_median(ns, repeats);
            bench_result_runs(&c->options, "scale", name, ns, repeats, "ns/pair");
            snprintf(name, sizeof name, "threads_%u_%s_pairs_per_us", threads, where);
            bench_result(&c->options, "scale", name, threads * 1e3 / median, "pairs/us");
        }
    }
    free(ns);
    free(live);
    trace_free(&t);
    return status;
}

/* 1 to 8 threads in one pool, in pools of their own and over arenas; then the 1k-live pool trace
 * again on this thread. */
static int scale_threads_then_shared(bench_context *c)
{
    int status = scale_threads(c, ONE_POOL);
    if (!status)
        status = scale_threads(c, OWN_POOLS);
    if (!status)
        status = scale_threads(c, ARENAS);
    /* The 1k-live pool trace again, on this thread, now that other threads have taken the
     * pools' locks: the process's locks are shared from then on (core/lock.h, the lone thread),
     * so this row and pool_live_1000_create_destroy_pair are the same work with and without. */
    if (!status)
        status = scale_pool(c, scale_live, 1, "_shared");
    return status;
}

static int bench_scale(bench_context *c)
{
    int status = scale_vblock(c);
    if (!status)
        status = scale_pool(c, scale_pool_live, sizeof scale_pool_live / sizeof scale_pool_live[0],
                            "");
    if (!status)
        status = scale_pool_of(c, &many_pages, many_pages_live,
                               sizeof many_pages_live / sizeof many_pages_live[0], "");
    if (!status)
        status = scale_threads_then_shared(c);
    return status;
}

/* Scale's thread rows, between its 1k-live pool trace on this thread before and after them (in
 * a third of scale's time). */
static int bench_threads(bench_context *c)
{
    int status = scale_pool(c, scale_live, 1, "");
    if (!status)
        status = scale_threads_then_shared(c);
    return status;
}

/* Scale's rows of pools with many pages (in a fraction of scale's time). */
static int bench_pages(bench_context *c)
{
    return scale_pool_of(c, &many_pages, many_pages_live,
                         sizeof many_pages_live / sizeof many_pages_live[0], "");
}

/* --- command line --- */

typedef struct section {
    const char *name;
    int (*run)(bench_context *c);
    int only_when_named; /* a part of another section: not run again in a run of all */
} section;

static const section sections[] = {
    {"vblock", bench_vblock, 0},
    {"pool", bench_pool, 0},
    {"transfer", bench_transfer, 0},
    {"call", bench_call, 0},
    {"vulkan", bench_vulkan_section, 0},
    {"cuda", bench_cuda_section, 0},
    {"scale", bench_scale, 0},
    {"threads", bench_threads, 1},
    {"pages", bench_pages, 1},
};
#define SECTION_COUNT (sizeof sections / sizeof sections[0])

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gpumem-bench [--json] [--quick] [--repeats N] [--section NAME] [--size BYTES]\n"
            "                    [--seed N] [--live N]\n"
            "       gpumem-bench --version | --help\n"
            "Measures gpumem on the default device (GPUMEM_BACKEND, GPUMEM_DEVICE choose it).\n"
            "  --json          one JSON document of all results on stdout\n"
            "  --quick         small sizes and 3 repeats: a smoke run\n"
            "  --repeats N     runs per measurement, the median is reported (default 5)\n"
            "  --section NAME  only vblock, pool, transfer, call, vulkan, cuda or scale; or\n"
            "                  threads (scale's thread rows, between its 1k-live pool trace\n"
            "                  before and after them) or pages (scale's pools of many pages)\n"
            "  --size BYTES    bytes per transfer, with an optional K, M or G suffix\n"
            "                  (default 256M; --quick: 16M)\n"
            "  --seed N        seed of the vblock, pool and scale sections' random traces\n"
            "                  (decimal or 0x hex; default a fixed one): a span measured at\n"
            "                  the end of one trace is one sample, compare over several seeds\n"
            "  --live N        live buffers of the pool section's trace, 1 to 10000\n"
            "                  (default 256; about 126 KB each on average)\n"
            "  --version       the version (" GPUMEM_VERSION_STRING ")\n"
            "  --help          this text\n"
            "Output: one line per result, \"section/name: value unit\".\n");
}

/* Digits of base 10 or 16 (no sign, space or prefix) at the start of text, into *value; *end is
 * left at the first character after them. 0 when there are none or they pass 64 bits. */
static int parse_number(const char *text, int base, uint64_t *value, char **end)
{
    size_t digits = strspn(text, base == 16 ? "0123456789abcdefABCDEF" : "0123456789");
    errno = 0;
    unsigned long long number = strtoull(text, end, base);
    if (digits == 0 || *end != text + digits || errno)
        return 0;
    *value = number;
    return 1;
}

/* A decimal count; 0 when the text is not one. */
static uint64_t parse_count(const char *text)
{
    char *end;
    uint64_t value;
    return parse_number(text, 10, &value, &end) && !*end ? value : 0;
}

/* Bytes with an optional binary suffix ("64M"); 0 when the text is not a size. */
static uint64_t parse_size(const char *text)
{
    char *end;
    uint64_t value;
    if (!parse_number(text, 10, &value, &end))
        return 0;
    unsigned shift = 0;
    switch (*end) {
    case 'K': case 'k': shift = 10; end++; break;
    case 'M': case 'm': shift = 20; end++; break;
    case 'G': case 'g': shift = 30; end++; break;
    }
    if (*end || value > (UINT64_MAX >> shift))
        return 0;
    return (uint64_t)value << shift;
}

/* A 64-bit number, decimal (leading zeros allowed) or 0x hexadecimal, into *seed; 0 when the
 * text is not one. */
static int parse_seed(const char *text, uint64_t *seed)
{
    int hex = text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
    char *end;
    return parse_number(hex ? text + 2 : text, hex ? 16 : 10, seed, &end) && !*end;
}

/* "--name value" or "--name=value"; *i moves past what was used. NULL when absent. */
static const char *option_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        fprintf(stderr, "gpumem-bench: %s needs a value\n", name);
        exit(2);
    }
    return argv[++*i];
}

static int usage_error(const char *message, const char *argument)
{
    fprintf(stderr, "gpumem-bench: %s '%s'\n", message, argument);
    usage(stderr);
    return 2;
}

static int known_section(const char *name)
{
    for (size_t i = 0; i < SECTION_COUNT; i++)
        if (strcmp(sections[i].name, name) == 0)
            return 1;
    return 0;
}

/* Returns -1 to go on, else the exit status. */
static int parse_arguments(int argc, char **argv, bench_context *c)
{
    uint64_t repeats = 0, size = 0, live = 256;
    c->options.seed = TRACE_SEED;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *value;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(arg, "--version") == 0) {
            printf("gpumem-bench %s\n", GPUMEM_VERSION_STRING);
            return 0;
        } else if (strcmp(arg, "--json") == 0) {
            c->options.json = 1;
        } else if (strcmp(arg, "--quick") == 0) {
            c->options.quick = 1;
        } else if ((value = option_value(argc, argv, &i, "--repeats"))) {
            if (!(repeats = parse_count(value)) || repeats > 1000)
                return usage_error("--repeats wants a count from 1 to 1000, not", value);
        } else if ((value = option_value(argc, argv, &i, "--size"))) {
            if (!(size = parse_size(value)))
                return usage_error("--size wants a byte count, not", value);
        } else if ((value = option_value(argc, argv, &i, "--seed"))) {
            if (!parse_seed(value, &c->options.seed))
                return usage_error("--seed wants a number (decimal or 0x hex), not", value);
        } else if ((value = option_value(argc, argv, &i, "--live"))) {
            if (!(live = parse_count(value)) || live > 10000)
                return usage_error("--live wants a count from 1 to 10000, not", value);
        } else if ((value = option_value(argc, argv, &i, "--section"))) {
            if (!known_section(value))
                return usage_error("unknown section", value);
            c->section = value;
        } else {
            return usage_error("unknown argument", arg);
        }
    }
    c->options.repeats = repeats ? (uint32_t)repeats : c->options.quick ? 3 : 5;
    c->options.pool_live = (uint32_t)live;
    c->options.transfer_size = size ? size : c->options.quick ? 16u << 20 : 256u << 20;
    return -1;
}

static int open_device(bench_context *c)
{
    gpumem_result r = gpumem_device_open(NULL, &c->device);
    if (r != GPUMEM_OK)
        return failed(r, "device open");
    if ((r = gpumem_device_properties_get(c->device, &c->properties)) != GPUMEM_OK) {
        failed(r, "device properties");
        gpumem_device_close(c->device);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    format_check_stdout_at_exit("gpumem-bench");
    bench_context c = {0};
    int status = parse_arguments(argc, argv, &c);
    if (status >= 0)
        return status;
    if (open_device(&c))
        return 1;
    bench_header header = {c.properties.backend, c.properties.name};
    bench_report_begin(&c.options, &header);
    status = 0;
    for (size_t i = 0; i < SECTION_COUNT && !status; i++)
        if (c.section ? strcmp(c.section, sections[i].name) == 0 : !sections[i].only_when_named)
            status = sections[i].run(&c);
    if (!status)
        bench_report_end(&c.options);
    if (!status && c.partial) {
        fprintf(stderr, "gpumem-bench: the %s section measured only part of its results (the "
                        "failures are above); the report holds the rest\n", c.partial);
        status = 1;
    }
    gpumem_result r = gpumem_device_close(c.device);
    if (r != GPUMEM_OK)
        status |= failed(r, "device close");
    return status;
}
