/* A growing text buffer for JSON output, with string escaping. */
#ifndef GPUMEM_CORE_JSON_H
#define GPUMEM_CORE_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "gpumem/gpumem.h"

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

/* The length of the well-formed UTF-8 character at s (1 to 4), or 0 when s does not start one:
 * a stray continuation byte, an overlong form, a surrogate, a value above U+10FFFF. */
size_t gpumem_utf8_length(const unsigned char *s);

/* How many bytes of `text` a copy into `size` bytes (its NUL included) keeps: all of it when it
 * fits, else size - 1 backed off to the start of a UTF-8 character, so that no character is cut
 * in two. Reads no further than it keeps. For names (pools', buffers'). */
size_t gpumem_utf8_cut(const char *text, size_t size);

/* Validates the out-arguments of a dump-style call before any text is made: `length` must be
 * given, and `buffer` (called `buffer_name` in the message) may be NULL only with capacity 0. */
gpumem_result gpumem_json_check_out(const char *buffer_name, const char *buffer,
                                    uint64_t capacity, const uint64_t *length);

/* Hands the text out as the dump-style calls do (gpumem_device_dump_json): *length is its
 * length without the NUL; the text and a NUL go to `buffer` when capacity > *length;
 * GPUMEM_ERROR_INSUFFICIENT_BUFFER (naming `what`) when a buffer or capacity was given and is
 * too small; GPUMEM_ERROR_OUT_OF_HOST_MEMORY when the text could not be made. Frees the text. */
gpumem_result gpumem_json_hand_out(gpumem_json *json, char *buffer, uint64_t capacity,
                                   uint64_t *length, const char *what);

#endif
