/* A recursive-descent JSON parser (RFC 8259) into a tree of values in an arena. Every function
 * that can fail returns NULL (or 0) after recording the first error; callers only pass the
 * failure up, so the message always names the first thing that was wrong. */
#include "json_read.h"

#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "json.h"

/* Values and strings are cut from blocks of at least this size: one allocation per block
 * rather than per value keeps a large dump's parse cheap, and the free one walk. */
#define BLOCK_SIZE (64u << 10)

struct gpumem_json_block {
    gpumem_json_block *next;
    size_t used;
    size_t size;
    max_align_t data[];
};

typedef struct parser {
    const char *text; /* the document's start, for the error's place */
    const char *at;
    gpumem_json_document *document;
    gpumem_json_read_status status;
    char *why;
    size_t why_size;
    int depth;
} parser;

/* --- errors --- */

static void place_of(const parser *p, char *out, size_t size)
{
    unsigned long line = 1, column = 1;
    for (const char *c = p->text; c < p->at; c++) {
        column = *c == '\n' ? 1 : column + 1;
        line += *c == '\n';
    }
    snprintf(out, size, "at line %lu, column %lu (byte %lu)", line, column,
             (unsigned long)(p->at - p->text));
}

static void *fail(parser *p, const char *format, ...) __attribute__((format(printf, 2, 3)));

static void *fail(parser *p, const char *format, ...)
{
    if (p->status != GPUMEM_JSON_READ_OK)
        return NULL;
    p->status = GPUMEM_JSON_READ_BAD;
    char place[96], what[256];
    place_of(p, place, sizeof place);
    va_list args;
    va_start(args, format);
    vsnprintf(what, sizeof what, format, args);
    va_end(args);
    snprintf(p->why, p->why_size, "%s: %s", place, what);
    return NULL;
}

/* What stands at the parser's place, for "expected X, found Y". */
static void *fail_expected(parser *p, const char *expected)
{
    unsigned char c = (unsigned char)*p->at;
    if (c == '\0')
        return fail(p, "expected %s, found the end of the text", expected);
    if (c > 0x20 && c < 0x7f)
        return fail(p, "expected %s, found '%c'", expected, c);
    return fail(p, "expected %s, found the byte 0x%02x", expected, c);
}

static void *fail_memory(parser *p)
{
    if (p->status == GPUMEM_JSON_READ_OK) {
        p->status = GPUMEM_JSON_READ_NO_MEMORY;
        snprintf(p->why, p->why_size, "no memory to read the JSON text");
    }
    return NULL;
}

/* --- the arena --- */

static void *take(parser *p, size_t size)
{
    size = (size + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
    gpumem_json_block *b = p->document->blocks;
    if (!b || b->size - b->used < size) {
        size_t data = size > BLOCK_SIZE ? size : BLOCK_SIZE;
        b = gpumem_alloc(sizeof *b + data);
        if (!b)
            return fail_memory(p);
        *b = (gpumem_json_block){.next = p->document->blocks, .size = data};
        p->document->blocks = b;
    }
    void *taken = (char *)b->data + b->used;
    b->used += size;
    return taken;
}

static gpumem_json_value *new_value(parser *p, gpumem_json_kind kind)
{
    gpumem_json_value *v = take(p, sizeof *v);
    if (v)
        *v = (gpumem_json_value){.kind = kind};
    return v;
}

/* --- scalars --- */

static void skip_space(parser *p)
{
    while (*p->at == ' ' || *p->at == '\t' || *p->at == '\n' || *p->at == '\r')
        p->at++;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Digits, one at least; adds them to *count while it does not overflow (else clears *exact). */
static int read_digits(parser *p, uint64_t *count, int *exact)
{
    if (!is_digit(*p->at))
        return 0;
    for (; is_digit(*p->at); p->at++) {
        unsigned digit = (unsigned)(*p->at - '0');
        if (*count > (UINT64_MAX - digit) / 10)
            *exact = 0;
        else
            *count = *count * 10 + digit;
    }
    return 1;
}

static gpumem_json_value *read_number(parser *p)
{
    gpumem_json_value *v = new_value(p, GPUMEM_JSON_NUMBER);
    if (!v)
        return NULL;
    int exact = 1, negative = *p->at == '-';
    p->at += negative;
    if (*p->at == '0' && is_digit(p->at[1]))
        return fail(p, "a number may not start with 0 and another digit");
    if (!read_digits(p, &v->count, &exact))
        return fail_expected(p, "a digit");
    int integer = 1;
    if (*p->at == '.') {
        p->at++;
        integer = 0;
        uint64_t ignored = 0;
        if (!read_digits(p, &ignored, &(int){1}))
            return fail_expected(p, "a digit after the decimal point");
    }
    if (*p->at == 'e' || *p->at == 'E') {
        p->at++;
        integer = 0;
        p->at += *p->at == '+' || *p->at == '-';
        uint64_t ignored = 0;
        if (!read_digits(p, &ignored, &(int){1}))
            return fail_expected(p, "a digit in the exponent");
    }
    v->is_count = exact && integer && !negative;
    if (!v->is_count)
        v->count = 0;
    return v;
}

static gpumem_json_value *read_literal(parser *p)
{
    static const struct {
        const char *word;
        gpumem_json_kind kind;
        int boolean;
    } literals[] = {{"true", GPUMEM_JSON_BOOL, 1},
                    {"false", GPUMEM_JSON_BOOL, 0},
                    {"null", GPUMEM_JSON_NULL, 0}};
    for (size_t i = 0; i < sizeof literals / sizeof literals[0]; i++) {
        size_t n = strlen(literals[i].word);
        if (strncmp(p->at, literals[i].word, n) == 0) {
            gpumem_json_value *v = new_value(p, literals[i].kind);
            if (v) {
                v->boolean = literals[i].boolean;
                p->at += n;
            }
            return v;
        }
    }
    return fail_expected(p, "a value");
}

/* --- strings --- */

static size_t utf8_put(uint32_t c, char *out)
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | c >> 6);
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | c >> 12);
        out[1] = (char)(0x80 | (c >> 6 & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | c >> 18);
    out[1] = (char)(0x80 | (c >> 12 & 0x3F));
    out[2] = (char)(0x80 | (c >> 6 & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* Four hex digits after "\u"; -1 when they are not. */
static long read_hex4(parser *p)
{
    long value = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->at[i];
        int digit = is_digit(c) ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                          : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                                 : -1;
        if (digit < 0) {
            p->at += i;
            fail_expected(p, "four hex digits after \\u");
            return -1;
        }
        value = value * 16 + digit;
    }
    p->at += 4;
    return value;
}

/* The character of a \u escape (p->at after the "u"), joining a surrogate pair; -1 on error. */
static long read_unicode_escape(parser *p)
{
    long c = read_hex4(p);
    if (c < 0xD800 || c > 0xDFFF)
        return c;
    if (c >= 0xDC00 || p->at[0] != '\\' || p->at[1] != 'u') {
        fail(p, "the \\u escape of a lone surrogate (0x%04lx) is no character", c);
        return -1;
    }
    p->at += 2;
    long low = read_hex4(p);
    if (low < 0)
        return -1;
    if (low < 0xDC00 || low > 0xDFFF) {
        fail(p, "the high surrogate 0x%04lx is not followed by a low one", c);
        return -1;
    }
    return 0x10000 + ((c - 0xD800) << 10) + (low - 0xDC00);
}

/* One escape (p->at after the backslash), written to out; its length, or 0 on error. */
static size_t read_escape(parser *p, char *out)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *simple = *p->at ? strchr(from, *p->at) : NULL;
    if (simple) {
        p->at++;
        *out = to[simple - from];
        return 1;
    }
    if (*p->at != 'u') {
        fail_expected(p, "an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
        return 0;
    }
    p->at++;
    long c = read_unicode_escape(p);
    return c < 0 ? 0 : utf8_put((uint32_t)c, out);
}

/* The bytes from the opening quote to the closing one, escapes not decoded: an upper bound of
 * the unescaped length (an escape is never shorter than what it stands for). */
static size_t raw_length(parser *p)
{
    const char *c = p->at + 1;
    while (*c && *c != '"')
        c += c[0] == '\\' && c[1] ? 2 : 1;
    if (!*c) {
        fail(p, "the text ends inside this string");
        return SIZE_MAX;
    }
    return (size_t)(c - p->at - 1);
}

/* A string's characters up to its closing quote (p->at after the opening one). */
static int read_characters(parser *p, char *out, size_t *length)
{
    size_t n = 0;
    while (*p->at != '"') {
        unsigned char c = (unsigned char)*p->at;
        size_t step;
        if (c == '\\') {
            p->at++;
            if (!(step = read_escape(p, out + n)))
                return 0;
            n += step;
            continue;
        }
        if (c < 0x20) {
            fail(p, "the control character 0x%02x must be escaped in a string", c);
            return 0;
        }
        if (!(step = gpumem_utf8_length((const unsigned char *)p->at))) {
            fail(p, "a string holds a byte (0x%02x) that is not UTF-8", c);
            return 0;
        }
        memcpy(out + n, p->at, step);
        p->at += step;
        n += step;
    }
    p->at++;
    out[n] = '\0';
    *length = n;
    return 1;
}

/* A string (p->at on its opening quote) into the arena. */
static const char *read_string_text(parser *p, size_t *length)
{
    size_t raw = raw_length(p);
    if (raw == SIZE_MAX)
        return NULL;
    char *out = take(p, raw + 1);
    if (!out)
        return NULL;
    p->at++;
    return read_characters(p, out, length) ? out : NULL;
}

static gpumem_json_value *read_string(parser *p)
{
    gpumem_json_value *v = new_value(p, GPUMEM_JSON_STRING);
    if (v && !(v->string = read_string_text(p, &v->length)))
        return NULL;
    return v;
}

/* --- arrays and objects --- */

static gpumem_json_value *read_value(parser *p);

/* One member: "key": value. */
static gpumem_json_value *read_member(parser *p)
{
    skip_space(p);
    if (*p->at != '"')
        return fail_expected(p, "a string (a member's name)");
    size_t length;
    const char *key = read_string_text(p, &length);
    if (!key)
        return NULL;
    skip_space(p);
    if (*p->at != ':')
        return fail_expected(p, "':' after a member's name");
    p->at++;
    gpumem_json_value *v = read_value(p);
    if (v) {
        v->key = key;
        v->key_length = length;
    }
    return v;
}

/* An array's elements or an object's members up to `close` (p->at after the opening bracket),
 * linked in order. */
static gpumem_json_value *read_container(parser *p, gpumem_json_kind kind, char close)
{
    if (++p->depth > GPUMEM_JSON_READ_MAX_DEPTH)
        return fail(p, "arrays and objects nest deeper than %d levels",
                    GPUMEM_JSON_READ_MAX_DEPTH);
    gpumem_json_value *container = new_value(p, kind);
    if (!container)
        return NULL;
    gpumem_json_value **tail = &container->first;
    skip_space(p);
    if (*p->at == close) {
        p->at++;
        p->depth--;
        return container;
    }
    for (;;) {
        gpumem_json_value *item = kind == GPUMEM_JSON_OBJECT ? read_member(p) : read_value(p);
        if (!item)
            return NULL;
        *tail = item;
        tail = &item->next;
        skip_space(p);
        if (*p->at == close)
            break;
        if (*p->at != ',')
            return fail_expected(p, close == '}' ? "',' or '}' after a member"
                                                 : "',' or ']' after an element");
        p->at++;
    }
    p->at++;
    p->depth--;
    return container;
}

static gpumem_json_value *read_value(parser *p)
{
    skip_space(p);
    char c = *p->at;
    if (c == '{' || c == '[') {
        p->at++;
        return read_container(p, c == '{' ? GPUMEM_JSON_OBJECT : GPUMEM_JSON_ARRAY,
                              c == '{' ? '}' : ']');
    }
    if (c == '"')
        return read_string(p);
    if (c == '-' || is_digit(c))
        return read_number(p);
    return read_literal(p);
}

/* --- the document --- */

gpumem_json_read_status gpumem_json_read(const char *text, gpumem_json_document *document,
                                         char *why, size_t why_size)
{
    *document = (gpumem_json_document){0};
    parser p = {.text = text, .at = text, .document = document, .why = why,
                .why_size = why_size};
    if (why_size)
        why[0] = '\0';
    gpumem_json_value *root = read_value(&p);
    if (root) {
        skip_space(&p);
        if (*p.at)
            fail_expected(&p, "the end of the text after the value");
    }
    if (p.status != GPUMEM_JSON_READ_OK) {
        gpumem_json_document_free(document);
        return p.status;
    }
    document->root = root;
    return GPUMEM_JSON_READ_OK;
}

void gpumem_json_document_free(gpumem_json_document *document)
{
    for (gpumem_json_block *b = document->blocks, *next; b; b = next) {
        next = b->next;
        gpumem_free(b);
    }
    *document = (gpumem_json_document){0};
}

const gpumem_json_value *gpumem_json_member(const gpumem_json_value *object, const char *key)
{
    if (!object || object->kind != GPUMEM_JSON_OBJECT)
        return NULL;
    size_t length = strlen(key);
    for (const gpumem_json_value *v = object->first; v; v = v->next)
        if (v->key_length == length && memcmp(v->key, key, length) == 0)
            return v;
    return NULL;
}

const char *gpumem_json_kind_name(gpumem_json_kind kind)
{
    static const char *const names[] = {"null", "a boolean", "a number", "a string",
                                        "an array", "an object"};
    return (unsigned)kind < sizeof names / sizeof names[0] ? names[kind] : "a value";
}
