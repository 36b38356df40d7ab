/* gpumem-fuzz: the random-operation fuzzer as a plain program.
 *
 *   gpumem-fuzz --seed N --ops N [--save-input FILE] [--small] [--trace] [--check-pools]
 *   gpumem-fuzz --replay FILE [--ops N] [--small] [--trace] [--check-pools]
 *
 * A seeded run takes its decisions from a PRNG (the same seed gives the same run); --save-input
 * writes the bytes it took, which --replay runs through the same decoder (and libFuzzer's target
 * accepts as a corpus entry). --small decodes as the libFuzzer target does (buffers of at most
 * 1 MiB, small bursts): use it to replay libFuzzer's inputs and to make its corpus. --trace
 * prints every call to stderr. --check-pools checks every live pool (gpumem_pool_check: guard
 * margins, the suballocator's books) after every op, so that an overwrite fails at the op that
 * made it. The backend comes from GPUMEM_BACKEND. Prints one summary line;
 * on the first difference from the model, what differed and how to repeat it.
 * Exit status: 0 pass, 1 fail, 77 the backend is not available here, 2 bad usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuzz_ops.h"
#include "gpumem/gpumem.h"

static void usage(void)
{
    fprintf(stderr,
            "usage: gpumem-fuzz [--seed N] [--ops N] [--save-input FILE] [--small] [--trace]\n"
            "                   [--check-pools]\n"
            "       gpumem-fuzz --replay FILE [--ops N] [--small] [--trace] [--check-pools]\n");
}

static int parse_u64(const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 0);
    if (errno || end == text || *end || text[0] == '-')
        return 0;
    *out = v;
    return 1;
}

static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t capacity = 1 << 16, n = 0;
    uint8_t *data = malloc(capacity);
    while (data) {
        n += fread(data + n, 1, capacity - n, f);
        if (n < capacity)
            break;
        uint8_t *bigger = realloc(data, capacity * 2);
        if (!bigger) {
            free(data);
            data = NULL;
            break;
        }
        data = bigger;
        capacity *= 2;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(data);
        return NULL;
    }
    *size = n;
    return data;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* 1 when the backend GPUMEM_BACKEND names opens; 77 (with the reason) when it is here but has
 * no device (GPUMEM_ERROR_UNAVAILABLE); 0 (a failure, with the reason) for anything else, such
 * as an unknown backend or a refused module: a broken build must not pass as a skip. */
static int backend_available(void)
{
    gpumem_device dev;
    gpumem_result r = gpumem_device_open(NULL, &dev);
    if (r == GPUMEM_OK) {
        gpumem_device_close(dev);
        return 1;
    }
    const char *backend = getenv("GPUMEM_BACKEND");
    printf("gpumem-fuzz: %s: no device for GPUMEM_BACKEND=%s: %s (%s)\n",
           r == GPUMEM_ERROR_UNAVAILABLE ? "SKIP" : "FAIL", backend ? backend : "(unset)",
           gpumem_result_string(r), gpumem_last_error());
    return r == GPUMEM_ERROR_UNAVAILABLE ? 77 : 0;
}

static void print_summary(const fuzz_summary *s, const char *source, double seconds)
{
    const char *backend = getenv("GPUMEM_BACKEND");
    const char *staging = getenv("GPUMEM_STAGING");
    printf("gpumem-fuzz: %s, backend %s%s%s: %" PRIu64 " ops in %.2f s (%.0f ops/s); %" PRIu64
           " calls checked, %" PRIu64 " refused as expected, %" PRIu64
           " resource refusals; %" PRIu64 " reads checked, %" PRIu64
           " bytes checked; at most %" PRIu64 " buffer bytes live; %" PRIu64 " log warnings\n",
           source, backend ? backend : "(default)", staging ? ", staging " : "",
           staging ? staging : "", s->ops, seconds, seconds > 0 ? (double)s->ops / seconds : 0.0,
           s->calls, s->errors_expected, s->resource_refusals, s->reads_checked,
           s->bytes_checked, s->max_live_bytes, s->log_messages);
    printf("gpumem-fuzz: ops:");
    for (int op = 0; op < FUZZ_OP_COUNT; op++)
        printf(" %s=%" PRIu64, fuzz_op_name((fuzz_op)op), s->op_counts[op]);
    printf("\n");
}

int main(int argc, char **argv)
{
    uint64_t seed = 1, ops = 10000;
    const char *replay = NULL, *save = NULL;
    int ops_given = 0;
    fuzz_options options = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--seed") && more && parse_u64(argv[i + 1], &seed)) {
            i++;
        } else if (!strcmp(a, "--ops") && more && parse_u64(argv[i + 1], &ops)) {
            ops_given = 1;
            i++;
        } else if (!strcmp(a, "--replay") && more) {
            replay = argv[++i];
        } else if (!strcmp(a, "--save-input") && more) {
            save = argv[++i];
        } else if (!strcmp(a, "--trace")) {
            options.trace = 1;
        } else if (!strcmp(a, "--small")) {
            options.small = 1;
        } else if (!strcmp(a, "--check-pools")) {
            options.check_pools = 1;
        } else {
            usage();
            return 2;
        }
    }
    if (replay && save) {
        usage();
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    int available = backend_available();
    if (available != 1)
        return available ? available : 1;

    fuzz_input input;
    uint8_t *bytes = NULL;
    char source[1100];
    if (replay) {
        size_t size = 0;
        bytes = read_file(replay, &size);
        if (!bytes) {
            fprintf(stderr, "gpumem-fuzz: cannot read %s: %s\n", replay, strerror(errno));
            return 2;
        }
        fuzz_input_from_bytes(&input, bytes, size);
        options.max_ops = ops_given ? ops : 0;
        snprintf(source, sizeof source, "replay of %s (%zu bytes)", replay, size);
    } else {
        fuzz_input_from_seed(&input, seed);
        if (save)
            fuzz_input_record(&input);
        options.max_ops = ops;
        snprintf(source, sizeof source, "seed %" PRIu64, seed);
    }

    fuzz_summary *summary = calloc(1, sizeof *summary);
    if (!summary) {
        fprintf(stderr, "gpumem-fuzz: out of memory\n");
        return 1;
    }
    double start = now();
    int failed = fuzz_run(&input, &options, summary);
    double seconds = now() - start;
    print_summary(summary, source, seconds);

    int status = failed ? 1 : 0;
    if (!failed && summary->ops == 0) { /* an empty or cut input checks nothing: not a pass */
        printf("gpumem-fuzz: FAILED: %s ran no operations\n", source);
        status = 1;
    }
    if (failed) {
        printf("gpumem-fuzz: FAILED at op %" PRIu64 " of %s: %s\n", summary->failed_op, source,
               summary->failure);
        const char *small = options.small ? " --small" : "";
        const char *checks = options.check_pools ? " --check-pools" : "";
        if (replay)
            printf("gpumem-fuzz: repeat with: --replay %s --ops %" PRIu64 "%s%s\n", replay,
                   summary->failed_op, small, checks);
        else
            printf("gpumem-fuzz: repeat with: --seed %" PRIu64 " --ops %" PRIu64 "%s%s\n", seed,
                   summary->failed_op, small, checks);
    }
    if (save) {
        FILE *f = input.record ? fopen(save, "wb") : NULL;
        int written = f && fwrite(input.record, 1, input.record_size, f) == input.record_size;
        if (f && fclose(f) != 0)
            written = 0;
        if (written) {
            printf("gpumem-fuzz: wrote the %zu input bytes to %s\n", input.record_size, save);
        } else {
            fprintf(stderr, "gpumem-fuzz: cannot write %s\n", save);
            status = status ? status : 1;
        }
    }
    fuzz_input_free(&input);
    free(bytes);
    free(summary);
    return status;
}
