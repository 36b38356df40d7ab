/* Checking calls and data: the result against the set the model allows, the last error that
 * goes with it, and read bytes against the shadow. The first failure is kept in the summary and
 * ends the run. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_internal.h"

int fz_fail(fz_ctx *c, const char *format, ...)
{
    fuzz_summary *s = c->summary;
    if (s->failed)
        return 0;
    s->failed = 1;
    s->failed_op = c->op;
    va_list args;
    va_start(args, format);
    vsnprintf(s->failure, sizeof s->failure, format, args);
    va_end(args);
    return 0;
}

int fz_failed(const fz_ctx *c)
{
    return c->summary->failed;
}

void fz_trace(fz_ctx *c, const char *format, ...)
{
    if (!c->options->trace)
        return;
    va_list args;
    va_start(args, format);
    fprintf(stderr, "op %llu: ", (unsigned long long)c->op);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
}

/* "GPUMEM_OK or GPUMEM_ERROR_OUT_OF_RANGE" */
static void describe(fz_expect set, char *out, size_t size)
{
    size_t n = 0;
    out[0] = '\0';
    for (int bit = 0; bit < 32; bit++) {
        if (!(set & (1u << bit)))
            continue;
        int w = snprintf(out + n, size - n, "%s%s", n ? " or " : "",
                         gpumem_result_string(-(gpumem_result)bit));
        if (w < 0 || (size_t)w >= size - n)
            break;
        n += (size_t)w;
    }
    if (!n)
        snprintf(out, size, "nothing");
}

static int in_set(fz_expect set, gpumem_result r)
{
    return r <= 0 && r > -32 && (set & FZ_BIT(r));
}

int fz_call(fz_ctx *c, const char *function, gpumem_result got, fz_expect faults,
            fz_expect resource)
{
    fuzz_summary *s = c->summary;
    const char *message = gpumem_last_error();
    fz_expect allowed = faults ? faults : (FZ_OK | resource);
    s->calls++;
    fz_trace(c, "%s -> %s%s%s", function, gpumem_result_string(got), got ? ": " : "",
             got ? message : "");
    if (!in_set(allowed, got)) {
        char expected[512];
        describe(allowed, expected, sizeof expected);
        return fz_fail(c, "%s returned %s (%d), expected %s; last error: \"%s\"", function,
                       gpumem_result_string(got), got, expected, message ? message : "(NULL)");
    }
    if (!message)
        return fz_fail(c, "%s: gpumem_last_error() returned NULL", function);
    if (got == GPUMEM_OK) {
        if (message[0])
            return fz_fail(c, "%s succeeded, yet gpumem_last_error() is \"%s\"", function,
                           message);
        return 1;
    }
    size_t n = strlen(function);
    if (strncmp(message, function, n) != 0 || message[n] != ':' || message[n + 1] != ' ' ||
        !message[n + 2])
        return fz_fail(c, "%s failed with %s, but gpumem_last_error() is \"%s\" (it must start "
                       "with \"%s: \" and say why)",
                       function, gpumem_result_string(got), message, function);
    if (faults)
        s->errors_expected++;
    else
        s->resource_refusals++;
    return 1;
}

int fz_compare(fz_ctx *c, const char *what, int buffer, uint64_t offset, const uint8_t *got,
               const uint8_t *expected, uint64_t size)
{
    fuzz_summary *s = c->summary;
    s->reads_checked++;
    s->bytes_checked += size;
    if (memcmp(got, expected, (size_t)size) == 0)
        return 1;
    uint64_t first = 0;
    while (got[first] == expected[first])
        first++;
    uint64_t last = size - 1;
    while (got[last] == expected[last])
        last--;
    uint64_t differing = 0;
    for (uint64_t i = first; i <= last; i++)
        differing += got[i] != expected[i];
    const fz_buffer *b = &c->buffers[buffer];
    return fz_fail(c,
                   "%s of buffer #%d (%llu bytes, pool #%d, page %u at offset %llu%s) at "
                   "[%llu, +%llu): %llu bytes differ between buffer offsets %llu and %llu; first "
                   "at %llu: got 0x%02x, expected 0x%02x",
                   what, buffer, (unsigned long long)b->size, b->pool, b->page,
                   (unsigned long long)b->offset, b->dedicated ? ", dedicated" : "",
                   (unsigned long long)offset, (unsigned long long)size,
                   (unsigned long long)differing, (unsigned long long)(offset + first),
                   (unsigned long long)(offset + last), (unsigned long long)(offset + first),
                   got[first], expected[first]);
}

int fz_untouched(fz_ctx *c, const char *function, uint64_t output)
{
    if (output == FZ_SENTINEL)
        return 1;
    return fz_fail(c, "%s failed, yet wrote its output (0x%llx)", function,
                   (unsigned long long)output);
}

static const uint8_t canary[FZ_GUARD] = {0xde, 0xad, 0xbe, 0xef, 0x5a, 0xa5, 0x0f, 0xf0,
                                         0x13, 0x37, 0xc0, 0xde, 0x7e, 0xe7, 0x99, 0x66};

void fz_guard_set(uint8_t *p)
{
    memcpy(p, canary, FZ_GUARD);
}

int fz_guard_ok(fz_ctx *c, const char *what, const uint8_t *p)
{
    if (memcmp(p, canary, FZ_GUARD) == 0)
        return 1;
    return fz_fail(c, "%s wrote past the end of its host memory", what);
}

/* xorshift64*, eight bytes a step: fast enough that the data costs little next to the calls. */
void fz_pattern(uint8_t *out, uint64_t size, uint64_t seed)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;
    uint64_t i = 0;
    for (; i + 8 <= size; i += 8) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        uint64_t v = x * 0x2545f4914f6cdd1dull;
        memcpy(out + i, &v, 8);
    }
    if (i < size) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        uint64_t v = x * 0x2545f4914f6cdd1dull;
        memcpy(out + i, &v, (size_t)(size - i));
    }
}

void fz_fill_pattern(uint8_t *out, uint64_t size, uint32_t pattern)
{
    for (uint64_t i = 0; i + 4 <= size; i += 4)
        memcpy(out + i, &pattern, 4);
}
