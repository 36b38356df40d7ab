/* What gpumem-bench's sections share: the clock, the median, and the report. Results are printed
 * as they come in text mode and collected for one JSON document in JSON mode, so a section never
 * needs to know which mode it runs in. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* gmtime_r, sysconf, uname with -std=c17 */
#endif

#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "format.h"

typedef struct bench_entry {
    char section[32];
    char name[64];
    char unit[16];
    double value; /* the median of the runs */
    double min, max;
} bench_entry;

static struct {
    bench_entry *entries;
    size_t count, capacity;
    char backend[GPUMEM_NAME_SIZE];
    char device[GPUMEM_NAME_SIZE * 4];
    char date[32];
    char system[256];
    long cores;
} report;

static struct {
    char what[64];
    double start;
    int shown; /* a line is on the terminal, to be cleared before a result */
} progress;

static void progress_clear(void)
{
    if (progress.shown) {
        fprintf(stderr, "\r\033[K");
        progress.shown = 0;
    }
}

int bench_out_of_memory(const char *what)
{
    fprintf(stderr, "gpumem-bench: %s: out of host memory\n", what);
    return 1;
}

double bench_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *values, uint32_t n)
{
    if (n == 0)
        return 0.0;
    qsort(values, n, sizeof values[0], compare_doubles);
    return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

static void collect(const char *section, const char *name, double value, double min,
                    double max, const char *unit)
{
    if (report.count == report.capacity) {
        size_t capacity = report.capacity ? 2 * report.capacity : 32;
        bench_entry *grown = realloc(report.entries, capacity * sizeof *grown);
        if (!grown) {
            fprintf(stderr, "gpumem-bench: out of memory; %s/%s not kept\n", section, name);
            return;
        }
        report.entries = grown;
        report.capacity = capacity;
    }
    bench_entry *e = &report.entries[report.count++];
    snprintf(e->section, sizeof e->section, "%s", section);
    snprintf(e->name, sizeof e->name, "%s", name);
    snprintf(e->unit, sizeof e->unit, "%s", unit);
    e->value = value;
    e->min = min;
    e->max = max;
}

static int precision(double value)
{
    return value < 100.0 ? 3 : 1;
}

static void result(const bench_options *options, const char *section, const char *name,
                   double value, double min, double max, const char *unit)
{
    progress_clear();
    if (options->json)
        collect(section, name, value, min, max, unit);
    else if (min == max)
        printf("%s/%s: %.*f %s\n", section, name, precision(value), value, unit);
    else
        printf("%s/%s: %.*f %s (min %.*f, max %.*f)\n", section, name, precision(value), value,
               unit, precision(min), min, precision(max), max);
    fflush(stdout); /* results appear as they are measured, even through a pipe */
}

void bench_result(const bench_options *options, const char *section, const char *name,
                  double value, const char *unit)
{
    result(options, section, name, value, value, value, unit);
}

void bench_result_runs(const bench_options *options, const char *section, const char *name,
                       double *values, uint32_t n, const char *unit)
{
    if (n == 0)
        return;
    double median = bench_median(values, n); /* sorted now */
    result(options, section, name, median, values[0], values[n - 1], unit);
}

/* A note starts when done is 0 (or when `what` changes) and is shown once it has run for more
 * than a second, so quick measurements stay quiet. Always on stderr: stdout may be JSON. */
void bench_progress(const bench_options *options, const char *what, uint32_t done,
                    uint32_t total)
{
    (void)options; /* notes go to stderr in both modes */
    static int terminal = -1;
    if (terminal < 0)
        terminal = isatty(STDERR_FILENO);
    double now = bench_now();
    if (done == 0 || strncmp(progress.what, what, sizeof progress.what - 1) != 0) {
        snprintf(progress.what, sizeof progress.what, "%s", what);
        progress.start = now;
    }
    if (terminal && done > 0 && now - progress.start > 1.0) {
        fprintf(stderr, "\r\033[K  %s: %u/%u, %.0f s", what, done, total, now - progress.start);
        progress.shown = 1;
    }
}

/* --- the report's frame --- */

/* The CPU's model, from /proc/cpuinfo where there is one: host transfers depend on it. */
static void cpu_model(char *out, size_t size)
{
    snprintf(out, size, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (colon && strncmp(line, "model name", 10) == 0) {
            colon += 1 + strspn(colon + 1, " \t");
            colon[strcspn(colon, "\n")] = '\0';
            snprintf(out, size, "%s", colon);
            break;
        }
    }
    fclose(f);
}

static void describe_machine(void)
{
    time_t now = time(NULL);
    struct tm utc;
    if (gmtime_r(&now, &utc))
        strftime(report.date, sizeof report.date, "%Y-%m-%dT%H:%M:%SZ", &utc);
    struct utsname u;
    if (uname(&u) != 0)
        memset(&u, 0, sizeof u);
    report.cores = sysconf(_SC_NPROCESSORS_ONLN);
    char cpu[128];
    cpu_model(cpu, sizeof cpu);
    snprintf(report.system, sizeof report.system, "%.40s %.60s %.20s, %.70s", u.sysname,
             u.release, u.machine, cpu);
}

void bench_report_begin(const bench_options *options, const bench_header *header)
{
    snprintf(report.backend, sizeof report.backend, "%s", header->backend);
    snprintf(report.device, sizeof report.device, "%s", header->device);
    describe_machine();
    if (!options->json)
        printf("gpumem-bench %s: backend %s, device \"%s\", %s, %s, %ld cores\n",
               GPUMEM_VERSION_STRING, report.backend, report.device, report.date,
               report.system, report.cores);
}

static void write_results(json_writer *w)
{
    json_array_begin(w, "results");
    for (size_t i = 0; i < report.count; i++) {
        const bench_entry *e = &report.entries[i];
        json_object_begin(w, NULL);
        json_string(w, "section", e->section);
        json_string(w, "name", e->name);
        json_double(w, "value", e->value);
        json_double(w, "min", e->min);
        json_double(w, "max", e->max);
        json_string(w, "unit", e->unit);
        json_object_end(w);
    }
    json_array_end(w);
}

void bench_report_end(const bench_options *options)
{
    progress_clear();
    if (options->json) {
        json_writer w;
        json_init(&w, stdout);
        json_object_begin(&w, NULL);
        json_string(&w, "version", GPUMEM_VERSION_STRING);
        json_string(&w, "backend", report.backend);
        json_string(&w, "device", report.device);
        json_string(&w, "date", report.date);
        json_string(&w, "machine", report.system);
        json_uint(&w, "cores", report.cores > 0 ? (uint64_t)report.cores : 0);
        json_object_begin(&w, "options");
        json_bool(&w, "quick", options->quick);
        json_uint(&w, "repeats", options->repeats);
        json_uint(&w, "transfer_size", options->transfer_size);
        /* As text: a 64-bit seed passes what a double holds exactly. */
        char seed[32];
        snprintf(seed, sizeof seed, "0x%016llx", (unsigned long long)options->seed);
        json_string(&w, "seed", seed);
        json_uint(&w, "pool_live", options->pool_live);
        json_object_end(&w);
        write_results(&w);
        json_object_end(&w);
        fflush(stdout);
    }
    free(report.entries);
    report.entries = NULL;
    report.count = report.capacity = 0;
}
