/* The run: picks each op by weight from the next two input bytes, runs it, and at the end
 * closes everything. The log callback turns Vulkan validation messages into failures. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_internal.h"

static void write_sync(fz_ctx *c) { fz_op_write(c, 0); }
static void read_sync(fz_ctx *c) { fz_op_read(c, 0); }
static void copy_sync(fz_ctx *c) { fz_op_copy(c, 0); }
static void fill_sync(fz_ctx *c) { fz_op_fill(c, 0); }
static void write_stream(fz_ctx *c) { fz_op_write(c, 1); }
static void read_stream(fz_ctx *c) { fz_op_read(c, 1); }
static void copy_stream(fz_ctx *c) { fz_op_copy(c, 1); }
static void fill_stream(fz_ctx *c) { fz_op_fill(c, 1); }

typedef struct op_entry {
    fuzz_op op;
    const char *name;
    unsigned weight; /* out of the sum of all */
    void (*run)(fz_ctx *c);
} op_entry;

/* Opening and closing devices is slow (a Vulkan instance each, and the validation layer), so
 * both are rare; transfers and buffer churn are most of a run. */
static const op_entry ops[] = {
    {FUZZ_OP_DEVICE_OPEN, "device_open", 4, fz_op_device_open},
    {FUZZ_OP_DEVICE_CLOSE, "device_close", 2, fz_op_device_close},
    {FUZZ_OP_DEVICE_QUERY, "device_query", 60, fz_op_device_query},
    {FUZZ_OP_POOL_CREATE, "pool_create", 70, fz_op_pool_create},
    {FUZZ_OP_POOL_DESTROY, "pool_destroy", 35, fz_op_pool_destroy},
    {FUZZ_OP_POOL_TRIM, "pool_trim", 40, fz_op_pool_trim},
    {FUZZ_OP_POOL_STATS, "pool_stats", 150, fz_op_pool_stats},
    {FUZZ_OP_POOL_CHECK, "pool_check", 60, fz_op_pool_check},
    {FUZZ_OP_BUFFER_CREATE, "buffer_create", 900, fz_op_buffer_create},
    {FUZZ_OP_BUFFER_DESTROY, "buffer_destroy", 800, fz_op_buffer_destroy},
    {FUZZ_OP_BUFFER_INFO, "buffer_info", 300, fz_op_buffer_info},
    {FUZZ_OP_BUFFER_NATIVE, "buffer_native", 150, fz_op_buffer_native},
    {FUZZ_OP_MAP, "map", 250, fz_op_map},
    {FUZZ_OP_UNMAP, "unmap", 250, fz_op_unmap},
    {FUZZ_OP_MAPPED_WRITE, "mapped_write", 300, fz_op_mapped_write},
    {FUZZ_OP_MAPPED_READ, "mapped_read", 300, fz_op_mapped_read},
    {FUZZ_OP_FLUSH, "flush", 150, fz_op_flush},
    {FUZZ_OP_WRITE, "write", 700, write_sync},
    {FUZZ_OP_READ, "read", 700, read_sync},
    {FUZZ_OP_COPY, "copy", 500, copy_sync},
    {FUZZ_OP_FILL, "fill", 400, fill_sync},
    {FUZZ_OP_STREAM_CREATE, "stream_create", 50, fz_op_stream_create},
    {FUZZ_OP_STREAM_DESTROY, "stream_destroy", 40, fz_op_stream_destroy},
    {FUZZ_OP_STREAM_SYNC, "stream_sync", 400, fz_op_stream_sync},
    {FUZZ_OP_STREAM_WRITE, "stream_write", 600, write_stream},
    {FUZZ_OP_STREAM_READ, "stream_read", 600, read_stream},
    {FUZZ_OP_STREAM_COPY, "stream_copy", 500, copy_stream},
    {FUZZ_OP_STREAM_FILL, "stream_fill", 400, fill_stream},
    {FUZZ_OP_EVENT, "event", 150, fz_op_event},
    {FUZZ_OP_VBLOCK_CREATE, "vblock_create", 40, fz_op_vblock_create},
    {FUZZ_OP_VBLOCK_ALLOC, "vblock_alloc", 500, fz_op_vblock_alloc},
    {FUZZ_OP_VBLOCK_FREE, "vblock_free", 400, fz_op_vblock_free},
    {FUZZ_OP_VBLOCK_CLEAR, "vblock_clear", 15, fz_op_vblock_clear},
    {FUZZ_OP_VBLOCK_STATS, "vblock_stats", 150, fz_op_vblock_stats},
    {FUZZ_OP_VBLOCK_DESTROY, "vblock_destroy", 25, fz_op_vblock_destroy},
    {FUZZ_OP_BAD_HANDLE, "bad_handle", 300, fz_op_bad_handle},
    {FUZZ_OP_CROSS_DEVICE, "cross_device", 100, fz_op_cross_device},
    {FUZZ_OP_MEMORY_TYPE, "memory_type", 100, fz_op_memory_type},
    {FUZZ_OP_REGISTRY, "registry", 3, fz_op_registry},
    {FUZZ_OP_BURST, "burst", 4, fz_op_burst},
};

#define OP_ENTRIES (sizeof ops / sizeof ops[0])
_Static_assert(OP_ENTRIES == FUZZ_OP_COUNT, "one table entry per op kind");

/* Every live pool's guard margins and buffers, after an op: an overwrite shows at the op that
 * made it (or let queued work make it), not at the buffer's destroy much later. */
static void check_pools(fz_ctx *c)
{
    for (int i = 0; i < FZ_MAX_POOLS && !c->summary->failed; i++)
        if (c->pools[i].live)
            fz_call(c, "gpumem_pool_check", gpumem_pool_check(c->pools[i].handle), 0, 0);
}

const char *fuzz_op_name(fuzz_op op)
{
    for (size_t i = 0; i < OP_ENTRIES; i++)
        if (ops[i].op == op)
            return ops[i].name;
    return "unknown";
}

static const op_entry *choose_op(fz_ctx *c)
{
    static unsigned total;
    if (!total)
        for (size_t i = 0; i < OP_ENTRIES; i++)
            total += ops[i].weight;
    uint64_t x = fz_below(c, total);
    for (size_t i = 0; i < OP_ENTRIES; i++) {
        if (x < ops[i].weight)
            return &ops[i];
        x -= ops[i].weight;
    }
    return &ops[0];
}

/* --- the log --- */

typedef struct log_state {
    atomic_ullong messages, validation, errors;
    pthread_mutex_t lock;
    char first_bad[1024]; /* the first message that is a failure */
    int quiet;            /* print no warnings (libFuzzer runs) */
} log_state;

#define VALIDATION_PREFIX "vulkan validation: "
#define MAX_PRINTED 20

static void on_log(void *user, int32_t level, const char *message)
{
    log_state *log = user;
    if (level < GPUMEM_LOG_WARNING)
        return;
    unsigned long long n = atomic_fetch_add(&log->messages, 1);
    int validation = !strncmp(message, VALIDATION_PREFIX, strlen(VALIDATION_PREFIX));
    if (validation || level >= GPUMEM_LOG_ERROR) {
        pthread_mutex_lock(&log->lock);
        if (atomic_load(&log->validation) + atomic_load(&log->errors) == 0)
            snprintf(log->first_bad, sizeof log->first_bad, "%s", message);
        atomic_fetch_add(validation ? &log->validation : &log->errors, 1);
        pthread_mutex_unlock(&log->lock);
    }
    if (n < MAX_PRINTED && !log->quiet)
        fprintf(stderr, "gpumem-fuzz: log (%s): %s\n",
                level >= GPUMEM_LOG_ERROR ? "error" : "warning", message);
}

/* Validation messages and errors in the log are failures: nothing the fuzzer does is wrong use
 * of Vulkan, or writes outside a buffer. */
static void check_log(fz_ctx *c, log_state *log)
{
    fuzz_summary *s = c->summary;
    s->log_messages = atomic_load(&log->messages);
    s->validation_messages = atomic_load(&log->validation);
    s->error_messages = atomic_load(&log->errors);
    if (s->validation_messages || s->error_messages) {
        pthread_mutex_lock(&log->lock);
        fz_fail(c, "the log has %llu Vulkan validation message(s) and %llu other error(s); the "
                "first: %s",
                (unsigned long long)s->validation_messages, (unsigned long long)s->error_messages,
                log->first_bad);
        pthread_mutex_unlock(&log->lock);
    }
}

/* --- the run --- */

int fuzz_run(fuzz_input *input, const fuzz_options *options, fuzz_summary *summary)
{
    memset(summary, 0, sizeof *summary);
    fz_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(summary->failure, sizeof summary->failure, "no memory for the model");
        return summary->failed = 1;
    }
    c->in = input;
    c->options = options;
    c->summary = summary;
    c->max_buffer = options->small ? FZ_SMALL_BUFFER : FZ_LARGE_BUFFER;
    c->scratch = malloc(c->max_buffer + FZ_GUARD);
    if (!c->scratch) {
        free(c);
        snprintf(summary->failure, sizeof summary->failure, "no memory for the model");
        return summary->failed = 1;
    }
    for (int i = 0; i < FZ_MAX_BUFFERS; i++)
        c->buffers[i].pending = -1;

    log_state log = {.quiet = options->quiet};
    pthread_mutex_init(&log.lock, NULL);
    gpumem_log_set_callback(on_log, &log);

    while (!options->max_ops || summary->ops < options->max_ops) {
        const op_entry *op = choose_op(c);
        if (input->exhausted)
            break; /* a fixed input ran out: the run ends before this op */
        c->op = summary->ops + 1;
        fz_trace(c, "%s", op->name);
        op->run(c);
        summary->ops++;
        summary->op_counts[op->op]++;
        if (options->check_pools)
            check_pools(c);
        if (atomic_load(&log.validation) || atomic_load(&log.errors))
            check_log(c, &log);
        if (summary->failed)
            break;
    }
    c->op = summary->ops + 1; /* failures while closing are after the last op */
    fz_close_all(c);
    check_log(c, &log);
    gpumem_log_set_callback(NULL, NULL);
    pthread_mutex_destroy(&log.lock);

    free(c->scratch);
    free(c->dump);
    free(c);
    return summary->failed;
}
