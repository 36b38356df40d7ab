#include "env.h"

#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "log.h"

/* GPUMEM_HIP_LIBRARY is not here: any file name or path is a valid value, and only the HIP
 * backend reads it. */
typedef enum env_id {
    ENV_BACKEND,
    ENV_DEVICE,
    ENV_PLUGIN_PATH,
    ENV_LOG,
    ENV_VULKAN_VALIDATION,
    ENV_STAGING,
    ENV_STAGING_CHUNK,
    ENV_COPY_THREADS,
    ENV_DETECT_CORRUPTION,
    ENV_DUMP_ON_CLOSE,
    ENV_REGISTRATION_CACHE,
    ENV_LONE_THREAD,
    ENV_MEMBARRIER,
    ENV_COUNT
} env_id;

static const char *const log_words[] = {"debug", "info", "warning", "error", NULL};
static const char *const staging_words[] = {"auto", "always", "never", "pageable", NULL};
static const char *const validation_words[] = {"0",    "1",         "sync",      "best",
                                               "all",  "sync,best", "best,sync", NULL};
static const char *const switch_words[] = {"0", "1", NULL};

/* Each variable: its name, the values it takes (words, or NULL for those parsed by hand), the
 * index of the default among them, and what is used for any other value. */
static const struct env_variable {
    const char *name;
    const char *const *words;
    int fallback;   /* index into words: the default */
    int bad_value;  /* index into words: what an unknown value means */
} variables[ENV_COUNT] = {
    [ENV_BACKEND] = {"GPUMEM_BACKEND", NULL, 0, 0},
    [ENV_DEVICE] = {"GPUMEM_DEVICE", NULL, 0, 0},
    [ENV_PLUGIN_PATH] = {"GPUMEM_PLUGIN_PATH", NULL, 0, 0},
    [ENV_LOG] = {"GPUMEM_LOG", log_words, 2, 2},
    /* The Vulkan backend enables validation for any value but "0": say so. */
    [ENV_VULKAN_VALIDATION] = {"GPUMEM_VULKAN_VALIDATION", validation_words, 0, 1},
    [ENV_STAGING] = {"GPUMEM_STAGING", staging_words, 0, 0},
    [ENV_STAGING_CHUNK] = {"GPUMEM_STAGING_CHUNK", NULL, 0, 0},
    [ENV_COPY_THREADS] = {"GPUMEM_COPY_THREADS", NULL, 0, 0},
    /* Asking for a debugging aid with a value it does not know: give it. */
    [ENV_DETECT_CORRUPTION] = {"GPUMEM_DETECT_CORRUPTION", switch_words, 0, 1},
    [ENV_DUMP_ON_CLOSE] = {"GPUMEM_DUMP_ON_CLOSE", NULL, 0, 0},
    [ENV_REGISTRATION_CACHE] = {"GPUMEM_REGISTRATION_CACHE", NULL, 0, 0},
    [ENV_LONE_THREAD] = {"GPUMEM_LONE_THREAD", switch_words, 1, 1},
    [ENV_MEMBARRIER] = {"GPUMEM_MEMBARRIER", switch_words, 1, 1},
};

/* Per variable, hashes of the values warned about (0: an empty slot), so that each bad value
 * is warned about once however often it is read, also when values change between reads (a
 * variable set anew between opens, a chunk cut differently for two devices). Slots only go
 * from empty to a hash, so two threads reading one new value meet at the same slot and one of
 * them warns; past WARNED_SLOTS values a variable's slots are reused in turn. A slot is taken
 * before the warning is written: GPUMEM_LOG is read while a warning is logged, and must not
 * warn again from inside. */
#define WARNED_SLOTS 8u
static _Atomic uint64_t warned[ENV_COUNT][WARNED_SLOTS];
static _Atomic uint32_t warned_reuse[ENV_COUNT];

static uint64_t hash_of(const char *text, uint64_t salt)
{
    uint64_t h = 0xcbf29ce484222325ull ^ salt;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    return h ? h : 1;
}

/* Whether `key` is new to variable `id`'s warnings; it is remembered from now on. */
static int first_warning(env_id id, uint64_t key)
{
    for (uint32_t i = 0; i < WARNED_SLOTS; i++) {
        uint64_t seen = 0;
        if (atomic_compare_exchange_strong(&warned[id][i], &seen, key))
            return 1;
        if (seen == key)
            return 0;
    }
    uint32_t slot = atomic_fetch_add(&warned_reuse[id], 1u) % WARNED_SLOTS;
    return atomic_exchange(&warned[id][slot], key) != key;
}

static void warn_once(env_id id, uint64_t key, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void warn_once(env_id id, uint64_t key, const char *format, ...)
{
    if (!first_warning(id, key))
        return;
    char message[512];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    gpumem_log(GPUMEM_LOG_WARNING, "%s", message);
}

/* The variable's value, or NULL when it is unset or empty. */
static const char *value_of(env_id id)
{
    const char *value = getenv(variables[id].name);
    return value && *value ? value : NULL;
}

void gpumem_env_quote(const char *value, size_t length, char *out, size_t out_size)
{
    if (length <= 64)
        snprintf(out, out_size, "'%.*s'", (int)length, value);
    else
        snprintf(out, out_size, "'%.48s...' (%zu characters)", value, length);
}

/* Lists the words for a message: "debug, info, warning or error". */
static void word_list(const char *const *words, char *out, size_t size)
{
    size_t n = 0;
    out[0] = '\0';
    for (int i = 0; words[i] && n < size; i++) {
        const char *separator = i == 0 ? "" : words[i + 1] ? ", " : " or ";
        int w = snprintf(out + n, size - n, "%s%s", separator, words[i]);
        if (w < 0)
            break;
        n += (size_t)w;
    }
}

/* The index of the variable's value among its words: the default when unset, the bad-value
 * word (with a warning) when it is none of them. */
static int word_of(env_id id)
{
    const struct env_variable *v = &variables[id];
    const char *value = value_of(id);
    if (!value)
        return v->fallback;
    for (int i = 0; v->words[i]; i++)
        if (strcmp(value, v->words[i]) == 0)
            return i;
    char quoted[128], words[128];
    gpumem_env_quote(value, strlen(value), quoted, sizeof quoted);
    word_list(v->words, words, sizeof words);
    warn_once(id, hash_of(value, id), "%s=%s is not %s; using %s", v->name, quoted, words,
              v->words[v->bad_value]);
    return v->bad_value;
}

/* 1 for a plain decimal number (digits only: no sign, space or suffix) in *out;
 * PARSE_COUNT_SATURATED for one above UINT64_MAX, with *out at UINT64_MAX; else 0. */
#define PARSE_COUNT_SATURATED 2
static int parse_count(const char *text, uint64_t *out)
{
    uint64_t value = 0;
    int result = 1;
    if (!*text)
        return 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        unsigned digit = (unsigned)(*p - '0');
        if (value > (UINT64_MAX - digit) / 10) {
            value = UINT64_MAX;
            result = PARSE_COUNT_SATURATED;
        } else {
            value = value * 10 + digit;
        }
    }
    *out = value;
    return result;
}

int32_t gpumem_env_log_level(void)
{
    return word_of(ENV_LOG); /* the words are in GPUMEM_LOG_* order */
}

int gpumem_env_staging_mode(void)
{
    return word_of(ENV_STAGING); /* the words are in gpumem_staging_mode order */
}

int gpumem_env_vulkan_validation(void)
{
    return word_of(ENV_VULKAN_VALIDATION);
}

int gpumem_env_detect_corruption(void)
{
    return word_of(ENV_DETECT_CORRUPTION);
}

int gpumem_env_lone_thread(void)
{
    return word_of(ENV_LONE_THREAD);
}

int gpumem_env_membarrier(void)
{
    return word_of(ENV_MEMBARRIER);
}

uint64_t gpumem_env_staging_chunk(const gpumem_device_properties *p, uint64_t align,
                                  uint32_t chunk_count)
{
    const char *name = variables[ENV_STAGING_CHUNK].name;
    const char *value = value_of(ENV_STAGING_CHUNK);
    uint64_t wanted = GPUMEM_ENV_CHUNK_DEFAULT, number;
    const char *why = NULL;
    if (value && !parse_count(value, &number)) {
        why = "is not a size in bytes from 4096 to 1073741824";
    } else if (value && number < GPUMEM_ENV_CHUNK_MIN) {
        why = "is below 4096 bytes";
        wanted = GPUMEM_ENV_CHUNK_MIN;
    } else if (value && number > GPUMEM_ENV_CHUNK_MAX) {
        why = "is above 1073741824 bytes (1 GiB)";
        wanted = GPUMEM_ENV_CHUNK_MAX;
    } else if (value) {
        wanted = number;
    }
    /* The device: one chunk is one allocation, and the chunks in flight should leave most of
     * the memory they come from to the application: they may take a quarter of the largest
     * heap with host-visible memory, where staging allocates them (a smaller heap of a type
     * that staging would prefer still holds a chunk: staging.c chooses among those that do). */
    uint64_t limit = p->max_allocation_size, heap = 0;
    uint32_t count = chunk_count ? chunk_count : 1;
    for (uint32_t i = 0; i < p->memory_type_count; i++) {
        uint32_t h = p->memory_types[i].heap_index;
        if ((p->memory_types[i].flags & GPUMEM_MEMORY_HOST_VISIBLE) &&
            h < p->memory_heap_count && p->memory_heaps[h].size > heap)
            heap = p->memory_heaps[h].size;
    }
    if (heap && heap / 4 / count < limit)
        limit = heap / 4 / count;
    limit &= ~(align - 1);
    if (limit < align)
        limit = align;
    uint64_t chunk = (wanted + align - 1) & ~(align - 1); /* wanted <= 1 GiB: no overflow */
    int cut = chunk > limit;
    if (cut)
        chunk = limit;
    if (value && (why || cut)) {
        char quoted[128], device[256] = "";
        gpumem_env_quote(value, strlen(value), quoted, sizeof quoted);
        if (cut)
            snprintf(device, sizeof device,
                     " (the most this device stages through: its largest allocation is %llu "
                     "bytes, and %u chunks may take a quarter of the %llu-byte host-visible heap)",
                     (unsigned long long)p->max_allocation_size, count,
                     (unsigned long long)heap);
        warn_once(ENV_STAGING_CHUNK, hash_of(value, chunk), "%s=%s %s; using %llu%s", name,
                  quoted, why ? why : "does not fit this device", (unsigned long long)chunk,
                  device);
    }
    return chunk;
}

unsigned gpumem_env_copy_threads(unsigned fallback, unsigned max)
{
    const char *name = variables[ENV_COPY_THREADS].name;
    const char *value = value_of(ENV_COPY_THREADS);
    if (!value)
        return fallback;
    uint64_t number;
    unsigned used;
    int number_ok = parse_count(value, &number);
    if (!number_ok)
        used = fallback;
    else if (number < 1)
        used = 1;
    else if (number > max)
        used = max;
    else
        return (unsigned)number;
    char quoted[128];
    gpumem_env_quote(value, strlen(value), quoted, sizeof quoted);
    warn_once(ENV_COPY_THREADS, hash_of(value, used), "%s=%s is %s 1 to %u; using %u%s", name,
              quoted, number_ok ? "outside" : "not a number from", max, used,
              used == fallback && !number_ok ? " (the default)" : "");
    return used;
}

gpumem_result gpumem_env_device(int *set, uint32_t *index)
{
    const char *value = value_of(ENV_DEVICE);
    uint64_t number;
    *set = 0;
    if (!value)
        return GPUMEM_OK;
    if (!parse_count(value, &number) || number > UINT32_MAX) {
        char quoted[128];
        gpumem_env_quote(value, strlen(value), quoted, sizeof quoted);
        return gpumem_fail(GPUMEM_ERROR_INVALID_ARGUMENT,
                           "%s=%s is not a device index (0 to 4294967295)",
                           variables[ENV_DEVICE].name, quoted);
    }
    *set = 1;
    *index = (uint32_t)number;
    return GPUMEM_OK;
}

const char *gpumem_env_backend(void)
{
    return value_of(ENV_BACKEND);
}

const char *gpumem_env_dump_on_close(void)
{
    return value_of(ENV_DUMP_ON_CLOSE);
}

uint64_t gpumem_env_registration_cache(void)
{
    const char *value = value_of(ENV_REGISTRATION_CACHE);
    uint64_t bytes;
    if (!value)
        return 0;
    int parsed = parse_count(value, &bytes);
    char quoted[128];
    if (parsed == 1)
        return bytes;
    gpumem_env_quote(value, strlen(value), quoted, sizeof quoted);
    if (parsed == PARSE_COUNT_SATURATED) {
        warn_once(ENV_REGISTRATION_CACHE, hash_of(value, 0),
                  "%s=%s is above 18446744073709551615 bytes; using 18446744073709551615",
                  variables[ENV_REGISTRATION_CACHE].name, quoted);
        return bytes;
    }
    warn_once(ENV_REGISTRATION_CACHE, hash_of(value, 0),
              "%s=%s is not a number of bytes; the registration cache is off",
              variables[ENV_REGISTRATION_CACHE].name, quoted);
    return 0;
}

int gpumem_env_list_next(const char **cursor, const char *separators, const char **item,
                         size_t *length)
{
    const char *p = *cursor + strspn(*cursor, separators);
    if (!*p) {
        *cursor = p;
        return 0;
    }
    *item = p;
    *length = strcspn(p, separators);
    *cursor = p + *length;
    return 1;
}

void gpumem_env_plugin_folders(void (*visit)(const char *folder, void *context), void *context)
{
    const char *cursor = value_of(ENV_PLUGIN_PATH), *item;
    size_t length;
    char folder[PATH_MAX];
    while (cursor && gpumem_env_list_next(&cursor, ":", &item, &length)) {
        if (length >= sizeof folder) {
            char quoted[128];
            gpumem_env_quote(item, length, quoted, sizeof quoted);
            gpumem_log(GPUMEM_LOG_WARNING, "%s: the folder %s is longer than a path can be; "
                       "no modules are loaded from it", variables[ENV_PLUGIN_PATH].name, quoted);
            continue;
        }
        memcpy(folder, item, length);
        folder[length] = '\0';
        visit(folder, context);
    }
}

void gpumem_env_check(void)
{
    gpumem_env_log_level();
    gpumem_env_staging_mode();
    gpumem_env_vulkan_validation();
    gpumem_env_detect_corruption();
    gpumem_env_registration_cache();
    gpumem_env_lone_thread();
    gpumem_env_membarrier();
}
