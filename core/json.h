/* A growing text buffer for JSON output, with string escaping. */
#ifndef GPUMEM_CORE_JSON_H
#define GPUMEM_CORE_JSON_H

#include <stddef.h>

typedef struct gpumem_json {
    char *text;
    size_t length;
    size_t capacity;
    int failed; /* out of memory: later appends do nothing */
} gpumem_json;

void gpumem_json_append(gpumem_json *json, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends "string" with JSON escapes; a byte that is not part of well-formed UTF-8 becomes
 * U+FFFD, so the text stays valid JSON whatever a name holds. */
void gpumem_json_string(gpumem_json *json, const char *string);
void gpumem_json_free(gpumem_json *json);

#endif
