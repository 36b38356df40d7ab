"""Events: a point in a stream's work, for the host or another stream to wait for."""
import ctypes
from collections import namedtuple

from . import errors
from ._library import lib, NativeEvent, handle
from ._object import Object

Native = namedtuple("Native", "handle value")


class Event(Object):
    """An event of a device: Device.event(). record(stream) marks the point; synchronize()
    waits for it on the host; Stream.wait_event(event) makes a stream wait for it. Objects a
    stream's transfers use stay referenced until the stream's own synchronize()."""

    _kind = "event"
    _destroy_function = "gpumem_event_destroy"

    def __init__(self, device):
        created = handle()
        errors.check(lib.gpumem_event_create(device._live_handle(), ctypes.byref(created)))
        super().__init__(created.value, device)
        self.device = device

    def record(self, stream):
        """The event completes once every operation queued on `stream` so far has."""
        errors.check(lib.gpumem_event_record(self._live_handle(), stream._live_handle()))

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
