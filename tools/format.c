#include "format.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *stdout_program;

static void check_stdout(void)
{
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout))
        return;
    int error = errno;
    fprintf(stderr, "%s: writing the output: %s\n", stdout_program,
            error ? strerror(error) : "an earlier write failed");
    _exit(1); /* the status main returned said success */
}

void format_check_stdout_at_exit(const char *program)
{
    stdout_program = program;
    atexit(check_stdout);
}

const char *format_memory_flags(uint32_t flags, char *out, size_t size)
{
    static const char *const names[] = {"DEVICE_LOCAL", "HOST_VISIBLE", "HOST_COHERENT",
                                        "HOST_CACHED"};
    size_t n = 0;
    out[0] = '\0';
    for (uint32_t bit = 0; bit < 32; bit++) {
        if (!(flags & (1u << bit)))
            continue;
        char name[16]; /* a newer library's flag is still shown, as a number */
        if (bit < sizeof names / sizeof names[0])
            snprintf(name, sizeof name, "%s", names[bit]);
        else
            snprintf(name, sizeof name, "0x%x", 1u << bit);
        int w = snprintf(out + n, size - n, "%s%s", n ? "|" : "", name);
        if (w < 0 || (size_t)w >= size - n)
            break;
        n += (size_t)w;
    }
    if (!flags)
        snprintf(out, size, "none");
    return out;
}

const char *format_bytes(uint64_t bytes, char *out, size_t size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) {
        snprintf(out, size, "%llu B", (unsigned long long)bytes);
        return out;
    }
    double value = (double)bytes;
    uint32_t unit = 0;
    while (value >= 1024.0 && unit + 1 < sizeof units / sizeof units[0]) {
        value /= 1024.0;
        unit++;
    }
    snprintf(out, size, "%.1f %s", value, units[unit]);
    return out;
}

/* --- JSON --- */

void json_init(json_writer *w, FILE *out)
{
    memset(w, 0, sizeof *w);
    w->out = out;
}

/* Length of the well-formed UTF-8 sequence at p (1 to 4), or 0 when the bytes are not one
 * (overlong forms and surrogates included): JSON text must be valid UTF-8. */
static int utf8_length(const unsigned char *p)
{
    unsigned char c = p[0], low = 0x80, high = 0xbf;
    int n;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, low = c == 0xe0 ? 0xa0 : 0x80, high = c == 0xed ? 0x9f : 0xbf;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, low = c == 0xf0 ? 0x90 : 0x80, high = c == 0xf4 ? 0x8f : 0xbf;
    else
        return 0;
    if (p[1] < low || p[1] > high)
        return 0;
    for (int i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return n;
}

static void escape_char(FILE *out, unsigned char c)
{
    switch (c) {
    case '"': fputs("\\\"", out); break;
    case '\\': fputs("\\\\", out); break;
    case '\n': fputs("\\n", out); break;
    case '\r': fputs("\\r", out); break;
    case '\t': fputs("\\t", out); break;
    default:
        if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
}

void json_write_escaped(FILE *out, const char *value)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)value; *p;) {
        int n = utf8_length(p);
        if (n == 1)
            escape_char(out, *p);
        else if (n > 1)
            fwrite(p, 1, (size_t)n, out);
        else
            fputs("\\ufffd", out); /* a stray byte becomes U+FFFD, the replacement character */
        p += n ? n : 1;
    }
    fputc('"', out);
}

static void indent(json_writer *w)
{
    for (uint32_t i = 0; i < w->depth; i++)
        fputs("  ", w->out);
}

/* The innermost open level's flag. Levels deeper than JSON_MAX_DEPTH share the last flag: the
 * tools never nest that deep, and a wrong comma is better than a write out of bounds. */
static uint8_t *innermost(json_writer *w)
{
    return &w->has_items[(w->depth < JSON_MAX_DEPTH ? w->depth : JSON_MAX_DEPTH) - 1];
}

/* The separator, indentation and key that go before any value. */
static void item_start(json_writer *w, const char *key)
{
    if (w->depth > 0) {
        fputs(*innermost(w) ? ",\n" : "\n", w->out);
        *innermost(w) = 1;
    }
    indent(w);
    if (key) {
        json_write_escaped(w->out, key);
        fputs(": ", w->out);
    }
}

static void open_level(json_writer *w, const char *key, char bracket)
{
    item_start(w, key);
    fputc(bracket, w->out);
    w->depth++;
    *innermost(w) = 0;
}

static void close_level(json_writer *w, char bracket)
{
    int had_items = *innermost(w);
    w->depth--;
    if (had_items) {
        fputc('\n', w->out);
        indent(w);
    }
    fputc(bracket, w->out);
    if (w->depth == 0)
        fputc('\n', w->out);
}

void json_object_begin(json_writer *w, const char *key)
{
    open_level(w, key, '{');
}

void json_object_end(json_writer *w)
{
    close_level(w, '}');
}

void json_array_begin(json_writer *w, const char *key)
{
    open_level(w, key, '[');
}

void json_array_end(json_writer *w)
{
    close_level(w, ']');
}

void json_string(json_writer *w, const char *key, const char *value)
{
    item_start(w, key);
    if (value)
        json_write_escaped(w->out, value);
    else
        fputs("null", w->out);
}

void json_uint(json_writer *w, const char *key, uint64_t value)
{
    item_start(w, key);
    fprintf(w->out, "%llu", (unsigned long long)value);
}

void json_double(json_writer *w, const char *key, double value)
{
    item_start(w, key);
    if (isfinite(value))
        fprintf(w->out, "%.6g", value);
    else
        fputs("null", w->out); /* JSON has no NaN or infinity */
}

void json_bool(json_writer *w, const char *key, int value)
{
    item_start(w, key);
    fputs(value ? "true" : "false", w->out);
}
