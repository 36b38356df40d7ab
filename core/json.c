#include "json.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "error.h"

static int reserve(gpumem_json *json, size_t extra)
{
    if (json->failed)
        return 0;
    if (json->length + extra + 1 <= json->capacity)
        return 1;
    size_t capacity = json->capacity ? json->capacity : 1024;
    while (capacity < json->length + extra + 1)
        capacity *= 2;
    char *text = gpumem_realloc(json->text, capacity);
    if (!text) {
        json->failed = 1;
        return 0;
    }
    json->text = text;
    json->capacity = capacity;
    return 1;
}

void gpumem_json_append(gpumem_json *json, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    int n = vsnprintf(NULL, 0, format, args);
    va_end(args);
    if (n < 0) { /* a piece of INT_MAX bytes or more: the text would lack it */
        json->failed = 1;
        return;
    }
    if (!reserve(json, (size_t)n))
        return;
    va_start(args, format);
    vsnprintf(json->text + json->length, (size_t)n + 1, format, args);
    va_end(args);
    json->length += (size_t)n;
}

size_t gpumem_utf8_length(const unsigned char *s)
{
    size_t n = s[0] < 0x80 ? 1 : s[0] >= 0xC2 && s[0] <= 0xDF ? 2
                             : s[0] >= 0xE0 && s[0] <= 0xEF   ? 3
                             : s[0] >= 0xF0 && s[0] <= 0xF4   ? 4
                                                              : 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0) ||
        (s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90))
        return 0;
    return n;
}

size_t gpumem_utf8_cut(const char *text, size_t size)
{
    size_t n = strnlen(text, size);
    if (n >= size) {
        n = size - 1;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
            n--;
    }
    return n;
}

void gpumem_json_string(gpumem_json *json, const char *text)
{
    gpumem_json_append(json, "\"");
    for (const unsigned char *s = (const unsigned char *)text; *s;) {
        size_t n = gpumem_utf8_length(s);
        if (n == 0) /* names are meant to be UTF-8; a byte that is not stays visible, valid */
            gpumem_json_append(json, "\\ufffd");
        else if (*s == '"' || *s == '\\')
            gpumem_json_append(json, "\\%c", *s);
        else if (*s < 0x20)
            gpumem_json_append(json, "\\u%04x", *s);
        else
            gpumem_json_append(json, "%.*s", (int)n, (const char *)s);
        s += n ? n : 1;
    }
    gpumem_json_append(json, "\"");
}

void gpumem_json_free(gpumem_json *json)
{
    gpumem_free(json->text);
    *json = (gpumem_json){0};
}

gpumem_result gpumem_json_check_out(const char *buffer_name, const char *buffer,
                                    uint64_t capacity, const uint64_t *length)
{
    if (!length)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "length is NULL");
    if (!buffer && capacity)
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT, "%s is NULL with a capacity of %llu",
                           buffer_name, (unsigned long long)capacity);
    return GPUMEM_OK;
}

gpumem_result gpumem_json_hand_out(gpumem_json *json, char *buffer, uint64_t capacity,
                                   uint64_t *length, const char *what)
{
    gpumem_result r = GPUMEM_OK;
    if (json->failed) {
        r = gpumem_fail(GPUMEM_ERROR_OUT_OF_HOST_MEMORY, "no memory for the %s", what);
    } else {
        *length = json->length;
        if (capacity > json->length)
            memcpy(buffer, json->text, json->length + 1);
        else if (buffer || capacity)
            r = gpumem_fail(GPUMEM_ERROR_INSUFFICIENT_BUFFER,
                            "the %s needs %llu bytes and a NUL; capacity is %llu", what,
                            (unsigned long long)json->length, (unsigned long long)capacity);
    }
    gpumem_json_free(json);
    return r;
}
