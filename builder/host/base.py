"""`imgbuild base`: make a base image from this host's own apt sources (debootstrap), for machines that cannot pull
from Docker Hub (air-gapped sites, corporate mirrors). The root filesystem tarball is cached, so a second run is
an import of seconds, and a third, with the image present, does nothing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import platformdirs

from ..core.errors import ConfigError, OutputError
from ..core.platform import DEFAULT_PLATFORM, engine_platform, platform

SOURCES = (Path("/etc/apt/sources.list.d"), Path("/etc/apt/sources.list"))


@dataclass(frozen=True)
class AptSource:
    """The distribution this host installs from: where (mirror) and which release (suite)."""

    distro: str  # debian, ubuntu
    suite: str  # bookworm, noble
    mirror: str

    @property
    def image(self) -> str:
        return f"local/{self.distro}:{self.suite}"


def host_source(root: Path = Path("/")) -> AptSource:
    """The first deb source of the host's apt configuration (deb822 .sources files, then sources.list)."""
    release = _os_release(root / "etc/os-release")
    distro = release.get("ID", "")
    for path in _source_files(root):
        for uri, suite in _entries(path.read_text(errors="replace")):
            if uri.startswith(("http://", "https://", "file:/")) and not suite.endswith(("-updates", "-security")):
                return AptSource(distro=distro or "debian", suite=suite, mirror=uri)
    raise ConfigError("this host has no apt source to make a base image from (no /etc/apt/sources.list*): "
                      "pass --base-image with an image your daemon has")


def _os_release(path: Path) -> dict[str, str]:
    try:
        text = path.read_text()
    except OSError:
        return {}
    return {k: v.strip('"') for k, _, v in (line.partition("=") for line in text.splitlines()) if v}


def _source_files(root: Path) -> list[Path]:
    folder, single = (root / p.relative_to("/") for p in SOURCES)
    files = sorted(folder.glob("*.sources")) + sorted(folder.glob("*.list")) if folder.is_dir() else []
    return files + ([single] if single.is_file() else [])


def _entries(text: str) -> list[tuple[str, str]]:
    """(URI, suite) pairs from either format: `deb URI SUITE ...` lines or deb822 `URIs:`/`Suites:` stanzas."""
    pairs = [(m[1], m[2]) for m in re.finditer(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)", text, re.MULTILINE)]
    for stanza in re.split(r"\n\s*\n", text):
        fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.MULTILINE))
        if "deb" in fields.get("Types", "").split() and fields.get("URIs") and fields.get("Suites"):
            pairs += [(uri, suite) for uri in fields["URIs"].split() for suite in fields["Suites"].split()]
    return pairs


def cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir("imgbuild")) / "base"


def rootfs_tarball(source: AptSource, cache: Path, log, arch: str = "") -> Path:
    """debootstrap --variant=minbase into a temp folder, packed as a tarball in the cache (reused next time); for
    another architecture (`arch`, Debian's name) the second stage runs under qemu (scripts/setup-qemu.sh)."""
    tarball = cache / f"{source.distro}-{source.suite}{'-' + arch if arch else ''}-rootfs.tar"
    if tarball.is_file() and tarball.stat().st_size > 0:
        return tarball
    if not shutil.which("debootstrap"):
        raise ConfigError("debootstrap is not installed: apt-get install debootstrap (it makes the base image)")
    if os.geteuid() != 0:
        raise ConfigError("debootstrap needs root: run `sudo imgbuild base`")
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {cache} ({exc.strerror}): set XDG_CACHE_HOME to a folder you can write") \
            from None
    with tempfile.TemporaryDirectory(prefix="imgbuild-rootfs-") as rootfs:
        log(f"debootstrap {source.suite} from {source.mirror} (about a minute)")
        done = subprocess.run(["debootstrap", "--variant=minbase", *([f"--arch={arch}"] if arch else []),
                               source.suite, rootfs, source.mirror], capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ConfigError(f"debootstrap {source.suite} {source.mirror} failed: {last[0][:300]}: "
                              "check the mirror with `apt-get update`")
        # what debootstrap downloaded stays behind (about 80 MB of .debs and lists): Docker's official bases drop it
        for pattern in ("var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*_*"):
            for leftover in Path(rootfs).glob(pattern):
                leftover.unlink()
        partial = tarball.with_suffix(".tar.partial")
        subprocess.run(["tar", "-C", rootfs, "-cf", str(partial), "."], check=True)
        partial.rename(tarball)
    return tarball


PYTHON_LABEL = "io.imgbuild.base.python"


def distro_python(source: AptSource, root: Path = Path("/")) -> str | None:
    """The python3 (X.Y) the distribution installs, read from the host's apt cache when the host runs that suite:
    the image's `apt-get install python3` gives that version, so a variant of another Python needs a standalone one."""
    if _os_release(root / "etc/os-release").get("VERSION_CODENAME") != source.suite or not shutil.which("apt-cache"):
        return None
    out = subprocess.run(["apt-cache", "policy", "python3"], capture_output=True, text=True).stdout
    found = re.search(r"Candidate:\s*(?:\d+:)?(\d+\.\d+)", out)
    return found[1] if found else None


def make_base(engine, source: AptSource, tag: str, *, force: bool, log,
              target: str = DEFAULT_PLATFORM) -> tuple[str, bool]:
    """The base image `tag` from `source` for the `target` platform; (tag, made) where made is False when it was
    there already."""
    if engine.image(tag) is not None and not force:
        return tag, False
    machine = platform(target).machine
    foreign = machine != os.uname().machine  # an arm64 base on an arm64 runner is made natively
    if foreign and not Path(f"/proc/sys/fs/binfmt_misc/qemu-{machine}").exists():
        raise ConfigError(f"this host cannot run {target} programs (no qemu-{machine} binfmt "
                          "handler): sudo bash scripts/setup-qemu.sh, or run on a machine of that platform")
    tarball = rootfs_tarball(source, cache_dir(), log, platform(target).architecture if foreign else "")
    python = distro_python(source)
    engine.import_tarball(tarball, tag, labels={PYTHON_LABEL: python} if python else {},
                          platform=engine_platform(target))
    return tag, True


@dataclass(frozen=True)
class HostBase:
    """A base image made from this host's apt sources (`imgbuild base`)."""

    ref: str
    made: bool  # False: it was there already
    source: AptSource
    python: str | None  # its python3, as its label records it
    platform: str


def make_host_base(engine, tag: str | None, *, suite: str | None, mirror: str | None, force: bool, log,
                   target: str = DEFAULT_PLATFORM) -> HostBase:
    """`imgbuild base`: the host's apt sources (another suite or mirror where given) bootstrapped into `tag`, by
    default local/DISTRO:SUITE (with the platform's suffix off linux/amd64)."""
    source = host_source()
    source = replace(source, suite=suite or source.suite, mirror=mirror or source.mirror)
    tag = tag or f"local/{source.distro}:{source.suite}{platform(target).id_suffix}"
    ref, made = make_base(engine, source, tag, force=force, log=log, target=target)
    return HostBase(ref, made, source, engine.image(ref).labels.get(PYTHON_LABEL), target)
