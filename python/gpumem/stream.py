"""Streams: ordered, asynchronous transfers."""
import ctypes
import weakref

from . import errors
from ._args import rest, unsigned
from ._bytes import readable, writable
from ._library import lib, handle, u64
from ._object import Object, _state, handle_of


def _buffer(value, name="buffer"):
    from .buffer import Buffer
    return handle_of(value, Buffer, name)


class Stream(Object):
    """A stream of a device: Device.stream(). Its transfers run in order and are done once
    synchronize() returns. Objects a queued transfer reads into or from are kept alive until
    then, and a buffer's destroy() first synchronizes the streams whose queued transfers use it
    (C's destroy does not wait for queued work, and another buffer could take the range under
    it); a destroy on a stream (destroy(stream=...)) waits only for the others."""

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
        # A hold of each transfer queued and not yet waited for: a token, and [what the
        # transfer uses (its buffers, whose _held_by names the token too), host memory it
        # uses, whether its C call has returned (only then may a synchronize let it go)].
        self._holds = {}

    def _hold(self, token, buffers, keep=()):
        """Counts a transfer about to be queued, before its C call: checks, in one step with
        the count, that the stream and the buffers are alive (a destroy on another thread then
        sees the hold, or the transfer sees the destroy)."""
        from .buffer import Buffer
        with _state:
            self._live_handle()
            for buffer in buffers:
                handle_of(buffer, Buffer, "buffer")
            # The stream's hold first: a signal's exception may come out between any two
            # statements, and a buffer's _held_by may name only a hold that _queue's finally
            # and a synchronize can find and let go (else the buffer's destroy waits forever).
            self._holds[token] = [buffers, keep, False]
            for buffer in buffers:
                buffer._held_by[token] = (weakref.ref(self), self._handle)

    def _let_go(self, tokens):
        """The transfers of these holds are done (or were never queued)."""
        with _state:
            for token in tokens:
                held = self._holds.pop(token, None)
                if held is not None:
                    for buffer in held[0]:
                        buffer._held_by.pop(token, None)

    def _queue(self, buffers, call, keep=()):
        """Queues a transfer: `call` (its C call's result) under a hold on what it uses."""
        token, result = object(), None
        try:
            self._hold(token, buffers, keep)
            result = call()
        finally:
            # Queued, or perhaps queued where an exception (a signal's: Ctrl-C) came out at any
            # point: a synchronize from now on waits for it and lets it go. Without the lock
            # and without a call (where the interpreter runs a pending signal's handler, as it
            # would at the first call after the C call returned): a test and a store.
            if token in self._holds:
                self._holds[token][2] = True
        if result != errors.OK:
            error = errors.error_of(result)
            self._let_go((token,))
            raise error

    def _let_go_all(self):
        with _state:
            tokens = list(self._holds)
        self._let_go(tokens)

    def _release(self):
        result = super()._release()  # waits for the stream's work
        if result in (errors.OK, errors.DESTROYED):  # DESTROYED: its device closed, waiting too
            self._let_go_all()
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
        with _state:  # what was queued before the wait is done after it
            tokens = [token for token, held in self._holds.items() if held[2]]
        errors.check(lib.gpumem_stream_synchronize(self._live_handle()))
        self._let_go(tokens)

    def wait_event(self, event):
        """Work queued on this stream from now on starts once `event` completed (on the device
        on CUDA and HIP; elsewhere this call waits on the host)."""
        from .event import Event
        errors.check(lib.gpumem_stream_wait_event(self._live_handle(),
                                                  handle_of(event, Event, "event")))

    def write(self, buffer, data, offset=0):
        """Queues a write of `data` at `offset` (data is read before this returns)."""
        address, size, keep = readable(data)
        offset = unsigned("offset", offset)
        self._queue((buffer,), lambda: lib.gpumem_stream_write(
            self._handle, buffer._handle, offset, address, size))
        del keep

    def read_into(self, buffer, out, offset=0):
        """Queues a read into `out`, which holds the bytes once synchronize() returns."""
        address, size, keep = writable(out)
        offset = unsigned("offset", offset)
        self._queue((buffer,), lambda: lib.gpumem_stream_read(
            self._handle, buffer._handle, offset, address, size), keep=(keep, out))

    def copy(self, source, destination, size, source_offset=0, destination_offset=0):
        _buffer(source, "source"), _buffer(destination, "destination")  # their kinds first
        source_offset = unsigned("source_offset", source_offset)
        destination_offset = unsigned("destination_offset", destination_offset)
        size = unsigned("size", size)
        self._queue((source, destination), lambda: lib.gpumem_stream_copy(
            self._handle, source._handle, source_offset, destination._handle,
            destination_offset, size))

    def fill(self, buffer, pattern, offset=0, size=None):
        _buffer(buffer)
        size = unsigned("size", rest(size, buffer.size, offset))
        offset, pattern = unsigned("offset", offset), unsigned("pattern", pattern, 32)
        self._queue((buffer,), lambda: lib.gpumem_stream_fill(
            self._handle, buffer._handle, offset, size, pattern))

    def __repr__(self):
        return "<gpumem.Stream%s>" % ("" if self.alive else " (destroyed)")
