"""Image references parsed once: a registry's port is never a tag; digests and nested namespaces kept."""

from __future__ import annotations

import pytest
from imgbuild.core.errors import ConfigError
from imgbuild.core.reference import ImageRef, RegistryRef


@pytest.mark.parametrize("text, registry, repository, tag, digest", [
    ("imgbuild/pytorch:2.6.0-cpu", None, "imgbuild/pytorch", "2.6.0-cpu", None),
    ("127.0.0.1:5000/ns/img:tag", "127.0.0.1:5000", "ns/img", "tag", None),
    ("127.0.0.1:5000/ns/img", "127.0.0.1:5000", "ns/img", None, None),
    ("localhost/team/x:1", "localhost", "team/x", "1", None),
    ("ghcr.io/org/sub/pytorch:latest", "ghcr.io", "org/sub/pytorch", "latest", None),
    ("img@sha256:" + "ab" * 32, None, "img", None, "sha256:" + "ab" * 32),
    ("[::1]:5000/ns/img:t@sha256:" + "cd" * 32, "[::1]:5000", "ns/img", "t", "sha256:" + "cd" * 32),
    ("debian", None, "debian", None, None),
])
def test_parse_and_print_round_trip(text, registry, repository, tag, digest):
    ref = ImageRef.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)
    assert str(ref) == text


def test_name_and_repository_for_the_engine():
    ref = ImageRef.parse("127.0.0.1:5000/ns/img:tag")
    assert ref.name == "img" and ref.full_repository == "127.0.0.1:5000/ns/img"
    assert str(ref.with_tag("other")) == "127.0.0.1:5000/ns/img:other"
    assert ref.same_repository(ImageRef.parse("127.0.0.1:5000/ns/img@sha256:" + "ab" * 32))
    assert not ref.same_repository(ImageRef.parse("ns/img:tag"))


@pytest.mark.parametrize("text", ["Upper/Case:1", "img:", "img:bad tag", "img@sha256:xyz", "a//b", ""])
def test_a_malformed_reference_is_one_config_error(text):
    with pytest.raises(ConfigError, match="bad image reference") as err:
        ImageRef.parse(text)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("host, loopback", [("127.0.0.1:5000", True), ("127.8.0.1", True), ("localhost:5000", True),
                                            ("[::1]:5000", True), ("127.evil.example:5000", False),
                                            ("ghcr.io", False), ("10.0.0.1:5000", False)])
def test_only_a_loopback_address_is_loopback(host, loopback):
    assert RegistryRef(host, "ns").is_loopback is loopback  # a name that starts with 127. is a host like any other
