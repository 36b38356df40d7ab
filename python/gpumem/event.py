"""Events: a point in a stream's work, for the host or another stream to wait for."""
import ctypes
from collections import namedtuple

from . import errors
from ._args import unsigned
from ._library import lib, NativeEvent, handle
from ._object import Object, handle_of

Native = namedtuple("Native", "handle value")


class Event(Object):
    """An event of a device: Device.event(). record(stream) marks the point; synchronize()
    waits for it on the host; Stream.wait_event(event) makes a stream wait for it. Objects a
    stream's transfers use stay referenced until the stream's own synchronize()."""

    _kind = "event"
    _destroy_function = "gpumem_event_destroy"

    def __init__(self, device, _wrap=None):
        created = handle()
        if _wrap is None:
            errors.check(lib.gpumem_event_create(device._live_handle(), ctypes.byref(created)))
        else:
            errors.check(lib.gpumem_event_wrap(device._live_handle(), _wrap[0], _wrap[1],
                                               ctypes.byref(created)))
            self._keep = _wrap[2]
        super().__init__(created.value, device)
        self.device = device

    @classmethod
    def wrap(cls, device, handle, value=0, keep=None):
        """The application's own synchronization object as an Event (gpumem_event_wrap): a
        CUevent or hipEvent_t as an int (e.g. a torch.cuda.Event's `cuda_event`, value 0), or
        a Vulkan timeline semaphore and the value that completes the event. It stays the
        application's; `keep` is held as long as the Event (the object's owner).
        GpumemError UNSUPPORTED on host."""
        return cls(device, _wrap=(unsigned("handle", handle), unsigned("value", value), keep))

    def record(self, stream):
        """The event completes once every operation queued on `stream` so far has."""
        from .stream import Stream
        errors.check(lib.gpumem_event_record(self._live_handle(),
                                             handle_of(stream, Stream, "stream")))

    def synchronize(self):
        """Waits on the host until the event completed (at once if never recorded). Reads
        queued before it on its stream are then in their buffers."""
        errors.check(lib.gpumem_event_synchronize(self._live_handle()))

    @property
    def native(self):
        """(handle, value): a CUevent or hipEvent_t, or Vulkan's timeline semaphore and the
        value that completes the event; (0, 0) on host."""
        raw = NativeEvent()
        errors.check(lib.gpumem_event_native(self._live_handle(), ctypes.byref(raw)))
        return Native(raw.handle, raw.value)

    def __repr__(self):
        return "<gpumem.Event%s>" % ("" if self.alive else " (destroyed)")
