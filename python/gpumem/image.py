"""Images: 1D, 2D and 3D images with layers and mip levels in a pool's pages (Pool.image);
box writes, reads and copies. On Vulkan a VkImage; elsewhere a pitched layout (layout())."""
import ctypes
from collections import namedtuple

from . import errors
from ._args import unsigned, name_bytes
from ._bytes import readable, writable
from ._library import lib, handle, ImageDesc, ImageLayout, ImageRegion, NativeImage
from ._object import Object, handle_of
from .buffer import allocation_info

IMAGE_1D, IMAGE_2D, IMAGE_3D = 1, 2, 3

# Portable formats (gpumem.h's GPUMEM_FORMAT_*).
FORMATS = {"R8_UNORM": 2, "R8_UINT": 3, "R8G8_UNORM": 4, "R8G8B8A8_UNORM": 5,
           "R8G8B8A8_UINT": 6, "B8G8R8A8_UNORM": 7, "R16_UINT": 8, "R16_SFLOAT": 9,
           "R16G16B16A16_SFLOAT": 10, "R32_UINT": 11, "R32_SINT": 12, "R32_SFLOAT": 13,
           "R32G32_SFLOAT": 14, "R32G32B32A32_SFLOAT": 15}

IMAGE_USAGE_SAMPLED = 1 << 0
IMAGE_USAGE_STORAGE = 1 << 1
IMAGE_USAGE_COLOR_ATTACHMENT = 1 << 2
IMAGE_USAGE_TRANSFER = 1 << 3

TILING_OPTIMAL, TILING_LINEAR = 0, 1

Layout = namedtuple("Layout", "offset size row_pitch slice_pitch layer_pitch")
NativeImageInfo = namedtuple("NativeImageInfo", "memory offset image address format layout")


def _format_number(format):
    if isinstance(format, str):
        if format not in FORMATS:
            raise ValueError("unknown format %r (one of %s)" % (format, ", ".join(FORMATS)))
        return FORMATS[format]
    return unsigned("format", format, 32)


class Image(Object):
    """An image of a pool: Pool.image(width, height=0, depth=0, format="R8G8B8A8_UNORM", ...)."""

    _kind = "image"
    _destroy_function = "gpumem_image_destroy"

    def __init__(self, pool, width, height=0, depth=0, format="R8G8B8A8_UNORM", type=None,
                 layers=0, levels=0, usage=0, tiling=TILING_OPTIMAL, dedicated=False,
                 name=None):
        desc = ImageDesc()
        desc.type = unsigned("type", type if type is not None else
                             IMAGE_3D if depth > 1 else IMAGE_2D if height > 1 else IMAGE_1D, 32)
        desc.format = _format_number(format)
        desc.width = unsigned("width", width, 32)
        desc.height = unsigned("height", height, 32)
        desc.depth = unsigned("depth", depth, 32)
        desc.array_layers = unsigned("layers", layers, 32)
        desc.mip_levels = unsigned("levels", levels, 32)
        desc.usage = unsigned("usage", usage, 32)
        desc.tiling = unsigned("tiling", tiling, 32)
        desc.flags = 1 if dedicated else 0  # GPUMEM_IMAGE_DEDICATED
        if name is not None:
            desc.name = name_bytes(name)
        created = handle()
        errors.check(lib.gpumem_image_create(pool._live_handle(), ctypes.byref(desc),
                                             ctypes.byref(created)))
        super().__init__(created.value, pool)
        self.pool = pool
        self.device = pool.device
        completed = ImageDesc()
        errors.check(lib.gpumem_image_desc_get(self._handle, ctypes.byref(completed)))
        self.width, self.height, self.depth = completed.width, completed.height, completed.depth
        self.layers, self.levels = completed.array_layers, completed.mip_levels
        self.texel_size = lib.gpumem_format_texel_size(completed.format)

    def _region(self, level, layer, layers, x, y, z, width, height, depth):
        r = ImageRegion()
        r.mip_level = unsigned("level", level, 32)
        r.base_layer = unsigned("layer", layer, 32)
        r.layer_count = unsigned("layers", layers, 32)
        r.x, r.y, r.z = unsigned("x", x, 32), unsigned("y", y, 32), unsigned("z", z, 32)
        # The box reaches the level's end where its extent is not given; from a start at or
        # past that end it is one texel wide, so that C refuses it as it refuses any box that
        # leaves the level (OUT_OF_RANGE), whatever the start.
        def rest(given, size, start):
            return given if given is not None else max(max(size >> level, 1) - start, 1)
        r.width = unsigned("width", rest(width, self.width, r.x), 32)
        r.height = unsigned("height", rest(height, self.height, r.y), 32)
        r.depth = unsigned("depth", rest(depth, self.depth, r.z), 32)
        return r

    def _packed_size(self, region):
        """The bytes of a region's texels, packed; a height, depth or layer count of 0 is 1,
        as the library reads it."""
        return (region.width * max(region.height, 1) * max(region.depth, 1) *
                max(region.layer_count, 1) * self.texel_size)

    def _host(self, region, memory, what):
        """(address, keep) of host memory that holds a region's packed texels."""
        address, size, keep = memory
        need = self._packed_size(region)
        if size < need:
            raise ValueError("the box needs %d bytes; %s has %d" % (need, what, size))
        return address, keep

    def _check_box(self, box):
        """GpumemError OUT_OF_RANGE when a box of read()'s arguments leaves its level or the
        image's layers (other faults are C's to tell)."""
        self._live_handle()
        region = self._region(box.get("level", 0), box.get("layer", 0), box.get("layers", 1),
                              box.get("x", 0), box.get("y", 0), box.get("z", 0),
                              box.get("width"), box.get("height"), box.get("depth"))
        level = region.mip_level
        extent = [max(e >> level, 1) for e in (self.width, self.height, self.depth)]
        reach = [region.x + region.width, region.y + max(region.height, 1),
                 region.z + max(region.depth, 1)]
        if level >= self.levels or any(r > e for r, e in zip(reach, extent)) or \
                region.base_layer + max(region.layer_count, 1) > self.layers:
            raise errors.GpumemError(errors.OUT_OF_RANGE, "gpumem_image_read: the box %s is outside "
                                     "level %d of %dx%dx%d with %d layers (of %d levels)" % (
                                         box, level, *extent, self.layers, self.levels))

    def box_size(self, level=0, layers=1, width=None, height=None, depth=None, x=0, y=0, z=0):
        """The bytes of a box's texels, packed."""
        return self._packed_size(self._region(level, 0, layers, x, y, z, width, height, depth))

    def write(self, data, level=0, layer=0, layers=1, x=0, y=0, z=0, width=None, height=None,
              depth=None):
        """Writes a box (the level's rest from (x, y, z) where no extent is given) from the
        texels of `data` (bytes, a numpy array...), packed row after row."""
        region = self._region(level, layer, layers, x, y, z, width, height, depth)
        address, keep = self._host(region, readable(data), "data")
        errors.check(lib.gpumem_image_write(self._live_handle(), ctypes.byref(region),
                                            ctypes.c_void_p(address)))
        del keep

    def read_into(self, out, level=0, layer=0, layers=1, x=0, y=0, z=0, width=None,
                  height=None, depth=None):
        """Reads a box into `out` (a writable, C-contiguous buffer), packed row after row."""
        region = self._region(level, layer, layers, x, y, z, width, height, depth)
        address, keep = self._host(region, writable(out), "out")
        errors.check(lib.gpumem_image_read(self._live_handle(), ctypes.byref(region),
                                           ctypes.c_void_p(address)))
        del keep

    def read(self, **box):
        """The box's texels as bytes."""
        self._check_box(box)  # before the bytes are allocated
        out = bytearray(self.box_size(box.get("level", 0), box.get("layers", 1),
                                      box.get("width"), box.get("height"), box.get("depth"),
                                      box.get("x", 0), box.get("y", 0), box.get("z", 0)))
        self.read_into(out, **box)
        return bytes(out)

    def copy_to(self, destination, to=(0, 0, 0), to_level=0, to_layer=0, level=0, layer=0,
                layers=1, x=0, y=0, z=0, width=None, height=None, depth=None):
        """Copies a box of this image to `to` (x, y, z) of level `to_level`, layer `to_layer`
        of `destination` (an Image of the same device and texel size)."""
        source = self._region(level, layer, layers, x, y, z, width, height, depth)
        target = ImageRegion()
        target.mip_level = unsigned("to_level", to_level, 32)
        target.base_layer = unsigned("to_layer", to_layer, 32)
        target.x, target.y, target.z = (unsigned("to", value, 32) for value in to)
        errors.check(lib.gpumem_image_copy(self._live_handle(), ctypes.byref(source),
                                           handle_of(destination, Image, "destination"),
                                           ctypes.byref(target)))

    @property
    def info(self):
        return allocation_info(lib.gpumem_image_info_get, self._live_handle())

    def layout(self, level=0):
        """Where a level lies in a pitched image (GpumemError UNSUPPORTED on Vulkan)."""
        raw = ImageLayout()
        errors.check(lib.gpumem_image_layout_get(self._live_handle(), unsigned("level", level, 32),
                                                 ctypes.byref(raw)))
        return Layout(raw.offset, raw.size, raw.row_pitch, raw.slice_pitch, raw.layer_pitch)

    @property
    def native(self):
        raw = NativeImage()
        errors.check(lib.gpumem_image_native(self._live_handle(), ctypes.byref(raw)))
        return NativeImageInfo(raw.memory, raw.offset, raw.image, raw.address, raw.format,
                               raw.layout)

    def __repr__(self):
        return "<gpumem.Image %dx%dx%d%s>" % (self.width, self.height, self.depth,
                                              "" if self.alive else " (destroyed)")
