/* gpumem_dump_svg on texts that are no dump: not JSON, truncated, another schema, fields of the
 * wrong kind or out of their page, huge numbers, deep nesting. Each must give
 * GPUMEM_ERROR_INVALID_ARGUMENT with a message that says what is wrong, and nothing may crash or
 * leak (the suite also runs under AddressSanitizer). Then a real dump, cut at every length and
 * with bytes changed at every place, must give a picture or that error, nothing else.
 *
 * Run with GPUMEM_BACKEND=host. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "gpumem/gpumem.h"

#define HEAD "{\"schema\":\"gpumem-dump\",\"schema_version\":1,"
#define DEVICE HEAD "\"name\":\"d\",\"backend\":\"host\",\"device_index\":0,"
#define POOL(pages, buffers)                                                                    \
    DEVICE "\"pools\":[{\"name\":\"p\",\"kind\":\"paged\",\"memory_type\":0,\"page_size\":4096," \
           "\"byte_limit\":0,\"reserved_bytes\":4096,\"used_bytes\":64,\"allocations\":1,"       \
           "\"pages\":[" pages "],\"buffers\":[" buffers "]}]}"
#define PAGE(id, ranges) \
    "{\"id\":" #id ",\"size\":4096,\"dedicated\":false,\"buffers\":1,\"mapped\":false," \
    "\"ranges\":[" ranges "]}"
#define BUFFER(page, offset, padding, allocation)                                              \
    "{\"handle\":7,\"name\":\"b\",\"page\":" #page ",\"offset\":" #offset ",\"size\":64,"      \
    "\"left_padding\":" #padding ",\"allocation_size\":" #allocation ",\"dedicated\":false," \
    "\"map_count\":0}"

typedef struct bad_case {
    const char *text;
    const char *words; /* the message holds them */
} bad_case;

static const bad_case bad_cases[] = {
    /* not JSON */
    {"", "not JSON: at line 1, column 1 (byte 0): expected a value, found the end"},
    {"nope", "expected a value, found 'n'"},
    {"tru", "expected a value"},
    {"{\"schema\":", "found the end of the text"},
    {"{\"schema\" 1}", "expected ':' after a member's name"},
    {"{1:2}", "expected a string (a member's name)"},
    {"[1 2]", "expected ',' or ']' after an element"},
    {"{\"a\":1 \"b\":2}", "expected ',' or '}' after a member"},
    {"[1,]", "expected a value, found ']'"},
    {"{} {}", "at line 1, column 4 (byte 3): expected the end of the text after the value"},
    {"\n\n  [x]", "at line 3, column 4 (byte 5)"},
    {"\"abc", "the text ends inside this string"},
    {"\"ab\\", "the text ends inside this string"},
    {"\"\\x\"", "expected an escape"},
    {"\"\\u12\"", "expected four hex digits after \\u"},
    {"\"\\udc00\"", "lone surrogate (0xdc00)"},
    {"\"\\ud800\"", "lone surrogate (0xd800)"},
    {"\"\\ud800\\u0041\"", "the high surrogate 0xd800 is not followed by a low one"},
    {"\"\x01\"", "the control character 0x01 must be escaped"},
    {"\"\xff\"", "a byte (0xff) that is not UTF-8"},
    {"\"\xc0\xaf\"", "not UTF-8"},            /* an overlong '/' */
    {"\"\xed\xa0\x80\"", "not UTF-8"},        /* a surrogate written as UTF-8 */
    {"01", "may not start with 0"},
    {"-", "expected a digit, found the end"},
    {"-x", "expected a digit, found 'x'"},
    {"1.", "after the decimal point"},
    {"1e+", "in the exponent"},
    {"\x80", "found the byte 0x80"},
    /* not a dump */
    {"[]", "the dump is an array, where it should be an object"},
    {"\"gpumem-dump\"", "the dump is a string"},
    {"{}", "the dump has no field \"schema\""},
    {"{\"schema\":5}", "field \"schema\" is a number, where it should be a string"},
    {"{\"schema\":\"gpumem-info\",\"schema_version\":1}",
     "the text's schema is \"gpumem-info\", not \"gpumem-dump\""},
    {"{\"schema\":\"gpumem-dump\"}", "no field \"schema_version\""},
    /* a name is all its characters: one with a NUL in it is no field's */
    {"{\"schema\\u0000x\":\"gpumem-dump\",\"schema_version\":1}", "no field \"schema\""},
    {"{\"schema\":\"gpumem-dump\",\"schema_version\\u0000\":1}", "no field \"schema_version\""},
    {HEAD "\"x\":0}", "no field \"name\""},
    {"{\"schema\":\"gpumem-dump\",\"schema_version\":2}", "schema_version is 2; this library "
                                                          "reads version 1"},
    {"{\"schema\":\"gpumem-dump\",\"schema_version\":\"1\"}", "is a string, where it should be "
                                                              "a number"},
    {"{\"schema\":\"gpumem-dump\",\"schema_version\":-1}", "is a number that is not a count"},
    {"{\"schema\":\"gpumem-dump\",\"schema_version\":1.0}", "is a number that is not a count"},
    {"{\"schema\":\"gpumem-dump\",\"schema_version\":1e0}", "is a number that is not a count"},
    /* huge numbers: read without overflow, and not counts */
    {"{\"schema\":\"gpumem-dump\",\"schema_version\":18446744073709551617}", "not a count"},
    {"{\"schema\":\"gpumem-dump\",\"schema_version\":"
     "99999999999999999999999999999999999999999999999999999999999999999999999999999999}",
     "not a count (an integer from 0 to 18446744073709551615)"},
    /* a number a reader does not know may be anything JSON allows */
    {HEAD "\"future\":-1.5e999999,\"name\":\"d\"}", "no field \"backend\""},
    {DEVICE "\"pools\":{}}", "field \"pools\" is an object, where it should be an array"},
    {DEVICE "\"pools\":[3]}", "field \"pools[0]\" is a number, where it should be an object"},
    {DEVICE "\"pools\":[{\"name\":\"p\",\"kind\":\"paged\",\"memory_type\":0}]}",
     "no field \"pools[0].page_size\""},
    {POOL(PAGE(0, "{\"offset\":0,\"size\":4096,\"used\":1}"), ""),
     "field \"pools[0].pages[0].ranges[0].used\" is a number, where it should be a boolean"},
    {POOL(PAGE(0, "{\"offset\":4000,\"size\":97,\"used\":false}"), ""),
     "pools[0].pages[0].ranges[0] lies at [4000, +97), past its page's end (4096 bytes)"},
    {POOL(PAGE(0, "{\"offset\":1,\"size\":18446744073709551615,\"used\":false}"), ""),
     "past its page's end"},
    {POOL(PAGE(0, "") "," PAGE(0, ""), ""), "two pages with the id 0 in \"pools[0]\""},
    {POOL(PAGE(0, ""), BUFFER(0, 64, 128, 192)), "a left padding (128) larger than its offset"},
    {POOL(PAGE(0, ""), BUFFER(0, 4064, 0, 64)),
     "buffer 7 (in \"pools[0]\", on page 0) lies at [4064, +64), past its page's end"},
    {POOL(PAGE(0, ""), "{\"handle\":7}"), "no field \"pools[0].buffers[0].name\""},
    /* an image's fields are named by their own path */
#define IMAGE_BUFFER(image)                                                                    \
    "{\"handle\":7,\"name\":\"b\",\"page\":0,\"offset\":0,\"size\":64,\"left_padding\":0," \
    "\"allocation_size\":64,\"dedicated\":false,\"map_count\":0,\"image\":" image "}"
    {POOL(PAGE(0, ""), IMAGE_BUFFER("{\"width\":4,\"height\":4,\"depth\":1,\"layers\":1}")),
     "no field \"pools[0].buffers[0].image.levels\""},
    {POOL(PAGE(0, ""), IMAGE_BUFFER("5")),
     "field \"pools[0].buffers[0].image\" is a number, where it should be an object"},
    /* the dump's own bytes in a message: control characters shown as '?', and cut where a
     * character begins (the schema's first 47 bytes at most) */
    {"{\"schema\":\"\\u001b]0;own\\u0007\",\"schema_version\":1}",
     "the text's schema is \"?]0;own?\""},
    {"{\"schema\":\"" "0123456789012345678901234567890123456789012345\u00e9\",\"schema_version\":1}",
     "schema is \"0123456789012345678901234567890123456789012345\", not"},
};

/* Messages name the text by its first 60 bytes: some are megabytes long. */
static void expect_refused(const char *text, const char *words)
{
    uint64_t length = 12345;
    gpumem_result r = gpumem_dump_svg(text, NULL, 0, &length);
    const char *message = gpumem_last_error();
    cr_expect_eq(r, GPUMEM_ERROR_INVALID_ARGUMENT, "%.60s: %s (%s)", text,
                 gpumem_result_string(r), message);
    cr_expect(strncmp(message, "gpumem_dump_svg: ", 17) == 0, "%.60s: message '%s'", text,
              message);
    cr_expect(strstr(message, words) != NULL, "%.60s: message '%s' lacks '%s'", text, message,
              words);
    cr_expect_eq(length, 12345, "%.60s: *length is set on a failure", text);
}

Test(picture, texts_that_are_no_dump)
{
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++)
        expect_refused(bad_cases[i].text, bad_cases[i].words);
}

/* `count` copies of `unit`, NUL-terminated. */
static char *repeated(const char *unit, size_t count)
{
    size_t n = strlen(unit);
    char *text = malloc(n * count + 1);
    cr_assert_not_null(text);
    for (size_t i = 0; i < count; i++)
        memcpy(text + i * n, unit, n);
    text[n * count] = '\0';
    return text;
}

/* Far deeper than the reader's limit: refused at the limit, without recursing further. */
Test(picture, deep_nesting)
{
    static const char *const units[] = {"[", "{\"a\":", "[{\"pools\":"};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        char *text = repeated(units[i], 1 << 20);
        expect_refused(text, "arrays and objects nest deeper than 64 levels");
        free(text);
    }
    char *text = repeated("[", 64); /* at the limit: JSON, though no dump */
    expect_refused(text, "expected a value, found the end of the text");
    free(text);
}

Test(picture, arguments)
{
    uint64_t length;
    char svg[16];
    cr_expect_eq(gpumem_dump_svg(NULL, NULL, 0, &length), GPUMEM_ERROR_INVALID_ARGUMENT);
    cr_expect_str_eq(gpumem_last_error(), "gpumem_dump_svg: dump_json is NULL");
    cr_expect_eq(gpumem_dump_svg(POOL("", ""), NULL, 0, NULL), GPUMEM_ERROR_INVALID_ARGUMENT);
    cr_expect_str_eq(gpumem_last_error(), "gpumem_dump_svg: length is NULL");
    cr_expect_eq(gpumem_dump_svg(POOL("", ""), NULL, 16, &length),
                 GPUMEM_ERROR_INVALID_ARGUMENT);
    cr_expect(strstr(gpumem_last_error(), "svg is NULL with a capacity of 16"));
    cr_expect_eq(gpumem_dump_svg(POOL("", ""), svg, sizeof svg, &length),
                 GPUMEM_ERROR_INSUFFICIENT_BUFFER);
    cr_expect(strstr(gpumem_last_error(), "and a NUL; capacity is 16"));
}

/* Length first, then exactly length + 1 bytes; one byte fewer is too few. */
static char *picture(const char *dump)
{
    uint64_t length = 0, again = 0;
    cr_assert_eq(gpumem_dump_svg(dump, NULL, 0, &length), GPUMEM_OK, "%s", gpumem_last_error());
    char *svg = malloc(length + 1);
    cr_assert_not_null(svg);
    cr_assert_eq(gpumem_dump_svg(dump, svg, length, &again), GPUMEM_ERROR_INSUFFICIENT_BUFFER);
    cr_assert_eq(gpumem_dump_svg(dump, svg, length + 1, &again), GPUMEM_OK);
    cr_assert_eq(again, length);
    cr_assert_eq(strlen(svg), length);
    cr_assert_eq(gpumem_last_error()[0], '\0', "a success leaves no message");
    return svg;
}

/* Names may hold XML's five special characters, and (escaped in JSON) characters XML does not
 * allow at all: the picture holds them escaped, or as U+FFFD. */
Test(picture, names_are_escaped)
{
    char *svg = picture(DEVICE "\"pools\":[{\"name\":\"<p&'\\\">\",\"kind\":\"paged\","
                               "\"memory_type\":0,\"page_size\":4096,\"byte_limit\":0,"
                               "\"reserved_bytes\":4096,\"used_bytes\":64,\"allocations\":1,"
                               "\"pages\":[" PAGE(0, "") "],\"buffers\":[{\"handle\":7,"
                               "\"name\":\"</title>\\u0001\\uffff\",\"page\":0,\"offset\":64,"
                               "\"size\":64,\"left_padding\":0,\"allocation_size\":64}]}]}");
    cr_expect(strstr(svg, "&lt;p&amp;&#39;&quot;&gt;"), "%s", svg);
    cr_expect(strstr(svg, "&lt;/title&gt;\xEF\xBF\xBD\xEF\xBF\xBD (handle 7)"), "%s", svg);
    cr_expect(!strstr(svg, "<p&"), "%s", svg);
    cr_expect(!strchr(svg, '\x01'), "%s", svg);
    free(svg);
}

/* A buffer on a page the pool does not list is a native pool's: counted, not drawn. */
Test(picture, buffers_of_no_listed_page)
{
    char *svg = picture(POOL("", BUFFER(3, 64, 0, 64)));
    cr_expect(strstr(svg, "1 buffer the runtime placed, not drawn"), "%s", svg);
    cr_expect(!strstr(svg, "class=\"buffer\""), "%s", svg);
    free(svg);
}

/* A real dump: shared pages with free holes, a dedicated page, a buffer without a name. */
static char *real_dump(void)
{
    gpumem_device dev;
    gpumem_pool pool;
    gpumem_buffer b[12];
    cr_assert_eq(gpumem_device_open(NULL, &dev), GPUMEM_OK, "%s", gpumem_last_error());
    gpumem_pool_desc pd = {.page_size = 1 << 16, .name = "cut"};
    cr_assert_eq(gpumem_pool_create(dev, &pd, &pool), GPUMEM_OK);
    for (int i = 0; i < 12; i++) {
        gpumem_buffer_desc bd = {.size = 1000u + 3000u * (unsigned)(i % 4),
                                 .flags = i == 11 ? GPUMEM_BUFFER_DEDICATED : 0,
                                 .name = i == 5 ? NULL : "buffer \"q\""};
        cr_assert_eq(gpumem_buffer_create(pool, &bd, &b[i]), GPUMEM_OK, "%s",
                     gpumem_last_error());
    }
    for (int i = 0; i < 12; i += 3)
        cr_assert_eq(gpumem_buffer_destroy(b[i]), GPUMEM_OK);
    uint64_t length;
    cr_assert_eq(gpumem_device_dump_json(dev, NULL, 0, &length), GPUMEM_OK);
    char *text = malloc(length + 1);
    cr_assert_not_null(text);
    cr_assert_eq(gpumem_device_dump_json(dev, text, length + 1, &length), GPUMEM_OK);
    cr_assert_eq(gpumem_device_close(dev), GPUMEM_OK);
    return text;
}

static void expect_picture_or_refusal(const char *text, const char *what, size_t at)
{
    uint64_t length;
    gpumem_result r = gpumem_dump_svg(text, NULL, 0, &length);
    cr_expect(r == GPUMEM_OK || r == GPUMEM_ERROR_INVALID_ARGUMENT, "%s at %zu: %s", what, at,
              gpumem_result_string(r));
    cr_expect(r == GPUMEM_OK || strncmp(gpumem_last_error(), "gpumem_dump_svg: the ", 21) == 0,
              "%s at %zu: '%s'", what, at, gpumem_last_error());
}

Test(picture, truncated_dumps)
{
    char *text = real_dump();
    free(picture(text));
    size_t length = strlen(text);
    char *cut = malloc(length + 1);
    cr_assert_not_null(cut);
    for (size_t n = 0; n < length - 1; n++) { /* the last byte is a newline */
        memcpy(cut, text, n);
        cut[n] = '\0';
        uint64_t svg_length;
        cr_expect_eq(gpumem_dump_svg(cut, NULL, 0, &svg_length), GPUMEM_ERROR_INVALID_ARGUMENT,
                     "cut at %zu", n);
    }
    free(cut);
    free(text);
}

Test(picture, changed_bytes)
{
    static const char replacements[] = {'"', '{', '[', '9', '-', '\\', ',', 'x', '\x7f', '\xff'};
    char *text = real_dump();
    size_t length = strlen(text);
    for (size_t i = 0; i < length; i++) {
        char kept = text[i];
        for (size_t k = 0; k < sizeof replacements; k++) {
            text[i] = replacements[k];
            expect_picture_or_refusal(text, "changed byte", i);
        }
        text[i] = kept;
    }
    free(text);
}
