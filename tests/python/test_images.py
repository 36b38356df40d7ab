"""Images from Python (Pool.image): boxes written and read against a numpy model of every
texel, levels and layers, copies between images, info, layouts (pitched everywhere but
Vulkan), and refusals."""
import numpy as np
import pytest

import gpumem
from gpumem import errors


def test_boxes_match_a_numpy_model(device_pool):
    rng = np.random.default_rng(3)
    image = device_pool.image(37, 23, format="R8G8B8A8_UNORM", layers=2, levels=3, name="py")
    assert (image.width, image.height, image.depth, image.layers, image.levels) == \
        (37, 23, 1, 2, 3)
    model = {}
    for level in range(3):
        w, h = max(37 >> level, 1), max(23 >> level, 1)
        for layer in range(2):
            model[level, layer] = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
            image.write(model[level, layer], level=level, layer=layer)
    for _ in range(60):
        level, layer = int(rng.integers(0, 3)), int(rng.integers(0, 2))
        h, w = model[level, layer].shape[:2]
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        bw, bh = int(rng.integers(1, w - x + 1)), int(rng.integers(1, h - y + 1))
        if rng.integers(0, 2):
            box = rng.integers(0, 256, (bh, bw, 4), dtype=np.uint8)
            image.write(box, level=level, layer=layer, x=x, y=y, width=bw, height=bh)
            model[level, layer][y:y + bh, x:x + bw] = box
        else:
            out = np.zeros((bh, bw, 4), dtype=np.uint8)
            image.read_into(out, level=level, layer=layer, x=x, y=y, width=bw, height=bh)
            assert np.array_equal(out, model[level, layer][y:y + bh, x:x + bw])
    for (level, layer), expected in model.items():
        got = np.frombuffer(image.read(level=level, layer=layer), dtype=np.uint8)
        assert np.array_equal(got.reshape(expected.shape), expected)


def test_copies_info_and_layouts(device, device_pool):
    a = device_pool.image(16, 16, 4, format="R32_SFLOAT")
    b = device_pool.image(16, 16, 4, format="R32_SFLOAT")
    volume = np.arange(16 * 16 * 4, dtype=np.float32).reshape(4, 16, 16)
    a.write(volume)
    a.copy_to(b, to=(8, 4, 1), x=2, y=3, z=0, width=8, height=10, depth=2)
    out = np.zeros((2, 10, 8), dtype=np.float32)
    b.read_into(out, x=8, y=4, z=1, width=8, height=10, depth=2)
    assert np.array_equal(out, volume[0:2, 3:13, 2:10])
    info = a.info
    assert info.size >= 16 * 16 * 4 * 4
    if device.backend == "vulkan":
        assert a.native.image != 0
        with pytest.raises(gpumem.GpumemError) as raised:
            a.layout()
        assert raised.value.code == errors.UNSUPPORTED
    else:
        layout = a.layout()
        assert layout.row_pitch >= 16 * 4 and layout.slice_pitch == layout.row_pitch * 16


def test_refusals(device_pool):
    with pytest.raises(ValueError):
        device_pool.image(4, 4, format="NO_SUCH_FORMAT")
    with pytest.raises(gpumem.GpumemError) as raised:
        device_pool.image(0, 4)
    assert raised.value.code == errors.INVALID_ARGUMENT
    image = device_pool.image(8, 8, format="R8_UNORM")
    with pytest.raises(gpumem.GpumemError) as raised:
        image.write(bytes(64), x=4, width=8, height=8)
    assert raised.value.code == errors.OUT_OF_RANGE
    with pytest.raises(ValueError):
        image.write(bytes(10))  # the whole level needs 64
    # A height, depth or layer count of 0 is 1 to the library: the data must hold that box.
    for zero in ({"height": 0}, {"depth": 0}, {"layers": 0}):
        box = dict({"width": 8, "height": 1, "depth": 1, "layers": 1}, **zero)
        assert image.box_size(**box) == 8
        with pytest.raises(ValueError):
            image.write(bytes(7), **box)
        with pytest.raises(ValueError):
            image.read_into(bytearray(7), **box)
        assert image.read(**box) == image.read(width=8, height=1)
    image.destroy()
    with pytest.raises(gpumem.GpumemError) as raised:
        image.read()
    assert raised.value.code == errors.DESTROYED


def test_a_box_whose_extent_is_left_out_is_refused_past_the_level_as_any_box_is(device_pool):
    """Where the extent is left out the box runs to the level's end; a start at or past that end,
    in any dimension, level or layer, is OUT_OF_RANGE for read, read_into, write and copy_to
    alike (it was INVALID_ARGUMENT or a ValueError, depending on how far past), and a start
    before it reads and writes the rest of the level."""
    image = device_pool.image(9, 6, 3, format="R8_UNORM", levels=2)
    other = device_pool.image(9, 6, 3, format="R8_UNORM", levels=2)
    extent = {0: (9, 6, 3), 1: (4, 3, 1)}
    for level, (w, h, d) in extent.items():
        for axis, size in (("x", w), ("y", h), ("z", d)):
            for start in (size - 1, size, size + 1, size + 7, (1 << 32) - 1):
                box = {"level": level, axis: start}
                inside = start < size
                rest = {"x": w, "y": h, "z": d}
                rest[axis] = max(size - start, 1)  # past the end: one texel, refused by C
                need = rest["x"] * rest["y"] * rest["z"]
                calls = (("read", lambda: image.read(**box)),
                         ("read_into", lambda: image.read_into(bytearray(need), **box)),
                         ("write", lambda: image.write(bytes(need), **box)),
                         ("copy_to", lambda: image.copy_to(other, to_level=level, **box)))
                for name, call in calls:
                    if inside:
                        call()
                        continue
                    with pytest.raises(gpumem.GpumemError) as raised:
                        call()
                    assert raised.value.code == errors.OUT_OF_RANGE, (name, box, raised.value)
    for box in ({"level": 2}, {"layer": 1}, {"level": 5, "x": 3}):
        with pytest.raises(gpumem.GpumemError) as raised:
            image.read(**box)
        assert raised.value.code == errors.OUT_OF_RANGE, (box, raised.value)
