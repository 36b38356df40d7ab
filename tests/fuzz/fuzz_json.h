/* A strict JSON checker for gpumem_device_dump_json: RFC 8259 syntax and UTF-8. */
#ifndef GPUMEM_FUZZ_JSON_H
#define GPUMEM_FUZZ_JSON_H

#include <stddef.h>

/* 1 when text[0, length) is one JSON value with only whitespace around it and valid UTF-8 in
 * its strings; else 0, with a sentence in why saying what is wrong and where. */
int fuzz_json_valid(const char *text, size_t length, char *why, size_t why_size);

#endif
