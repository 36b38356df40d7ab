#include "stream_order.h"

#include <string.h>

#include "hot.h"

static int slot_of(const gpumem_stream_order *o, uint64_t stream)
{
    for (int i = 0; i < GPUMEM_ORDER_SLOTS; i++)
        if (o->slots[i].stream == stream)
            return i;
    return -1;
}

static int is_settled(const gpumem_order_slot *s)
{
    return s->last_free <= s->settled;
}

/* A slot for `stream`: its own, a free one, or one whose frees are all settled (what others
 * saw of it goes with it). -1 when none. Out of line: only stream-ordered calls reach it, and
 * the buffer calls that inline this file's tests (GPUMEM_FLATTEN) need not carry it. */
GPUMEM_OUT_OF_LINE static int slot_take(gpumem_stream_order *o, uint64_t stream)
{
    int i = slot_of(o, stream);
    if (i >= 0)
        return i;
    for (i = 0; i < GPUMEM_ORDER_SLOTS; i++)
        if (!o->slots[i].stream || is_settled(&o->slots[i]))
            break;
    if (i == GPUMEM_ORDER_SLOTS)
        return -1;
    memset(&o->slots[i], 0, sizeof o->slots[i]);
    o->slots[i].stream = stream;
    for (int j = 0; j < GPUMEM_ORDER_SLOTS; j++)
        o->slots[j].seen[i] = 0;
    return i;
}

int gpumem_order_note_free(gpumem_stream_order *o, uint64_t stream)
{
    int i = slot_take(o, stream);
    if (i < 0)
        return 0;
    o->slots[i].last_free = ++o->frees;
    return 1;
}

uint64_t gpumem_order_track(gpumem_stream_order *o, uint64_t taker)
{
    return taker && slot_take(o, taker) >= 0 ? taker : 0;
}

gpumem_order_wait gpumem_order_oldest(const gpumem_stream_order *o)
{
    gpumem_order_wait oldest = {0, 0};
    for (int i = 0; i < GPUMEM_ORDER_SLOTS; i++) {
        const gpumem_order_slot *s = &o->slots[i];
        if (s->stream && !is_settled(s) && (!oldest.stream || s->last_free < oldest.upto))
            oldest = (gpumem_order_wait){s->stream, s->last_free};
    }
    return oldest;
}

/* gpumem_order_waits once some free was stream-ordered: out of line, so that a create that
 * inlines the test (GPUMEM_FLATTEN) does not take in the walk of the slots. */
GPUMEM_OUT_OF_LINE static uint32_t waits_of(const gpumem_stream_order *o, uint64_t taker,
                                            gpumem_order_wait *waits)
{
    int t = taker ? slot_of(o, taker) : -1;
    uint32_t n = 0;
    for (int j = 0; j < GPUMEM_ORDER_SLOTS; j++) {
        const gpumem_order_slot *s = &o->slots[j];
        if (!s->stream || s->stream == taker || is_settled(s))
            continue;
        if (t >= 0 && o->slots[t].seen[j] >= s->last_free)
            continue;
        waits[n++] = (gpumem_order_wait){s->stream, s->last_free};
    }
    return n;
}

uint32_t gpumem_order_waits(const gpumem_stream_order *o, uint64_t taker,
                            gpumem_order_wait *waits)
{
    if (!o->frees)
        return 0; /* no stream-ordered free ever: the common case, one test */
    return waits_of(o, taker, waits);
}

void gpumem_order_waited(gpumem_stream_order *o, uint64_t taker, gpumem_order_wait wait)
{
    int j = slot_of(o, wait.stream);
    if (j < 0)
        return; /* its slot went to another stream meanwhile: nothing of it is left to wait for */
    if (!taker) {
        if (o->slots[j].settled < wait.upto)
            o->slots[j].settled = wait.upto;
        return;
    }
    int t = slot_take(o, taker); /* none left: the taker waits again next time */
    if (t >= 0 && t != j && o->slots[t].seen[j] < wait.upto)
        o->slots[t].seen[j] = wait.upto;
}

int gpumem_order_unsettled(const gpumem_stream_order *o)
{
    if (!o->frees)
        return 0;
    for (int i = 0; i < GPUMEM_ORDER_SLOTS; i++)
        if (o->slots[i].stream && !is_settled(&o->slots[i]))
            return 1;
    return 0;
}
