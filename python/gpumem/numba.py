"""gpumem as Numba's device memory manager (Numba's External Memory Management plugin
interface, version 1):

    import gpumem.numba
    gpumem.numba.use_allocator()  # before Numba's first CUDA call
    d = numba.cuda.device_array(1 << 20)   # from a gpumem pool

or, without changing code, NUMBA_CUDA_MEMORY_MANAGER=gpumem.numba in the environment.
Allocations come from libgpumem-frameworks' pool of the device (the same pool as gpumem.torch's
and gpumem.cupy's in one process), ordered on the runtime's legacy default stream, as Numba's
default stream is. Numba keeps managing pinned host memory."""
import contextlib
import ctypes

from numba import cuda
from numba.cuda import GetIpcHandleMixin, HostOnlyCUDAMemoryManager, MemoryInfo, MemoryPointer

from . import frameworks

_library = frameworks.library()
_malloc = _library.gpumem_frameworks_cupy_malloc
_malloc.restype = ctypes.c_void_p
_malloc.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_free = _library.gpumem_frameworks_cupy_free
_free.restype = None
_free.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]


def _device_pointer(address):
    """The pointer type Numba's driver binding takes: the NVIDIA binding's CUdeviceptr, or a
    ctypes c_void_p for Numba's own ctypes binding."""
    from numba.cuda.cudadrv import driver
    if not getattr(driver, "USE_NV_BINDING", True):
        return ctypes.c_void_p(address)
    binding = getattr(driver, "binding", None)
    if binding is None:
        try:
            from cuda.bindings import driver as binding
        except ImportError:
            from cuda import cuda as binding
    return binding.CUdeviceptr(address)


_libcuda = None


def _memory_info():
    """cuMemGetInfo of the current context (Numba made it current)."""
    global _libcuda
    if _libcuda is None:
        _libcuda = ctypes.CDLL("libcuda.so.1")
    free, total = ctypes.c_size_t(), ctypes.c_size_t()
    result = _libcuda.cuMemGetInfo_v2(ctypes.byref(free), ctypes.byref(total))
    if result != 0:
        raise RuntimeError("cuMemGetInfo failed with CUresult %d" % result)
    return free.value, total.value


class GpumemMemoryManager(GetIpcHandleMixin, HostOnlyCUDAMemoryManager):
    """Device memory from gpumem; pinned host memory and IPC handles as Numba does them."""

    def memalloc(self, size):
        ordinal = self.context.device.id
        address = _malloc(None, size, ordinal) if size else None
        if size and not address:
            raise MemoryError("gpumem could not allocate %d bytes on device %d (see stderr)"
                              % (size, ordinal))

        def release(address=address, ordinal=ordinal):
            if address:
                _free(None, address, ordinal)

        return MemoryPointer(self.context, _device_pointer(address or 0), size,
                             finalizer=release)

    def get_memory_info(self):
        free, total = _memory_info()
        return MemoryInfo(free=free, total=total)

    def initialize(self):
        super().initialize()

    def reset(self):
        super().reset()  # Numba's pinned host memory
        try:
            frameworks.release(self.context.device.id)
        except Exception:  # nothing was allocated on the device
            pass

    @contextlib.contextmanager
    def defer_cleanup(self):
        # Frees are stream-ordered and never wait: nothing to hold back.
        with super().defer_cleanup():
            yield

    @property
    def interface_version(self):
        return 1


_numba_memory_manager = GpumemMemoryManager  # NUMBA_CUDA_MEMORY_MANAGER=gpumem.numba


def use_allocator(pool="paged", page_size=0):
    """Makes gpumem Numba's device memory manager (numba.cuda.set_memory_manager); call it
    before Numba creates a CUDA context. `pool` "paged" (pages of `page_size` bytes, 0:
    512 MiB) or "native"."""
    frameworks.configure(pool, page_size, "cuda")
    cuda.set_memory_manager(GpumemMemoryManager)


stats = frameworks.stats
release = frameworks.release
