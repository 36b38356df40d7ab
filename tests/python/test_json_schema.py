"""gpumem's JSON documents against docs/gpumem.schema.json (docs/json.md): gpumem-info --json
and device dumps, with pools of every kind of page the backend has (shared, dedicated,
imported), named buffers and mappings. The validator treats objects as closed: an undocumented
field fails too."""
import json
import os
import subprocess

import pytest

import gpumem
from gpumem._library import lib

from json_schema import errors

SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "gpumem.schema.json")


def schema():
    with open(SCHEMA_PATH) as f:
        return json.load(f)


def dump_text(device):
    """The dump as the C library writes it, before Python parses it."""
    return device._text(lib.gpumem_device_dump_json)


def test_a_device_dump_follows_the_schema(device):
    pool = device.pool(name="schema \"quoted\" pool", page_size=1 << 20)
    buffers = [pool.buffer(1000 + i * 777, name="buffer %d" % i) for i in range(5)]
    buffers.append(pool.buffer(3 << 20, name="big"))            # a page of its own
    buffers.append(pool.buffer(64))                             # no name
    visible = device.pool(required_flags=gpumem.HOST_VISIBLE, name="visible")
    mapped = visible.buffer(4096, name="mapped")
    mapping = mapped.map()
    if device.backend == "host":
        import numpy as np
        array = np.zeros(1024, dtype=np.uint8)
        buffers.append(pool.import_dlpack(array))
    buffers[1].destroy()
    document = json.loads(dump_text(device))
    found = errors(document, schema())
    assert not found, "\n".join(found[:20])
    assert document["schema"] == "gpumem-dump" and document["schema_version"] == 1
    names = {b["name"] for p in document["pools"] for b in p["buffers"]}
    assert {"buffer 0", "buffer 2", "big", "mapped", ""} <= names and "buffer 1" not in names
    big = [b for p in document["pools"] for b in p["buffers"] if b["name"] == "big"][0]
    assert big["dedicated"] is True
    assert [b for p in document["pools"] for b in p["buffers"]
            if b["name"] == "mapped"][0]["map_count"] == 1
    mapping.close()


def test_a_dump_with_an_image_follows_the_schema(tmp_path):
    tool = os.environ.get("GPUMEM_DEMO_TOOL")
    if not tool:
        pytest.skip("GPUMEM_DEMO_TOOL (the path of gpumem-demo) is not set: meson test sets it")
    path = tmp_path / "dump.json"
    subprocess.run([tool, "--dump", str(path)], check=True, stdout=subprocess.DEVNULL)
    document = json.loads(path.read_text())
    found = errors(document, schema())
    assert not found, "\n".join(found[:20])
    images = [b for p in document["pools"] for b in p["buffers"] if "image" in b]
    assert len(images) == 1 and images[0]["name"] == "picture"
    image = images[0]["image"]
    assert (image["type"], image["width"], image["height"], image["texel_size"]) == ("2D", 64, 48, 4)
    assert image["pitched"] == (document["backend"] != "vulkan")


def test_gpumem_info_json_follows_the_schema():
    tool = os.environ.get("GPUMEM_INFO_TOOL")
    if not tool:
        pytest.skip("GPUMEM_INFO_TOOL (the path of gpumem-info) is not set: meson test sets it")
    out = subprocess.run([tool, "--json"], check=True, stdout=subprocess.PIPE).stdout
    document = json.loads(out)
    found = errors(document, schema())
    assert not found, "\n".join(found[:20])
    assert document["schema"] == "gpumem-info"


def test_the_validator_finds_what_does_not_follow():
    good = {"schema": "gpumem-info", "schema_version": 1, "version": "x",
            "library_version": "x", "backends": [], "devices": []}
    assert errors(good, schema()) == []
    assert errors(dict(good, extra=1), schema())
    assert errors(dict(good, schema_version=2), schema())
    bad_flags = dict(good, devices=[{"backend": "host", "index": 0,
                                     "memory_types": [{"index": 0, "flags": "A|B",
                                                       "heap_index": 0}]}])
    assert errors(bad_flags, schema())
