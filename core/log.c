#include "log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"
#include "error.h"
#include "gpumem/backend.h"
#include "pending.h"
#include "thread.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static gpumem_log_fn log_fn;
static void *log_user;

/* GPUMEM_LOG, read at each message so a program may change it; env.c warns once about a bad
 * value (through this log: it reads the level again from inside without warning twice). */
static int32_t stderr_threshold(void)
{
    return gpumem_env_log_level();
}

/* GPUMEM_LOG as gpumem_log_wants knows it: read at each device open (gpumem_log_refresh), not
 * at every ask, which hot paths make; every host transfer needs an open device. */
#define NOT_READ (GPUMEM_LOG_DEBUG - 1)
_Atomic int32_t gpumem_log_lowest = NOT_READ;

void gpumem_log_refresh(void)
{
    /* GPUMEM_LOG is read with the lock let go: a bad value is warned about through this log. */
    int32_t threshold = stderr_threshold();
    pthread_mutex_lock(&log_lock);
    atomic_store_explicit(&gpumem_log_lowest, log_fn ? GPUMEM_LOG_DEBUG : threshold,
                          memory_order_relaxed);
    pthread_mutex_unlock(&log_lock);
}

gpumem_result gpumem_log_set_callback(gpumem_log_fn fn, void *user)
{
    gpumem_error_clear();
    pthread_mutex_lock(&log_lock);
    log_fn = fn;
    log_user = user;
    pthread_mutex_unlock(&log_lock);
    gpumem_log_refresh();
    return GPUMEM_OK;
}

/* Where messages go: the callback and its argument, read together under the lock. */
typedef struct {
    gpumem_log_fn fn;
    void *user;
} log_target;

static log_target target_now(void)
{
    pthread_mutex_lock(&log_lock);
    log_target to = {log_fn, log_user};
    pthread_mutex_unlock(&log_lock);
    return to;
}

/* The longest message, as sent or kept: longer ones are cut. */
#define LOG_MESSAGE_SIZE 2048

/* Sends a message to `to`: its callback, or stderr (GPUMEM_LOG's level and above). */
static void deliver(log_target to, int32_t level, const char *message)
{
    if (to.fn) {
        to.fn(to.user, level, message);
        return;
    }
    static const char *const names[] = {"debug", "info", "warning", "error"};
    if (level > GPUMEM_LOG_ERROR) /* an unknown level is taken as the most severe */
        level = GPUMEM_LOG_ERROR;
    if (level >= stderr_threshold() && level >= 0)
        fprintf(stderr, "gpumem %s: %s\n", names[level], message);
}

void gpumem_call_log(const char *function, int32_t result, const char *format, ...)
{
    if (atomic_load_explicit(&gpumem_log_lowest, memory_order_relaxed) == NOT_READ) {
        gpumem_log_refresh();
        if (!gpumem_log_wants(GPUMEM_LOG_DEBUG))
            return;
    }
    char text[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(text, sizeof text, format, args);
    va_end(args);
    char *outputs = strchr(text, GPUMEM_LOG_OUTPUTS[0]);
    if (outputs)
        *outputs++ = 0;
    /* The callback may make gpumem calls, which set and clear the thread's last error: the
     * call's own is put back afterwards. */
    gpumem_error_saved saved;
    gpumem_error_save(&gpumem_this_thread, &saved);
    gpumem_this_thread.logging_call = 1;
    if (result != GPUMEM_OK)
        gpumem_log(GPUMEM_LOG_DEBUG, "%s(%s) -> %s: %s", function, text,
                   gpumem_result_string(result), gpumem_last_error());
    else
        gpumem_log(GPUMEM_LOG_DEBUG, "%s(%s) -> GPUMEM_OK%s%s", function, text,
                   outputs && *outputs ? ": " : "", outputs ? outputs : "");
    gpumem_this_thread.logging_call = 0;
    gpumem_error_restore(&gpumem_this_thread, &saved);
}

/* An entry of the thread's kept messages: the level, then the NUL-terminated text. */
#define KEPT_HEADER sizeof(int32_t)

/* Keeps a message for the end of the thread's outermost call (gpumem_log_flush_deferred). */
static void keep_for_call_end(gpumem_thread *t, int32_t level, const char *message)
{
    uint32_t length = (uint32_t)strlen(message) + 1, entry = (uint32_t)KEPT_HEADER + length;
    if (t->deferred_log_used + entry > t->deferred_log_capacity) {
        uint32_t capacity = t->deferred_log_capacity ? 2 * t->deferred_log_capacity : 4096;
        while (capacity < t->deferred_log_used + entry)
            capacity *= 2;
        char *grown = realloc(t->deferred_log, capacity);
        if (!grown) {
            t->deferred_log_dropped++;
            gpumem_pending_set(t, GPUMEM_PENDING_LOG);
            return;
        }
        t->deferred_log = grown;
        t->deferred_log_capacity = capacity;
    }
    char *at = t->deferred_log + t->deferred_log_used;
    memcpy(at, &level, KEPT_HEADER);
    memcpy(at + KEPT_HEADER, message, length);
    t->deferred_log_used += entry;
    gpumem_pending_set(t, GPUMEM_PENDING_LOG);
}

/* A message: with a callback set, any inside a log hold, and one that `may_wait` (sent under a
 * lock: gpumem_log_after_call, a backend's) inside a public call, is kept for the call's or the
 * hold's end (log.h); any other is sent at once. The callback is read once, after the
 * formatting, so that one set meanwhile on another thread is not called here under a lock. */
static void log_routed(int may_wait, int32_t level, const char *format, va_list args)
{
    char message[LOG_MESSAGE_SIZE];
    vsnprintf(message, sizeof message, format, args);
    log_target to = target_now();
    gpumem_thread *t = &gpumem_this_thread;
    if (to.fn && (t->log_holds != 0 || (may_wait && t->depth != 0)))
        keep_for_call_end(t, level, message);
    else
        deliver(to, level, message);
}

static void log_send(int32_t level, const char *format, ...)
{
    char message[LOG_MESSAGE_SIZE];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    deliver(target_now(), level, message);
}

void gpumem_log_discard_kept(gpumem_thread *t)
{
    free(t->deferred_log);
    t->deferred_log = NULL;
    t->deferred_log_used = t->deferred_log_capacity = t->deferred_log_dropped = 0;
    gpumem_pending_clear(t, GPUMEM_PENDING_LOG);
}

/* Rounds of messages that calls made from the callback keep, sent in turn before the
 * outermost call returns; a callback whose every call logs again is cut off after these. */
#define FLUSH_ROUNDS 8

void gpumem_log_flush_deferred(gpumem_thread *t)
{
    /* The callback may make gpumem calls, which set and clear the last error: the call's own
     * is put back afterwards. Messages those calls keep go in the next round. */
    gpumem_error_saved saved;
    gpumem_error_save(t, &saved);
    uint32_t cut = 0, dropped = 0;
    for (int round = 0; t->error_pending & GPUMEM_PENDING_LOG; round++) {
        char *log = t->deferred_log; /* taken: the callback's calls keep messages of their own */
        uint32_t used = t->deferred_log_used;
        dropped += t->deferred_log_dropped;
        t->deferred_log = NULL;
        t->deferred_log_used = t->deferred_log_capacity = t->deferred_log_dropped = 0;
        gpumem_pending_clear(t, GPUMEM_PENDING_LOG);
        for (uint32_t at = 0; at < used;) {
            int32_t level;
            memcpy(&level, log + at, KEPT_HEADER);
            const char *text = log + at + KEPT_HEADER;
            if (round < FLUSH_ROUNDS) /* past them, no callback runs: nothing more is kept */
                deliver(target_now(), level, text);
            else
                cut++;
            at += (uint32_t)(KEPT_HEADER + strlen(text) + 1);
        }
        free(log);
    }
    if (dropped)
        log_send(GPUMEM_LOG_WARNING, "%u log messages of one call were dropped: no memory to "
                 "keep them until its end", dropped);
    if (cut)
        log_send(GPUMEM_LOG_WARNING, "%u log messages were dropped: the log callback's calls "
                 "logged again through %d rounds", cut, FLUSH_ROUNDS);
    /* What the callback's calls kept during these warnings goes unsent: none is left for a
     * later call, nor leaks. */
    gpumem_log_discard_kept(t);
    gpumem_error_restore(t, &saved);
}

void gpumem_log_hold(gpumem_thread *t)
{
    t->log_holds++;
}

void gpumem_log_release(gpumem_thread *t)
{
    if (--t->log_holds == 0 && t->depth == 0 && (t->error_pending & GPUMEM_PENDING_LOG))
        gpumem_log_flush_deferred(t);
}

void gpumem_log(int32_t level, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    log_routed(0, level, format, args);
    va_end(args);
}

void gpumem_log_after_call(int32_t level, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    log_routed(1, level, format, args);
    va_end(args);
}

void gpumem_backend_log(int32_t level, const char *format, ...)
{
    if (!format)
        return;
    va_list args;
    va_start(args, format);
    log_routed(1, level, format, args);
    va_end(args);
}
