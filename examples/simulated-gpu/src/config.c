/* The configuration: environment variables, read once, when the module is registered (the
 * set of operations the table offers must be known then, before anything is probed). An empty
 * variable counts as unset. A bad value is not replaced in silence: the first one is kept in
 * `error`, and probe reports the device as unavailable with it as the reason, so that a
 * mistyped test configuration fails loudly instead of testing something else. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simgpu.h"

sim_config sim_cfg;

static void bad(sim_config *c, const char *name, const char *value, const char *expected)
{
    if (!c->error[0])
        snprintf(c->error, sizeof c->error, "%s=\"%.64s\" is not %s", name, value, expected);
}

static const char *value_of(const char *name)
{
    const char *value = getenv(name);
    return value && *value ? value : NULL;
}

/* 0 or 1. */
static int read_switch(sim_config *c, const char *name)
{
    const char *value = value_of(name);
    if (!value || strcmp(value, "0") == 0)
        return 0;
    if (strcmp(value, "1") == 0)
        return 1;
    bad(c, name, value, "0 or 1");
    return 0;
}

/* A decimal number in [min, max]; power_of_two: also a power of two. */
static uint64_t read_number(sim_config *c, const char *name, uint64_t fallback, uint64_t min,
                            uint64_t max, int power_of_two)
{
    const char *value = value_of(name);
    if (!value)
        return fallback;
    char expected[128];
    snprintf(expected, sizeof expected, "a %sdecimal number from %llu to %llu",
             power_of_two ? "power of two, as a " : "", (unsigned long long)min,
             (unsigned long long)max);
    char *end;
    errno = 0;
    unsigned long long n = strtoull(value, &end, 10);
    if (value[0] < '0' || value[0] > '9' || *end || errno || n < min || n > max ||
        (power_of_two && (n & (n - 1)))) {
        bad(c, name, value, expected);
        return fallback;
    }
    return n;
}

void sim_config_read(sim_config *c)
{
    *c = (sim_config){0};
    c->devices = (uint32_t)read_number(c, "SIMGPU_DEVICES", 1, 1, 16, 0);
    c->device_memory = read_number(c, "SIMGPU_DEVICE_MEMORY_MIB", 8192, 64, 1u << 20, 0) << 20;
    c->host_memory = read_number(c, "SIMGPU_HOST_MEMORY_MIB", 4096, 64, 1u << 20, 0) << 20;
    const char *noncoherent = value_of("SIMGPU_NONCOHERENT");
    if (!noncoherent || strcmp(noncoherent, "0") == 0)
        c->noncoherent = SIMGPU_NONCOHERENT_OFF;
    else if (strcmp(noncoherent, "1") == 0)
        c->noncoherent = SIMGPU_NONCOHERENT_ADD;
    else if (strcmp(noncoherent, "only") == 0)
        c->noncoherent = SIMGPU_NONCOHERENT_ONLY;
    else
        bad(c, "SIMGPU_NONCOHERENT", noncoherent, "0, 1 or only");
    c->no_host_copies = read_switch(c, "SIMGPU_NO_HOST_COPIES");
    c->no_fill = read_switch(c, "SIMGPU_NO_FILL");
    c->no_events = read_switch(c, "SIMGPU_NO_EVENTS");
    c->no_streams = read_switch(c, "SIMGPU_NO_STREAMS");
    c->no_addresses = read_switch(c, "SIMGPU_NO_ADDRESSES");
    c->reports_pinned = read_switch(c, "SIMGPU_REPORTS_PINNED");
    c->stream_delay_ns = read_number(c, "SIMGPU_STREAM_DELAY_US", 0, 0, 1000000, 0) * 1000;
    c->min_alignment = read_number(c, "SIMGPU_MIN_ALIGNMENT", 256, 1, 1u << 16, 1);
    c->atom_size = read_number(c, "SIMGPU_ATOM_SIZE", 64, 4, 1u << 16, 1);
    c->page_alignment = read_number(c, "SIMGPU_PAGE_ALIGNMENT", 4096, 1, 1u << 30, 1);
    if (c->page_alignment < c->min_alignment && value_of("SIMGPU_PAGE_ALIGNMENT")) {
        char expected[96];
        snprintf(expected, sizeof expected, "at least SIMGPU_MIN_ALIGNMENT (%llu)",
                 (unsigned long long)c->min_alignment);
        bad(c, "SIMGPU_PAGE_ALIGNMENT", value_of("SIMGPU_PAGE_ALIGNMENT"), expected);
    }
    if (c->page_alignment < c->min_alignment) /* backend.h: a multiple of min_alignment */
        c->page_alignment = c->min_alignment;
    const char *contract = value_of("SIMGPU_CONTRACT");
    c->contract_abort = 1;
    if (contract && strcmp(contract, "log") == 0)
        c->contract_abort = 0;
    else if (contract && strcmp(contract, "abort") != 0)
        bad(c, "SIMGPU_CONTRACT", contract, "abort or log");
}

static void append(char *out, size_t size, const char *text)
{
    size_t n = strlen(out);
    if (n + 1 < size)
        snprintf(out + n, size - n, "%s%s", n ? ", " : "", text);
}

void sim_config_describe(const sim_config *c, char *out, size_t size)
{
    char number[64];
    out[0] = '\0';
    if (c->noncoherent == SIMGPU_NONCOHERENT_ADD)
        append(out, size, "non-coherent type");
    if (c->noncoherent == SIMGPU_NONCOHERENT_ONLY)
        append(out, size, "only non-coherent host memory");
    if (c->no_host_copies)
        append(out, size, "no host copies");
    if (c->no_fill)
        append(out, size, "no fill");
    if (c->no_streams)
        append(out, size, "no streams");
    else if (c->no_events)
        append(out, size, "no events");
    if (c->no_addresses)
        append(out, size, "no addresses");
    if (c->reports_pinned)
        append(out, size, "reports pinned memory");
    if (c->stream_delay_ns) {
        snprintf(number, sizeof number, "%llu us per operation",
                 (unsigned long long)(c->stream_delay_ns / 1000));
        append(out, size, number);
    }
    snprintf(number, sizeof number, "pages at %llu-byte boundaries",
             (unsigned long long)c->page_alignment);
    append(out, size, number);
}
