/* Every GPUMEM_* environment variable gpumem reads, parsed in one place (env.c), with its allowed
 * values and default in one table.
 *
 * Values are read when they are used, so a program may change them between calls. Each function
 * returns a usable value: an empty variable is an unset one; a bad value is replaced by the
 * default, or a number out of range by the nearest allowed one, with a warning that names the
 * variable, the value and what is used instead. A warning is given once per process for each
 * variable and value, not on every call that reads it. GPUMEM_BACKEND and GPUMEM_DEVICE are not
 * replaced: a bad value there is an error of the call that opens a device, since opening another
 * backend or device than the one named would be worse. */
#ifndef GPUMEM_CORE_ENV_H
#define GPUMEM_CORE_ENV_H

#include <stddef.h>
#include <stdint.h>

#include "gpumem/gpumem.h"

/* GPUMEM_STAGING_CHUNK: the range a chunk size may take, and the default. */
#define GPUMEM_ENV_CHUNK_MIN (4ull << 10)
#define GPUMEM_ENV_CHUNK_MAX (1ull << 30)
#define GPUMEM_ENV_CHUNK_DEFAULT (8ull << 20)

/* GPUMEM_LOG: the least level printed to stderr (GPUMEM_LOG_*; default warning). */
int32_t gpumem_env_log_level(void);

/* GPUMEM_STAGING: 0 auto (default), 1 always, 2 never, 3 pageable (gpumem_staging_mode's
 * values). */
int gpumem_env_staging_mode(void);

/* GPUMEM_STAGING_CHUNK, fitted to a device: within GPUMEM_ENV_CHUNK_MIN..MAX, a multiple of
 * `align` (a power of two), no larger than the device's largest allocation, and small enough
 * that `chunk_count` chunks take at most a quarter of the largest heap with host-visible memory
 * (staging allocates them there). A value
 * of the variable that is bad or does not fit is warned about with the size used. */
uint64_t gpumem_env_staging_chunk(const gpumem_device_properties *properties, uint64_t align,
                                  uint32_t chunk_count);

/* GPUMEM_REGISTRATION_CACHE: the most bytes of pageable host memory the registration cache
 * keeps registered (registration_cache.h); 0 (off) when unset, 0 or not a plain number (with a
 * warning). */
uint64_t gpumem_env_registration_cache(void);

/* GPUMEM_COPY_THREADS: copiers for large host copies, 1 to `max` (`fallback` when unset). */
unsigned gpumem_env_copy_threads(unsigned fallback, unsigned max);

/* GPUMEM_VULKAN_VALIDATION: 0 off (unset, empty or "0"), 1 on ("1"), 2 on with synchronization
 * validation ("sync"). Any other value is taken as 1, as the Vulkan backend does, with a
 * warning. */
int gpumem_env_vulkan_validation(void);

/* GPUMEM_DETECT_CORRUPTION: 1 ("1") gives every paged pool of host-visible memory guard margins,
 * as GPUMEM_POOL_DETECT_CORRUPTION does; 0 (unset, empty or "0") does not. Any other value is
 * taken as 1, with a warning. */
int gpumem_env_detect_corruption(void);

/* GPUMEM_LONE_THREAD: 1 (unset, empty or "1") lets the one thread that calls gpumem skip its
 * locks' atomic instructions (lock.h); 0 ("0") makes every lock take its word. Any other value
 * is taken as 1, with a warning. */
int gpumem_env_lone_thread(void);

/* GPUMEM_MEMBARRIER: 1 (unset, empty or "1") has a reclaim's barrier interrupt the other threads
 * with membarrier(2) where the kernel offers it, so that calls enter their epochs without a
 * fence; 0 ("0") has every call fence instead, as on a kernel without it (epoch.c). Read once,
 * with GPUMEM_LONE_THREAD. Any other value is taken as 1, with a warning. */
int gpumem_env_membarrier(void);

/* GPUMEM_DEVICE: *set 0 when unset or empty; 1 with *index set; or an error (INVALID_ARGUMENT)
 * naming the variable and its value. */
gpumem_result gpumem_env_device(int *set, uint32_t *index);

/* GPUMEM_BACKEND: the preference list, or NULL when unset or empty. */
const char *gpumem_env_backend(void);

/* GPUMEM_DUMP_ON_CLOSE: the path prefix of the dump and picture each device close writes
 * (close_dump.c), or NULL when unset or empty. Any text is a prefix, so no value is bad: a folder
 * that cannot be written is the close's warning. */
const char *gpumem_env_dump_on_close(void);

/* Walks a list of items separated by any of `separators`, skipping empty ones: returns 0 at the
 * end, else 1 with the item's start and length (items are not copied, so no length is too
 * long). *cursor starts at the list. */
int gpumem_env_list_next(const char **cursor, const char *separators, const char **item,
                         size_t *length);

/* GPUMEM_PLUGIN_PATH: calls `visit` for each folder, in order (empty ones are skipped). Whether
 * a folder is one to load modules from is the registry's to say. */
void gpumem_env_plugin_folders(void (*visit)(const char *folder, void *context), void *context);

/* Writes `value` for a message: quoted, and cut to its first characters with its length when
 * it is long, so that a message always shows what was given. */
void gpumem_env_quote(const char *value, size_t length, char *out, size_t out_size);

/* Checks the variables whose only reader is elsewhere or not always reached (GPUMEM_LOG with a
 * log callback, GPUMEM_STAGING, GPUMEM_VULKAN_VALIDATION), so that a bad value is warned about
 * at the first call. */
void gpumem_env_check(void);

#endif
