/* A small JSON reader, for documents gpumem reads back (the device dump, for pictures).
 *
 * It parses the whole text into a tree of values, so that a reader can ask for fields by name in
 * any order. The text comes from the application (public API input), so nothing in it may crash
 * the reader: every error is a sentence that says what is wrong and where (byte, line and
 * column), nesting is limited so the recursion's depth is bounded, and numbers of any length are
 * read without overflow. Values live in an arena freed at once. */
#ifndef GPUMEM_CORE_JSON_READ_H
#define GPUMEM_CORE_JSON_READ_H

#include <stddef.h>
#include <stdint.h>

/* Deeper nesting than this is refused: the dump needs 6 levels. */
#define GPUMEM_JSON_READ_MAX_DEPTH 64

typedef enum gpumem_json_kind {
    GPUMEM_JSON_NULL,
    GPUMEM_JSON_BOOL,
    GPUMEM_JSON_NUMBER,
    GPUMEM_JSON_STRING,
    GPUMEM_JSON_ARRAY,
    GPUMEM_JSON_OBJECT,
} gpumem_json_kind;

typedef struct gpumem_json_value gpumem_json_value;
struct gpumem_json_value {
    gpumem_json_kind kind;
    int boolean;         /* GPUMEM_JSON_BOOL */
    /* GPUMEM_JSON_NUMBER: a number is a count when it is an integer from 0 to UINT64_MAX written
     * without fraction or exponent; others (negative, 1.5, 1e3, larger) are numbers all the
     * same, so that a field a reader does not know never fails the document. */
    int is_count;
    uint64_t count;
    const char *string;  /* GPUMEM_JSON_STRING, unescaped and NUL-terminated */
    size_t length;       /* of string (it may hold NULs of \u0000 escapes) */
    const char *key;     /* a member of an object: its name; else NULL */
    size_t key_length;   /* of key (it may hold NULs of \u0000 escapes too) */
    gpumem_json_value *first; /* ARRAY and OBJECT: the first element or member */
    gpumem_json_value *next;  /* the next element or member of the parent */
};

typedef struct gpumem_json_block gpumem_json_block;

typedef struct gpumem_json_document {
    gpumem_json_value *root;
    gpumem_json_block *blocks; /* the arena */
} gpumem_json_document;

typedef enum gpumem_json_read_status {
    GPUMEM_JSON_READ_OK,
    GPUMEM_JSON_READ_BAD,      /* not JSON: why says what and where */
    GPUMEM_JSON_READ_NO_MEMORY,
} gpumem_json_read_status;

/* Parses `text` (NUL-terminated: one JSON value with only whitespace around it, UTF-8 in its
 * strings). On anything but OK, why holds a sentence and document is empty. */
gpumem_json_read_status gpumem_json_read(const char *text, gpumem_json_document *document,
                                         char *why, size_t why_size);
void gpumem_json_document_free(gpumem_json_document *document);

/* An object's member named `key` (the first, when the name is repeated), or NULL when there is
 * none or `object` is not an object. */
const gpumem_json_value *gpumem_json_member(const gpumem_json_value *object, const char *key);

/* The kind's name for messages: "an object", "a string", ... */
const char *gpumem_json_kind_name(gpumem_json_kind kind);

#endif
