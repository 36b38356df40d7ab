/* What the fuzzer's files share: the shadow model (every object the run opened, with what the
 * library must say about it), the decoding helpers that turn input bytes into choices, and the
 * checks every call goes through.
 *
 * Objects live in fixed arrays and are named by their index; `live` says whether a slot is in
 * use. Handles of destroyed objects (directly or by their owner) are kept, a few per kind, as
 * stale handles for the calls that must answer GPUMEM_ERROR_DESTROYED.
 *
 * Stream rules the model keeps (gpumem.h): work on one stream is ordered, and synchronous calls
 * run on the device's default stream; nothing else is ordered. So each buffer remembers the one
 * stream that may have unsynchronized work on it (`pending`), and before any other stream, a
 * mapping or a destroy touches the buffer, the model synchronizes that stream. The model then
 * applies every transfer to its shadow bytes when it is issued, which is the order the device
 * runs them in.
 */
#ifndef GPUMEM_FUZZ_INTERNAL_H
#define GPUMEM_FUZZ_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "fuzz_ops.h"
#include "gpumem/gpumem.h"

#define FZ_MAX_DEVICES 3
#define FZ_MAX_POOLS 12      /* all devices together */
#define FZ_MAX_BUFFERS 160
#define FZ_MAX_STREAMS 15    /* created and default streams, all devices together */
#define FZ_MAX_VBLOCKS 4
#define FZ_MAX_VALLOCS 384   /* live allocations per virtual block */
#define FZ_STALE 8           /* stale handles kept per kind */
#define FZ_MAX_LIVE_BYTES (256ull << 20)
#define FZ_MAX_PENDING_BYTES (64ull << 20) /* host bytes waiting in unsynchronized reads */
#define FZ_LARGE_BUFFER (40ull << 20) /* the largest buffer (fuzz_options.small: 1 MiB) */
#define FZ_SMALL_BUFFER (1ull << 20)
#define FZ_GUARD 16          /* canary bytes after every host destination */

enum { FZ_DEVICE, FZ_POOL, FZ_BUFFER, FZ_STREAM, FZ_VBLOCK, FZ_KIND_COUNT };

typedef struct fz_device {
    int live;
    gpumem_device handle;
    gpumem_device_properties props; /* as read at open: the fixed fields never change */
    int default_stream;             /* index in streams */
    int parent;                     /* opened on this device's native objects, or -1 */
} fz_device;

typedef struct fz_pool {
    int live, device;
    gpumem_pool handle;
    uint64_t page_size;  /* as the pool rounds it */
    uint64_t byte_limit;
    uint32_t flags, memory_type, memory_flags;
    uint32_t max_empty_pages; /* as the pool takes it: 0 is 1 */
    uint32_t arena_count;     /* 1 without arenas: each arena used may keep max_empty_pages */
    /* A buffer was destroyed on a stream since the last trim: the pool may keep more empty
     * pages than max_empty_pages until the host waits for that stream's work. */
    int ordered_frees;
    /* GPUMEM_POOL_NATIVE: the runtime's stream-ordered pool, a page of its own per buffer,
     * aligned to min_alignment at most, whose byte counts are the runtime's. */
    int native;
} fz_pool;

typedef struct fz_buffer {
    int live, pool, device;
    gpumem_buffer handle;
    uint64_t size, alignment;
    uint32_t flags;
    uint8_t *shadow;     /* what the buffer holds */
    uint32_t map_count;
    uint8_t *mapped;     /* while map_count > 0 */
    int pending;         /* stream with unsynchronized work on the buffer, or -1 */
    /* where it lives, from gpumem_buffer_info_get at creation: buffers never move */
    uint32_t page;
    uint64_t offset, page_size, allocation_size;
    int dedicated;
} fz_buffer;

/* A stream read whose host memory is filled by the time the stream is synchronized. */
typedef struct fz_read {
    uint8_t *dest;       /* size + FZ_GUARD bytes, canary-filled before the call */
    uint8_t *expected;   /* the shadow's bytes when the read was issued */
    uint64_t size, offset;
    uint64_t op;
    int buffer;
} fz_read;

typedef struct fz_stream {
    int live, device, is_default;
    gpumem_stream handle;
    fz_read *reads;
    size_t read_count, read_capacity;
    uint64_t read_bytes;
} fz_stream;

typedef struct fz_valloc {
    gpumem_vblock_allocation handle;
    uint64_t offset, size;
} fz_valloc;

typedef struct fz_vblock {
    int live;
    gpumem_vblock handle;
    uint64_t size;
    fz_valloc allocs[FZ_MAX_VALLOCS];
    unsigned count;
    gpumem_vblock_allocation stale[FZ_STALE]; /* freed or cleared allocations */
    unsigned stale_count, stale_next;
} fz_vblock;

typedef struct fz_ctx {
    fuzz_input *in;
    const fuzz_options *options;
    fuzz_summary *summary;
    uint64_t op;         /* 1-based number of the running op */
    fz_device devices[FZ_MAX_DEVICES];
    fz_pool pools[FZ_MAX_POOLS];
    fz_buffer buffers[FZ_MAX_BUFFERS];
    fz_stream streams[FZ_MAX_STREAMS];
    fz_vblock vblocks[FZ_MAX_VBLOCKS];
    uint64_t stale[FZ_KIND_COUNT][FZ_STALE];
    unsigned stale_count[FZ_KIND_COUNT], stale_next[FZ_KIND_COUNT];
    uint64_t live_bytes;
    uint64_t pending_bytes;
    uint64_t max_buffer; /* FZ_LARGE_BUFFER, or FZ_SMALL_BUFFER */
    uint8_t *scratch;    /* host memory for transfers: max_buffer + FZ_GUARD bytes */
    char *dump;          /* for gpumem_device_dump_json */
    size_t dump_capacity;
    int force_bad;       /* fz_op_bad_handle: every handle argument is a bad one */
    int force_cross;     /* fz_op_cross_device: objects of two devices where there are two */
    unsigned plain_opens; /* fz_device_open_plain: every fourth device is externally synchronized */
} fz_ctx;

/* --- decoding (fuzz_input.c) --- */

uint32_t fz_u8(fz_ctx *c);
uint32_t fz_u16(fz_ctx *c);
uint32_t fz_u32(fz_ctx *c);
uint64_t fz_u64(fz_ctx *c);
/* A number in [0, n), n > 0, from as few bytes as n needs. */
uint64_t fz_below(fz_ctx *c, uint64_t n);
/* 1 with probability num/den. */
int fz_chance(fz_ctx *c, unsigned num, unsigned den);
/* One of count values. */
uint64_t fz_pick(fz_ctx *c, const uint64_t *values, size_t count);
#define FZ_PICK(c, array) fz_pick((c), (array), sizeof(array) / sizeof((array)[0]))

/* --- results and failures (fuzz_check.c) --- */

/* A set of acceptable results: bit -result (GPUMEM_OK is bit 0). */
typedef uint32_t fz_expect;
#define FZ_BIT(result) (1u << (uint32_t)(-(result)))
#define FZ_OK FZ_BIT(GPUMEM_OK)
#define FZ_ARG FZ_BIT(GPUMEM_ERROR_INVALID_ARGUMENT)
#define FZ_HANDLE FZ_BIT(GPUMEM_ERROR_INVALID_HANDLE)
#define FZ_DESTROYED FZ_BIT(GPUMEM_ERROR_DESTROYED)
#define FZ_RANGE FZ_BIT(GPUMEM_ERROR_OUT_OF_RANGE)
#define FZ_RESOURCE                                                                            \
    (FZ_BIT(GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY) | FZ_BIT(GPUMEM_ERROR_OUT_OF_HOST_MEMORY))
#define FZ_LIMIT FZ_BIT(GPUMEM_ERROR_LIMIT_EXCEEDED)

/* Records the first failure (later ones are dropped) and returns 0. */
int fz_fail(fz_ctx *c, const char *format, ...) __attribute__((format(printf, 2, 3)));
int fz_failed(const fz_ctx *c);
/* Checks one call's result against the set of acceptable ones and the last error that goes with
 * it (a failure names `function`; a success leaves ""). `faults` are the errors the arguments
 * call for: when there are any, the call must fail with one of them; else it must succeed, or
 * give one of `resource` (refusals the model cannot predict). Returns 1 when acceptable. */
int fz_call(fz_ctx *c, const char *function, gpumem_result got, fz_expect faults,
            fz_expect resource);
/* Compares what was read with what the model holds; counts the read. */
int fz_compare(fz_ctx *c, const char *what, int buffer, uint64_t offset, const uint8_t *got,
               const uint8_t *expected, uint64_t size);
/* Outputs are written only on success: they start as FZ_SENTINEL, and fz_untouched checks that
 * a refused call left them so. */
#define FZ_SENTINEL 0x5e5e5e5e5e5e5e5eull
int fz_untouched(fz_ctx *c, const char *function, uint64_t output);
/* Canary bytes after a host destination; fz_guard_ok says whether they are intact. */
void fz_guard_set(uint8_t *p);
int fz_guard_ok(fz_ctx *c, const char *what, const uint8_t *p);
/* Deterministic data: size bytes from a seed. */
void fz_pattern(uint8_t *out, uint64_t size, uint64_t seed);
/* What a fill with a 32-bit pattern leaves (size a multiple of 4). */
void fz_fill_pattern(uint8_t *out, uint64_t size, uint32_t pattern);
void fz_trace(fz_ctx *c, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* --- the model (fuzz_model.c) --- */

/* Indices of a random live object, or -1 when none; device -1: of any device. */
int fz_pick_device(fz_ctx *c);
int fz_pick_pool(fz_ctx *c, int device);
int fz_pick_buffer(fz_ctx *c, int device);
int fz_pick_mapped_buffer(fz_ctx *c);
int fz_pick_stream(fz_ctx *c, int device); /* the default stream included */
int fz_pick_created_stream(fz_ctx *c);
int fz_pick_vblock(fz_ctx *c);
int fz_count_live(const fz_ctx *c, int kind);
int fz_free_slot(const fz_ctx *c, int kind);

/* A handle that is not a live object of `kind` (NULL, forged, another kind's, stale); adds the
 * result it must give to *faults. */
uint64_t fz_bad_handle(fz_ctx *c, int kind, fz_expect *faults);
/* The handle of buffer i or, one time in `den` (fz_bad), a bad one with its fault in *faults. */
gpumem_buffer fz_buffer_handle(fz_ctx *c, int i, unsigned den, fz_expect *faults);
void fz_stale_push(fz_ctx *c, int kind, uint64_t handle);

/* 1 when a call should get a bad handle: always under force_bad, else 1 time in `den`. */
int fz_bad(fz_ctx *c, unsigned den);

/* Synchronizes a stream and checks the reads it completes. */
int fz_sync(fz_ctx *c, int stream);
/* The work queued on a stream so far is done (the stream or an event recorded on it was waited
 * for): its buffers are free for any use, and its reads are checked. */
int fz_stream_done(fz_ctx *c, int stream);
/* Makes a buffer ready for use by `stream` (-1: the host, a mapping, or a destroy): waits for
 * another stream's pending work on it. */
int fz_settle(fz_ctx *c, int buffer, int stream);
/* Notes stream work on a buffer. */
void fz_note_stream_use(fz_ctx *c, int buffer, int stream);
/* Checks and drops the reads of a stream whose work the library has waited for (stream
 * destroyed, device closed). */
int fz_finish_reads(fz_ctx *c, int stream);
/* A stream read about to be issued: makes its host memory (*dest, every byte different from
 * what it must receive, then a canary) and its expected bytes, from the shadow as it is now.
 * After the call, fz_read_issued keeps it (accepted: checked when the stream is synchronized)
 * or checks that the refused call left the memory alone, and frees it. */
int fz_add_read(fz_ctx *c, int stream, int buffer, uint64_t offset, uint64_t size,
                uint8_t **dest);
int fz_read_issued(fz_ctx *c, int stream, int accepted);

/* Model updates for objects the library destroyed. */
void fz_forget_buffer(fz_ctx *c, int buffer);
void fz_forget_pool(fz_ctx *c, int pool);
void fz_forget_stream(fz_ctx *c, int stream);
void fz_forget_device(fz_ctx *c, int device);
void fz_forget_vblock(fz_ctx *c, int vblock);

/* Closes a device (those opened on its native objects first) and checks that its streams'
 * reads are complete. */
int fz_close_device(fz_ctx *c, int device);
/* Closes everything still open. */
void fz_close_all(fz_ctx *c);

/* --- the ops: each takes its arguments from the input and checks what happened --- */

void fz_op_device_open(fz_ctx *c);
void fz_op_device_close(fz_ctx *c);
void fz_op_device_query(fz_ctx *c);
void fz_op_registry(fz_ctx *c);
void fz_op_memory_type(fz_ctx *c);
void fz_op_pool_create(fz_ctx *c);
void fz_op_pool_destroy(fz_ctx *c);
void fz_op_pool_trim(fz_ctx *c);
void fz_op_pool_stats(fz_ctx *c);
void fz_op_pool_check(fz_ctx *c);
void fz_op_buffer_create(fz_ctx *c);
/* A random live buffer to work on; when there is none, creates one instead and returns -1. */
int fz_buffer_or_create(fz_ctx *c);
void fz_op_buffer_destroy(fz_ctx *c);
void fz_op_buffer_info(fz_ctx *c);
void fz_op_buffer_native(fz_ctx *c);
void fz_op_map(fz_ctx *c);
void fz_op_unmap(fz_ctx *c);
void fz_op_mapped_write(fz_ctx *c);
void fz_op_mapped_read(fz_ctx *c);
void fz_op_flush(fz_ctx *c);
/* Transfers: stream 0 for the synchronous forms, 1 for the stream forms. */
void fz_op_write(fz_ctx *c, int on_stream);
void fz_op_read(fz_ctx *c, int on_stream);
void fz_op_copy(fz_ctx *c, int on_stream);
void fz_op_fill(fz_ctx *c, int on_stream);
void fz_op_stream_create(fz_ctx *c);
void fz_op_stream_destroy(fz_ctx *c);
void fz_op_stream_sync(fz_ctx *c);
void fz_op_event(fz_ctx *c);
void fz_op_vblock_create(fz_ctx *c);
void fz_op_vblock_alloc(fz_ctx *c);
void fz_op_vblock_free(fz_ctx *c);
void fz_op_vblock_clear(fz_ctx *c);
void fz_op_vblock_stats(fz_ctx *c);
void fz_op_vblock_destroy(fz_ctx *c);
void fz_op_bad_handle(fz_ctx *c);
void fz_op_cross_device(fz_ctx *c);
void fz_op_burst(fz_ctx *c);

/* Helpers the ops share. */
/* Creates a buffer in `pool` with random arguments (fz_op_buffer_create's body). */
int fz_buffer_create_in(fz_ctx *c, int pool);
/* Initial contents of a new buffer, written through one of the API's paths. */
int fz_buffer_initialize(fz_ctx *c, int buffer);
int fz_device_open_plain(fz_ctx *c);
int fz_pool_create_plain(fz_ctx *c, int device);

#endif
