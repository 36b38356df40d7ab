"""Host memory registered with a device (gpumem_host_register): a numpy array, a bytearray,
anything writable with the buffer protocol, pinned so that transfers from and to it go by DMA
instead of through gpumem's staging (or the runtime's own, slower copy of pageable memory)."""
import ctypes

from . import errors
from ._bytes import writable
from ._library import lib, handle
from ._object import Object


class HostRegistration(Object):
    """`data` registered with `device` until destroy() (or the device's close). It keeps `data`
    alive; the memory must not be resized meanwhile (a numpy array's buffer is fixed)."""

    _kind = "host registration"
    _destroy_function = "gpumem_host_unregister"

    def __init__(self, device, data):
        address, size, keep = writable(data)
        if size == 0:
            raise ValueError("cannot register an empty buffer")
        created = handle()
        errors.check(lib.gpumem_host_register(device._live_handle(), ctypes.c_void_p(address),
                                              size, 0, ctypes.byref(created)))
        super().__init__(created.value, device)
        self.device = device
        self.data = keep
        self.address = address
        self.size = size

    def __repr__(self):
        return "<gpumem.HostRegistration of %d bytes%s>" % (
            self.size, "" if self.alive else " (ended)")
