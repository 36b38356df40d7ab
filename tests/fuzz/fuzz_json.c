/* A recursive-descent JSON checker: enough to say whether a dump is valid, and where not. */
#include "fuzz_json.h"

#include <stdio.h>

#define MAX_DEPTH 64

typedef struct parser {
    const unsigned char *p;
    const unsigned char *end;
    const unsigned char *start;
    char *why;
    size_t why_size;
    int failed;
} parser;

static int refuse(parser *ps, const char *what)
{
    if (!ps->failed)
        snprintf(ps->why, ps->why_size, "%s at byte %zu", what, (size_t)(ps->p - ps->start));
    ps->failed = 1;
    return 0;
}

static void skip_space(parser *ps)
{
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int literal(parser *ps, const char *word)
{
    for (; *word; word++, ps->p++)
        if (ps->p >= ps->end || *ps->p != (unsigned char)*word)
            return refuse(ps, "a bad literal");
    return 1;
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int digits(parser *ps)
{
    if (ps->p >= ps->end || !is_digit(*ps->p))
        return refuse(ps, "a digit expected");
    while (ps->p < ps->end && is_digit(*ps->p))
        ps->p++;
    return 1;
}

static int number(parser *ps)
{
    if (*ps->p == '-')
        ps->p++;
    if (ps->p < ps->end && *ps->p == '0')
        ps->p++;
    else if (!digits(ps))
        return 0;
    if (ps->p < ps->end && *ps->p == '.') {
        ps->p++;
        if (!digits(ps))
            return 0;
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
            ps->p++;
        if (!digits(ps))
            return 0;
    }
    return 1;
}

/* One UTF-8 character of two or more bytes, strictly (no overlongs, no surrogates). */
static int utf8_char(parser *ps)
{
    unsigned char c = *ps->p;
    int more;
    unsigned min;
    unsigned value;
    if (c >= 0xC2 && c <= 0xDF) {
        more = 1, min = 0x80, value = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        more = 2, min = 0x800, value = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
        more = 3, min = 0x10000, value = c & 0x07u;
    } else {
        return refuse(ps, "a byte that does not start a UTF-8 character");
    }
    ps->p++;
    for (int i = 0; i < more; i++, ps->p++) {
        if (ps->p >= ps->end || (*ps->p & 0xC0) != 0x80)
            return refuse(ps, "a cut UTF-8 character");
        value = value << 6 | (*ps->p & 0x3Fu);
    }
    if (value < min || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF))
        return refuse(ps, "an invalid UTF-8 character");
    return 1;
}

static int is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int string(parser *ps)
{
    ps->p++; /* the opening quote */
    while (ps->p < ps->end) {
        unsigned char c = *ps->p;
        if (c == '"') {
            ps->p++;
            return 1;
        }
        if (c < 0x20)
            return refuse(ps, "an unescaped control character in a string");
        if (c == '\\') {
            ps->p++;
            if (ps->p >= ps->end)
                break;
            c = *ps->p++;
            if (c == 'u') {
                for (int i = 0; i < 4; i++, ps->p++)
                    if (ps->p >= ps->end || !is_hex(*ps->p))
                        return refuse(ps, "a bad \\u escape");
            } else if (!(c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' ||
                         c == 'r' || c == 't')) {
                return refuse(ps, "a bad escape");
            }
        } else if (c >= 0x80) {
            if (!utf8_char(ps))
                return 0;
        } else {
            ps->p++;
        }
    }
    return refuse(ps, "an unterminated string");
}

static int value(parser *ps, int depth);

static int members(parser *ps, int depth, int object)
{
    unsigned char close = object ? '}' : ']';
    ps->p++; /* the opening bracket */
    skip_space(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return 1;
    }
    for (;;) {
        skip_space(ps);
        if (object) {
            if (ps->p >= ps->end || *ps->p != '"')
                return refuse(ps, "a member name expected");
            if (!string(ps))
                return 0;
            skip_space(ps);
            if (ps->p >= ps->end || *ps->p != ':')
                return refuse(ps, "':' expected");
            ps->p++;
        }
        if (!value(ps, depth + 1))
            return 0;
        skip_space(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return 1;
        }
        return refuse(ps, object ? "',' or '}' expected" : "',' or ']' expected");
    }
}

static int value(parser *ps, int depth)
{
    if (depth > MAX_DEPTH)
        return refuse(ps, "nesting too deep");
    skip_space(ps);
    if (ps->p >= ps->end)
        return refuse(ps, "a value expected");
    switch (*ps->p) {
    case '{': return members(ps, depth, 1);
    case '[': return members(ps, depth, 0);
    case '"': return string(ps);
    case 't': return literal(ps, "true");
    case 'f': return literal(ps, "false");
    case 'n': return literal(ps, "null");
    default:
        if (*ps->p == '-' || is_digit(*ps->p))
            return number(ps);
        return refuse(ps, "a value expected");
    }
}

int fuzz_json_valid(const char *text, size_t length, char *why, size_t why_size)
{
    parser ps = {(const unsigned char *)text, (const unsigned char *)text + length,
                 (const unsigned char *)text, why, why_size, 0};
    if (why_size)
        why[0] = '\0';
    if (!value(&ps, 0))
        return 0;
    skip_space(&ps);
    if (ps.p != ps.end)
        return refuse(&ps, "text after the value");
    return 1;
}
