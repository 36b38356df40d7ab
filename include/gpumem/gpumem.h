/* gpumem: one memory API over Vulkan, CUDA, HIP and the host.
 *
 * Conventions (docs/design.md and docs/api.md say more):
 * - Every function that can fail returns gpumem_result; GPUMEM_OK is 0. Outputs are the last
 *   parameters and are written only on success.
 * - Descriptor structs are zero-initialisable: a zero field means "the default".
 * - Handles are opaque, generation-checked values: after an object is destroyed (by the user or by
 *   its owner), every call on its handle returns GPUMEM_ERROR_DESTROYED; a value that never was a
 *   handle returns GPUMEM_ERROR_INVALID_HANDLE. Destroying twice is harmless (the second call
 *   returns GPUMEM_ERROR_DESTROYED and changes nothing).
 * - Threads: a call that runs while another thread destroys its object, or the object's owner,
 *   either completes as if it had run just before the destroy, or returns
 *   GPUMEM_ERROR_DESTROYED; it never touches freed memory. Of two destroys of one object at once,
 *   one succeeds and the other returns GPUMEM_ERROR_DESTROYED. Work already queued on a stream is
 *   the exception: see gpumem_buffer_destroy.
 * - On failure, gpumem_last_error() holds a sentence with the detail (thread-local), starting
 *   with the name of the function that failed.
 * - Binding-friendly ABI: fixed-width integers, no struct passed or returned by value, enums with
 *   explicit values.
 */
#ifndef GPUMEM_GPUMEM_H
#define GPUMEM_GPUMEM_H

#include <stddef.h>
#include <stdint.h>

#include "gpumem/version.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define GPUMEM_API __declspec(dllimport)
#elif defined(__GNUC__)
#define GPUMEM_API __attribute__((visibility("default")))
#else
#define GPUMEM_API
#endif

/* ---------------------------------------------------------------------------------------------
 * Results and errors
 * ------------------------------------------------------------------------------------------- */

typedef int32_t gpumem_result;

enum {
    GPUMEM_OK = 0,
    GPUMEM_ERROR_INVALID_ARGUMENT = -1,       /* NULL output, zero or overflowing size, bad flags */
    GPUMEM_ERROR_INVALID_HANDLE = -2,         /* not a handle of the expected kind */
    GPUMEM_ERROR_DESTROYED = -3,              /* the object was destroyed, directly or by its owner */
    GPUMEM_ERROR_OUT_OF_HOST_MEMORY = -4,
    GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY = -5,   /* the runtime could not allocate device memory */
    GPUMEM_ERROR_UNSUPPORTED = -6,            /* the backend or memory type cannot do this */
    GPUMEM_ERROR_UNAVAILABLE = -7,            /* the backend's runtime or device is not here */
    GPUMEM_ERROR_NOT_FOUND = -8,              /* unknown backend name, device index, memory type */
    GPUMEM_ERROR_LIMIT_EXCEEDED = -9,         /* a pool's byte limit, a virtual block's size */
    GPUMEM_ERROR_OUT_OF_RANGE = -10,          /* offset + size beyond the buffer */
    GPUMEM_ERROR_NOT_MAPPABLE = -11,          /* map of memory the host cannot see */
    GPUMEM_ERROR_BAD_STATE = -12,             /* e.g. unmap of a buffer that is not mapped */
    GPUMEM_ERROR_BACKEND = -13,               /* a native call failed; the message has its error */
    GPUMEM_ERROR_ABI_MISMATCH = -14,          /* a backend built for another backend ABI */
    GPUMEM_ERROR_INSUFFICIENT_BUFFER = -15,   /* an output buffer too small; the size is reported */
    GPUMEM_ERROR_CORRUPTED = -16,             /* a guard margin was overwritten (see
                                                 GPUMEM_POOL_DETECT_CORRUPTION) */
};

/* A static English name for a result ("GPUMEM_ERROR_DESTROYED"); unknown values give
 * "GPUMEM_RESULT_UNKNOWN". Never NULL. */
GPUMEM_API const char *gpumem_result_string(gpumem_result result);

/* The detail of the last failure on this thread, including the native error where there was one
 * ("vkAllocateMemory: VK_ERROR_OUT_OF_DEVICE_MEMORY for 4294967296 bytes in heap 0"). Valid until
 * the next gpumem call on this thread. "" when the last call succeeded. Never NULL. */
GPUMEM_API const char *gpumem_last_error(void);

/* The library's version, GPUMEM_VERSION_MAJOR * 10000 + MINOR * 100 + PATCH. */
GPUMEM_API uint32_t gpumem_version(void);

/* Log levels, for gpumem_log_set_callback. */
enum {
    GPUMEM_LOG_DEBUG = 0,
    GPUMEM_LOG_INFO = 1,
    GPUMEM_LOG_WARNING = 2,
    GPUMEM_LOG_ERROR = 3,
};

typedef void (*gpumem_log_fn)(void *user, int32_t level, const char *message);

/* Routes gpumem's log (backend notes, Vulkan validation messages) to fn. NULL restores the
 * default, which prints messages at or above GPUMEM_LOG (env: debug, info, warning, error;
 * default warning) to stderr. Process-wide. fn runs on the thread that logs, inside the call
 * that logs when there is one; it may call gpumem (a destroy excepted: it is refused there with
 * GPUMEM_ERROR_BAD_STATE). Messages sent while gpumem holds a lock (a pool's pages made and
 * freed, an overwritten guard margin, every backend message, such as a validation message, and
 * the backends' registry's warnings) reach fn at the end of that call instead, before it
 * returns, when it holds no lock, so that fn may use what the message names. */
GPUMEM_API gpumem_result gpumem_log_set_callback(gpumem_log_fn fn, void *user);

/* ---------------------------------------------------------------------------------------------
 * Handles
 * ------------------------------------------------------------------------------------------- */

typedef struct gpumem_device_t *gpumem_device; /* one opened device: the top-level owner */
typedef struct gpumem_pool_t *gpumem_pool;     /* memory of one type, in pages; owned by a device */
typedef struct gpumem_buffer_t *gpumem_buffer; /* a range of a pool; owned by its pool */
typedef struct gpumem_stream_t *gpumem_stream; /* an ordered transfer queue; owned by a device */
typedef struct gpumem_vblock_t *gpumem_vblock; /* a CPU-only suballocator; owned by the user */
typedef struct gpumem_event_t *gpumem_event;   /* a point in a stream's work; owned by a device */
typedef struct gpumem_host_registration_t *gpumem_host_registration; /* host memory registered
                                                                         with a device */

/* ---------------------------------------------------------------------------------------------
 * Backends and discovery
 * ------------------------------------------------------------------------------------------- */

#define GPUMEM_NAME_SIZE 64
#define GPUMEM_REASON_SIZE 256
#define GPUMEM_PATH_SIZE 512

typedef struct gpumem_backend_info {
    char name[GPUMEM_NAME_SIZE];     /* "host", "vulkan", "cuda", "hip", or a module's name */
    uint32_t available;              /* 1 when the runtime is here and has at least one device */
    uint32_t device_count;           /* devices this backend can open */
    uint32_t is_module;              /* 1 when loaded from a module file, 0 when built in */
    uint32_t priority;               /* higher is preferred when no backend is named */
    char reason[GPUMEM_REASON_SIZE]; /* why it is unavailable ("libcuda.so.1 not found"), or "" */
    char module_path[GPUMEM_PATH_SIZE]; /* the module file, or "" when built in */
    uint32_t refused;                /* 1 for a module gpumem refused (reason says why): listed
                                        after every accepted backend, never opened */
    uint32_t reserved;
} gpumem_backend_info;

/* Number of registered backends: built in, and modules found in the module folder and in
 * GPUMEM_PLUGIN_PATH (colon-separated absolute folders). Includes unavailable backends and
 * modules that were refused (their reason says why). */
GPUMEM_API gpumem_result gpumem_backend_count(uint32_t *count);

/* Backend number index (0 .. count-1): the accepted backends in registration order, then the
 * refused modules. `available`, `device_count` and `reason` are the backend's probe's answer
 * (this call probes a backend no call has probed yet); after a transient failure (out of
 * memory, a runtime error) the reason ends "(<result>; probed again at the next call)". */
GPUMEM_API gpumem_result gpumem_backend_info_get(uint32_t index, gpumem_backend_info *info);

/* Looks a backend up by name. GPUMEM_ERROR_NOT_FOUND lists the known names in the message. */
GPUMEM_API gpumem_result gpumem_backend_find(const char *name, gpumem_backend_info *info);

/* Native objects of the application, for opening a device on them ("bring your own device").
 * gpumem then owns only what it creates and never destroys these. Per backend:
 * - vulkan: instance (VkInstance), physical_device (VkPhysicalDevice), device (VkDevice),
 *   queue_family and queue_index (a queue with transfer support), get_instance_proc_addr
 *   (PFN_vkGetInstanceProcAddr; NULL: gpumem resolves it from libvulkan.so.1), and in
 *   vulkan_features the GPUMEM_VULKAN_FEATURE_* the application enabled when it created the
 *   VkDevice (Vulkan has no query for them): GPUMEM_VULKAN_FEATURE_TIMELINE_SEMAPHORE is
 *   required (the device is refused without it); with
 *   GPUMEM_VULKAN_FEATURE_BUFFER_DEVICE_ADDRESS, buffers may have GPUMEM_BUFFER_USAGE_DEVICE_ADDRESS.
 * - cuda: physical_device (CUdevice ordinal), device (CUcontext; 0: the primary context).
 * - hip: physical_device (HIP device ordinal).
 * - host: none (ignored). */
typedef struct gpumem_external_device {
    uint64_t instance;
    uint64_t physical_device;
    uint64_t device;
    uint32_t queue_family;
    uint32_t queue_index;
    void *get_instance_proc_addr;
    uint32_t vulkan_features; /* GPUMEM_VULKAN_FEATURE_* (vulkan only) */
    uint32_t reserved;        /* 0 */
} gpumem_external_device;

enum {
    /* timelineSemaphore (Vulkan 1.2, or VK_KHR_timeline_semaphore): gpumem's streams need it */
    GPUMEM_VULKAN_FEATURE_TIMELINE_SEMAPHORE = 1u << 0,
    /* bufferDeviceAddress (Vulkan 1.2, or VK_KHR_buffer_device_address) */
    GPUMEM_VULKAN_FEATURE_BUFFER_DEVICE_ADDRESS = 1u << 1,
};

enum {
    /* Use device_index as given; otherwise GPUMEM_DEVICE (env) or 0. */
    GPUMEM_DEVICE_OPEN_INDEX = 1u << 0,
    /* The application promises that calls on this device never overlap: no two calls that take
     * the device or anything made from it (its pools, buffers, images, streams, events and host
     * registrations) run at the same time, from any threads; one thread, or threads that hand
     * the device over through their own synchronization, as for Vulkan's externally synchronized
     * objects. A call from a log callback that runs inside a call on the device overlaps it.
     * gpumem then takes no lock for a pool's or a stream's state, which makes buffer creates
     * and destroys cheaper (docs/api.md "Backends and devices"); a program that makes every
     * call from one thread has about that without the flag (on Linux on x86-64 and AArch64:
     * no locked instruction, docs/api.md "Rules every call follows"). Handles, errors and
     * everything
     * else stay as without it: a stale handle is still refused. Calls that overlap anyway are
     * undefined behaviour, as on a virtual block. */
    GPUMEM_DEVICE_OPEN_EXTERNALLY_SYNCHRONIZED = 1u << 1,
};

typedef struct gpumem_device_desc {
    /* Backend name. NULL: the first available of GPUMEM_BACKEND (comma-separated preference
     * list), else the available backend with the highest priority. A named backend that is
     * unknown or unavailable is an error listing the available ones, never a fallback. */
    const char *backend;
    uint32_t flags;        /* GPUMEM_DEVICE_OPEN_* */
    uint32_t device_index; /* with GPUMEM_DEVICE_OPEN_INDEX */
    const gpumem_external_device *external; /* NULL: gpumem opens the device itself */
} gpumem_device_desc;

/* Number of devices of a backend (NULL: the backend gpumem_device_open would choose). */
GPUMEM_API gpumem_result gpumem_device_count(const char *backend, uint32_t *count);

/* Opens a device. desc may be NULL (all defaults). */
GPUMEM_API gpumem_result gpumem_device_open(const gpumem_device_desc *desc, gpumem_device *device);

/* The native objects under an opened device, in the same form as for opening one on them
 * (vulkan: instance, physical device, device, queue family and index, vkGetInstanceProcAddr;
 * cuda: device ordinal and CUcontext; hip: device ordinal). They stay gpumem's (or the
 * application's, for an external device): do not destroy them. host: all zero. */
GPUMEM_API gpumem_result gpumem_device_native(gpumem_device device,
                                              gpumem_external_device *native);

/* Closes a device and releases every pool, buffer and stream it still owns, after waiting for
 * their pending work. Their handles then return GPUMEM_ERROR_DESTROYED. */
GPUMEM_API gpumem_result gpumem_device_close(gpumem_device device);

/* ---------------------------------------------------------------------------------------------
 * Device properties
 * ------------------------------------------------------------------------------------------- */

enum {
    GPUMEM_MEMORY_DEVICE_LOCAL = 1u << 0,  /* fast for the device */
    GPUMEM_MEMORY_HOST_VISIBLE = 1u << 1,  /* the host can map it */
    GPUMEM_MEMORY_HOST_COHERENT = 1u << 2, /* no flush/invalidate needed */
    GPUMEM_MEMORY_HOST_CACHED = 1u << 3,   /* host reads are cached (fast) */
    GPUMEM_MEMORY_FLAGS_ALL = 0xFu,
};

#define GPUMEM_MAX_MEMORY_TYPES 32
#define GPUMEM_MAX_MEMORY_HEAPS 16

typedef struct gpumem_memory_heap {
    uint64_t size;   /* bytes */
    uint64_t budget; /* bytes this process may use now (runtime's estimate), or size */
    uint64_t usage;  /* bytes this process uses now, where the runtime says; else 0 */
    uint32_t flags;  /* GPUMEM_MEMORY_DEVICE_LOCAL when the heap is device memory */
    uint32_t reserved;
} gpumem_memory_heap;

typedef struct gpumem_memory_type {
    uint32_t flags;      /* GPUMEM_MEMORY_* */
    uint32_t heap_index; /* into memory_heaps */
} gpumem_memory_type;

typedef struct gpumem_device_properties {
    char name[GPUMEM_NAME_SIZE * 4];    /* "NVIDIA H100 80GB HBM3", "llvmpipe (LLVM 15 ...)" */
    char backend[GPUMEM_NAME_SIZE];
    uint32_t vendor_id;
    uint32_t device_id;
    uint32_t device_index;              /* as opened */
    uint32_t is_external;               /* 1 when opened on the application's native objects */
    uint32_t memory_type_count;
    uint32_t memory_heap_count;
    gpumem_memory_type memory_types[GPUMEM_MAX_MEMORY_TYPES];
    gpumem_memory_heap memory_heaps[GPUMEM_MAX_MEMORY_HEAPS];
    uint64_t min_alignment;             /* every buffer's offset is a multiple of this: the
                                           backend's value, raised to at least 4, and to
                                           non_coherent_atom_size where a host-visible type is
                                           not coherent (no two buffers share an atom) */
    uint64_t non_coherent_atom_size;    /* flush/invalidate granularity (core rounds to it) */
    uint64_t max_allocation_size;       /* largest single page the runtime allows */
    uint64_t max_allocation_count;      /* most pages alive at once (0: no known limit); gpumem
                                           keeps its pages and staging chunks within it
                                           (GPUMEM_ERROR_LIMIT_EXCEEDED past it) */
    uint32_t native_pools;              /* 1 when GPUMEM_POOL_NATIVE works on this device */
    uint32_t reserved;
    /* What a user of vulkaninfo or nvidia-smi looks for; empty strings, zeros where the runtime
     * does not say. */
    uint32_t device_type;               /* GPUMEM_DEVICE_TYPE_* */
    uint32_t has_uuid;                  /* 1 when uuid holds the runtime's device UUID */
    uint8_t uuid[16];
    char driver_version[GPUMEM_NAME_SIZE]; /* "Mesa 22.3.6", "NVIDIA 580.159.04" */
    char api_version[GPUMEM_NAME_SIZE];    /* "Vulkan 1.3.230", "CUDA 13.0" */
    char pci_address[32];                  /* "0000:17:00.0" */
    /* Pitched images (every backend but Vulkan, whose images are the driver's): each row of an
     * image starts at a multiple of image_pitch_alignment bytes from the previous one, and each
     * subresource (mip level of a layer) at a multiple of image_base_alignment from the page's
     * start or address: CUDA's texture pitch and texture alignment, so that a subresource binds
     * as a pitched 2D texture. The backend's values (the row pitch raised to at least 4, the
     * base to at least min_alignment; a backend that gives none gets min_alignment for both);
     * 0 on Vulkan. */
    uint64_t image_pitch_alignment;
    uint64_t image_base_alignment;
} gpumem_device_properties;

enum {
    GPUMEM_DEVICE_TYPE_OTHER = 0,
    GPUMEM_DEVICE_TYPE_CPU = 1,
    GPUMEM_DEVICE_TYPE_INTEGRATED_GPU = 2,
    GPUMEM_DEVICE_TYPE_DISCRETE_GPU = 3,
    GPUMEM_DEVICE_TYPE_VIRTUAL_GPU = 4,
    GPUMEM_DEVICE_TYPE_GPU = 5, /* a GPU whose runtime does not say integrated or discrete */
};

GPUMEM_API gpumem_result gpumem_device_properties_get(gpumem_device device,
                                                      gpumem_device_properties *properties);

enum {
    GPUMEM_MEMORY_TYPE_EXACT = 1u << 0, /* type flags must equal `required` exactly */
};

/* Chooses a memory type: every `required` flag present; then the most `preferred` flags; then
 * the fewest other flags; then the lowest index. Types whose heap is smaller than min_heap_size
 * are skipped. GPUMEM_ERROR_NOT_FOUND when none qualifies. Pure function of `properties`. */
GPUMEM_API gpumem_result gpumem_memory_type_find(const gpumem_device_properties *properties,
                                                 uint32_t required, uint32_t preferred,
                                                 uint32_t flags, uint64_t min_heap_size,
                                                 uint32_t *memory_type);

/* Writes a JSON description of the device: properties, pools, pages and allocations (docs/json.md;
 * schema docs/gpumem.schema.json, "schema": "gpumem-dump"). With
 * buffer NULL and capacity 0, only *length is set. *length is the text's length without the
 * terminating NUL; GPUMEM_ERROR_INSUFFICIENT_BUFFER when capacity <= *length. */
GPUMEM_API gpumem_result gpumem_device_dump_json(gpumem_device device, char *buffer,
                                                 uint64_t capacity, uint64_t *length);
/* A text summary of the device's memory, for people (as vmaBuildStatsString is): per pool its
 * memory type, pages, reserved and used bytes, allocations, the largest free range and the
 * fragmentation (1 - largest free range / free bytes); then the device's totals. Same buffer
 * rules as gpumem_device_dump_json. */
GPUMEM_API gpumem_result gpumem_device_summary(gpumem_device device, char *buffer,
                                               uint64_t capacity, uint64_t *length);
/* Draws a device dump (the text of gpumem_device_dump_json, NUL-terminated) as an SVG picture:
 * each pool's pages as bars, buffers as colored spans at their offsets, padding hatched, free
 * ranges grey, dedicated pages dashed; each span's numbers in its <title> (docs/json.md,
 * "Pictures"). Same buffer rules as gpumem_device_dump_json. A text that is not a dump this
 * library reads (not JSON, another schema or version, a missing or mistyped field) is
 * GPUMEM_ERROR_INVALID_ARGUMENT, with a message naming what is wrong and where. */
GPUMEM_API gpumem_result gpumem_dump_svg(const char *dump_json, char *svg, uint64_t capacity,
                                         uint64_t *length);

/* ---------------------------------------------------------------------------------------------
 * Pools
 * ------------------------------------------------------------------------------------------- */

enum {
    GPUMEM_POOL_PAGED = 0,  /* TLSF suballocation in pages; dedicated pages above half a page
                               (size + alignment - 1 > page_size / 2: the worst padding counts) */
    GPUMEM_POOL_NATIVE = 1, /* the runtime's stream-ordered pool (CUDA, HIP) */
};

enum {
    GPUMEM_POOL_EXACT_MATCH = 1u << 0,       /* memory type flags must equal required_flags */
    GPUMEM_POOL_MEMORY_TYPE_INDEX = 1u << 1, /* use memory_type_index, ignore the flag fields */
    GPUMEM_POOL_PERSISTENT_MAP = 1u << 2,    /* host-visible pages stay mapped while they live */
    /* Guard margins of GPUMEM_GUARD_MARGIN bytes (or more, to keep the buffer aligned) on both
     * sides of every buffer, filled with a pattern and checked when the buffer is destroyed and
     * by gpumem_pool_check; an overwritten margin is logged as an error naming the buffer, the
     * pool and the offset. Paged pools of host-visible memory only (GPUMEM_ERROR_UNSUPPORTED
     * otherwise). GPUMEM_DETECT_CORRUPTION=1 turns it on for every such pool. */
    GPUMEM_POOL_DETECT_CORRUPTION = 1u << 3,
};

#define GPUMEM_GUARD_MARGIN 64

#define GPUMEM_DEFAULT_PAGE_SIZE (32ull << 20)

typedef struct gpumem_pool_desc {
    uint32_t kind;              /* GPUMEM_POOL_PAGED (default) or GPUMEM_POOL_NATIVE */
    uint32_t flags;             /* GPUMEM_POOL_* */
    uint32_t required_flags;    /* GPUMEM_MEMORY_* the type must have (0: any) */
    uint32_t preferred_flags;   /* GPUMEM_MEMORY_* that break ties */
    uint32_t memory_type_index; /* with GPUMEM_POOL_MEMORY_TYPE_INDEX */
    uint32_t max_empty_pages;   /* empty pages kept for reuse (0: 1); trim releases them */
    uint64_t page_size;         /* 0: GPUMEM_DEFAULT_PAGE_SIZE; rounded up to min_alignment */
    uint64_t byte_limit;        /* most bytes the pool may reserve (0: no limit); in a native
                                   pool, the bytes of its live buffers (frees still queued on a
                                   stream hold their memory until the stream reaches them) */
    uint64_t release_threshold; /* native pools: bytes the runtime keeps cached (0: runtime's) */
    const char *name;           /* for dumps and messages, UTF-8; copied, and cut to 63 bytes
                                   at a character boundary (NULL: "pool") */
    /* Paged pools shared by threads: 0 or 1, one arena (every create and destroy takes the
     * pool's one lock); N > 1 (at most GPUMEM_POOL_MAX_ARENAS), N arenas, each with its own
     * lock and pages. A thread creates its buffers and images in one arena (the pool deals its
     * arenas to threads in turn, in the order of their first create in it); imports go to the
     * first arena; a destroy goes to the buffer's arena, whichever thread makes it. The pool's
     * stats, trim, check, dumps and gpumem_buffer_find cover every arena. Each arena keeps its
     * own pages (and up to max_empty_pages empty ones), so a pool may reserve up to N pages
     * more than with one;
     * byte_limit bounds the bytes of all arenas together. Native pools take 0 or 1. */
    uint32_t arena_count;
} gpumem_pool_desc;

#define GPUMEM_POOL_MAX_ARENAS 64

typedef struct gpumem_pool_stats {
    uint64_t reserved_bytes;     /* bytes held from the runtime (all pages) */
    uint64_t used_bytes;         /* bytes in live allocations, padding included */
    uint64_t page_count;         /* pages held (0 for native pools, whose reserved_bytes and
                                    used_bytes are the runtime's own figures: they include
                                    memory of frees still queued on a stream) */
    uint64_t allocation_count;   /* live buffers */
    uint64_t largest_free_range; /* largest free range in the pool's shared pages (requests
                                    over half a page get a page of their own regardless) */
    uint32_t memory_type;
    uint32_t kind;
} gpumem_pool_stats;

GPUMEM_API gpumem_result gpumem_pool_create(gpumem_device device, const gpumem_pool_desc *desc,
                                            gpumem_pool *pool);
/* Releases the pool's buffers and pages, after the work queued on the device's streams and any
 * call still using them (on other threads) are done. */
GPUMEM_API gpumem_result gpumem_pool_destroy(gpumem_pool pool);
/* Releases empty pages (native pools: memory above the release threshold), after waiting on the
 * host for the work of buffers destroyed in stream order (gpumem_buffer_destroy_on_stream). */
GPUMEM_API gpumem_result gpumem_pool_trim(gpumem_pool pool);
GPUMEM_API gpumem_result gpumem_pool_stats_get(gpumem_pool pool, gpumem_pool_stats *stats);
/* Checks the guard margins of every live buffer of a pool made with
 * GPUMEM_POOL_DETECT_CORRUPTION: GPUMEM_ERROR_CORRUPTED, naming the first overwritten byte's
 * buffer, pool and offset, when one was written over (each such buffer is also logged as an
 * error). GPUMEM_OK for a pool without margins. On memory without HOST_COHERENT it checks the
 * host's view of the atoms that hold margin bytes only (an overrun through a mapping that was
 * never flushed shows there), then invalidates the margins' atoms and checks the device's view:
 * flush host writes near a buffer's end before calling it. */
GPUMEM_API gpumem_result gpumem_pool_check(gpumem_pool pool);

/* ---------------------------------------------------------------------------------------------
 * Buffers
 * ------------------------------------------------------------------------------------------- */

enum {
    GPUMEM_BUFFER_DEDICATED = 1u << 0, /* its own page, whatever its size */
    /* Vulkan: the buffer's VkBuffer is shared by every queue family of the device
     * (VK_SHARING_MODE_CONCURRENT), so that queues of other families use it without ownership
     * transfers; elsewhere it has no effect */
    GPUMEM_BUFFER_CONCURRENT = 1u << 1,
};

/* What the application uses a buffer for (gpumem_buffer_desc.usage; 0: storage and transfer).
 * gpumem's own transfers work whatever the usage. On Vulkan the usage is the buffer's
 * VkBufferUsageFlags (gpumem_buffer_native's VkBuffer has them), with offsets aligned as each
 * usage needs (minUniformBufferOffsetAlignment for uniform buffers...), and DEVICE_ADDRESS
 * gives gpumem_native_buffer.address (vkGetBufferDeviceAddress), where the device has
 * bufferDeviceAddress enabled (else GPUMEM_ERROR_UNSUPPORTED). On CUDA, HIP and host every
 * buffer is usable in every way and has an address: the usage is checked and kept, nothing
 * more. */
enum {
    GPUMEM_BUFFER_USAGE_STORAGE = 1u << 0,        /* shader storage (SSBO) */
    GPUMEM_BUFFER_USAGE_UNIFORM = 1u << 1,        /* uniform (UBO) */
    GPUMEM_BUFFER_USAGE_VERTEX = 1u << 2,
    GPUMEM_BUFFER_USAGE_INDEX = 1u << 3,
    GPUMEM_BUFFER_USAGE_INDIRECT = 1u << 4,       /* indirect draw and dispatch arguments */
    GPUMEM_BUFFER_USAGE_TRANSFER = 1u << 5,       /* the application's own copies from and to it */
    GPUMEM_BUFFER_USAGE_DEVICE_ADDRESS = 1u << 6, /* a device address for shaders */
    GPUMEM_BUFFER_USAGE_ALL = (1u << 7) - 1,
    GPUMEM_BUFFER_USAGE_DEFAULT = GPUMEM_BUFFER_USAGE_STORAGE | GPUMEM_BUFFER_USAGE_TRANSFER,
};

typedef struct gpumem_buffer_desc {
    uint64_t size;      /* bytes, > 0 */
    uint64_t alignment; /* power of two (0: the device's min_alignment); the buffer's address
                           (host, CUDA, HIP) or, where memory has no address (Vulkan), its
                           offset in the page is a multiple of it. Native pools align to
                           min_alignment only: more is GPUMEM_ERROR_UNSUPPORTED */
    uint32_t flags;     /* GPUMEM_BUFFER_* */
    uint32_t usage;     /* GPUMEM_BUFFER_USAGE_* (0: GPUMEM_BUFFER_USAGE_DEFAULT) */
    const char *name;   /* NULL or a name for messages, dumps and pictures: copied (at most
                           GPUMEM_NAME_SIZE-1 bytes kept) */
    void *user_data;    /* the application's, returned by gpumem_buffer_user_data */
} gpumem_buffer_desc;

typedef struct gpumem_buffer_info {
    uint64_t size;            /* as asked */
    uint64_t offset;          /* of the buffer's first byte in its page */
    uint64_t left_padding;    /* bytes between the allocation's start and offset */
    uint64_t allocation_size; /* bytes taken in the page, padding included */
    uint64_t page_size;
    uint32_t page;            /* the page's id in its pool: stable while the page lives, unique
                               * among its live pages; a freed page's id goes to a later page */
    uint32_t memory_type;
    uint32_t dedicated;       /* 1 when the buffer has a page of its own */
    uint32_t mapped;          /* map count */
} gpumem_buffer_info;

/* What a buffer is to the native runtime, so the application can use it in its own work. */
typedef struct gpumem_native_buffer {
    uint64_t memory;  /* vulkan: VkDeviceMemory; cuda/hip: the page's base device pointer;
                         host: the page's base address */
    uint64_t offset;  /* of the buffer in memory */
    uint64_t buffer;  /* vulkan: VkBuffer bound at offset (use it from its offset 0); else 0 */
    uint64_t address; /* cuda/hip: CUdeviceptr / device pointer of the buffer's first byte;
                         host: its address; vulkan: 0 */
} gpumem_native_buffer;

/* GPUMEM_ERROR_OUT_OF_DEVICE_MEMORY for a size above the device's max_allocation_size (no
 * allocation of it can succeed; the runtime is not asked), GPUMEM_ERROR_LIMIT_EXCEEDED past
 * the pool's byte_limit. */
GPUMEM_API gpumem_result gpumem_buffer_create(gpumem_pool pool, const gpumem_buffer_desc *desc,
                                              gpumem_buffer *buffer);
/* From now on the buffer's handle returns GPUMEM_ERROR_DESTROYED and its mappings are gone. Its
 * range goes back to the pool once no call that found the buffer is still running. Work queued
 * on a stream is not waited for: synchronize a stream whose queued work reads or writes the
 * buffer before destroying it, or that work may reach a buffer made later in the same range,
 * and, for a buffer with a page of its own on Vulkan (dedicated, or larger than half a page),
 * use memory and a VkBuffer already freed, which can crash the process
 * (gpumem_buffer_destroy_on_stream keeps them until that work is done). (Pool destroy and device
 * close do wait for every stream of the device.) A native pool's
 * buffer made on a stream is the exception: its memory goes back on the default stream, where
 * hosts' creates allocate, so the host first waits for all the work queued so far on the
 * stream it was made on (the call blocks until then; on an application's stream whose work
 * waits for the calling thread, it never returns). Should that wait fail, the buffer is not
 * destroyed and the error says so. */
GPUMEM_API gpumem_result gpumem_buffer_destroy(gpumem_buffer buffer);
/* The name the buffer was made with ("" when none), NUL-terminated in `name` (capacity
 * GPUMEM_NAME_SIZE is always enough), and its user data. */
GPUMEM_API gpumem_result gpumem_buffer_name(gpumem_buffer buffer, char *name, size_t capacity);
GPUMEM_API gpumem_result gpumem_buffer_user_data(gpumem_buffer buffer, void **user_data);
/* Stream-ordered buffers, as cudaMallocAsync and cudaFreeAsync order them. A buffer created on
 * a stream may be used by work queued on that stream after the create (and by other work once
 * it waits for the stream, with an event). A buffer destroyed on a stream may still be used by
 * work queued on it before the destroy; its memory is reusable at once by later creates on the
 * same stream, and by other streams and the host only after that work: a create on another
 * stream of the device has that stream wait for it (on the device where the backend can: an
 * event, as gpumem_stream_wait_event; else on the host), a gpumem_buffer_create waits for it on
 * the host. Paged pools on every backend; native pools pass the stream to the runtime
 * (cuMemAllocFromPoolAsync / cuMemFreeAsync, their HIP twins): a native buffer destroyed on
 * another stream than it was created on has that stream wait for the create's first, as the
 * runtime requires (the host's destroy waits on the host, gpumem_buffer_destroy), and a host's
 * create in a native pool allocates on the default stream and waits for it, so that its buffer
 * is every stream's at once (work the application queued on the default stream's handle is
 * waited for too). Until the host has waited for
 * such work, pages that would be freed are kept, and so is the native object of a buffer
 * (gpumem_buffer_native: a VkBuffer) that such work may use; gpumem_pool_trim waits and frees
 * them. The stream must belong to the pool's device. Both may be mixed with the calls without
 * a stream.
 * In a pool with guard margins (GPUMEM_POOL_DETECT_CORRUPTION), whose margins the host writes
 * at create, a create on a stream has the host wait for the work of the frees, the stream's
 * own too. */
GPUMEM_API gpumem_result gpumem_buffer_create_on_stream(gpumem_pool pool,
                                                        const gpumem_buffer_desc *desc,
                                                        gpumem_stream stream,
                                                        gpumem_buffer *buffer);
GPUMEM_API gpumem_result gpumem_buffer_destroy_on_stream(gpumem_buffer buffer,
                                                         gpumem_stream stream);

/* Memory the application allocated itself, to be used as a gpumem buffer (gpumem_buffer_import).
 * Which fields name it depends on the backend:
 * - cuda, hip: `address`, a device pointer (CUdeviceptr, hipMalloc's; pinned or managed memory
 *   for a pool of those types) of the pool's device, a multiple of 4 (fills write 32-bit words).
 * - host: `address`, a host pointer, of any alignment.
 * - vulkan: `memory`, a VkDeviceMemory of the pool's VkDevice, and `offset`, where the range
 *   starts in it. The range must hold a VkBuffer of `size` bytes at `offset` (the alignment and
 *   size of its memory requirements, which may round the size up), and the memory must not be
 *   mapped by the application while gpumem may map it (a host-visible buffer between its first
 *   map or transfer and its destroy): Vulkan maps a memory object once at a time.
 * Fields a backend does not use must be 0. */
typedef struct gpumem_import_desc {
    uint64_t address; /* cuda/hip: device pointer; host: host pointer; vulkan: 0 */
    uint64_t memory;  /* vulkan: VkDeviceMemory; else 0 */
    uint64_t offset;  /* vulkan: offset of the range in memory, a multiple of the device's
                         min_alignment; else 0 */
    uint64_t size;    /* bytes, > 0, at most the device's max_allocation_size */
    uint32_t flags;   /* 0 */
    uint32_t reserved;
} gpumem_import_desc;

/* The memory becomes a buffer of `pool` (a paged pool whose memory type is the memory's: the
 * caller says so, and gpumem cannot always check it). gpumem_buffer_destroy / pool destroy /
 * device close end the buffer but never free the memory; the application keeps it alive until
 * then (and until stream work queued on the buffer completed), and frees it itself afterwards.
 * The buffer is a buffer like any other: transfers, stream forms, map (host-visible types),
 * flush and invalidate, gpumem_buffer_native (its memory and address are the application's),
 * gpumem_buffer_find, gpumem_buffer_destroy_on_stream. It has a page of its own (info.dedicated
 * 1, offset 0), never mapped while no map or transfer needs it, even in a pool with
 * GPUMEM_POOL_PERSISTENT_MAP, and no guard margins. Its bytes count in the pool's used_bytes and
 * allocation_count, but not in reserved_bytes, page_count, the byte limit or the heaps' usage:
 * gpumem did not allocate them. Memory with addresses may not overlap a page the pool holds (its
 * own pages, or another live import): GPUMEM_ERROR_INVALID_ARGUMENT. Native pools:
 * GPUMEM_ERROR_UNSUPPORTED; so is a backend that cannot import (the message names it). */
GPUMEM_API gpumem_result gpumem_buffer_import(gpumem_pool pool, const gpumem_import_desc *desc,
                                              gpumem_buffer *buffer);
GPUMEM_API gpumem_result gpumem_buffer_info_get(gpumem_buffer buffer, gpumem_buffer_info *info);
GPUMEM_API gpumem_result gpumem_buffer_native(gpumem_buffer buffer, gpumem_native_buffer *native);

/* The live buffer of a device that holds `address` (an address as gpumem_native_buffer gives
 * it: a host pointer, a CUdeviceptr, a HIP device pointer), and the address's offset in it.
 * Buffers of every pool of the device count, paged and native; guard margins do not. O(log n)
 * in the buffers of each pool. Where memory is live in two pools at once (one pool's buffer
 * imported into another, gpumem_buffer_import), the buffer of the pool made first is found.
 * GPUMEM_ERROR_NOT_FOUND when no live buffer holds the address; GPUMEM_ERROR_UNSUPPORTED on a
 * backend whose memory has no addresses (Vulkan). */
GPUMEM_API gpumem_result gpumem_buffer_find(gpumem_device device, uint64_t address,
                                            gpumem_buffer *buffer, uint64_t *offset);

/* Maps the buffer for the host; *data points at its first byte. Reference-counted: each map
 * needs one unmap. GPUMEM_ERROR_NOT_MAPPABLE for memory without GPUMEM_MEMORY_HOST_VISIBLE. */
GPUMEM_API gpumem_result gpumem_buffer_map(gpumem_buffer buffer, void **data);
/* GPUMEM_ERROR_BAD_STATE when the buffer is not mapped. */
GPUMEM_API gpumem_result gpumem_buffer_unmap(gpumem_buffer buffer);
/* Makes host writes visible to the device / device writes visible to the host, for memory
 * without HOST_COHERENT (a no-op with it, mapped or not). Without HOST_COHERENT the buffer must
 * be mapped (gpumem_buffer_map; a PERSISTENT_MAP pool's buffers always are): else
 * GPUMEM_ERROR_BAD_STATE, whatever other buffers of its page do. The range is rounded out to non_coherent_atom_size
 * (no other buffer shares an atom with this one). A flush writes back whole atoms: before
 * writing part of an atom through a mapping, invalidate it, or the host's stale copy of the
 * atom's other bytes overwrites what the device wrote there. Flush host writes before a
 * transfer or device work touches the same atoms (gpumem's own transfers through mappings do
 * both themselves). */
GPUMEM_API gpumem_result gpumem_buffer_flush(gpumem_buffer buffer, uint64_t offset,
                                             uint64_t size);
GPUMEM_API gpumem_result gpumem_buffer_invalidate(gpumem_buffer buffer, uint64_t offset,
                                                  uint64_t size);

/* Synchronous transfers, on the device's default stream; they return when done. */
GPUMEM_API gpumem_result gpumem_buffer_write(gpumem_buffer buffer, uint64_t offset,
                                             const void *data, uint64_t size);
GPUMEM_API gpumem_result gpumem_buffer_read(gpumem_buffer buffer, uint64_t offset, void *data,
                                            uint64_t size);
/* Source and destination may be one buffer when the ranges do not overlap. */
GPUMEM_API gpumem_result gpumem_buffer_copy(gpumem_buffer source, uint64_t source_offset,
                                            gpumem_buffer destination,
                                            uint64_t destination_offset, uint64_t size);
/* Fills with a 32-bit pattern; offset and size must be multiples of 4. */
GPUMEM_API gpumem_result gpumem_buffer_fill(gpumem_buffer buffer, uint64_t offset,
                                            uint64_t size, uint32_t pattern);

/* ---------------------------------------------------------------------------------------------
 * Images: 1D, 2D and 3D images with layers and mip levels, placed in a pool's pages as buffers
 * are (they share pages with buffers, and have the same allocation info).
 * - Vulkan: a VkImage bound to the page's memory at the image's offset. Optimal-tiling images
 *   start and end on bufferImageGranularity, so no buffer or linear image shares such a unit
 *   with them; an image whose driver requires a dedicated allocation, or prefers one for an
 *   image of GPUMEM_IMAGE_PREFERRED_DEDICATED_SIZE bytes or more (VK_KHR_dedicated_allocation,
 *   core in Vulkan 1.1), gets a page of its own, allocated for it. An image is in
 *   VK_IMAGE_LAYOUT_GENERAL, every subresource, from its creation on and after every gpumem
 *   transfer: the application transitions it from GENERAL for its own use, and back before
 *   gpumem transfers it again (docs/backends-vulkan.md). Vulkan images need a gpumem queue
 *   that copies any box (minImageTransferGranularity 1x1x1: graphics and compute queues).
 * - host, CUDA, HIP and other backends: a pitched linear image in the page, laid out by core:
 *   layer by layer, each layer's mip levels one after the other, each level's slices one after
 *   the other, each slice's rows row_pitch apart, a multiple of image_pitch_alignment
 *   (gpumem_image_layout_get). A CUDA user can bind a level of a 2D image as a pitched 2D
 *   texture (address, row pitch).
 * ------------------------------------------------------------------------------------------- */

typedef struct gpumem_image_t *gpumem_image; /* an image in a pool; owned by its pool */

enum {
    GPUMEM_IMAGE_1D = 1,
    GPUMEM_IMAGE_2D = 2,
    GPUMEM_IMAGE_3D = 3,
};

/* Portable texel formats (uncompressed); GPUMEM_FORMAT_NATIVE takes the runtime's own format
 * (gpumem_image_desc.native_format) with its texel size. Depth, stencil, block-compressed and
 * multi-planar formats are not supported (transfers move whole color texels). */
enum {
    GPUMEM_FORMAT_UNDEFINED = 0,
    GPUMEM_FORMAT_NATIVE = 1,
    GPUMEM_FORMAT_R8_UNORM = 2,
    GPUMEM_FORMAT_R8_UINT = 3,
    GPUMEM_FORMAT_R8G8_UNORM = 4,
    GPUMEM_FORMAT_R8G8B8A8_UNORM = 5,
    GPUMEM_FORMAT_R8G8B8A8_UINT = 6,
    GPUMEM_FORMAT_B8G8R8A8_UNORM = 7,
    GPUMEM_FORMAT_R16_UINT = 8,
    GPUMEM_FORMAT_R16_SFLOAT = 9,
    GPUMEM_FORMAT_R16G16B16A16_SFLOAT = 10,
    GPUMEM_FORMAT_R32_UINT = 11,
    GPUMEM_FORMAT_R32_SINT = 12,
    GPUMEM_FORMAT_R32_SFLOAT = 13,
    GPUMEM_FORMAT_R32G32_SFLOAT = 14,
    GPUMEM_FORMAT_R32G32B32A32_SFLOAT = 15,
    GPUMEM_FORMAT_COUNT = 16,
};

/* Bytes per texel of a portable format; 0 for UNDEFINED, NATIVE and unknown values. */
GPUMEM_API uint32_t gpumem_format_texel_size(uint32_t format);

/* What the application uses an image for (0: sampled and transfer). gpumem's own transfers
 * work whatever the usage. On Vulkan these are the VkImageUsageFlags (gpumem adds transfer
 * source and destination for its own copies); elsewhere they are checked and kept. */
enum {
    GPUMEM_IMAGE_USAGE_SAMPLED = 1u << 0,
    GPUMEM_IMAGE_USAGE_STORAGE = 1u << 1,
    GPUMEM_IMAGE_USAGE_COLOR_ATTACHMENT = 1u << 2,
    GPUMEM_IMAGE_USAGE_TRANSFER = 1u << 3, /* the application's own copies */
    GPUMEM_IMAGE_USAGE_ALL = (1u << 4) - 1,
};

enum {
    GPUMEM_IMAGE_TILING_OPTIMAL = 0, /* the driver's layout (Vulkan); pitched elsewhere */
    GPUMEM_IMAGE_TILING_LINEAR = 1,  /* rows in memory order (Vulkan linear tiling) */
};

enum {
    GPUMEM_IMAGE_DEDICATED = 1u << 0, /* a page of its own, whatever its size */
};

/* Images whose runtime would rather have memory of their own get it from this size on; below
 * it, memory of their own costs more than it gives (the Khronos validation layer's best
 * practices call dedicated allocations under 1 MiB wasteful). */
#define GPUMEM_IMAGE_PREFERRED_DEDICATED_SIZE (1ull << 20)

typedef struct gpumem_image_desc {
    uint32_t type;          /* GPUMEM_IMAGE_1D, _2D or _3D */
    uint32_t format;        /* GPUMEM_FORMAT_* (not UNDEFINED) */
    uint32_t width;         /* texels, > 0 */
    uint32_t height;        /* 0: 1; 1 for 1D images */
    uint32_t depth;         /* 0: 1; 1 for 1D and 2D images */
    uint32_t array_layers;  /* 0: 1; 1 for 3D images */
    uint32_t mip_levels;    /* 0: 1; at most 1 + log2 of the largest dimension */
    uint32_t usage;         /* GPUMEM_IMAGE_USAGE_* (0: sampled and transfer) */
    uint32_t tiling;        /* GPUMEM_IMAGE_TILING_* */
    uint32_t flags;         /* GPUMEM_IMAGE_* */
    uint32_t native_format; /* with GPUMEM_FORMAT_NATIVE: the runtime's format (VkFormat);
                               else 0 */
    uint32_t texel_size;    /* with GPUMEM_FORMAT_NATIVE: its bytes per texel (1 to 32; Vulkan
                               checks it against the format); else 0. Uncompressed color
                               formats only */
    const char *name;       /* as gpumem_buffer_desc.name */
    void *user_data;        /* the application's, returned by gpumem_image_user_data */
} gpumem_image_desc;

/* A box of texels of one mip level, in one or more array layers. Host data for it is packed row
 * after row (host_row_pitch bytes apart; 0: width * texel size), slice after slice
 * (host_slice_pitch; 0: host row pitch * height), layer after layer (host slice pitch *
 * depth). */
typedef struct gpumem_image_region {
    uint32_t mip_level;
    uint32_t base_layer;
    uint32_t layer_count;      /* 0: 1 */
    uint32_t x, y, z;          /* the box's first texel in the level */
    uint32_t width;            /* > 0 */
    uint32_t height;           /* 0: 1 */
    uint32_t depth;            /* 0: 1 */
    uint32_t reserved;         /* 0 */
    uint64_t host_row_pitch;   /* 0: tight; else at least width * texel size */
    uint64_t host_slice_pitch; /* 0: tight; else at least host row pitch * height */
} gpumem_image_region;

/* Where a subresource lies in a pitched image (gpumem_image_layout_get). */
typedef struct gpumem_image_layout {
    uint64_t offset;      /* of the level's first byte from the image's first byte */
    uint64_t size;        /* the level's bytes in one layer: slice_pitch * depth */
    uint64_t row_pitch;   /* bytes between the starts of two rows */
    uint64_t slice_pitch; /* bytes between the starts of two slices (3D) */
    uint64_t layer_pitch; /* bytes between the starts of two array layers */
} gpumem_image_layout;

/* What an image is to the native runtime. */
typedef struct gpumem_native_image {
    uint64_t memory;  /* as gpumem_native_buffer.memory */
    uint64_t offset;  /* of the image's first byte in memory */
    uint64_t image;   /* vulkan: VkImage; else 0 */
    uint64_t address; /* cuda/hip: the device pointer of the image's first byte; host: its
                         address; vulkan: 0 */
    uint32_t format;  /* vulkan: its VkFormat; else 0 */
    uint32_t layout;  /* vulkan: the VkImageLayout gpumem leaves it in after its transfers
                         (VK_IMAGE_LAYOUT_GENERAL); else 0 */
} gpumem_native_image;

/* Makes an image in a paged pool. GPUMEM_ERROR_UNSUPPORTED with a message for what the device
 * cannot do (a format, usage or tiling its driver refuses, a memory type the image cannot
 * live in); native pools: GPUMEM_ERROR_UNSUPPORTED. */
GPUMEM_API gpumem_result gpumem_image_create(gpumem_pool pool, const gpumem_image_desc *desc,
                                             gpumem_image *image);
/* As gpumem_buffer_destroy, except that where the image has a runtime object of its own
 * (Vulkan's VkImage) the object must outlive the commands that name it: the handle ends first
 * (a transfer that begins after that gets GPUMEM_ERROR_DESTROYED), then the destroy waits for
 * the transfers of the image that other threads began before to have queued their work, then
 * for the work queued on the device's streams. So a log callback inside such a transfer must
 * not wait for the destroying thread. Elsewhere (CUDA, HIP, host) work queued on streams that
 * uses the image is not waited for. */
GPUMEM_API gpumem_result gpumem_image_destroy(gpumem_image image);
/* Page, offset, padding and size as for a buffer; `size` is the bytes the image takes. */
GPUMEM_API gpumem_result gpumem_image_info_get(gpumem_image image, gpumem_buffer_info *info);
/* GPUMEM_ERROR_UNSUPPORTED where there is nothing native to show: a backend with no images of
 * its own whose memory has no addresses. */
GPUMEM_API gpumem_result gpumem_image_native(gpumem_image image, gpumem_native_image *native);
GPUMEM_API gpumem_result gpumem_image_name(gpumem_image image, char *name, size_t capacity);
GPUMEM_API gpumem_result gpumem_image_user_data(gpumem_image image, void **user_data);
/* The desc as gpumem completed it (defaults filled in). Its `name` points at the image's own
 * copy of the name, valid while the image lives (gpumem_image_name copies it out). */
GPUMEM_API gpumem_result gpumem_image_desc_get(gpumem_image image, gpumem_image_desc *desc);
/* Where mip level `mip_level` lies in a pitched image. GPUMEM_ERROR_UNSUPPORTED on Vulkan,
 * whose layouts are the driver's. */
GPUMEM_API gpumem_result gpumem_image_layout_get(gpumem_image image, uint32_t mip_level,
                                                 gpumem_image_layout *layout);

/* Box transfers between host memory and an image, and between two images of one device (the
 * same extent; the destination's box is `destination`'s x, y, z, mip level and layers, its
 * width, height, depth and layer count 0 or the source's). Synchronous forms run on the
 * device's default stream and return when done; stream forms as gpumem_stream_write/read/copy.
 * A box outside its level: GPUMEM_ERROR_OUT_OF_RANGE. Copies within one image must not
 * overlap. */
GPUMEM_API gpumem_result gpumem_image_write(gpumem_image image,
                                            const gpumem_image_region *region, const void *data);
GPUMEM_API gpumem_result gpumem_image_read(gpumem_image image, const gpumem_image_region *region,
                                           void *data);
GPUMEM_API gpumem_result gpumem_image_copy(gpumem_image source, const gpumem_image_region *region,
                                           gpumem_image destination,
                                           const gpumem_image_region *destination_region);
GPUMEM_API gpumem_result gpumem_stream_image_write(gpumem_stream stream, gpumem_image image,
                                                   const gpumem_image_region *region,
                                                   const void *data);
GPUMEM_API gpumem_result gpumem_stream_image_read(gpumem_stream stream, gpumem_image image,
                                                  const gpumem_image_region *region, void *data);
GPUMEM_API gpumem_result gpumem_stream_image_copy(gpumem_stream stream, gpumem_image source,
                                                  const gpumem_image_region *region,
                                                  gpumem_image destination,
                                                  const gpumem_image_region *destination_region);

/* ---------------------------------------------------------------------------------------------
 * Streams
 * ------------------------------------------------------------------------------------------- */

/* The device's own stream (not destroyable; it lives as long as the device). */
GPUMEM_API gpumem_result gpumem_device_default_stream(gpumem_device device,
                                                      gpumem_stream *stream);
GPUMEM_API gpumem_result gpumem_stream_create(gpumem_device device, gpumem_stream *stream);
/* The application's own stream (cuda: a CUstream, 0 for the default stream; hip: a
 * hipStream_t other than 0) as a gpumem stream, for gpumem's work to be ordered with the
 * application's. gpumem never destroys the native stream: gpumem_stream_destroy (and the
 * device's close) waits for the stream's work, the application's included, and lets go of it.
 * The native stream must belong to the device's context and outlive the gpumem stream. Two
 * gpumem streams over one native stream (one wrapping the other's gpumem_stream_native) each
 * keep their own work in order, and all of it lands on the one native queue; used from two
 * threads at once, their work interleaves there in the order the runtime receives it. Not the
 * per-thread default stream (CU_STREAM_PER_THREAD, hipStreamPerThread: another queue on each
 * thread; GPUMEM_ERROR_UNSUPPORTED). GPUMEM_ERROR_UNSUPPORTED on backends that cannot (host,
 * Vulkan, whose streams are gpumem's own command buffers). */
GPUMEM_API gpumem_result gpumem_stream_wrap(gpumem_device device, uint64_t native,
                                            gpumem_stream *stream);
/* Waits for the stream's pending work, then destroys it. */
GPUMEM_API gpumem_result gpumem_stream_destroy(gpumem_stream stream);
GPUMEM_API gpumem_result gpumem_stream_synchronize(gpumem_stream stream);
/* vulkan: VkQueue; cuda: CUstream; hip: hipStream_t; host, and any backend without streams
 * (its work runs at once): 0. */
GPUMEM_API gpumem_result gpumem_stream_native(gpumem_stream stream, uint64_t *native);

/* Asynchronous transfers, done in order on the stream. A write has read `data` when it returns
 * (the caller may reuse it at once). A read has filled `data` once the stream is synchronized;
 * `data` must stay valid until then. Buffers must outlive the stream work that uses them. */
GPUMEM_API gpumem_result gpumem_stream_write(gpumem_stream stream, gpumem_buffer buffer,
                                             uint64_t offset, const void *data, uint64_t size);
GPUMEM_API gpumem_result gpumem_stream_read(gpumem_stream stream, gpumem_buffer buffer,
                                            uint64_t offset, void *data, uint64_t size);
GPUMEM_API gpumem_result gpumem_stream_copy(gpumem_stream stream, gpumem_buffer source,
                                            uint64_t source_offset, gpumem_buffer destination,
                                            uint64_t destination_offset, uint64_t size);
GPUMEM_API gpumem_result gpumem_stream_fill(gpumem_stream stream, gpumem_buffer buffer,
                                            uint64_t offset, uint64_t size, uint32_t pattern);

/* ---------------------------------------------------------------------------------------------
 * Events: a point in a stream's work, for the host or another stream of the device to wait for
 * (cudaEvent_t, hipEvent_t; on Vulkan a timeline semaphore value). Closing the device destroys
 * its events.
 * ------------------------------------------------------------------------------------------- */

GPUMEM_API gpumem_result gpumem_event_create(gpumem_device device, gpumem_event *event);
GPUMEM_API gpumem_result gpumem_event_destroy(gpumem_event event);
/* From now on the event completes once every operation queued on `stream` so far has (a later
 * record replaces the earlier point). Event and stream must belong to one device
 * (GPUMEM_ERROR_INVALID_ARGUMENT otherwise). */
GPUMEM_API gpumem_result gpumem_event_record(gpumem_event event, gpumem_stream stream);
/* Waits on the host until the event completed; at once for an event never recorded. */
GPUMEM_API gpumem_result gpumem_event_synchronize(gpumem_event event);
/* Operations queued on `stream` after this call start only once `event` completed. On the
 * device where the backend can wait there (CUDA, HIP, Vulkan: the stream's next submission
 * waits for the event's timeline value); elsewhere (backends without events) this call waits
 * on the host before it returns. */
GPUMEM_API gpumem_result gpumem_stream_wait_event(gpumem_stream stream, gpumem_event event);

/* The application's own synchronization object as a gpumem event, so that gpumem's streams (and
 * the host) wait for the application's GPU work: cuda: a CUevent, hip: a hipEvent_t (`value`
 * 0), recorded by the application; vulkan: a timeline VkSemaphore of the device and the
 * `value` that completes the event (0: complete from the start). The object stays the
 * application's: gpumem never destroys it, and it must live as long as the event. The event's
 * destroy waits for the work queued on the device's streams (their waits on the object
 * included, which a stream may hold for its next submission), so that the object may go right
 * after it: signal it first. gpumem_event_record on such an event records
 * gpumem's point instead (CUDA, HIP: into the application's event). GPUMEM_ERROR_UNSUPPORTED on
 * backends without events (host). */
GPUMEM_API gpumem_result gpumem_event_wrap(gpumem_device device, uint64_t native_handle,
                                           uint64_t value, gpumem_event *event);

typedef struct gpumem_native_event {
    uint64_t handle; /* cuda: CUevent; hip: hipEvent_t; vulkan: the VkSemaphore (timeline) the
                        event is a value of; 0 on host and backends without native events */
    uint64_t value;  /* vulkan: the semaphore value that completes the event (0 before the first
                        record); else 0 */
} gpumem_native_event;

/* The runtime's own form of the event, for waiting on it in the application's own work. It
 * stays gpumem's: do not destroy it. */
GPUMEM_API gpumem_result gpumem_event_native(gpumem_event event, gpumem_native_event *native);

/* ---------------------------------------------------------------------------------------------
 * Host memory registration: host memory the application allocated (malloc, a numpy array, a
 * std::vector), registered with a device so that the runtime moves it by DMA, as it moves its
 * own pinned memory: transfers from and to it skip core's staging and run at the link's speed
 * (CUDA: cuMemHostRegister; HIP: hipHostRegister). Registering costs time (the kernel pins every
 * page: about 10 ms per 256 MiB on an H200 host) and keeps the pages resident: for memory that
 * is transferred again and again. The memory must stay allocated until it is unregistered (or
 * the device closes, which unregisters what is left).
 * ------------------------------------------------------------------------------------------- */

/* Registers [host, host + size) with the device. flags: 0. GPUMEM_ERROR_INVALID_ARGUMENT for a
 * range that overlaps one registered already (CUDA and HIP refuse it) or is not valid memory;
 * GPUMEM_ERROR_BAD_STATE for memory on pages that a synchronous transfer has registered for its
 * own length right now (on one to three usable CPUs: see gpumem_host_unregister), or that a
 * synchronous transfer through the registration cache uses right now, to be registered once it
 * has returned (the cache's registrations of the memory otherwise give way, after the device's
 * streams are waited for: docs/api.md); GPUMEM_ERROR_UNSUPPORTED on a backend that cannot (Vulkan);
 * on the host backend, whose memory is the host's, it succeeds and changes nothing. */
GPUMEM_API gpumem_result gpumem_host_register(gpumem_device device, void *host, uint64_t size,
                                              uint32_t flags,
                                              gpumem_host_registration *registration);
/* Ends the registration: transfers from and to the memory go as pageable memory's do again
 * (staged; or on one usable CPU given to the runtime's own copy; and on one to three, a
 * synchronous write of 8 MiB or more registering its pages for its own length, as a
 * synchronous read does on one or two). */
GPUMEM_API gpumem_result gpumem_host_unregister(gpumem_host_registration registration);

/* ---------------------------------------------------------------------------------------------
 * Virtual blocks: the pools' TLSF suballocator over offsets only, with no device. Externally
 * synchronized: one thread at a time per block (that keeps it as fast as it can be).
 * ------------------------------------------------------------------------------------------- */

typedef uint64_t gpumem_vblock_allocation; /* 0 is never a valid allocation */

typedef struct gpumem_vblock_stats {
    uint64_t size;               /* as created */
    uint64_t used_bytes;         /* in live allocations, padding included */
    uint64_t allocation_count;
    uint64_t free_range_count;
    uint64_t largest_free_range;
    uint64_t span;               /* end of the highest live allocation (0 when empty) */
} gpumem_vblock_stats;

GPUMEM_API gpumem_result gpumem_vblock_create(uint64_t size, gpumem_vblock *vblock);
GPUMEM_API gpumem_result gpumem_vblock_destroy(gpumem_vblock vblock);
/* alignment: a power of two (0: 1). GPUMEM_ERROR_LIMIT_EXCEEDED when no free range fits. What
 * is left of a free range after an allocation becomes free space only when it is larger than
 * the alignment asked and at least a quarter of the size: a small allocation with a large
 * alignment may take a whole range (used_bytes says how much). */
GPUMEM_API gpumem_result gpumem_vblock_alloc(gpumem_vblock vblock, uint64_t size,
                                             uint64_t alignment,
                                             gpumem_vblock_allocation *allocation,
                                             uint64_t *offset);
/* GPUMEM_ERROR_INVALID_HANDLE for an allocation that is not live in this block. Allocation
 * values are numbered per block: one from another block may name a live allocation of this
 * one, and is freed as such (keep each value with its block). */
GPUMEM_API gpumem_result gpumem_vblock_free(gpumem_vblock vblock,
                                            gpumem_vblock_allocation allocation);
/* Frees every allocation at once. */
GPUMEM_API gpumem_result gpumem_vblock_clear(gpumem_vblock vblock);
GPUMEM_API gpumem_result gpumem_vblock_stats_get(gpumem_vblock vblock,
                                                 gpumem_vblock_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* GPUMEM_GPUMEM_H */
