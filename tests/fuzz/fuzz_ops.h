/* The random-operation fuzzer: a decoder that turns a byte string into calls of the public API
 * (include/gpumem/gpumem.h), and a shadow model that predicts every result and every byte read.
 *
 * The bytes come from a fuzz_input: a fixed string (a replayed file, a libFuzzer input) or a
 * PRNG (gpumem-fuzz --seed). Each operation is chosen by the next bytes and its arguments by the
 * ones after them; when a fixed string runs out, the run ends after the current operation and
 * closes everything it opened. Runs are deterministic: no decision depends on time, addresses or
 * handle values.
 */
#ifndef GPUMEM_FUZZ_OPS_H
#define GPUMEM_FUZZ_OPS_H

#include <stddef.h>
#include <stdint.h>

/* Where a run's decisions come from. */
typedef struct fuzz_input {
    const uint8_t *data; /* fixed bytes, or NULL for the PRNG */
    size_t size;
    size_t position;
    uint64_t state;      /* the PRNG's state */
    uint64_t word;       /* PRNG bytes not taken yet */
    unsigned word_left;
    int exhausted;       /* a fixed string ran out */
    uint8_t *record;     /* with fuzz_input_record: every byte taken, for --save-input */
    size_t record_size;
    size_t record_capacity;
} fuzz_input;

void fuzz_input_from_bytes(fuzz_input *input, const uint8_t *data, size_t size);
void fuzz_input_from_seed(fuzz_input *input, uint64_t seed);
/* Keeps every byte the run takes, so that fuzz_input_from_bytes replays the run exactly. */
void fuzz_input_record(fuzz_input *input);
void fuzz_input_free(fuzz_input *input);
/* The next byte of the input; 0 once a fixed string has run out (input->exhausted is then 1). */
uint8_t fuzz_input_byte(fuzz_input *input);

/* The kinds of operation, for the summary. */
typedef enum fuzz_op {
    FUZZ_OP_DEVICE_OPEN,
    FUZZ_OP_DEVICE_CLOSE,
    FUZZ_OP_DEVICE_QUERY,
    FUZZ_OP_POOL_CREATE,
    FUZZ_OP_POOL_DESTROY,
    FUZZ_OP_POOL_TRIM,
    FUZZ_OP_POOL_STATS,
    FUZZ_OP_POOL_CHECK,
    FUZZ_OP_BUFFER_CREATE,
    FUZZ_OP_BUFFER_DESTROY,
    FUZZ_OP_BUFFER_INFO,
    FUZZ_OP_BUFFER_NATIVE,
    FUZZ_OP_MAP,
    FUZZ_OP_UNMAP,
    FUZZ_OP_MAPPED_WRITE,
    FUZZ_OP_MAPPED_READ,
    FUZZ_OP_FLUSH,
    FUZZ_OP_WRITE,
    FUZZ_OP_READ,
    FUZZ_OP_COPY,
    FUZZ_OP_FILL,
    FUZZ_OP_STREAM_CREATE,
    FUZZ_OP_STREAM_DESTROY,
    FUZZ_OP_STREAM_SYNC,
    FUZZ_OP_STREAM_WRITE,
    FUZZ_OP_STREAM_READ,
    FUZZ_OP_STREAM_COPY,
    FUZZ_OP_STREAM_FILL,
    FUZZ_OP_EVENT,
    FUZZ_OP_VBLOCK_CREATE,
    FUZZ_OP_VBLOCK_ALLOC,
    FUZZ_OP_VBLOCK_FREE,
    FUZZ_OP_VBLOCK_CLEAR,
    FUZZ_OP_VBLOCK_STATS,
    FUZZ_OP_VBLOCK_DESTROY,
    FUZZ_OP_BAD_HANDLE,
    FUZZ_OP_CROSS_DEVICE,
    FUZZ_OP_MEMORY_TYPE,
    FUZZ_OP_REGISTRY,
    FUZZ_OP_BURST,
    FUZZ_OP_COUNT
} fuzz_op;

const char *fuzz_op_name(fuzz_op op);

typedef struct fuzz_options {
    uint64_t max_ops; /* 0: until a fixed input runs out (the PRNG never does) */
    int trace;        /* print every call to stderr */
    int quiet;        /* do not print log warnings (libFuzzer) */
    int small;        /* buffers of at most 1 MiB, bursts of at most 64: fast inputs (libFuzzer) */
    int check_pools;  /* gpumem_pool_check on every live pool after every op */
} fuzz_options;

typedef struct fuzz_summary {
    uint64_t ops;
    uint64_t op_counts[FUZZ_OP_COUNT];
    uint64_t calls;              /* API calls checked */
    uint64_t errors_expected;    /* calls that failed as the model said they must */
    uint64_t resource_refusals;  /* calls refused for resources (byte limits, device memory) */
    uint64_t reads_checked;      /* reads compared with the model, all paths */
    uint64_t bytes_checked;
    uint64_t max_live_bytes;     /* most buffer bytes alive at once */
    uint64_t log_messages;       /* log messages at warning or above (validation included) */
    uint64_t validation_messages;/* "vulkan validation: " messages: each is a failure */
    uint64_t error_messages;     /* log messages at error level (a corrupted guard margin...):
                                    each is a failure */
    int failed;
    uint64_t failed_op;          /* 1-based number of the op that failed */
    char failure[4096];          /* what differed */
} fuzz_summary;

/* Runs operations from input until it runs out or max_ops are done, then closes everything.
 * Returns 0 when the library did what the model predicted, 1 on the first difference (the
 * summary says what and where). Installs its own log callback for the run (Vulkan validation
 * messages and messages at error level are failures) and restores the default at the end. */
int fuzz_run(fuzz_input *input, const fuzz_options *options, fuzz_summary *summary);

#endif
