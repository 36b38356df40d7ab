/* Transfers' shared steps, for the transfers of other objects than buffers (images). */
#ifndef GPUMEM_CORE_TRANSFER_H
#define GPUMEM_CORE_TRANSFER_H

#include "buffer.h"
#include "stream.h"

/* The record (a buffer's or an image's) is of the stream's device; else the error. */
gpumem_result gpumem_transfer_same_device(const gpumem_stream_obj *stream,
                                          const gpumem_buffer_obj *record);
/* Host data is not NULL; else the error. */
gpumem_result gpumem_transfer_check_host(const void *data);

/* Takes the stream for one transfer's steps, which keep their order among the stream's work,
 * and notes it as the one this thread holds (*outer: the one it held before, for the leave);
 * GPUMEM_ERROR_BAD_STATE, taking nothing, when this thread holds it already (a call from a log
 * callback inside a transfer on it). */
gpumem_result gpumem_transfer_enter(gpumem_stream_obj *stream, gpumem_stream_obj **outer);
/* Lets the stream go, after waiting for its work when `wait` (the synchronous forms) and `r`
 * is GPUMEM_OK; returns `r`, or the wait's failure. */
gpumem_result gpumem_transfer_leave(gpumem_stream_obj *stream, gpumem_stream_obj *outer,
                                    gpumem_result r, int wait);

/* Between the host and bytes [offset, offset + size) of a record (offset from the record's
 * first byte, range checked by the caller), by the path the staging policy picks, or by the CPU
 * with `by_cpu` (gpumem_registration_cache_queue_begin's answer); the stream taken. `wait`: the
 * caller waits for the stream when its pieces are queued (a synchronous call), which the policy
 * weighs. */
gpumem_result gpumem_transfer_host_locked(gpumem_stream_obj *stream, gpumem_buffer_obj *record,
                                          uint64_t offset, void *data, uint64_t size, int read,
                                          int by_cpu, int wait);
/* Between two records' ranges (checked by the caller); the stream taken. */
gpumem_result gpumem_transfer_copy_locked(gpumem_stream_obj *stream, gpumem_buffer_obj *source,
                                          uint64_t source_offset,
                                          gpumem_buffer_obj *destination,
                                          uint64_t destination_offset, uint64_t size);

#endif
