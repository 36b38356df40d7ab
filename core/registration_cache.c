#include "registration_cache.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "align.h"
#include "env.h"
#include "error.h"
#include "gpumem/memhooks.h"
#include "log.h"
#include "thread.h"

/* Registrations held at once: each is one large transfer's memory, and a few dozen cover the
 * arrays an application moves again and again. A fixed table: the listener, which runs inside
 * the application's free, must not allocate, and nothing here does. One bit of a word for each
 * slot (and each window) says which are taken, so that a search visits those alone: every
 * transfer searches, and the listener, at every free of the process, reads the taken slots'
 * bytes without the lock (touches_a_slot). */
#define CACHE_SLOTS 64
_Static_assert(CACHE_SLOTS == 64, "one bit of a uint64_t for each slot");
/* The listener reads the slots' word inside the application's free: no lock may hide in it. */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics without a lock");

/* Visits the index i of each bit set in `mask`, lowest first (the mask is read once). */
#define FOR_EACH_BIT(i, mask)                                                         \
    for (uint64_t bits_##i = (mask); bits_##i && ((i) = __builtin_ctzll(bits_##i), 1); \
         bits_##i &= bits_##i - 1)

typedef enum slot_state {
    SLOT_FREE,
    SLOT_REGISTERING,   /* the runtime registers it, with the lock let go */
    SLOT_LIVE,
    SLOT_STALE,         /* its memory was freed or unmapped: no transfer takes it any more */
    SLOT_UNREGISTERING, /* the runtime ends it, with the lock let go */
    SLOT_EVICTING,      /* to be ended for the application's own registration once the
                           device's streams are done (gpumem_registration_cache_evict) */
} slot_state;

struct gpumem_cached_registration {
    slot_state state;
    int doomed; /* freed while registering: ended once registered */
    gpumem_device_obj *device;
    uintptr_t begin, end; /* whole pages: what the runtime registered */
    /* The bytes of the transfer that made it. Only their going ends it: a neighbour's bytes on
     * its first or last page may be freed, and the page stays, backing these bytes. The pages
     * change only by system calls on whole pages (unmap, advice, remap), which take some of
     * these bytes with them, so a later transfer anywhere within the pages may use it. */
    uintptr_t bytes_begin, bytes_end;
    gpumem_backend_registration *native;
    uint32_t users;       /* transfers using it now */
    uint64_t last_use;
    const void *evictor;  /* the evict that marked it SLOT_EVICTING */
};

/* The pages of a transfer between gpumem_registration_cache_queue_begin and _queued, whose copy
 * the runtime may make: no registration over them is made meanwhile (room_for). */
typedef struct queue_window {
    uintptr_t begin, end;
    /* The transfer that took it last. Whether it is taken now is its bit in windows_used: a
     * transfer that lets it go leaves its range and owner (queued); a fork's child clears them. */
    const gpumem_queued_transfer *owner;
} queue_window;

/* The lock is never held around anything that may allocate or free (the runtime, the log),
 * since the listener takes it from inside the application's free. `ended` is signalled each
 * time slots being ended are freed (a device's close waits for the listener's). */
static struct {
    pthread_once_t once;
    pthread_mutex_t lock;
    pthread_cond_t ended;
    int enabled;
    uint64_t budget;
    uintptr_t page;
    gpumem_cached_registration slots[CACHE_SLOTS];
    /* Bit i: slot i is not free. Changed under the lock; read without it by the listener (with
     * slot_bytes and span) and by a take that registers nothing (where 0 answers at once). */
    _Atomic uint64_t used;
    /* Slot i's bytes_begin and bytes_end, for the listener to read without the lock: written
     * under it before the slot's bit is set, cleared before the bit is. span holds the lowest
     * and the highest of them over the taken slots: widened before a new slot's bit is set,
     * narrowed after a bit is cleared (set_span). */
    _Atomic uintptr_t slot_bytes[CACHE_SLOTS][2];
    _Atomic uintptr_t span[2];
    queue_window windows[CACHE_SLOTS];
    /* Bit i: window i is taken. Taken under the lock; let go without it (queued). */
    _Atomic uint64_t windows_used;
    uint64_t bytes;
    uint64_t clock;
    gpumem_registration_cache_stats stats;
} cache = {.once = PTHREAD_ONCE_INIT,
             .lock = PTHREAD_MUTEX_INITIALIZER,
             .ended = PTHREAD_COND_INITIALIZER};

/* The listener's witness of the probe free at setup. */
static void *_Atomic probe_address;
static _Atomic int probe_seen;

static int overlaps(const gpumem_cached_registration *s, uintptr_t begin, uintptr_t end)
{
    return s->begin < end && begin < s->end;
}

static int overlaps_bytes(const gpumem_cached_registration *s, uintptr_t begin, uintptr_t end)
{
    return s->bytes_begin < end && begin < s->bytes_end;
}

/* Whether [begin, end) shares a byte with the bytes of a slot taken now, read without the lock:
 * most frees of a process that holds registrations touch none, and return at once rather than
 * take the lock (every thread's free would wait for every other's). A slot's bytes are visible
 * with its bit (acquire, against the take's release). A slot being taken while this runs is not
 * seen: its transfer is of memory that this call is giving back, a race of the application's,
 * which the lock would not settle either (taken after this call's scan, the registration would
 * hold the pages that go, as before this test was made without the lock). A torn read of a slot
 * made again meanwhile can only answer 1, or miss a slot taken meanwhile (as above); a slot
 * whose bytes read as cleared was ended already, and the acquire loads order that end (its
 * runtime call, before slot_clear's release) before the memory goes. */
static int touches_a_slot(uintptr_t begin, uintptr_t end)
{
    uint64_t used = atomic_load_explicit(&cache.used, memory_order_acquire);
    if (!used)
        return 0;
    /* Acquire loads, against the release stores of set_span and slot_clear (plain loads on
     * x86-64). Most of a process's frees are of its heap, far from the arrays it transfers. */
    if (end <= atomic_load_explicit(&cache.span[0], memory_order_acquire) ||
        atomic_load_explicit(&cache.span[1], memory_order_acquire) <= begin)
        return 0;
    int i;
    FOR_EACH_BIT(i, used)
        if (atomic_load_explicit(&cache.slot_bytes[i][0], memory_order_acquire) < end &&
            begin < atomic_load_explicit(&cache.slot_bytes[i][1], memory_order_acquire))
            return 1;
    return 0;
}

/* Sets the span over the slots of `used` (lock held). */
static void set_span(uint64_t used)
{
    uintptr_t low = UINTPTR_MAX, high = 0;
    int i;
    FOR_EACH_BIT(i, used) {
        uintptr_t b = atomic_load_explicit(&cache.slot_bytes[i][0], memory_order_relaxed);
        uintptr_t e = atomic_load_explicit(&cache.slot_bytes[i][1], memory_order_relaxed);
        low = b < low ? b : low;
        high = e > high ? e : high;
    }
    atomic_store_explicit(&cache.span[0], low, memory_order_release);
    atomic_store_explicit(&cache.span[1], high, memory_order_release);
}

static void end_registrations(gpumem_cached_registration **mine, int count);
static void doom(gpumem_cached_registration *s, gpumem_cached_registration **mine, int *count);

/* Set while this thread forks, from the prepare handler (which holds the lock) to the parent's
 * or child's: other libraries' fork handlers that run meanwhile may free memory, and the
 * listener must not wait for the lock its own thread holds. */
static _Thread_local int forking;

/* Set while this thread ends registrations (end_registrations): a free inside the runtime's
 * call, which reaches the listener again, must not wait for the ending this thread does. */
static _Thread_local int ending_here;

/* The memory of [address, address + size) is about to go. Each registration made for bytes
 * of it is ended here, before the memory can come back at that address: the runtimes key a
 * registration by address, so one left in place would have the device copy later transfers of
 * that address (gpumem's and the application's own) from and to the pages the memory had. The
 * runtime is called outside the lock, at the first giving back of bytes a transfer registered:
 * the application's free, munmap or realloc of them, where no allocator lock is held, or, where
 * the application's free goes around the hooks (an allocator's own sized free), the allocator's
 * later unmapping of them, under its own lock (docs/api.md tells applications to avoid it). A
 * registration a transfer still uses (the application freed memory under its own transfer) is
 * ended when the transfer lets it go; one being registered, once it is. Around a fork the
 * forking thread only marks them (it holds the lock), and they are ended at the device's next
 * synchronous transfer or its close. */
static void listener(void *address, size_t size)
{
    if (address == atomic_load_explicit(&probe_address, memory_order_relaxed))
        atomic_store_explicit(&probe_seen, 1, memory_order_relaxed);
    uintptr_t begin = (uintptr_t)address;
    uintptr_t end = begin + size < begin ? UINTPTR_MAX : begin + size;
    if (__builtin_expect(!touches_a_slot(begin, end), 1))
        return;
    int locks = !forking;
    gpumem_cached_registration *mine[CACHE_SLOTS];
    int count = 0;
    if (locks)
        pthread_mutex_lock(&cache.lock);
    /* Another thread ending a registration of these bytes: the memory must not go before it is
     * ended. Waited for before this thread takes any to end, so that no two threads wait for
     * each other; never from inside this thread's own ending. The scan starts over after each
     * wait: meanwhile a third thread may have taken one it had passed. */
    for (int waited = locks && !ending_here; waited;) {
        waited = 0;
        int i;
        FOR_EACH_BIT(i, cache.used)
            if (cache.slots[i].state == SLOT_UNREGISTERING &&
                overlaps_bytes(&cache.slots[i], begin, end)) {
                pthread_cond_wait(&cache.ended, &cache.lock);
                waited = 1;
                break;
            }
    }
    int i;
    FOR_EACH_BIT(i, cache.used) {
        gpumem_cached_registration *s = &cache.slots[i];
        if (!overlaps_bytes(s, begin, end))
            continue;
        if (s->state == SLOT_LIVE || s->state == SLOT_EVICTING) {
            /* An evicting one has no users and takes no new ones: ended here instead. */
            s->state = SLOT_STALE;
            cache.stats.invalidated++;
        }
        if (s->state == SLOT_REGISTERING)
            s->doomed = 1;
        else if (s->state == SLOT_STALE && !s->users && locks)
            doom(s, mine, &count);
    }
    if (locks)
        pthread_mutex_unlock(&cache.lock);
    end_registrations(mine, count);
}

/* A fork while another thread holds the lock (inside a free, say) would leave the child's copy
 * locked for good: the lock is taken around the fork. The child has no registrations of its
 * own (the runtimes do not carry them over a fork, nor may the child call them before it
 * initializes them anew), so it forgets the table. */
static void before_fork(void)
{
    pthread_mutex_lock(&cache.lock);
    forking = 1;
}

static void after_fork_in_parent(void)
{
    forking = 0;
    pthread_mutex_unlock(&cache.lock);
}

static void after_fork_in_child(void)
{
    forking = 0;
    pthread_mutex_init(&cache.lock, NULL);
    pthread_cond_init(&cache.ended, NULL);
    for (int i = 0; i < CACHE_SLOTS; i++)
        cache.slots[i] = (gpumem_cached_registration){.state = SLOT_FREE};
    for (int i = 0; i < CACHE_SLOTS; i++)
        cache.windows[i] = (queue_window){0};
    cache.bytes = 0;
    for (int i = 0; i < CACHE_SLOTS; i++) {
        atomic_store(&cache.slot_bytes[i][0], 0);
        atomic_store(&cache.slot_bytes[i][1], 0);
    }
    set_span(0);
    atomic_store(&cache.used, 0);
    atomic_store(&cache.windows_used, 0);
}

static void setup(void)
{
    cache.budget = gpumem_env_registration_cache();
    if (!cache.budget)
        return;
    int (*listen)(gpumem_memhooks_listener) =
        (int (*)(gpumem_memhooks_listener))dlsym(RTLD_DEFAULT, GPUMEM_MEMHOOKS_LISTEN_SYMBOL);
    if (!listen) {
        gpumem_log(GPUMEM_LOG_WARNING,
                   "GPUMEM_REGISTRATION_CACHE is set, but libgpumem-memhooks is not loaded: the "
                   "cache is off, since it would not hear of memory being freed (preload the "
                   "library, LD_PRELOAD=libgpumem-memhooks.so.0, or link it)");
        return;
    }
    int version = listen(listener);
    if (version == 0) { /* another copy of libgpumem listens: it hears the frees, not this one */
        gpumem_log(GPUMEM_LOG_WARNING,
                   "GPUMEM_REGISTRATION_CACHE: libgpumem-memhooks already tells another listener "
                   "(another copy of libgpumem in this process): the cache is off in this one");
        return;
    }
    if (version != GPUMEM_MEMHOOKS_VERSION) {
        gpumem_log(GPUMEM_LOG_WARNING,
                   "GPUMEM_REGISTRATION_CACHE: libgpumem-memhooks is of another version (%d, "
                   "this libgpumem needs %d); the cache is off",
                   version, GPUMEM_MEMHOOKS_VERSION);
        listen(NULL); /* version 1 took this listener in place of any other */
        return;
    }
    /* Through a volatile pointer, so that the compiler keeps the pair: the free must reach
     * whichever definition the process uses. */
    void *(*volatile allocate)(size_t) = malloc;
    void (*volatile release)(void *) = free;
    void *probe = allocate(64);
    atomic_store(&probe_address, probe);
    release(probe);
    int seen = atomic_exchange(&probe_seen, 0);
    atomic_store(&probe_address, NULL);
    if (!probe || !seen) {
        gpumem_log(GPUMEM_LOG_WARNING,
                   "GPUMEM_REGISTRATION_CACHE: libgpumem-memhooks is loaded but does not see "
                   "free (another library's free comes first, such as a sanitizer's): the cache "
                   "is off");
        listen(NULL);
        return;
    }
    if (pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child) != 0) {
        gpumem_log(GPUMEM_LOG_WARNING, "GPUMEM_REGISTRATION_CACHE: no fork handlers; the cache "
                                       "is off");
        listen(NULL);
        return;
    }
    long page = sysconf(_SC_PAGESIZE);
    cache.page = page > 0 ? (uintptr_t)page : 4096u;
    cache.enabled = 1;
    gpumem_log(GPUMEM_LOG_INFO, "registration cache on: up to %llu bytes of pageable memory",
               (unsigned long long)cache.budget);
}

/* Set on the thread that runs setup, from its log hold to the release after the once. */
static _Thread_local int setup_held_log;

/* setup's messages (the variable's, the hooks', the cache's) wait in a log hold until the once
 * has returned: a log callback may call gpumem, and a call that asks whether the cache is on
 * would wait on the once its own thread is inside, for ever. */
static void setup_holding_the_log(void)
{
    gpumem_log_hold(&gpumem_this_thread);
    setup_held_log = 1;
    setup();
}

int gpumem_registration_cache_enabled(void)
{
    pthread_once(&cache.once, setup_holding_the_log);
    if (__builtin_expect(setup_held_log, 0)) {
        setup_held_log = 0;
        gpumem_log_release(&gpumem_this_thread);
    }
    return cache.enabled;
}

/* Marks a slot free again (lock held). */
static void slot_clear(gpumem_cached_registration *s)
{
    cache.bytes -= s->end - s->begin;
    *s = (gpumem_cached_registration){.state = SLOT_FREE};
    ptrdiff_t i = s - cache.slots;
    atomic_store_explicit(&cache.slot_bytes[i][0], 0, memory_order_release);
    atomic_store_explicit(&cache.slot_bytes[i][1], 0, memory_order_release);
    set_span(atomic_fetch_and_explicit(&cache.used, ~(UINT64_C(1) << i), memory_order_release) &
             ~(UINT64_C(1) << i));
}

/* Ends the registrations of slots marked SLOT_UNREGISTERING by this thread in `mine` (lock not
 * held), then frees the slots. */
static void end_registrations(gpumem_cached_registration **mine, int count)
{
    if (!count)
        return;
    ending_here++;
    for (int i = 0; i < count; i++)
        mine[i]->device->ops->host_unregister(mine[i]->device->native, mine[i]->native);
    ending_here--;
    pthread_mutex_lock(&cache.lock);
    for (int i = 0; i < count; i++)
        slot_clear(mine[i]);
    pthread_cond_broadcast(&cache.ended);
    pthread_mutex_unlock(&cache.lock);
}

/* Takes a slot to be ended by this thread (lock held). */
static void doom(gpumem_cached_registration *s, gpumem_cached_registration **mine, int *count)
{
    s->state = SLOT_UNREGISTERING;
    mine[(*count)++] = s;
}

/* The device's stale slots no transfer uses any more, to be ended (lock held). Only the
 * caller's device: its call keeps it open until they are ended, which another device's close
 * would not wait for. */
static void collect_stale(const gpumem_device_obj *device, gpumem_cached_registration **mine,
                          int *count)
{
    int i;
    FOR_EACH_BIT(i, cache.used)
        if (cache.slots[i].state == SLOT_STALE && !cache.slots[i].users &&
            cache.slots[i].device == device)
            doom(&cache.slots[i], mine, count);
}

/* A free slot for a registration of [begin, end) on the device, or NULL (lock held): when a
 * registration of the device shares a byte with it (the runtimes refuse overlapping
 * registrations, and ending one could pull memory from under a transfer on a stream), when the
 * budget is spent, or when every slot is taken. Registrations are never evicted to make room:
 * only the memory going, the application's own registration of it, or the device's close ends
 * them, as it would end any memory a transfer uses. */
static gpumem_cached_registration *room_for(gpumem_device_obj *device, uintptr_t begin,
                                            uintptr_t end, uint64_t ending)
{
    int i;
    /* Acquire: a window's range was written before its bit (queue_begin, under this lock too;
     * only queued clears a bit without it, which at worst refuses a registration it would not
     * have had to). */
    FOR_EACH_BIT(i, atomic_load_explicit(&cache.windows_used, memory_order_acquire))
        if (cache.windows[i].begin < end && begin < cache.windows[i].end)
            return NULL;
    uint64_t used = atomic_load_explicit(&cache.used, memory_order_relaxed);
    FOR_EACH_BIT(i, used) {
        const gpumem_cached_registration *s = &cache.slots[i];
        /* Slots being ended are gone before this registration is made (this thread's) or
         * soon after (another's: the runtime may then refuse this one, and it stages). */
        if (s->state != SLOT_UNREGISTERING && s->device == device && overlaps(s, begin, end))
            return NULL;
    }
    gpumem_cached_registration *free_slot =
        ~used ? &cache.slots[__builtin_ctzll(~used)] : NULL;
    /* `ending`: bytes of registrations this thread ends before it registers */
    return cache.bytes - ending + (end - begin) <= cache.budget ? free_slot : NULL;
}

gpumem_cached_registration *gpumem_registration_cache_take(gpumem_device_obj *device,
                                                           const void *host, uint64_t size,
                                                           int may_register)
{
    uintptr_t begin, end, bytes_begin = (uintptr_t)host, bytes_end = bytes_begin + size;
    if (!gpumem_registration_cache_enabled() || !device->ops->host_register || !size ||
        bytes_end < bytes_begin ||
        !gpumem_whole_pages((uintptr_t)host, size, cache.page, &begin, &end))
        return NULL;
    if (end - begin > cache.budget)
        return NULL;
    /* No slot taken: nothing to hit. One being taken now is not live yet, and a transfer that
     * leaves its copy to the runtime asks again under the lock (queue_begin). */
    if (!may_register && !atomic_load_explicit(&cache.used, memory_order_acquire))
        return NULL;
    gpumem_cached_registration *mine[CACHE_SLOTS];
    int count = 0;
    pthread_mutex_lock(&cache.lock);
    collect_stale(device, mine, &count);
    gpumem_cached_registration *found = NULL;
    int i;
    FOR_EACH_BIT(i, cache.used) {
        gpumem_cached_registration *s = &cache.slots[i];
        if (s->state == SLOT_LIVE && s->device == device && s->begin <= begin && end <= s->end) {
            found = s;
            break;
        }
    }
    if (found) {
        found->users++;
        found->last_use = ++cache.clock;
        cache.stats.hits++;
        pthread_mutex_unlock(&cache.lock);
        end_registrations(mine, count);
        return found;
    }
    uint64_t ending = 0;
    for (i = 0; i < count; i++)
        ending += mine[i]->end - mine[i]->begin;
    gpumem_cached_registration *slot = may_register ? room_for(device, begin, end, ending) : NULL;
    if (slot) {
        *slot = (gpumem_cached_registration){.state = SLOT_REGISTERING,
                                             .device = device,
                                             .begin = begin,
                                             .end = end,
                                             .bytes_begin = bytes_begin,
                                             .bytes_end = bytes_end};
        cache.bytes += end - begin;
        ptrdiff_t n = slot - cache.slots;
        atomic_store_explicit(&cache.slot_bytes[n][0], bytes_begin, memory_order_relaxed);
        atomic_store_explicit(&cache.slot_bytes[n][1], bytes_end, memory_order_relaxed);
        uint64_t bit = UINT64_C(1) << n;
        set_span(atomic_load_explicit(&cache.used, memory_order_relaxed) | bit);
        atomic_fetch_or_explicit(&cache.used, bit, memory_order_release);
    }
    pthread_mutex_unlock(&cache.lock);
    end_registrations(mine, count);
    if (!slot)
        return NULL;
    gpumem_backend_registration *native = NULL;
    gpumem_result r = device->ops->host_register(device->native, (void *)begin, end - begin,
                                                 &native);
    count = 0;
    pthread_mutex_lock(&cache.lock);
    slot->native = native;
    int doomed = slot->doomed;
    if (r == GPUMEM_OK && !doomed) {
        slot->state = SLOT_LIVE;
        slot->users = 1;
        slot->last_use = ++cache.clock;
        cache.stats.registered++;
    } else if (r == GPUMEM_OK) {
        doom(slot, mine, &count); /* its memory went meanwhile: ended now */
        cache.stats.registered++;
        cache.stats.invalidated++;
    } else {
        slot_clear(slot);
        pthread_cond_broadcast(&cache.ended);
    }
    pthread_mutex_unlock(&cache.lock);
    end_registrations(mine, count);
    if (r != GPUMEM_OK) {
        gpumem_error_clear(); /* the transfer goes its usual way */
        gpumem_log(GPUMEM_LOG_DEBUG, "registration cache: the runtime did not register %llu "
                   "bytes at %p (%s); the transfer goes as without the cache", (unsigned long long)(end - begin),
                   (void *)begin, gpumem_result_string(r));
        return NULL;
    }
    if (doomed)
        return NULL;
    gpumem_log(GPUMEM_LOG_DEBUG, "registration cache: registered %llu bytes at %p",
               (unsigned long long)(end - begin), (void *)begin);
    return slot;
}

void gpumem_registration_cache_release(gpumem_cached_registration *registration)
{
    if (!registration)
        return;
    gpumem_cached_registration *mine[1];
    int count = 0;
    pthread_mutex_lock(&cache.lock);
    registration->users--;
    if (registration->state == SLOT_STALE && !registration->users)
        doom(registration, mine, &count);
    pthread_mutex_unlock(&cache.lock);
    end_registrations(mine, count);
}

int gpumem_registration_cache_queue_begin(const gpumem_device_obj *device, const void *host,
                                          uint64_t size, int gaps,
                                          gpumem_queued_transfer *queued)
{
    queued->window = 0;
    uintptr_t begin, end, bytes_begin = (uintptr_t)host, bytes_end = bytes_begin + size;
    if (!gpumem_registration_cache_enabled() || !size || bytes_end < bytes_begin ||
        !gpumem_whole_pages((uintptr_t)host, size, cache.page, &begin, &end))
        return 0;
    int by_cpu = 0;
    pthread_mutex_lock(&cache.lock);
    /* Any device's slots: the runtimes make registrations portable, so another device's
     * registration of these pages has this device copy them as pinned memory too; and that
     * device's close or the application's registration would end it without waiting for this
     * device's streams. */
    int i;
    FOR_EACH_BIT(i, cache.used) {
        const gpumem_cached_registration *s = &cache.slots[i];
        by_cpu = overlaps(s, begin, end) &&
                 (s->state != SLOT_LIVE || s->device != device || gaps ||
                  s->bytes_begin < bytes_begin || bytes_end < s->bytes_end);
        if (by_cpu)
            break;
    }
    /* The runtime may copy it: no registration over its pages until the copy is queued. With
     * no entry free, it goes by the CPU instead. The range is written before the bit is set
     * (release; room_for reads the bits with acquire). */
    uint64_t taken = atomic_load_explicit(&cache.windows_used, memory_order_acquire);
    if (!by_cpu && ~taken) {
        i = __builtin_ctzll(~taken);
        cache.windows[i] = (queue_window){.begin = begin, .end = end, .owner = queued};
        atomic_fetch_or_explicit(&cache.windows_used, UINT64_C(1) << i, memory_order_release);
        queued->window = i + 1;
    }
    by_cpu |= !queued->window;
    pthread_mutex_unlock(&cache.lock);
    return by_cpu;
}

/* Without the lock: while its bit is set, no other transfer takes the entry, so its owner
 * stays this transfer's (or, in a fork's child, which forgot the entries, is NULL or another's,
 * whose bit stays). */
void gpumem_registration_cache_queued(gpumem_queued_transfer *queued)
{
    if (!queued->window)
        return;
    int i = queued->window - 1;
    if (cache.windows[i].owner == queued)
        atomic_fetch_and_explicit(&cache.windows_used, ~(UINT64_C(1) << i),
                                  memory_order_release);
    queued->window = 0;
}

/* A slot of the device over [begin, end), which the application's registration of that range
 * ends (lock held). This device's only: another device's close does not wait for the call, so
 * its slots are not the call's to end (an application registering memory that another device's
 * cache holds gets the runtime's refusal). */
static int ends_for_the_application(const gpumem_cached_registration *s,
                                    const gpumem_device_obj *device, uintptr_t begin,
                                    uintptr_t end)
{
    return s->state != SLOT_FREE && s->device == device && overlaps(s, begin, end);
}

int gpumem_registration_cache_evict(gpumem_device_obj *device, const void *host, uint64_t size)
{
    if (!gpumem_registration_cache_enabled() || !size)
        return 1;
    uintptr_t begin = (uintptr_t)host & ~(cache.page - 1);
    uintptr_t end = (uintptr_t)host + size < (uintptr_t)host ? UINTPTR_MAX
                                                             : (uintptr_t)host + size;
    gpumem_cached_registration *mine[CACHE_SLOTS];
    int count = 0, busy = 0, marked = 0;
    const char token = 0; /* this call's mark */
    /* The runtime copies registered memory by DMA, transfers queued on streams too (as pinned
     * memory: they hold no slot), so a registration to be ended may have reads and copies
     * queued into and from its pages: first it is marked, so that no transfer takes it or
     * leaves a copy to the runtime over it any more (queue_begin answers "by the CPU"), then
     * the device's streams are waited for, then it is ended. One whose memory goes meanwhile
     * is ended by the listener. */
    pthread_mutex_lock(&cache.lock);
    for (int i = 0; i < CACHE_SLOTS; i++) {
        gpumem_cached_registration *s = &cache.slots[i];
        if (!ends_for_the_application(s, device, begin, end))
            continue;
        if ((s->state == SLOT_LIVE || s->state == SLOT_STALE) && !s->users) {
            s->state = SLOT_EVICTING;
            s->evictor = &token;
            marked++;
        } else if (s->state != SLOT_UNREGISTERING && s->state != SLOT_EVICTING) {
            busy = 1;
        }
    }
    pthread_mutex_unlock(&cache.lock);
    if (marked)
        gpumem_device_wait_streams(device);
    pthread_mutex_lock(&cache.lock);
    for (int i = 0; i < CACHE_SLOTS; i++) {
        gpumem_cached_registration *s = &cache.slots[i];
        if (s->state == SLOT_EVICTING && s->evictor == &token) {
            doom(s, mine, &count);
            cache.stats.evicted++;
        }
    }
    pthread_mutex_unlock(&cache.lock);
    end_registrations(mine, count);
    return !busy;
}

void gpumem_registration_cache_drop(gpumem_device_obj *device)
{
    if (!gpumem_registration_cache_enabled())
        return;
    gpumem_cached_registration *mine[CACHE_SLOTS];
    int count = 0;
    pthread_mutex_lock(&cache.lock);
    for (int i = 0; i < CACHE_SLOTS; i++) {
        gpumem_cached_registration *s = &cache.slots[i];
        /* No call uses the device: none of its slots is in use or being registered. */
        if (s->device == device && (s->state == SLOT_LIVE || s->state == SLOT_STALE))
            doom(s, mine, &count);
    }
    pthread_mutex_unlock(&cache.lock);
    end_registrations(mine, count);
    /* A listener on another thread may be ending one of the device's registrations: the device
     * must outlive that call into its runtime. */
    pthread_mutex_lock(&cache.lock);
    for (int i = 0; i < CACHE_SLOTS; i++)
        while (cache.slots[i].device == device && cache.slots[i].state == SLOT_UNREGISTERING)
            pthread_cond_wait(&cache.ended, &cache.lock);
    pthread_mutex_unlock(&cache.lock);
}

void gpumem_registration_cache_stats_get(gpumem_registration_cache_stats *stats)
{
    pthread_mutex_lock(&cache.lock);
    *stats = cache.stats;
    stats->registered_bytes = cache.bytes;
    stats->registrations = 0;
    for (int i = 0; i < CACHE_SLOTS; i++)
        stats->registrations += cache.slots[i].state != SLOT_FREE;
    pthread_mutex_unlock(&cache.lock);
}
