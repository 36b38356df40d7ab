/* Helpers the command-line tools share: names of memory flags, sizes in human units, and a small
 * JSON writer that escapes strings and places commas, so every --json output is valid JSON. */
#ifndef GPUMEM_TOOLS_FORMAT_H
#define GPUMEM_TOOLS_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bench.h"

/* Makes the process's exit fail (status 1, with a message naming `program` on stderr) when what
 * it wrote to stdout could not all be written (a full disk, /dev/full, a closed stdout or
 * pipe), whichever return of main ends it. Called first in main. */
void format_check_stdout_at_exit(const char *program);

/* "DEVICE_LOCAL|HOST_VISIBLE|HOST_COHERENT|HOST_CACHED", or "none" for 0. Returns out. */
const char *format_memory_flags(uint32_t flags, char *out, size_t size);

/* "512 B", "64.0 KiB", "15.6 GiB": binary units, one decimal above bytes. Returns out. */
const char *format_bytes(uint64_t bytes, char *out, size_t size);

/* A JSON writer over a FILE. Keys are given with each value and are NULL inside arrays and for
 * the top-level value. Output is indented by two spaces per level. */
#define JSON_MAX_DEPTH 16

typedef struct json_writer {
    FILE *out;
    uint32_t depth;
    uint8_t has_items[JSON_MAX_DEPTH]; /* per open level: a comma goes before the next item */
} json_writer;

void json_init(json_writer *w, FILE *out);
void json_object_begin(json_writer *w, const char *key);
void json_object_end(json_writer *w);
void json_array_begin(json_writer *w, const char *key);
void json_array_end(json_writer *w);
void json_string(json_writer *w, const char *key, const char *value); /* NULL: null */
void json_uint(json_writer *w, const char *key, uint64_t value);
void json_double(json_writer *w, const char *key, double value); /* NaN, inf: null */
void json_bool(json_writer *w, const char *key, int value);

/* Writes value as a JSON string literal, quotes included. */
void json_write_escaped(FILE *out, const char *value);

/* gpumem-bench's report, implemented in bench.c next to bench_result. These are for
 * gpumem-bench.c alone: bench.h is the fixed interface that the backend sections
 * (bench_vulkan.c, bench_cuda.c) include, and they have no use for the report's frame. */
typedef struct bench_header {
    const char *backend;
    const char *device;
} bench_header;

/* Prints the header line (backend, device, date, machine) or opens the JSON document. */
void bench_report_begin(const bench_options *options, const bench_header *header);
/* Closes the JSON document with every collected result (JSON mode; nothing in text mode). */
void bench_report_end(const bench_options *options);

#endif
