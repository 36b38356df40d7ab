/* Bursts: many small buffers at once in one pool (up to a few thousand, past the 4096 handles of
 * the handle table's first chunk), each written and read back, then all destroyed. They live
 * only within the op, outside the model's buffer table. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_internal.h"

typedef struct burst_buffer {
    gpumem_buffer handle;
    uint32_t size, seed;
} burst_buffer;

static uint64_t burst_count(fz_ctx *c)
{
    unsigned k = (unsigned)fz_below(c, 20);
    if (k < 10)
        return 16 + fz_below(c, 49);
    if (k < 16)
        return 256;
    if (k < 19)
        return 1024;
    return 4500 + fz_below(c, 1501);
}

/* The pool's statistics must count the model's buffers and the burst's. */
static int check_count(fz_ctx *c, int pool, uint64_t extra)
{
    uint64_t expected = extra;
    for (int i = 0; i < FZ_MAX_BUFFERS; i++)
        expected += c->buffers[i].live && c->buffers[i].pool == pool;
    gpumem_pool_stats s;
    gpumem_result r = gpumem_pool_stats_get(c->pools[pool].handle, &s);
    if (!fz_call(c, "gpumem_pool_stats_get", r, 0, 0))
        return 0;
    if (s.allocation_count != expected)
        return fz_fail(c, "pool #%d holds %llu buffers (%llu of a burst), its stats say %llu", pool,
                       (unsigned long long)expected, (unsigned long long)extra,
                       (unsigned long long)s.allocation_count);
    return 1;
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

void fz_op_burst(fz_ctx *c)
{
    int pool = fz_pick_pool(c, -1);
    if (pool < 0) {
        fz_op_buffer_create(c);
        return;
    }
    fz_pool *p = &c->pools[pool];
    uint64_t count = burst_count(c);
    if (c->options->small && count > 64)
        count = 64;
    uint32_t base_seed = fz_u32(c);
    uint64_t stride = 1 + fz_below(c, 1000);
    burst_buffer *burst = calloc((size_t)count, sizeof *burst);
    if (!burst) {
        fz_fail(c, "the model ran out of host memory");
        return;
    }
    fz_expect resource = FZ_RESOURCE | (p->byte_limit ? FZ_LIMIT : 0);
    uint64_t made = 0;
    uint8_t data[64], back[64 + FZ_GUARD];
    for (; made < count; made++) {
        burst_buffer *b = &burst[made];
        b->seed = base_seed + (uint32_t)made;
        b->size = 1 + b->seed % 64;
        gpumem_buffer_desc desc = {.size = b->size};
        gpumem_result r = gpumem_buffer_create(p->handle, &desc, &b->handle);
        if (!fz_call(c, "gpumem_buffer_create", r, 0, resource) || r != GPUMEM_OK)
            break; /* a refusal for the byte limit ends the burst early */
        fz_pattern(data, b->size, b->seed);
        r = gpumem_buffer_write(b->handle, 0, data, b->size);
        if (!fz_call(c, "gpumem_buffer_write", r, 0, 0)) {
            made++;
            break;
        }
    }
    fz_trace(c, "burst of %llu buffers in pool #%d", (unsigned long long)made, pool);
    while (made && gcd(stride, made) != 1) /* so that i * stride % made visits every index */
        stride++;
    if (!fz_failed(c))
        check_count(c, pool, made);
    /* Read back in an order of its own, then destroy in another. */
    for (uint64_t i = 0; i < made && !fz_failed(c); i++) {
        burst_buffer *b = &burst[(i * stride) % made];
        fz_pattern(data, b->size, b->seed);
        memset(back, 0, sizeof back);
        fz_guard_set(back + b->size);
        gpumem_result r = gpumem_buffer_read(b->handle, 0, back, b->size);
        if (fz_call(c, "gpumem_buffer_read", r, 0, 0) &&
            fz_guard_ok(c, "gpumem_buffer_read", back + b->size) &&
            memcmp(back, data, b->size) != 0)
            fz_fail(c, "a buffer of %u bytes in a burst of %llu in pool #%d reads back other bytes",
                    b->size, (unsigned long long)made, pool);
        c->summary->reads_checked++;
        c->summary->bytes_checked += b->size;
    }
    for (uint64_t i = 0; i < made; i++) {
        burst_buffer *b = &burst[made - 1 - i * stride % made];
        gpumem_result r = gpumem_buffer_destroy(b->handle);
        fz_call(c, "gpumem_buffer_destroy", r, 0, 0);
        if (i + FZ_STALE >= made)
            fz_stale_push(c, FZ_BUFFER, (uint64_t)(uintptr_t)b->handle);
    }
    if (!fz_failed(c))
        check_count(c, pool, 0);
    free(burst);
}
