"""How the readers are fuzzed (tests/test_fuzz_readers.py): the property every read must hold, the sandbox it runs
in, and the strategies that make hostile values and near-misses of real files."""

from __future__ import annotations

import copy
import os
import signal
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st
from imgbuild.core.errors import ImgbuildError

MAX_MESSAGE = 600  # a path, a cause cut short and a fix
HANG_S = 5


@contextmanager
def sandbox(name: str, content: bytes | None) -> Iterator[Path]:
    """A fresh working folder holding the input alone; afterwards it must hold exactly that (nothing written)."""
    before = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="imgbuild-fuzz-") as folder:
        root = Path(folder)
        if content is not None:
            (root / name).write_bytes(content)
        os.chdir(root)
        try:
            yield root / name
            after = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
            assert after == ([name] if content is not None else []), f"the reader wrote {after}"
        finally:
            os.chdir(before)


@contextmanager
def no_hang() -> Iterator[None]:
    def late(*_: Any) -> None:
        raise TimeoutError(f"the reader ran past {HANG_S} s")

    old = signal.signal(signal.SIGALRM, late)
    signal.alarm(HANG_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def holds(read: Callable[[], Any]) -> Any:
    """Run one read: a value, or an ImgbuildError of one short line. Anything else propagates and fails the test."""
    with no_hang():
        try:
            return read()
        except ImgbuildError as exc:
            message = str(exc)
            assert "\n" not in message and "\r" not in message, message
            assert 0 < len(message) <= MAX_MESSAGE, message
            return exc


def read_file(name: str, content: bytes | str, read: Callable[[Path], Any]) -> Any:
    data = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
    with sandbox(name, data) as path:
        return holds(lambda: read(path))


HUGE = st.sampled_from([10 ** 400, -(10 ** 30), 2 ** 63, 2 ** 64 + 1, float("inf"), float("nan"), -0.0, 1e308])
# Near-misses of real values: a line break or control character inside, other digits, a length past a limit.
ODD = st.sampled_from(["2.6.0\n", "12.4\r", "3.12\x85", "cu124\u2028", "run\x1btime", "２.６.０", "2.6.0 ", "\t",
                       "https://x.org/a\nb", "ghcr.io/a\n", "sha256:" + "a" * 64 + "\n", "9" * 600, "x" * 5000])
SCALARS = (st.none() | st.booleans() | st.integers() | HUGE | st.floats() | ODD
           | st.text(max_size=40) | st.sampled_from(["2.6.0", "12.4", "3.12", "cpu", "runtime", "", " ", "-", "~"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=12) | st.integers() | st.booleans(), inner, max_size=4),
                      max_leaves=20)


def paths_of(data: Any, at: tuple = ()) -> list[tuple]:
    """Every path into nested dicts/lists, the root included."""
    found = [at]
    if isinstance(data, dict):
        for key, value in data.items():
            found += paths_of(value, at + (key,))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += paths_of(value, at + (i,))
    return found


@st.composite
def mutated(draw: st.DrawFn, base: Any, values: st.SearchStrategy = VALUES) -> Any:
    """`base` with a few of its values replaced, removed, or given a new sibling key."""
    data = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths_of(data)))
        if not path:
            return draw(values)
        parent = data
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = draw(values)
        else:
            parent[path[-1]] = draw(values)
    return data


def near(base: Any) -> st.SearchStrategy:
    """Values close to `base`'s own strings (one of them elsewhere, or with a few characters put in or cut off): they
    pass the schema's types and reach the matrix's rules."""
    strings = sorted({v for path in paths_of(base) if isinstance(v := _at(base, path), str)} | {
        k for path in paths_of(base) if isinstance(v := _at(base, path), dict) for k in v if isinstance(k, str)})
    edit = st.tuples(st.sampled_from(strings), st.text(max_size=3), st.integers(0, 40), st.integers(0, 3)).map(
        lambda t: t[0][:t[2]] + t[1] + t[0][t[2] + t[3]:])
    return st.sampled_from(strings) | edit | ODD | st.lists(st.sampled_from(strings) | edit, max_size=3)


def _at(data: Any, path: tuple) -> Any:
    for step in path:
        data = data[step]
    return data


def yaml_of(data: Any, flow: bool | None) -> str:
    return yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True, sort_keys=False)


def encoded(text: str) -> st.SearchStrategy[bytes]:
    return st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252"]).map(
        lambda codec: text.encode(codec, "replace"))
