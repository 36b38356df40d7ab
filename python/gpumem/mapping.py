"""Views of a buffer's memory from outside gpumem (a mapping's arrays, a DLPack tensor): while
one lives, the buffer, its pool and its device keep their memory (see _object.py)."""
import ctypes

from . import errors
from ._args import rest, unsigned
from ._library import lib


class View:
    """Holds a buffer's memory while it lives; its collection (or, for a DLPack capsule, the
    consumer's deleter) lets it go. Nothing public lets it go sooner: arrays over the memory
    reference the view, so the memory stays while any of them lives."""

    def __init__(self, buffer):
        self._held = False
        buffer._add_view()  # checks that the buffer is alive in the same step
        self._buffer = buffer
        self._held = True

    def _let_go(self):
        if self._held:
            self._held = False
            try:
                self._released()
            finally:
                self._buffer._drop_view()

    def _released(self):
        pass

    def __del__(self):
        try:
            self._let_go()
        except Exception:
            pass


class Mapping(View):
    """A buffer mapped for the host (gpumem_buffer_map). numpy.asarray(mapping), or
    mapping.array(dtype), is an array over the buffer's bytes without a copy; memoryview()
    a memoryview. The buffer stays mapped while the Mapping or any array over it lives, also
    after close() and after the buffer, its pool or its device is destroyed for Python: the
    memory is unmapped and released once the last of them is gone."""

    def __init__(self, buffer):
        self._closed = False
        # Held first, so that no destroy on another thread releases the buffer under the map.
        super().__init__(buffer)
        pointer = ctypes.c_void_p()
        result = lib.gpumem_buffer_map(buffer._handle, ctypes.byref(pointer))
        if result != errors.OK:
            error = errors.error_of(result)  # before the view's end may call gpumem
            self._held = False
            buffer._drop_view()
            raise error
        self.address = pointer.value
        self.size = buffer.size

    def _released(self):
        result = lib.gpumem_buffer_unmap(self._buffer._handle)
        if result != errors.DESTROYED:
            errors.check(result)

    @property
    def __array_interface__(self):
        self._open()
        return {"shape": (self.size,), "typestr": "|u1", "data": (self.address, False),
                "version": 3}

    def array(self, dtype=None):
        """A numpy array over the mapped bytes (uint8, or viewed as `dtype`)."""
        import numpy
        array = numpy.asarray(self)
        return array if dtype is None else array.view(dtype)

    def memoryview(self):
        """A writable memoryview of the mapped bytes; it keeps the mapping alive."""
        self._open()
        view_type = type("MappedBytes", (ctypes.c_ubyte * self.size,), {})
        raw = view_type.from_address(self.address)
        raw.mapping = self  # the memoryview keeps raw, raw keeps the mapping
        return memoryview(raw).cast("B")

    def flush(self, offset=0, size=None):
        """Makes host writes visible to the device (memory without HOST_COHERENT)."""
        self._range_call(lib.gpumem_buffer_flush, offset, size)

    def invalidate(self, offset=0, size=None):
        """Makes device writes visible to the host (memory without HOST_COHERENT)."""
        self._range_call(lib.gpumem_buffer_invalidate, offset, size)

    def _range_call(self, function, offset, size):
        self._open()
        size = rest(size, self.size, offset)
        errors.check(function(self._buffer._live_handle(), unsigned("offset", offset),
                              unsigned("size", size)))

    def _open(self):
        if self._closed or not self._held:
            raise errors.GpumemError(errors.BAD_STATE, "this mapping was closed")

    def close(self):
        """No new arrays from this Mapping; the memory is unmapped once those made are gone."""
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        self.close()
