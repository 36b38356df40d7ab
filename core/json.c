#include "json.h"

#include <stdarg.h>
#include <stdio.h>

#include "alloc.h"

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
    if (n < 0 || !reserve(json, (size_t)n))
        return;
    va_start(args, format);
    vsnprintf(json->text + json->length, (size_t)n + 1, format, args);
    va_end(args);
    json->length += (size_t)n;
}

void gpumem_json_string(gpumem_json *json, const char *s)
{
    gpumem_json_append(json, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            gpumem_json_append(json, "\\%c", c);
        else if (c < 0x20)
            gpumem_json_append(json, "\\u%04x", c);
        else
            gpumem_json_append(json, "%c", c);
    }
    gpumem_json_append(json, "\"");
}

void gpumem_json_free(gpumem_json *json)
{
    gpumem_free(json->text);
    *json = (gpumem_json){0};
}
