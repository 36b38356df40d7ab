"""The picture of a device dump (gpumem_dump_svg; docs/json.md, "Pictures"): valid XML that
draws what the dump holds. Each buffer's allocation is a span at its offset and of its size at
the page bar's scale, within a pixel; each free range has its element; dedicated pages are
marked. Names with XML's special characters come back as they were. A text that is no dump is
refused with a message, and so is it by gpumem-info --svg; GPUMEM_DUMP_ON_CLOSE writes both
files when a device closes."""
import ctypes
import glob
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

import gpumem
from gpumem._library import lib, u64

SVG = "{http://www.w3.org/2000/svg}"


def dump_text(device):
    """The dump as the C library writes it, before Python parses it."""
    return device._text(lib.gpumem_device_dump_json)


def svg_of(dump):
    data = dump.encode() if isinstance(dump, str) else dump
    length = u64()
    gpumem.errors.check(lib.gpumem_dump_svg(data, None, 0, ctypes.byref(length)))
    text = ctypes.create_string_buffer(length.value + 1)
    gpumem.errors.check(lib.gpumem_dump_svg(data, text, length.value + 1, ctypes.byref(length)))
    assert len(text.value) == length.value
    return text.value.decode()


def fragmented(device):
    """A pool of 1 MiB pages with buffers of mixed sizes, every third destroyed, and a buffer on
    a page of its own. The buffers are returned so that they live on."""
    pool = device.pool(page_size=1 << 20, name="frag <&> \"pool\" 'x'")
    buffers = [pool.buffer(3000 + 9000 * (i % 5), name="b%d <'&'>" % i) for i in range(24)]
    buffers.append(pool.buffer(4096, dedicated=True, name="own page"))
    buffers.append(pool.buffer(5000))  # no name
    for b in buffers[:24:3]:
        b.destroy()
    return pool, buffers


def title_of(element):
    title = element.find(SVG + "title")
    return title.text if title is not None else ""


def page_groups(root, pool_name):
    pools = [g for g in root.iter(SVG + "g")
             if g.get("class") == "pool" and g.get("data-name") == pool_name]
    assert len(pools) == 1, "one group for the pool %r" % pool_name
    return {int(g.get("data-page-id")): g for g in pools[0].iter(SVG + "g")
            if g.get("class", "").split()[0] == "page"}


def bar_of(group):
    """The page bar's left edge and pixels per byte."""
    bars = [r for r in group.iter(SVG + "rect") if r.get("class") == "bar"]
    assert len(bars) == 1
    size = int(group.get("data-page-size"))
    return float(bars[0].get("x")), float(bars[0].get("width")) / size


def assert_span(rect, x0, scale, offset, size, what):
    x, width = float(rect.get("x")), float(rect.get("width"))
    assert abs(x - (x0 + offset * scale)) <= 1, "%s: x %s for offset %d" % (what, x, offset)
    assert abs(width - size * scale) <= 1, "%s: width %s for %d bytes" % (what, width, size)


def check_page(group, page, buffers):
    x0, scale = bar_of(group)
    rects = list(group.iter(SVG + "rect"))
    spans = [r for r in rects if r.get("class") == "buffer"]
    assert len(spans) == len(buffers), "page %d: one span per buffer" % page["id"]
    for b in buffers:
        name = b["name"] or "(no name)"
        found = [r for r in spans
                 if title_of(r).startswith("%s (handle %d)" % (name, b["handle"]))]
        assert len(found) == 1, "page %d: the span of %r" % (page["id"], name)
        assert "size %d" % b["size"] in title_of(found[0])
        assert "allocation size %d" % b["allocation_size"] in title_of(found[0])
        assert_span(found[0], x0, scale, b["offset"] - b["left_padding"], b["allocation_size"],
                    name)
    free = [r for r in rects if r.get("class") == "free"]
    for r in page["ranges"]:
        if r["used"]:
            continue
        title = "free: offset %d, size %d" % (r["offset"], r["size"])
        found = [f for f in free if title_of(f) == title]
        assert len(found) == 1, "page %d: %s" % (page["id"], title)
        assert_span(found[0], x0, scale, r["offset"], r["size"], title)
    assert len(free) == sum(not r["used"] for r in page["ranges"])


def test_the_picture_draws_what_the_dump_holds(device):
    pool, buffers = fragmented(device)
    text = dump_text(device)
    document = json.loads(text)
    root = ET.fromstring(svg_of(text))
    assert root.tag == SVG + "svg"
    checked = 0
    for p in document["pools"]:
        groups = page_groups(root, p["name"])
        assert sorted(groups) == sorted(page["id"] for page in p["pages"])
        for page in p["pages"]:
            on_page = [b for b in p["buffers"] if b["page"] == page["id"]]
            check_page(groups[page["id"]], page, on_page)
            assert ("dedicated" in groups[page["id"]].get("class").split()) == page["dedicated"]
            checked += len(on_page)
    names = {b["name"] for p in document["pools"] for b in p["buffers"]}
    assert "own page" in names and "b1 <'&'>" in names and "b0 <'&'>" not in names
    assert checked == 24 - 8 + 2
    assert any(page["dedicated"] for p in document["pools"] for page in p["pages"])
    assert any(not r["used"] for p in document["pools"] for page in p["pages"]
               for r in page["ranges"] if not page["dedicated"])


def test_the_picture_follows_the_buffer_rules(device):
    fragmented(device)
    data = dump_text(device).encode()
    length = u64()
    assert lib.gpumem_dump_svg(data, None, 0, ctypes.byref(length)) == gpumem.errors.OK
    small = ctypes.create_string_buffer(length.value)
    result = lib.gpumem_dump_svg(data, small, length.value, ctypes.byref(length))
    assert result == gpumem.errors.INSUFFICIENT_BUFFER
    assert b"capacity" in lib.gpumem_last_error()


@pytest.mark.parametrize("text, words", [
    (b"", "not JSON"),
    (b"{\"schema\": \"gpumem-dump\", ", "not JSON"),
    (b"[" * 10000, "deeper than"),
    (b"{\"schema\": \"gpumem-info\", \"schema_version\": 1}", "not \"gpumem-dump\""),
    (b"{\"schema\": \"gpumem-dump\", \"schema_version\": 2}", "version 1"),
    (b"{\"schema\": \"gpumem-dump\", \"schema_version\": 1, \"name\": 5}", "\"name\" is a number"),
    (b"{\"schema\": \"gpumem-dump\", \"schema_version\": 99999999999999999999}", "not a count"),
])
def test_a_text_that_is_no_dump_is_refused(text, words):
    length = u64()
    result = lib.gpumem_dump_svg(text, None, 0, ctypes.byref(length))
    assert result == gpumem.errors.INVALID_ARGUMENT
    message = lib.gpumem_last_error().decode()
    assert message.startswith("gpumem_dump_svg: ") and words in message, message


def test_gpumem_info_draws_a_dump_file(device, tmp_path):
    tool = os.environ.get("GPUMEM_INFO_TOOL")
    if not tool:
        pytest.skip("GPUMEM_INFO_TOOL (the path of gpumem-info) is not set: meson test sets it")
    pool, buffers = fragmented(device)
    dump = tmp_path / "dump.json"
    dump.write_text(dump_text(device))
    out = subprocess.run([tool, "--svg", str(dump)], check=True, stdout=subprocess.PIPE).stdout
    assert out.decode() == svg_of(dump.read_text())
    bad = tmp_path / "bad.json"
    bad.write_text("{\"schema\": \"gpumem-dump\"")
    r = subprocess.run([tool, "--svg", str(bad)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    assert r.returncode == 1 and not r.stdout and "not JSON" in r.stderr, r.stderr
    # A file without end and of NUL bytes is refused at its first chunk, not read until memory
    # runs out.
    r = subprocess.run([tool, "--svg", "/dev/zero"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=30)
    assert r.returncode == 1 and not r.stdout and "NUL byte" in r.stderr, r.stderr


CLOSING = """
import gpumem
with gpumem.Device() as device:
    pool = device.pool(page_size=1 << 20, name="closing")
    kept = [pool.buffer(10000 * (i + 1), name="c%d" % i) for i in range(4)]
    kept[1].destroy()
    print(device.backend, device.properties.device_index)
"""


def test_a_device_close_writes_its_dump_and_picture(device, tmp_path):
    prefix = str(tmp_path / "closed")
    env = dict(os.environ, GPUMEM_DUMP_ON_CLOSE=prefix, GPUMEM_LOG="info")
    r = subprocess.run([sys.executable, "-c", CLOSING], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, check=True)
    backend, index = r.stdout.split()
    stem = "%s-%s-%s-1" % (prefix, backend, index)
    assert sorted(glob.glob(prefix + "*")) == [stem + ".json", stem + ".svg"]
    assert "wrote %s.json and %s.svg" % (stem, stem) in r.stderr
    with open(stem + ".json") as f:
        assert '"name":"c2"' in f.read()
    root = ET.parse(stem + ".svg").getroot()
    assert any(title_of(r).startswith("c3 (handle") for r in root.iter(SVG + "rect"))


def test_a_close_that_cannot_write_still_closes(device, tmp_path):
    env = dict(os.environ, GPUMEM_DUMP_ON_CLOSE=str(tmp_path / "no" / "such" / "folder"))
    r = subprocess.run([sys.executable, "-c", CLOSING], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    assert r.returncode == 0, r.stderr
    assert "GPUMEM_DUMP_ON_CLOSE: cannot write" in r.stderr
