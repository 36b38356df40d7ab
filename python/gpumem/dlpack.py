"""DLPack export: a capsule named "dltensor" over a DLManagedTensor, whose deleter lets the
buffer's memory go (https://dmlc.github.io/dlpack/latest/c_api.html); and the reading of
another producer's tensor for an import (describe)."""
import ctypes

from .mapping import View


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


class DLManagedTensor(ctypes.Structure):
    pass


_Deleter = ctypes.CFUNCTYPE(None, ctypes.POINTER(DLManagedTensor))
DLManagedTensor._fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p),
                            ("deleter", _Deleter)]

_NAME = b"dltensor"
_UINT = 1  # kDLUInt

# Tensors handed out and not yet deleted, by address: each keeps its structure, its shape
# and the view that holds the buffer's memory.
_live = {}


@_Deleter
def _delete(managed):
    entry = _live.pop(ctypes.addressof(managed.contents), None)
    if entry is not None:
        entry[2]._let_go()


_Destructor = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, _Destructor]
_capsule_is_valid = ctypes.pythonapi.PyCapsule_IsValid
_capsule_is_valid.restype = ctypes.c_int
_capsule_is_valid.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]


@_Destructor
def _capsule_gone(capsule):
    # A capsule still named "dltensor" was never consumed: its tensor is deleted here.
    # A consumer renames it "used_dltensor" and calls the deleter itself.
    if _capsule_is_valid(capsule, _NAME):
        pointer = _capsule_pointer(capsule, _NAME)
        _delete(ctypes.cast(pointer, ctypes.POINTER(DLManagedTensor)))


def export(buffer, address, device_type, device_id, size, owner):
    """A capsule over `size` bytes at `address`; `owner` (a View, e.g. a Mapping) holds the
    memory until the tensor is deleted; None: a View of the buffer is made for it."""
    view = owner if owner is not None else View(buffer)
    shape = (ctypes.c_int64 * 1)(size)
    managed = DLManagedTensor()
    managed.dl_tensor.data = address
    managed.dl_tensor.device = DLDevice(device_type, device_id)
    managed.dl_tensor.ndim = 1
    managed.dl_tensor.dtype = DLDataType(_UINT, 8, 1)
    managed.dl_tensor.shape = shape
    managed.dl_tensor.strides = None
    managed.dl_tensor.byte_offset = 0
    managed.deleter = _delete
    _live[ctypes.addressof(managed)] = (managed, shape, view)
    return _capsule_new(ctypes.addressof(managed), _NAME, _capsule_gone)


_DEVICE_TYPES = {"host": 1, "cuda": 2, "hip": 10}  # kDLCPU, kDLCUDA, kDLROCM


def describe(producer, device):
    """(address, size, capsule): the address and byte size of a DLPack producer's tensor,
    checked to be C-contiguous and on `device` (a gpumem Device), and the producer's capsule,
    left unconsumed. The memory is the producer's promise only while the capsule lives (its
    destructor runs the tensor's deleter, which may let the memory go: a gpumem buffer's
    capsule ends its view), so the caller keeps the capsule as long as it uses the memory."""
    from . import errors
    if not hasattr(producer, "__dlpack__"):
        raise TypeError("%s has no __dlpack__" % type(producer).__name__)
    backend = device.properties.backend
    expected = _DEVICE_TYPES.get(backend)
    kind, index = producer.__dlpack_device__()
    if expected is None or kind != expected or (
            kind != 1 and index != device.properties.device_index):
        raise errors.GpumemError(errors.INVALID_ARGUMENT,
                                 "import_dlpack: the tensor is on DLPack device (%d, %d); "
                                 "this %s device takes (%s, %d)" % (
                                     kind, index, backend, expected,
                                     device.properties.device_index))
    capsule = producer.__dlpack__()
    pointer = _capsule_pointer(id(capsule), _NAME)  # CPython: an object's id is its address
    tensor = DLManagedTensor.from_address(pointer).dl_tensor
    shape = [tensor.shape[i] for i in range(tensor.ndim)]
    item = tensor.dtype.bits * tensor.dtype.lanes // 8
    count = 1
    for extent in shape:
        count *= extent
    if tensor.strides and count:
        expected_stride = 1
        for axis in reversed(range(tensor.ndim)):
            if shape[axis] != 1 and tensor.strides[axis] != expected_stride:
                raise errors.GpumemError(errors.INVALID_ARGUMENT, "import_dlpack: the tensor "
                                         "is not C-contiguous (strides %s, shape %s)" % (
                                             [tensor.strides[i] for i in range(tensor.ndim)],
                                             shape))
            expected_stride *= shape[axis]
    size = count * item
    if size == 0:
        raise errors.GpumemError(errors.INVALID_ARGUMENT, "import_dlpack: the tensor is empty")
    address = (tensor.data or 0) + tensor.byte_offset
    return address, size, capsule
