"""Streams: ordered, asynchronous transfers."""
import ctypes

from . import errors
from ._args import rest, unsigned
from ._bytes import readable, writable
from ._library import lib, handle, u64
from ._object import Object, handle_of, _state


def _buffer(value, name="buffer"):
    from .buffer import Buffer
    return handle_of(value, Buffer, name)


class Stream(Object):
    """A stream of a device: Device.stream(). Its transfers run in order and are done once
    synchronize() returns. Objects a queued transfer reads into or from are kept alive until
    then, and a buffer it uses that is destroyed meanwhile is released in C only then (or when
    the stream is destroyed, which waits for its work): C's destroy does not wait for queued
    work, and another buffer could take the range under it."""

    _kind = "stream"
    _destroy_function = "gpumem_stream_destroy"

    def __init__(self, device, _handle=None, _is_default=False):
        if _handle is None:
            created = handle()
            errors.check(lib.gpumem_stream_create(device._live_handle(),
                                                  ctypes.byref(created)))
            _handle = created.value
        super().__init__(_handle, device)
        self.device = device
        self._is_default = _is_default
        self._pending = []
        self._queued_buffers = []  # buffers whose release waits for this stream's work

    def _queue(self, *buffers):
        """Holds back the C release of buffers that queued work uses, until it is done."""
        with _state:
            for buffer in buffers:
                buffer._queued += 1
                self._queued_buffers.append(buffer)

    def _settle(self):
        """The queued work is done: buffers destroyed meanwhile are released now."""
        with _state:
            buffers, self._queued_buffers = self._queued_buffers, []
            failure = None
            for buffer in buffers:
                buffer._queued -= 1
                try:
                    buffer._finish()
                except Exception as error:
                    failure = failure or error
            if failure is not None:
                raise failure

    def _release(self):
        result = super()._release()  # waits for the stream's work
        if result in (errors.OK, errors.DESTROYED):  # DESTROYED: its device closed, waiting too
            self._settle()
        return result

    @classmethod
    def wrap(cls, device, native):
        """The application's own stream (a CUstream or hipStream_t as an int, e.g. PyTorch's
        `torch.cuda.current_stream().cuda_stream`; 0: the default stream) as a gpumem Stream
        that gpumem never destroys. GpumemError UNSUPPORTED on host and Vulkan."""
        wrapped = handle()
        errors.check(lib.gpumem_stream_wrap(device._live_handle(), unsigned("native", native),
                                            ctypes.byref(wrapped)))
        return cls(device, _handle=wrapped.value)

    @classmethod
    def _default(cls, device, found):
        return cls(device, _handle=found, _is_default=True)

    def destroy(self):
        """Destroys the stream; nothing for the device's default stream, which goes with its
        device."""
        if not self._is_default:
            super().destroy()

    @property
    def native(self):
        """The runtime's stream (VkQueue, CUstream, hipStream_t) as an int; 0 on host."""
        found = u64()
        errors.check(lib.gpumem_stream_native(self._live_handle(), ctypes.byref(found)))
        return found.value

    def synchronize(self):
        errors.check(lib.gpumem_stream_synchronize(self._live_handle()))
        self._pending.clear()
        self._settle()

    def wait_event(self, event):
        """Work queued on this stream from now on starts once `event` completed (on the device
        on CUDA and HIP; elsewhere this call waits on the host)."""
        from .event import Event
        errors.check(lib.gpumem_stream_wait_event(self._live_handle(),
                                                  handle_of(event, Event, "event")))

    def write(self, buffer, data, offset=0):
        """Queues a write of `data` at `offset` (data is read before this returns)."""
        address, size, keep = readable(data)
        errors.check(lib.gpumem_stream_write(self._live_handle(), _buffer(buffer),
                                             unsigned("offset", offset), address, size))
        self._pending.append(buffer)
        self._queue(buffer)

    def read_into(self, buffer, out, offset=0):
        """Queues a read into `out`, which holds the bytes once synchronize() returns."""
        address, size, keep = writable(out)
        errors.check(lib.gpumem_stream_read(self._live_handle(), _buffer(buffer),
                                            unsigned("offset", offset), address, size))
        self._pending.append((buffer, keep, out))
        self._queue(buffer)

    def copy(self, source, destination, size, source_offset=0, destination_offset=0):
        errors.check(lib.gpumem_stream_copy(
            self._live_handle(), _buffer(source, "source"),
            unsigned("source_offset", source_offset), _buffer(destination, "destination"),
            unsigned("destination_offset", destination_offset),
            unsigned("size", size)))
        self._pending.append((source, destination))
        self._queue(source, destination)

    def fill(self, buffer, pattern, offset=0, size=None):
        handle_ = _buffer(buffer)
        size = rest(size, buffer.size, offset)
        errors.check(lib.gpumem_stream_fill(self._live_handle(), handle_,
                                            unsigned("offset", offset), unsigned("size", size),
                                            unsigned("pattern", pattern, 32)))
        self._pending.append(buffer)
        self._queue(buffer)

    def __repr__(self):
        return "<gpumem.Stream%s>" % ("" if self.alive else " (destroyed)")
