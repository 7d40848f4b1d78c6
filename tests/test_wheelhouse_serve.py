"""The wheelhouse's find-links URL is a build argument, in the cache key of every later step: every folder gets the
same URL, so builds from two wheelhouses share BuildKit's cache; a build beside another still gets a port."""

from __future__ import annotations

from pathlib import Path

import requests
from imgbuild.lock.wheelhouse import serve


def test_two_wheelhouses_one_after_another_get_one_url(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
        (folder / "x-1.0-py3-none-any.whl").write_bytes(folder.name.encode())
    with serve(first) as url_a:
        assert requests.get(url_a + "x-1.0-py3-none-any.whl", timeout=10).content == b"a"
    with serve(second) as url_b:
        assert requests.get(url_b + "x-1.0-py3-none-any.whl", timeout=10).content == b"b"
    assert url_a == url_b


def test_a_build_beside_another_gets_a_port_of_its_own(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (second / "y.whl").write_bytes(b"y")
    with serve(first) as url_a, serve(second) as url_b:
        assert url_a != url_b
        assert requests.get(url_b + "y.whl", timeout=10).content == b"y"
