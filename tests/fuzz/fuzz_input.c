/* Where a run's decisions come from: a fixed byte string or a PRNG (splitmix64), and the small
 * decoders that turn bytes into numbers and choices. A choice takes as few bytes as it needs, so
 * that libFuzzer's mutations of one byte change one decision. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_internal.h"

void fuzz_input_from_bytes(fuzz_input *input, const uint8_t *data, size_t size)
{
    memset(input, 0, sizeof *input);
    input->data = data;
    input->size = size;
    /* A non-NULL pointer marks a fixed input even when it is empty. */
    if (!input->data)
        input->data = (const uint8_t *)"";
}

void fuzz_input_from_seed(fuzz_input *input, uint64_t seed)
{
    memset(input, 0, sizeof *input);
    input->state = seed;
}

void fuzz_input_record(fuzz_input *input)
{
    input->record_capacity = 1 << 16;
    input->record = malloc(input->record_capacity);
    input->record_size = 0;
    if (!input->record)
        input->record_capacity = 0;
}

void fuzz_input_free(fuzz_input *input)
{
    free(input->record);
    input->record = NULL;
    input->record_size = input->record_capacity = 0;
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void record_byte(fuzz_input *input, uint8_t byte)
{
    if (!input->record)
        return;
    if (input->record_size == input->record_capacity) {
        uint8_t *bigger = realloc(input->record, input->record_capacity * 2);
        if (!bigger) {
            free(input->record); /* --save-input then reports that it has nothing */
            input->record = NULL;
            return;
        }
        input->record = bigger;
        input->record_capacity *= 2;
    }
    input->record[input->record_size++] = byte;
}

uint8_t fuzz_input_byte(fuzz_input *input)
{
    uint8_t byte;
    if (input->data) {
        if (input->position >= input->size) {
            input->exhausted = 1;
            return 0;
        }
        byte = input->data[input->position++];
    } else {
        if (input->word_left == 0) {
            input->word = splitmix64(&input->state);
            input->word_left = 8;
        }
        byte = (uint8_t)input->word;
        input->word >>= 8;
        input->word_left--;
        input->position++;
    }
    record_byte(input, byte);
    return byte;
}

uint32_t fz_u8(fz_ctx *c)
{
    return fuzz_input_byte(c->in);
}

uint32_t fz_u16(fz_ctx *c)
{
    uint32_t low = fz_u8(c);
    return low | fz_u8(c) << 8;
}

uint32_t fz_u32(fz_ctx *c)
{
    uint32_t low = fz_u16(c);
    return low | fz_u16(c) << 16;
}

uint64_t fz_u64(fz_ctx *c)
{
    uint64_t low = fz_u32(c);
    return low | (uint64_t)fz_u32(c) << 32;
}

uint64_t fz_below(fz_ctx *c, uint64_t n)
{
    if (n <= 1)
        return 0;
    if (n <= 256)
        return (fz_u8(c) * n) >> 8;
    if (n <= 65536)
        return (fz_u16(c) * n) >> 16;
    if (n <= UINT32_MAX)
        return ((uint64_t)fz_u32(c) * n) >> 32;
    return fz_u64(c) % n;
}

int fz_chance(fz_ctx *c, unsigned num, unsigned den)
{
    return fz_below(c, den) < num;
}

uint64_t fz_pick(fz_ctx *c, const uint64_t *values, size_t count)
{
    return values[fz_below(c, count)];
}
