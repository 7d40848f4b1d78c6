"""The registry build cache and the buildx builder: which refs a build imports and exports, and the options' checks."""

from __future__ import annotations

import dataclasses

import pytest
from helpers import ROOT
from imgbuild.build.cache import registry_cache
from imgbuild.cli.options import BuildFlags
from imgbuild.core.errors import ConfigError
from imgbuild.engine.buildkit import Cache
from imgbuild.matrix.load import load_matrix


@pytest.fixture(scope="module")
def variants():
    matrix = load_matrix(ROOT / "matrix.yaml")
    return {v.id: v for v in matrix.expand() if v.cuda == "13.0" and v.torch.startswith(("2.13", "2.14"))}


def test_a_group_of_one_base_cuda_and_platform_shares_one_cache_entry(variants):
    py311 = registry_cache(variants["2.14.1-cu130-py3.11-runtime"], "127.0.0.1:5000/ci/cache")
    py312 = registry_cache(variants["2.14.1-cu130-py3.12-runtime"], "127.0.0.1:5000/ci/cache")
    older = registry_cache(variants["2.13.0-cu130-py3.12-runtime"], "127.0.0.1:5000/ci/cache")
    arm = registry_cache(dataclasses.replace(variants["2.14.1-cu130-py3.12-runtime"], platform="linux/arm64"),
                         "127.0.0.1:5000/ci/cache")
    assert py311.sources == py311.targets == ("127.0.0.1:5000/ci/cache:2.14.1-cu130-py3.11-runtime",
                                              "127.0.0.1:5000/ci/cache:ubuntu-24.04-cu130-amd64")
    assert py311.sources[1] == py312.sources[1] == older.sources[1] != arm.sources[1]
    assert len({py311.sources[0], py312.sources[0], older.sources[0]}) == 3
    other_base = dataclasses.replace(variants["2.14.1-cu130-py3.11-runtime"], base_image="x" * 200)
    assert all(len(ref.split(":")[-1]) <= 128 for ref in registry_cache(other_base, "h:1/n/c").sources)
    assert registry_cache(variants["2.14.1-cu130-py3.11-runtime"], None) == Cache()


def test_the_cache_is_read_from_every_entry_and_written_with_every_step():
    flags = Cache(sources=("r/c:a", "r/c:b"), targets=("r/c:a",)).flags()
    assert flags == ["--cache-from=type=registry,ref=r/c:a", "--cache-from=type=registry,ref=r/c:b",
                     "--cache-to=type=registry,ref=r/c:a,mode=max,ignore-error=true"]
    assert Cache().flags() == []


@pytest.mark.parametrize(("value", "said"), [
    ("pytorch-cache", "name a repository as HOST/NS/NAME"),
    ("127.0.0.1:5000/ci/cache:tag", "without a tag"),
    ("127.0.0.1:5000/CI/cache", "--cache-registry"),
    ("127.0.0.1:5000/ci/cache@sha256:" + "a" * 64, "without a tag"),
])
def test_a_cache_registry_must_be_a_repository_in_a_registry(value, said):
    with pytest.raises(ConfigError, match=said):
        BuildFlags(cache_registry=value)


def test_builder_names_and_a_good_cache_registry_pass_into_the_options(tmp_path):
    options = BuildFlags(builder="ci-builder", cache_registry="127.0.0.1:5000/ci/cache").options(tmp_path)
    assert (options.builder, options.cache_registry) == ("ci-builder", "127.0.0.1:5000/ci/cache")
    assert BuildFlags(builder=" ", cache_registry="").options(tmp_path).cache_registry is None  # an unset variable
    for bad in ("a b", "-x", "x" * 80, "a;rm"):
        with pytest.raises(ConfigError, match="buildx builder"):
            BuildFlags(builder=bad)
