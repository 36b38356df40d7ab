"""Buffers: ranges of a pool, written and read from Python objects, mapped as arrays,
exported with DLPack and __cuda_array_interface__."""
import ctypes
import time
from collections import namedtuple

from . import errors
from ._args import rest, unsigned, name_bytes
from ._bytes import readable, writable
from ._library import lib, BufferDesc, BufferInfo, ImportDesc, NAME_SIZE, NativeBuffer, handle
from ._object import Object, _state, handle_of
from .device import HOST_VISIBLE
from .mapping import Mapping

Info = namedtuple("Info", "size offset left_padding allocation_size page_size page "
                          "memory_type dedicated mapped")
Native = namedtuple("Native", "memory offset buffer address")


def allocation_info(get, live_handle):
    """Info of a buffer or an image: `get` is gpumem_buffer_info_get or gpumem_image_info_get."""
    raw = BufferInfo()
    errors.check(get(live_handle, ctypes.byref(raw)))
    return Info(raw.size, raw.offset, raw.left_padding, raw.allocation_size,
                raw.page_size, raw.page, raw.memory_type, bool(raw.dedicated), raw.mapped)


# usage (gpumem_buffer_desc.usage)
USAGE_STORAGE = 1 << 0
USAGE_UNIFORM = 1 << 1
USAGE_VERTEX = 1 << 2
USAGE_INDEX = 1 << 3
USAGE_INDIRECT = 1 << 4
USAGE_TRANSFER = 1 << 5
USAGE_DEVICE_ADDRESS = 1 << 6


def _stream_handle(stream):
    """The live handle of a Stream (TypeError for anything else)."""
    from .stream import Stream
    return handle_of(stream, Stream, "stream")


class Buffer(Object):
    """A buffer of a pool: Pool.buffer(size, alignment=0, dedicated=False)."""

    _kind = "buffer"
    _destroy_function = "gpumem_buffer_destroy"

    def __init__(self, pool, size, alignment=0, dedicated=False, _imported=None, stream=None,
                 usage=0, name=None):
        created = handle()
        self._free_stream = None
        # Streams' holds on the buffer (Stream._hold): token -> (a weak reference to the
        # stream, so that a held buffer keeps no stream alive; the stream's handle).
        self._held_by = {}
        if _imported is None:
            desc = BufferDesc()
            desc.size = unsigned("size", size)
            desc.alignment = unsigned("alignment", alignment)
            desc.flags = 1 if dedicated else 0  # GPUMEM_BUFFER_DEDICATED
            desc.usage = unsigned("usage", usage, 32)
            if name is not None:
                desc.name = name_bytes(name)
            if stream is None:
                errors.check(lib.gpumem_buffer_create(pool._live_handle(), ctypes.byref(desc),
                                                      ctypes.byref(created)))
            else:
                errors.check(lib.gpumem_buffer_create_on_stream(
                    pool._live_handle(), ctypes.byref(desc), _stream_handle(stream),
                    ctypes.byref(created)))
        else:
            desc, keep = _imported
            errors.check(lib.gpumem_buffer_import(pool._live_handle(), ctypes.byref(desc),
                                                  ctypes.byref(created)))
            self._keep = keep  # the memory's owner lives at least as long as the buffer
        super().__init__(created.value, pool)
        self.pool = pool
        self.device = pool.device
        self.size = size
        self.device._buffers[self._handle] = self

    @classmethod
    def _import(cls, pool, address=0, size=0, memory=0, offset=0, keep=None):
        desc = ImportDesc()
        desc.address = unsigned("address", address)
        desc.memory = unsigned("memory", memory)
        desc.offset = unsigned("offset", offset)
        desc.size = unsigned("size", size)
        return cls(pool, size, _imported=(desc, keep))

    def __len__(self):
        return self.size

    @property
    def name(self):
        """The name the buffer was made with ("" when none)."""
        out = ctypes.create_string_buffer(NAME_SIZE)
        errors.check(lib.gpumem_buffer_name(self._live_handle(), out, len(out)))
        return out.value.decode("utf-8", "replace")

    def destroy(self, stream=None):
        """Releases the buffer (a second call does nothing). With a `stream`, in that stream's
        order (gpumem_buffer_destroy_on_stream): work queued on it before may still use the
        memory, later creates on it reuse the memory at once. Other streams with transfers of
        the buffer queued are synchronized first (C's destroy does not wait for them). With
        views of the memory alive, the release (in the stream's order then) happens when the
        last view goes."""
        if stream is not None and not self._released:
            _stream_handle(stream)  # a stream of another kind or a destroyed one: raise now
            if stream.device is not self.device:  # C would refuse it, perhaps only later
                raise errors.GpumemError(errors.INVALID_ARGUMENT, "Buffer.destroy: the "
                                         "stream belongs to another device than the buffer")
        while True:
            with _state:
                # A destroyed stream lets go of its holds once its C destroy has waited for its
                # work; a closed device's close waits for every stream's work itself. A
                # stream Python has collected is waited for by its handle.
                others, gone = set(), {}
                for token, (ref, stream_handle) in self._held_by.items():
                    other = ref()
                    if other is None:
                        gone[token] = stream_handle
                    elif other is not stream:
                        others.add(other)
                # An owner destroyed for Python but kept in C (views of other buffers live)
                # releases this buffer with itself, after every stream's work: its streams
                # cannot be synchronized any more, and need not be.
                owner_gone = self._owner_released()
                left_to_owner = owner_gone and not self._owner_done()
                if not others and not gone or owner_gone:
                    first = not self._released
                    self._released = True
                    if first and stream is not None:
                        self._free_stream = stream  # its own holds are ordered before it
                    break
            for token, stream_handle in gone.items():
                result = lib.gpumem_stream_synchronize(stream_handle)
                if result not in (errors.OK, errors.DESTROYED):  # DESTROYED: it waited itself
                    raise errors.error_of(result)
                with _state:
                    self._held_by.pop(token, None)
            for other in others:  # queued before: waited for outside the lock
                try:
                    other.synchronize()
                except errors.GpumemError as error:
                    if error.code != errors.DESTROYED:
                        raise
                    time.sleep(0.0005)  # its destroy is under way: it lets go once done
            # A transfer whose C call has not returned yet is waited for by the next round.
            time.sleep(0)
        if not left_to_owner:
            try:
                self._finish_destroy(first)
            except BaseException:
                if first:  # refused: alive again, and not bound to that stream any more
                    self._free_stream = None
                raise

    def _release(self):
        stream = self._free_stream
        if stream is None:
            return super()._release()
        result = lib.gpumem_buffer_destroy_on_stream(self._handle, stream._handle)
        if result != errors.DESTROYED or not self._c_alive():
            return result
        # The stream is gone or going (another thread's destroy, waiting in C for its work):
        # released plainly once that destroy has let go of its holds, after its work.
        while any(ref() is stream for ref, _ in list(self._held_by.values())):
            time.sleep(0.0005)
        return super()._release()

    def _c_alive(self):
        """Whether the C buffer still exists (its handle answers)."""
        return lib.gpumem_buffer_info_get(self._handle, ctypes.byref(BufferInfo())) != \
            errors.DESTROYED

    @property
    def info(self):
        return allocation_info(lib.gpumem_buffer_info_get, self._live_handle())

    @property
    def native(self):
        """What the buffer is to the runtime (gpumem_native_buffer): memory, offset, buffer,
        address."""
        raw = NativeBuffer()
        errors.check(lib.gpumem_buffer_native(self._live_handle(), ctypes.byref(raw)))
        return Native(raw.memory, raw.offset, raw.buffer, raw.address)

    @property
    def memory_flags(self):
        """The DEVICE_LOCAL, HOST_VISIBLE, ... flags of the buffer's memory type."""
        return self.device.properties.memory_types[self.info.memory_type].flags

    def write(self, data, offset=0):
        """Writes the bytes of `data` (bytes, bytearray, memoryview, a numpy array...) at
        `offset`; returns when they are in the buffer."""
        address, size, keep = readable(data)
        errors.check(lib.gpumem_buffer_write(self._live_handle(), unsigned("offset", offset),
                                             address, size))
        del keep

    def read(self, size=None, offset=0):
        """`size` bytes from `offset` (default: to the end), as bytes."""
        offset = unsigned("offset", offset)
        size = unsigned("size", rest(size, self.size, offset))
        if size == 0:  # nothing to ask C for (it refuses empty transfers)
            self._live_handle()
            if offset > self.size:
                raise errors.GpumemError(errors.OUT_OF_RANGE, "Buffer.read: offset %d is past "
                                         "the end of %d bytes" % (offset, self.size))
            return b""
        if offset + size > self.size:  # before the bytes are allocated
            self._live_handle()
            raise errors.GpumemError(errors.OUT_OF_RANGE, "gpumem_buffer_read: range [%d, +%d) "
                                     "is outside the buffer's %d bytes" % (offset, size,
                                                                          self.size))
        out = bytearray(size)
        self.read_into(out, offset)
        return bytes(out)

    def read_into(self, out, offset=0):
        """Fills the writable, contiguous buffer `out` (a bytearray, a numpy array...) with
        the buffer's bytes from `offset`."""
        address, size, keep = writable(out)
        errors.check(lib.gpumem_buffer_read(self._live_handle(), unsigned("offset", offset),
                                            address, size))
        del keep

    def copy_to(self, destination, size=None, offset=0, destination_offset=0):
        """Copies `size` bytes (default: all from `offset`) to another buffer."""
        if not isinstance(destination, Buffer):
            raise TypeError("destination must be a gpumem.Buffer")
        size = rest(size, self.size, offset)
        errors.check(lib.gpumem_buffer_copy(
            self._live_handle(), unsigned("offset", offset), destination._live_handle(),
            unsigned("destination_offset", destination_offset), unsigned("size", size)))

    def fill(self, pattern, offset=0, size=None):
        """Fills with a 32-bit pattern; offset and size must be multiples of 4."""
        size = rest(size, self.size, offset)
        errors.check(lib.gpumem_buffer_fill(self._live_handle(), unsigned("offset", offset),
                                            unsigned("size", size),
                                            unsigned("pattern", pattern, 32)))

    def map(self):
        """The buffer mapped for the host, as a Mapping: numpy.asarray(mapping) and
        mapping.array(dtype) are arrays over the buffer's bytes, without a copy."""
        return Mapping(self)

    # --- DLPack and __cuda_array_interface__ ---

    def _device_pointer(self):
        """(kind, device id, address) when the buffer is device memory with an address
        (CUDA, HIP) that the host cannot map; else None."""
        backend = self.device.backend
        if backend not in ("cuda", "hip") or self.memory_flags & HOST_VISIBLE:
            return None
        kind = 2 if backend == "cuda" else 10  # kDLCUDA, kDLROCM
        return kind, self.device.properties.device_index, self.native.address

    def __dlpack_device__(self):
        found = self._device_pointer()
        if found is not None:
            return found[0], found[1]
        self._live_handle()
        if not self.memory_flags & HOST_VISIBLE:
            raise BufferError("gpumem: this buffer's memory is neither host-visible nor "
                              "addressable device memory, so DLPack cannot describe it")
        return 1, 0  # kDLCPU

    def __dlpack__(self, stream=None, max_version=None, dl_device=None, copy=None):
        """A DLPack capsule (the unversioned kind, which every consumer takes, whatever
        max_version asks) of the buffer's bytes (uint8, one dimension): device memory on
        CUDA (kDLCUDA) and HIP (kDLROCM), else a mapping (kDLCPU). The buffer's memory stays
        allocated until the consumer releases the tensor, even if the buffer is destroyed
        meanwhile. Work queued on a gpumem Stream must be synchronized first. On memory
        without HOST_COHERENT the export invalidates the buffer, so the tensor holds the bytes
        of that moment; later device writes need Mapping.invalidate(), and host writes through
        the tensor Mapping.flush(), to be seen on the other side."""
        from .dlpack import export
        if copy:
            raise BufferError("gpumem: __dlpack__ shares the buffer's memory; it does not copy")
        if dl_device is not None and tuple(dl_device) != self.__dlpack_device__():
            raise BufferError("gpumem: the buffer is on DLPack device %s, not %s"
                              % (self.__dlpack_device__(), tuple(dl_device)))
        found = self._device_pointer()
        if found is not None:
            return export(self, found[2], found[0], found[1], self.size, owner=None)
        self.__dlpack_device__()  # raises BufferError for memory DLPack cannot describe
        mapping = Mapping(self)
        # Memory without HOST_COHERENT: the host's view is brought up to date now.
        mapping.invalidate()
        return export(self, mapping.address, 1, 0, self.size, owner=mapping)

    @property
    def __cuda_array_interface__(self):
        found = self._device_pointer()
        if found is None or found[0] != 2:
            raise AttributeError("__cuda_array_interface__: not CUDA device memory")
        return {"shape": (self.size,), "typestr": "|u1", "data": (found[2], False),
                "strides": None, "version": 3, "stream": None}

    def __repr__(self):
        state = "" if self.alive else ", destroyed"
        return "<gpumem.Buffer of %d bytes%s>" % (self.size, state)
