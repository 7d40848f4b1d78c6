"""BuildKit's plain progress read for steps and failures, and the traits of a base read from its files (fast: an
autospecced Engine hands the files; the real engines are in tests/integration/test_engines.py and test_bases.py)."""

from __future__ import annotations

import re
from unittest.mock import create_autospec

import pytest
from helpers import ROOT
from imgbuild.build.failures import explain_failure
from imgbuild.core.errors import ConfigError
from imgbuild.engine.buildkit import _Progress
from imgbuild.engine.daemon import Engine
from imgbuild.engine.values import ImageInfo
from imgbuild.host.base_traits import APT_GET, APT_HOOK, DPKG_EXCLUDES, PASSWD, check_base, read_traits
from imgbuild.matrix.load import load_matrix
from imgbuild.matrix.select import Selection, select

FAILED_BUILD = """\
#1 [internal] load build definition from Dockerfile
#1 DONE 0.0s
#5 [2/9] RUN apt-get update
#5 CACHED
#7 [ 6/9] RUN useradd --create-home --uid 1000 --gid 0 ml
#7 0.312 useradd: UID 1000 is not unique
#7 ERROR: process "/bin/bash -o pipefail -c useradd ..." did not complete successfully: exit code: 4
------
 > [ 6/9] RUN useradd --create-home --uid 1000 --gid 0 ml:
0.312 useradd: UID 1000 is not unique
------
ERROR: failed to solve: process "/bin/bash -o pipefail -c useradd ..." did not complete successfully: exit code: 4
"""


def test_buildkit_progress_gives_each_step_and_the_failing_steps_own_lines():
    steps = []
    progress = _Progress(lambda n, total, text: steps.append((n, total, text)))
    for line in FAILED_BUILD.splitlines():
        progress.read(line)
    assert steps == [(2, 9, "RUN apt-get update"), (6, 9, "RUN useradd --create-home --uid 1000 --gid 0 ml")]
    message = progress.failure("/tmp/x.build.log")
    assert message.startswith("build failed at step 6/9: RUN useradd --create-home --uid 1000 --gid 0 ml: ")
    assert "useradd: UID 1000 is not unique" in message and "exit code: 4" in message
    assert message.endswith("(full log: /tmp/x.build.log)")


def test_a_failure_before_any_step_says_what_buildkit_said():
    progress = _Progress(lambda *_: None)
    progress.read('ERROR: failed to solve: local/nothing:1: failed to resolve source metadata')
    assert "before the first step: failed to solve: local/nothing:1" in progress.failure("log")


UBUNTU_RELEASE = b'PRETTY_NAME="Ubuntu 24.04.1 LTS"\nNAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\nID_LIKE=debian\n'
UBUNTU_PASSWD = b"root:x:0:0:root:/root:/bin/bash\nubuntu:x:1000:1000:Ubuntu:/home/ubuntu:/bin/bash\n"


def engine_with(files: dict[str, bytes], labels: dict | None = None) -> Engine:
    engine = create_autospec(Engine, instance=True)
    engine.read_files.side_effect = lambda ref, paths: {p: files.get(p) for p in paths}
    engine.image.return_value = ImageInfo(id="sha256:b", tags=(), digests=(), labels=labels or {})
    return engine


def test_ubuntu_2404s_traits_are_each_said_in_one_line():
    engine = engine_with({"/etc/os-release": UBUNTU_RELEASE, APT_GET: b"\x7fELF", PASSWD: UBUNTU_PASSWD,
                          APT_HOOK: b"DPkg::Post-Invoke {}", DPKG_EXCLUDES: b"path-exclude=/usr/share/doc/*"})
    traits = read_traits(engine, "ubuntu:24.04", 1000)
    assert (traits.distro, traits.version, traits.python, traits.uid_holder) == ("ubuntu", "24.04", "3.12", "ubuntu")
    line = check_base(traits, "3.11", "ml", 1000)
    assert line.startswith("base ubuntu:24.04: Ubuntu 24.04.1 LTS; its user ubuntu gives uid 1000 to ml; ")
    assert "Docker's apt hook" in line and "dpkg leaves docs out" in line
    assert "python3 is 3.12, so uv fetches CPython 3.11" in line and "--python 3.12" in line
    assert "\n" not in line
    assert "uv fetches" not in check_base(traits, "3.12", "ml", 1000)


def test_the_os_release_link_of_debian_is_followed_and_the_bases_python_label_wins():
    engine = engine_with({"/usr/lib/os-release": b'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nID=debian\n'
                          b'VERSION_ID="13"\n', APT_GET: b"\x7fELF"}, labels={"io.imgbuild.base.python": "3.13"})
    traits = read_traits(engine, "local/debian:trixie", 1000)
    assert traits.python == "3.13" and traits.uid_holder is None
    assert check_base(traits, "3.13", "ml", 1000) == "base local/debian:trixie: Debian GNU/Linux 13 (trixie)"


@pytest.mark.parametrize(("files", "said"), [
    ({"/etc/os-release": b'PRETTY_NAME="Alpine Linux v3.20"\nID=alpine\n', "/bin/sh": b""},
     "is Alpine Linux v3.20, which has no apt"),
    ({"/etc/os-release": b'PRETTY_NAME="Red Hat Enterprise Linux 9.4"\nID="rhel"\nID_LIKE="fedora"\n'},
     "is Red Hat Enterprise Linux 9.4, which has no apt"),
    ({APT_GET: b"\x7fELF"}, "has no /etc/os-release, so it is not a Debian or Ubuntu image"),
])
def test_a_base_without_apt_is_refused_with_the_fix(files, said):
    traits = read_traits(engine_with(files), "some/base:1", 1000)
    with pytest.raises(ConfigError, match=re.escape(said)) as refused:
        check_base(traits, "3.11", "ml", 1000)
    assert "--base-image" in str(refused.value) and "\n" not in str(refused.value)


def test_an_unlisted_debian_family_release_builds_with_a_note():
    engine = engine_with({"/etc/os-release": b'PRETTY_NAME="Linux Mint 22"\nID=linuxmint\nID_LIKE="ubuntu debian"\n'
                          b'VERSION_ID="22"\n', APT_GET: b"\x7fELF"})
    line = check_base(read_traits(engine, "mint:22", 1000), "3.11", "ml", 1000)
    assert "not a supported release" in line and "its apt's python3 is not known here" in line


BUILDKIT_HASH_FAILURE = """\
#13 [ 9/17] RUN --mount=type=cache,id=imgbuild-pip,target=/var/cache/imgbuild/pip     umask 0002
#13 7.661 ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE. If you have updated the package
#13 7.662     anyio==4.16.0 from http://127.0.0.1:40000/anyio-4.16.0-py3-none-any.whl (from -r requirements.txt (line 3)):
#13 7.662         Expected sha256 0000000000000000000000000000000000000000000000000000000000000000
#13 7.662              Got        1111111111111111111111111111111111111111111111111111111111111111
#13 ERROR: process "/bin/bash -o pipefail -c umask 0002 && pip install ..." did not complete successfully: exit code: 1
"""


def test_a_hash_mismatch_in_buildkits_log_is_named_in_one_line(tmp_path):
    [variant] = select(load_matrix(ROOT / "matrix.yaml"), Selection(torch="2.14", cuda="13.0", python="3.11",
                                                                    flavor="runtime"))
    log = tmp_path / "build.log"
    log.write_text(BUILDKIT_HASH_FAILURE)
    error = explain_failure(variant, log)
    assert error is not None and str(error).startswith("anyio==4.16.0 does not match its hash in ")
