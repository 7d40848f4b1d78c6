"""Fuzzing the readers of what a user (or an earlier run) hands imgbuild: matrix.yaml, release.json, lock files,
image references and --registry values. Whatever the input, a reader gives a value or an ImgbuildError of one
short line, never another exception, never a hang and never a write. Hypothesis keeps each property to a few
seconds; the fixed examples live in test_hostile_inputs.py and test_hostile_boundary.py."""

from __future__ import annotations

import copy
import json
import os
import re
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml
from fuzzing import VALUES, encoded, holds, mutated, near, no_hang, read_file, sandbox, yaml_of
from helpers import SMALL_MATRIX
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from imgbuild.core.errors import ConfigError
from imgbuild.core.reference import ImageRef, RegistryRef
from imgbuild.lock.lockfile import read_lock
from imgbuild.matrix.load import load_matrix
from imgbuild.registry.local import status
from imgbuild.release.catalog import render_catalog
from imgbuild.release.releasefile import read_release
from imgbuild.render.context import is_rendered
from imgbuild.smoke import record  # not its tested_record by name: pytest would collect it

# A few seconds a property; IMGBUILD_FUZZ_EXAMPLES=5000 for a long hunt. No example database: nothing is written
# into the checkout (a failure prints the example to reproduce it).
FAST = settings(max_examples=int(os.environ.get("IMGBUILD_FUZZ_EXAMPLES", "60")), deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
SMALL = SMALL_MATRIX.read_text(encoding="utf-8")
SMALL_DATA = yaml.safe_load(SMALL)
H = "sha256:" + "ab" * 32
ENTRY = {"variant": "2.6.0-cu124-py3.12-runtime", "repository": "ghcr.io/team/pytorch", "status": "ok",
         "error": None, "image": "pytorch", "tags": ["2.6.0-cuda12.4-cudnn9-runtime", "2.6-cuda12.4-runtime"],
         "dated_tag": "2.6.0-cuda12.4-cudnn9-runtime-2026-11-22", "digest": H, "artifacts": {"sbom": H},
         "image_id": H, "labels": {"io.imgbuild.cuda": "12.4", "org.opencontainers.image.title": "PyTorch 2.6.0"},
         "smoke": {"passed": True, "counts": {"passed": 2, "failed": 0, "skipped": 0},
                   "figures": {"deit_tiny_img_s": 8230}, "gpu_tier": True, "seconds": 0.0},
         "build_seconds": 241.0, "size": 6400000000,
         "push": {"layers_pushed": 3, "layers_existing": 9, "bytes_pushed": 123, "seconds": 9.5},
         "inputs_digest": H, "unchanged_since": None, "rebuilt_because": None,
         "changes": {"since": "2.6.0-cuda12.4-cudnn9-runtime-2026-11-21", "diff": {"upgraded": {"numpy": ["1", "2"]}}},
         "tested_marker": None, "zstd_digest": H}
INDEX = {"variant": "2.6.0-cu124-py3.12-runtime", "repository": "ghcr.io/team/pytorch", "status": "ok",
         "error": None, "tags": ["2.6.0"], "dated_tag": None, "digest": H,
         "platforms": {"linux/amd64": {"tag": "2.6.0-amd64", "digest": H, "artifacts": {"sbom": H}}}}
RELEASE = {"generated": "2026-12-04T00:00:00+00:00", "images": [ENTRY], "indexes": [INDEX]}
LOCK = ("# inputs-digest: " + H + "\n" + "numpy==2.1.0 \\\n    --hash=" + H + "\n"
        "torch==2.6.0+cu124 ; python_version >= '3.9' \\\n    --hash=" + H + " \\\n    --hash=" + H + "\n")


NESTED = st.one_of(st.integers(1, 3000).map(lambda n: "a: " + "[" * n + "]" * n + "\n"),
                   st.integers(1, 3000).map(lambda n: "a: " + "{a: " * n + "}" * n + "\n"),
                   st.integers(1, 200).map(lambda n: "".join("  " * i + f"k{i}:\n" for i in range(n)) + "  " * n + "v\n"))
ALIASES = st.sampled_from([
    "a: &x [1, 2]\nb: *x\n", "a: &x\n  b: *x\n", "defaults: *nothing\n", "<<: {a: 1}\n", "a: !!binary aGk=\n",
    "a: !custom x\n", "? [a, b]\n: c\n", "? {a: 1}\n: b\n", "a: 1\na: 2\n", "---\na: 1\n---\nb: 2\n", "%YAML 9.9\n---\na\n",
    "a: 2026-13-45\n", "a: 1e400\n", "a: 0x" + "f" * 400 + "\n", "a: " + "9" * 500 + "\n", "a: .nan\n", "a: -.inf\n",
    "a: 0o777\n", "a: 1_000\n", "a: 12:30:45\n", "a: ~\n", "[a, b\n", "'open\n", "\ta: 1\n", "a:b\n", "\ufeffa: 1\n"])


load = load_matrix


@FAST
@given(st.text(max_size=300))
def test_matrix_of_any_text(text):
    read_file("matrix.yaml", text, load)


@FAST
@given(st.binary(max_size=300) | st.text(max_size=100).flatmap(encoded) | encoded(SMALL))
def test_matrix_of_any_bytes_or_encoding(data):
    read_file("matrix.yaml", data, load)


@FAST
@given(mutated(SMALL_DATA) | mutated(SMALL_DATA, near(SMALL_DATA)), st.sampled_from([None, True, False]))
@example({**SMALL_DATA, "\r": 1}, False)  # an unknown key was printed raw: a line break in the error
def test_matrix_with_values_changed(data, flow):
    read_file("matrix.yaml", yaml_of(data, flow), load)


@FAST
@given(st.sampled_from(SMALL.splitlines(keepends=True)).flatmap(
    lambda line: st.tuples(st.just(line), st.text(max_size=30))), st.integers(0, 58))
def test_matrix_with_a_line_changed(change, at):
    """A line of the small matrix replaced by arbitrary text: comments, indentation, quotes, half a mapping."""
    lines = SMALL.splitlines(keepends=True)
    lines[at % len(lines)] = change[0][: len(change[1]) % (len(change[0]) + 1)] + change[1] + "\n"
    read_file("matrix.yaml", "".join(lines), load)


@FAST
@given(VALUES, st.sampled_from([None, True, False]))
def test_matrix_of_any_yaml_document(data, flow):
    read_file("matrix.yaml", yaml_of(data, flow), load)


@FAST
@given(NESTED | ALIASES, st.booleans())
def test_matrix_of_deep_nesting_anchors_and_odd_scalars(text, inside):
    read_file("matrix.yaml", SMALL.replace("  image: pytorch\n", "  image: pytorch\n  " + text.replace(
        "\n", "\n  ").rstrip() + "\n", 1) if inside else text, load)


def release(path: Path) -> Any:
    manifest = read_release(path)
    return render_catalog(list(manifest.images), manifest.generated, list(manifest.indexes))  # what is printed of it


@FAST
@given(mutated(RELEASE) | mutated(RELEASE, near(RELEASE)))
@example({**RELEASE, "indexes": [{**INDEX, "tags": [None]}]})  # passed the reader, then crashed TAGS.md
def test_release_json_with_values_changed(data):
    read_file("release.json", json.dumps(data), release)


@FAST
@given(VALUES | st.text(max_size=200) | st.binary(max_size=200))
def test_release_json_of_anything(data):
    text = data if isinstance(data, str | bytes) else json.dumps(data)
    read_file("release.json", text, release)


@FAST
@given(st.integers(1, 5000), st.sampled_from(["[", '{"a": ']))
def test_release_json_nested_deep(depth, opener):
    closer = "]" if opener == "[" else "}"
    data = copy.deepcopy(RELEASE)
    data["images"][0]["changes"] = "HOLE"
    text = json.dumps(data).replace('"HOLE"', opener * depth + "1" + closer * depth)
    read_file("release.json", text, release)


LOCK_LINES = st.lists(st.sampled_from(LOCK.splitlines()) | st.text(max_size=60) | st.builds(
    "{}=={} --hash={}".format, st.text(max_size=15), st.text(max_size=15), st.text(max_size=75)), max_size=12)


@FAST
@given(LOCK_LINES | st.text(max_size=300).map(lambda t: [t]), st.sampled_from(["\n", "\r\n", "\\\n", "\r"]))
def test_lock_of_any_lines(lines, newline):
    read_file("x.txt", newline.join(lines), read_lock)


@FAST
@given(st.binary(max_size=300) | encoded(LOCK))
def test_lock_of_any_bytes(data):
    read_file("x.txt", data, read_lock)


PARTS = st.sampled_from(["ghcr.io", "localhost", "127.0.0.1:5000", "[::1]:5000", "a:99999", "a:0", "ns", "NS",
                         "img", "a__b", "a--b", "a..b", ":", "@", "/", "//", "sha256:" + "a" * 64, "https://",
                         "u:p@", "tok@", " ", "\n", "\x00", "é", "İ", "\u202e", "-", "_", ".", "latest"])
REFERENCES = (st.text(max_size=80) | st.lists(PARTS | st.text(max_size=6), max_size=10).map("".join)
              | st.tuples(st.sampled_from(["a", "a/", "ghcr.io/", "x://", "u@", "a1", "@"]), st.integers(1, 60_000),
                          st.sampled_from(["", "@", "://", ":1", "/b"])).map(lambda t: t[0] * t[1] + t[2]))


@FAST
@given(REFERENCES)
@example("a" * 60_000)  # a long word: the credential mask was quadratic in it (40,000 characters took 18 s)
@example("ghcr.io/" + "a1" * 30_000)
def test_image_references_and_registry_values(text):
    with sandbox("", None):
        for parse in (ImageRef.parse, ImageRef.parse_remote, RegistryRef.parse):
            value = holds(lambda p=parse: p(text))
            if isinstance(value, ImageRef):
                assert ImageRef.parse(str(value)) == value  # what is printed of it parses back the same


def not_files(folder: Path) -> dict[str, Path]:
    os.mkfifo(folder / "fifo")
    (folder / "folder").mkdir()
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(folder / "sock"))
    sock.close()
    (folder / "huge").write_bytes(b"x" * (17 << 20))
    return {"a FIFO": folder / "fifo", "a folder": folder / "folder", "a socket": folder / "sock",
            "a device": Path("/dev/zero"), "bytes": folder / "huge"}


@pytest.mark.parametrize("reader", [load, release, read_lock], ids=["matrix", "release.json", "lock"])
def test_a_reader_refuses_what_is_no_regular_file_or_too_big(reader, tmp_path):
    for kind, path in not_files(tmp_path).items():
        with no_hang(), pytest.raises(ConfigError, match=f"{re.escape(str(path))}.* is .*{kind}"):
            reader(path)


def test_what_an_earlier_run_left_is_read_without_blocking(tmp_path):
    """A FIFO where a test record, the local registry's state or an --out context's marker should be: one line, or
    (the marker) simply not imgbuild's context, never a hang."""
    (tmp_path / "tested").mkdir()
    os.mkfifo(tmp_path / "tested" / ("ab" * 32 + ".json"))
    os.mkfifo(tmp_path / "state.json")
    os.mkfifo(tmp_path / ".dockerignore")
    with no_hang():
        with pytest.raises(ConfigError, match=r"ab\.json is a FIFO, not a test record: remove it"):
            record.tested_record("sha256:" + "ab" * 32, tmp_path)
        with pytest.raises(ConfigError, match=r"state\.json is a FIFO, not a registry state file"):
            status(tmp_path)
        assert not is_rendered(tmp_path)
    assert record.tested_record("sha256:" + "cd" * 32, tmp_path) is None  # never tested
