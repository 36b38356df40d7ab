"""libgpumem through ctypes: where the library is, its structures, and its functions' types.

The library is, in this order: the file GPUMEM_LIBRARY names; the one this package was
configured with (_config.py: the build tree's, or the installed one); libgpumem.so.0 on the
loader's search path.
"""
import ctypes
import os

u32 = ctypes.c_uint32
u64 = ctypes.c_uint64
i32 = ctypes.c_int32
handle = ctypes.c_void_p
P = ctypes.POINTER

NAME_SIZE = 64
REASON_SIZE = 256
PATH_SIZE = 512
MAX_MEMORY_TYPES = 32
MAX_MEMORY_HEAPS = 16


class BackendInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char * NAME_SIZE), ("available", u32),
                ("device_count", u32), ("is_module", u32), ("priority", u32),
                ("reason", ctypes.c_char * REASON_SIZE),
                ("module_path", ctypes.c_char * PATH_SIZE), ("refused", u32), ("reserved", u32)]


class ExternalDevice(ctypes.Structure):
    _fields_ = [("instance", u64), ("physical_device", u64), ("device", u64),
                ("queue_family", u32), ("queue_index", u32),
                ("get_instance_proc_addr", ctypes.c_void_p), ("vulkan_features", u32),
                ("reserved", u32)]


class DeviceDesc(ctypes.Structure):
    _fields_ = [("backend", ctypes.c_char_p), ("flags", u32), ("device_index", u32),
                ("external", P(ExternalDevice))]


class MemoryHeap(ctypes.Structure):
    _fields_ = [("size", u64), ("budget", u64), ("usage", u64), ("flags", u32),
                ("reserved", u32)]


class MemoryType(ctypes.Structure):
    _fields_ = [("flags", u32), ("heap_index", u32)]


class DeviceProperties(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char * (NAME_SIZE * 4)), ("backend", ctypes.c_char * NAME_SIZE),
                ("vendor_id", u32), ("device_id", u32), ("device_index", u32),
                ("is_external", u32), ("memory_type_count", u32), ("memory_heap_count", u32),
                ("memory_types", MemoryType * MAX_MEMORY_TYPES),
                ("memory_heaps", MemoryHeap * MAX_MEMORY_HEAPS),
                ("min_alignment", u64), ("non_coherent_atom_size", u64),
                ("max_allocation_size", u64), ("max_allocation_count", u64),
                ("native_pools", u32), ("reserved", u32), ("device_type", u32),
                ("has_uuid", u32), ("uuid", ctypes.c_uint8 * 16),
                ("driver_version", ctypes.c_char * NAME_SIZE),
                ("api_version", ctypes.c_char * NAME_SIZE), ("pci_address", ctypes.c_char * 32),
                ("image_pitch_alignment", u64), ("image_base_alignment", u64)]


class PoolDesc(ctypes.Structure):
    _fields_ = [("kind", u32), ("flags", u32), ("required_flags", u32),
                ("preferred_flags", u32), ("memory_type_index", u32), ("max_empty_pages", u32),
                ("page_size", u64), ("byte_limit", u64), ("release_threshold", u64),
                ("name", ctypes.c_char_p), ("arena_count", u32)]


class PoolStats(ctypes.Structure):
    _fields_ = [("reserved_bytes", u64), ("used_bytes", u64), ("page_count", u64),
                ("allocation_count", u64), ("largest_free_range", u64), ("memory_type", u32),
                ("kind", u32)]


class BufferDesc(ctypes.Structure):
    _fields_ = [("size", u64), ("alignment", u64), ("flags", u32), ("usage", u32),
                ("name", ctypes.c_char_p), ("user_data", ctypes.c_void_p)]


class ImportDesc(ctypes.Structure):
    _fields_ = [("address", u64), ("memory", u64), ("offset", u64), ("size", u64),
                ("flags", u32), ("reserved", u32)]


class BufferInfo(ctypes.Structure):
    _fields_ = [("size", u64), ("offset", u64), ("left_padding", u64),
                ("allocation_size", u64), ("page_size", u64), ("page", u32),
                ("memory_type", u32), ("dedicated", u32), ("mapped", u32)]


class NativeBuffer(ctypes.Structure):
    _fields_ = [("memory", u64), ("offset", u64), ("buffer", u64), ("address", u64)]


class ImageDesc(ctypes.Structure):
    _fields_ = [("type", u32), ("format", u32), ("width", u32), ("height", u32),
                ("depth", u32), ("array_layers", u32), ("mip_levels", u32), ("usage", u32),
                ("tiling", u32), ("flags", u32), ("native_format", u32), ("texel_size", u32),
                ("name", ctypes.c_char_p), ("user_data", ctypes.c_void_p)]


class ImageRegion(ctypes.Structure):
    _fields_ = [("mip_level", u32), ("base_layer", u32), ("layer_count", u32), ("x", u32),
                ("y", u32), ("z", u32), ("width", u32), ("height", u32), ("depth", u32),
                ("reserved", u32), ("host_row_pitch", u64), ("host_slice_pitch", u64)]


class ImageLayout(ctypes.Structure):
    _fields_ = [("offset", u64), ("size", u64), ("row_pitch", u64), ("slice_pitch", u64),
                ("layer_pitch", u64)]


class NativeImage(ctypes.Structure):
    _fields_ = [("memory", u64), ("offset", u64), ("image", u64), ("address", u64),
                ("format", u32), ("layout", u32)]


class NativeEvent(ctypes.Structure):
    _fields_ = [("handle", u64), ("value", u64)]


class VBlockStats(ctypes.Structure):
    _fields_ = [("size", u64), ("used_bytes", u64), ("allocation_count", u64),
                ("free_range_count", u64), ("largest_free_range", u64), ("span", u64)]


# name: (result type, argument types); every gpumem_result function returns i32.
_FUNCTIONS = {
    "gpumem_result_string": (ctypes.c_char_p, [i32]),
    "gpumem_last_error": (ctypes.c_char_p, []),
    "gpumem_version": (u32, []),
    "gpumem_backend_count": (i32, [P(u32)]),
    "gpumem_backend_info_get": (i32, [u32, P(BackendInfo)]),
    "gpumem_device_open": (i32, [P(DeviceDesc), P(handle)]),
    "gpumem_device_close": (i32, [handle]),
    "gpumem_device_properties_get": (i32, [handle, P(DeviceProperties)]),
    "gpumem_device_dump_json": (i32, [handle, ctypes.c_char_p, u64, P(u64)]),
    "gpumem_device_summary": (i32, [handle, ctypes.c_char_p, u64, P(u64)]),
    "gpumem_dump_svg": (i32, [ctypes.c_char_p, ctypes.c_char_p, u64, P(u64)]),
    "gpumem_device_default_stream": (i32, [handle, P(handle)]),
    "gpumem_pool_create": (i32, [handle, P(PoolDesc), P(handle)]),
    "gpumem_pool_destroy": (i32, [handle]),
    "gpumem_pool_trim": (i32, [handle]),
    "gpumem_pool_stats_get": (i32, [handle, P(PoolStats)]),
    "gpumem_pool_check": (i32, [handle]),
    "gpumem_buffer_create": (i32, [handle, P(BufferDesc), P(handle)]),
    "gpumem_buffer_destroy": (i32, [handle]),
    "gpumem_buffer_name": (i32, [handle, ctypes.c_char_p, ctypes.c_size_t]),
    "gpumem_buffer_create_on_stream": (i32, [handle, P(BufferDesc), handle, P(handle)]),
    "gpumem_buffer_destroy_on_stream": (i32, [handle, handle]),
    "gpumem_buffer_import": (i32, [handle, P(ImportDesc), P(handle)]),
    "gpumem_buffer_info_get": (i32, [handle, P(BufferInfo)]),
    "gpumem_buffer_native": (i32, [handle, P(NativeBuffer)]),
    "gpumem_buffer_find": (i32, [handle, u64, P(handle), P(u64)]),
    "gpumem_buffer_map": (i32, [handle, P(ctypes.c_void_p)]),
    "gpumem_buffer_unmap": (i32, [handle]),
    "gpumem_buffer_flush": (i32, [handle, u64, u64]),
    "gpumem_buffer_invalidate": (i32, [handle, u64, u64]),
    "gpumem_buffer_write": (i32, [handle, u64, ctypes.c_void_p, u64]),
    "gpumem_buffer_read": (i32, [handle, u64, ctypes.c_void_p, u64]),
    "gpumem_buffer_copy": (i32, [handle, u64, handle, u64, u64]),
    "gpumem_buffer_fill": (i32, [handle, u64, u64, u32]),
    "gpumem_stream_create": (i32, [handle, P(handle)]),
    "gpumem_stream_destroy": (i32, [handle]),
    "gpumem_stream_wrap": (i32, [handle, u64, P(handle)]),
    "gpumem_stream_synchronize": (i32, [handle]),
    "gpumem_stream_native": (i32, [handle, P(u64)]),
    "gpumem_stream_write": (i32, [handle, handle, u64, ctypes.c_void_p, u64]),
    "gpumem_stream_read": (i32, [handle, handle, u64, ctypes.c_void_p, u64]),
    "gpumem_stream_copy": (i32, [handle, handle, u64, handle, u64, u64]),
    "gpumem_stream_fill": (i32, [handle, handle, u64, u64, u32]),
    "gpumem_event_create": (i32, [handle, P(handle)]),
    "gpumem_event_destroy": (i32, [handle]),
    "gpumem_event_record": (i32, [handle, handle]),
    "gpumem_event_synchronize": (i32, [handle]),
    "gpumem_event_native": (i32, [handle, P(NativeEvent)]),
    "gpumem_event_wrap": (i32, [handle, u64, u64, P(handle)]),
    "gpumem_stream_wait_event": (i32, [handle, handle]),
    "gpumem_format_texel_size": (u32, [u32]),
    "gpumem_image_create": (i32, [handle, P(ImageDesc), P(handle)]),
    "gpumem_image_destroy": (i32, [handle]),
    "gpumem_image_info_get": (i32, [handle, P(BufferInfo)]),
    "gpumem_image_native": (i32, [handle, P(NativeImage)]),
    "gpumem_image_desc_get": (i32, [handle, P(ImageDesc)]),
    "gpumem_image_layout_get": (i32, [handle, u32, P(ImageLayout)]),
    "gpumem_image_write": (i32, [handle, P(ImageRegion), ctypes.c_void_p]),
    "gpumem_image_read": (i32, [handle, P(ImageRegion), ctypes.c_void_p]),
    "gpumem_image_copy": (i32, [handle, P(ImageRegion), handle, P(ImageRegion)]),
    "gpumem_host_register": (i32, [handle, ctypes.c_void_p, u64, u32, P(handle)]),
    "gpumem_host_unregister": (i32, [handle]),
    "gpumem_vblock_create": (i32, [u64, P(handle)]),
    "gpumem_vblock_destroy": (i32, [handle]),
    "gpumem_vblock_alloc": (i32, [handle, u64, u64, P(u64), P(u64)]),
    "gpumem_vblock_free": (i32, [handle, u64]),
    "gpumem_vblock_clear": (i32, [handle]),
    "gpumem_vblock_stats_get": (i32, [handle, P(VBlockStats)]),
}


def _candidates():
    named = os.environ.get("GPUMEM_LIBRARY")
    if named:
        return [named]
    found = []
    try:
        from . import _config
        found.append(_config.LIBRARY)
    except ImportError:
        pass
    found.append("libgpumem.so.0")
    return found


def _load():
    errors = []
    for path in _candidates():
        try:
            library = ctypes.CDLL(path)
        except OSError as error:
            errors.append(str(error))
            continue
        try:
            for name, (restype, argtypes) in _FUNCTIONS.items():
                function = getattr(library, name)
                function.restype = restype
                function.argtypes = argtypes
        except AttributeError as error:  # an older libgpumem
            errors.append("%s: %s" % (path, error))
            continue
        return library, path
    raise ImportError("gpumem: cannot load libgpumem (set GPUMEM_LIBRARY to its path): "
                      + "; ".join(errors))


lib, path = _load()
