"""Backends and devices."""
import ctypes
import json
import weakref
from collections import namedtuple

from . import errors
from ._args import unsigned
from ._library import lib, BackendInfo, DeviceDesc, DeviceProperties, handle, u32, u64
from ._object import Object

DEVICE_LOCAL = 1 << 0
HOST_VISIBLE = 1 << 1
HOST_COHERENT = 1 << 2
HOST_CACHED = 1 << 3

Backend = namedtuple("Backend", "name available device_count is_module priority reason "
                                "module_path refused")
MemoryType = namedtuple("MemoryType", "flags heap_index")
MemoryHeap = namedtuple("MemoryHeap", "size budget usage flags")
Properties = namedtuple("Properties", "name backend vendor_id device_id device_index "
                                      "is_external memory_types memory_heaps min_alignment "
                                      "non_coherent_atom_size max_allocation_size "
                                      "max_allocation_count native_pools device_type uuid "
                                      "driver_version api_version pci_address")
DEVICE_TYPES = ("other", "cpu", "integrated_gpu", "discrete_gpu", "virtual_gpu", "gpu")


def backends():
    """Every registered backend (built in, modules, refused modules), as Backend tuples."""
    count = u32()
    errors.check(lib.gpumem_backend_count(ctypes.byref(count)))
    found = []
    for index in range(count.value):
        info = BackendInfo()
        errors.check(lib.gpumem_backend_info_get(index, ctypes.byref(info)))
        found.append(Backend(info.name.decode(), bool(info.available), info.device_count,
                             bool(info.is_module), info.priority, info.reason.decode(),
                             info.module_path.decode(), bool(info.refused)))
    return found


class Device(Object):
    """An opened device, the owner of its pools and streams: Device() opens the default
    backend's device (GPUMEM_BACKEND, GPUMEM_DEVICE), Device("vulkan", index=1) a named one.
    close() (or the end of a `with` block) releases everything it owns."""

    _kind = "device"
    _destroy_function = "gpumem_device_close"

    def __init__(self, backend=None, index=None):
        desc = DeviceDesc()
        if backend is not None:
            if not isinstance(backend, str):
                raise TypeError("backend must be a str or None")
            desc.backend = backend.encode()
        if index is not None:
            desc.flags = 1  # GPUMEM_DEVICE_OPEN_INDEX
            desc.device_index = unsigned("index", index, 32)
        opened = handle()
        errors.check(lib.gpumem_device_open(ctypes.byref(desc), ctypes.byref(opened)))
        super().__init__(opened.value, None)
        self._default_stream = None
        self._buffers = weakref.WeakValueDictionary()  # by handle, for find()

    def close(self):
        """Closes the device: its pools, buffers and streams are destroyed with it."""
        self.destroy()

    def destroy(self):
        super().destroy()
        # The default stream is never destroyed on its own: what its queued transfers kept
        # alive (buffers, host memory) is let go with the device, whose close waits for them.
        if self._default_stream is not None and self._released:
            self._default_stream._let_go_all()

    @property
    def properties(self):
        raw = DeviceProperties()
        errors.check(lib.gpumem_device_properties_get(self._live_handle(), ctypes.byref(raw)))
        return Properties(
            raw.name.decode("utf-8", "replace"), raw.backend.decode(), raw.vendor_id,
            raw.device_id, raw.device_index, bool(raw.is_external),
            [MemoryType(t.flags, t.heap_index) for t in raw.memory_types[:raw.memory_type_count]],
            [MemoryHeap(h.size, h.budget, h.usage, h.flags)
             for h in raw.memory_heaps[:raw.memory_heap_count]],
            raw.min_alignment, raw.non_coherent_atom_size, raw.max_allocation_size,
            raw.max_allocation_count, bool(raw.native_pools),
            DEVICE_TYPES[raw.device_type] if raw.device_type < len(DEVICE_TYPES) else "other",
            bytes(raw.uuid).hex() if raw.has_uuid else None,
            raw.driver_version.decode("utf-8", "replace"),
            raw.api_version.decode("utf-8", "replace"), raw.pci_address.decode())

    @property
    def backend(self):
        return self.properties.backend

    def _text(self, function):
        """The text a dump-style C function writes (gpumem_device_dump_json, _summary)."""
        device = self._live_handle()
        length = u64()
        errors.check(function(device, None, 0, ctypes.byref(length)))
        while True:
            text = ctypes.create_string_buffer(length.value + 1)
            result = function(device, text, len(text), ctypes.byref(length))
            if result != errors.INSUFFICIENT_BUFFER:  # pools may grow between the calls
                errors.check(result)
                return text.value.decode("utf-8", "replace")

    def dump(self):
        """The device, its pools, pages and allocations, as gpumem_device_dump_json gives
        them (docs/json.md), parsed."""
        return json.loads(self._text(lib.gpumem_device_dump_json))

    def summary(self):
        """A text summary of the device's memory for people (gpumem_device_summary)."""
        return self._text(lib.gpumem_device_summary)

    def find(self, address):
        """(buffer, offset): the live buffer made from Python that holds `address` (a host
        pointer, a CUDA or HIP device pointer), and the address's offset in it.
        GpumemError NOT_FOUND when none does; UNSUPPORTED where memory has no addresses
        (Vulkan)."""
        found, offset = handle(), u64()
        errors.check(lib.gpumem_buffer_find(self._live_handle(), unsigned("address", address),
                                            ctypes.byref(found), ctypes.byref(offset)))
        buffer = self._buffers.get(found.value)
        if buffer is None or not buffer.alive:
            raise errors.GpumemError(errors.NOT_FOUND, "the buffer at 0x%x was not made from "
                                     "Python" % address)
        return buffer, offset.value

    def pool(self, **options):
        """A new pool of this device: Pool(device, **options)."""
        from .pool import Pool
        return Pool(self, **options)

    def register(self, data):
        """Registers host memory (a writable numpy array, bytearray...) with this device, so
        that transfers from and to it go by DMA, unstaged (gpumem_host_register): a
        HostRegistration, ended by its destroy() or a `with` block. GpumemError UNSUPPORTED
        on Vulkan."""
        from .registration import HostRegistration
        return HostRegistration(self, data)

    def stream(self):
        """A new stream of this device."""
        from .stream import Stream
        return Stream(self)

    def event(self):
        """A new event of this device."""
        from .event import Event
        return Event(self)

    @property
    def default_stream(self):
        """The device's own stream (it lives as long as the device)."""
        from .stream import Stream
        if self._default_stream is None:
            found = handle()
            errors.check(lib.gpumem_device_default_stream(self._live_handle(),
                                                          ctypes.byref(found)))
            self._default_stream = Stream._default(self, found.value)
        return self._default_stream

    def __repr__(self):
        state = "" if self.alive else " (closed)"
        return "<gpumem.Device%s>" % state

