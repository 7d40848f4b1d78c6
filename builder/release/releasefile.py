"""release.json read back: the one reader that `catalog`, `digests`, `nightly-summary` and `join --out` use. A file is
checked whole (fields.py) before any of it is used, so a damaged or hostile one is refused in one line naming the
file, the entry and the field, before anything is written, pushed or printed for signing."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from ..core.errors import ConfigError
from ..core.reference import ImageRef
from ..core.shown import shown
from .fields import FIX, BadField, Fields, load_json
from .indexes import WAITING, IndexEntry
from .manifest import RELEASE_FILE, ReleaseEntry, SmokeSummary, release_files, write_release

WHAT = "a release manifest"
GPU_REPORT = "gpu-tier.json"  # what the GPU job writes (`imgbuild test --json`) and the catalog reads
T = TypeVar("T")


@dataclass(frozen=True)
class ReleaseFile:
    """One release.json, checked: when it was generated, its images and its multi-platform indexes."""

    path: Path
    generated: str
    images: tuple[ReleaseEntry, ...]
    indexes: tuple[IndexEntry, ...]


def read_release(path: Path) -> ReleaseFile:
    """One release.json, every entry checked; a ConfigError line naming the file, entry and field when it is not."""
    data = load_json(path, WHAT)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("indexes") or [], list):
        raise ConfigError(f"{path} is not {WHAT} (no list of \"images\"): {FIX}")
    try:
        generated = Fields(data).text("generated") or ""
    except BadField as exc:
        raise ConfigError(f"{path}: {exc}: {FIX}") from None
    return ReleaseFile(path, generated, tuple(_entries(path, "images", data["images"], ReleaseEntry.from_json)),
                       tuple(_entries(path, "indexes", data.get("indexes") or [], IndexEntry.from_json)))


def _entries(path: Path, key: str, items: list[Any], read: Callable[[Any], T]) -> Iterator[T]:
    for i, item in enumerate(items):
        try:
            yield read(item)
        except BadField as exc:
            variant = item.get("variant") if isinstance(item, dict) else None
            named = f" ({shown(variant)})" if isinstance(variant, str) else ""
            raise ConfigError(f"{path}: {key}[{i}]{named}: {exc}: {FIX}") from None


def read_folder(in_dir: Path, *, recursive: bool = True) -> list[ReleaseFile]:
    """Every release.json under `in_dir` (one per nightly job), in path order, each read once."""
    found = Path(in_dir).rglob(RELEASE_FILE) if recursive else Path(in_dir).glob(RELEASE_FILE)
    return [read_release(path) for path in sorted(found)]


def newest_images(files: Iterable[ReleaseFile]) -> list[ReleaseEntry]:
    """The newest record of each (repository, variant) across `files`, sorted by variant id."""
    newest: dict[tuple[str, str], tuple[str, ReleaseEntry]] = {}
    for file in files:
        for entry in file.images:
            key = (entry.repository, entry.variant)
            if key not in newest or file.generated >= newest[key][0]:
                newest[key] = (file.generated, entry)
    return [entry for _, entry in sorted(newest.values(), key=lambda g: (g[1].variant, g[1].repository))]


def newest_indexes(files: Iterable[ReleaseFile]) -> list[IndexEntry]:
    """The newest record of each (repository, build) across `files` (a join job after the platforms' jobs), ok
    over waiting."""
    newest: dict[tuple[str, str], IndexEntry] = {}
    for file in sorted(files, key=lambda f: f.generated):
        for entry in file.indexes:
            key = (entry.repository, entry.variant)
            if key not in newest or entry.status != WAITING or newest[key].status == WAITING:
                newest[key] = entry
    return sorted(newest.values(), key=lambda e: (e.variant, e.repository))


def merge_releases(in_dir: Path, *, recursive: bool = True) -> list[ReleaseEntry]:
    """Every image of every release.json under `in_dir`, the newest record of each kept, sorted by variant id."""
    return newest_images(read_folder(in_dir, recursive=recursive))


def merge_indexes(in_dir: Path) -> list[IndexEntry]:
    """Every multi-platform index of every release.json under `in_dir`, the newest record of each kept."""
    return newest_indexes(read_folder(in_dir))


def read_releases(in_dir: Path) -> tuple[list[ReleaseEntry], list[IndexEntry]]:
    """What `catalog`, `digests` and `nightly-summary` read: the merged images and indexes under `in_dir`, which must
    hold at least one image (a nightly must never sign, scan or summarise nothing and stay green)."""
    if not Path(in_dir).is_dir():
        raise ConfigError(f"--in {in_dir} is not a folder: pass the folder the nightly's release fragments were "
                          "downloaded into")
    files = read_folder(in_dir)
    images = newest_images(files)
    if not images:
        raise ConfigError(f"no {RELEASE_FILE} with any image under {in_dir}: pass the folder holding the "
                          "fragments `imgbuild release` wrote")
    return images, newest_indexes(files)


def recorded(out_dir: Path) -> ReleaseFile | None:
    """The release.json in `out_dir` that `record_indexes` adds to, checked now; None when there is none. `join`
    asks before it writes any tag: a damaged file stops it while the registry is still untouched."""
    manifest, _ = release_files(out_dir)
    return read_release(manifest) if manifest.exists() else None


def record_indexes(indexes: list[IndexEntry], out_dir: Path, before: ReleaseFile | None = None) -> tuple[Path, Path]:
    """Add `indexes` to the release.json in `out_dir` (`before`, as `recorded` read it; read now when not given),
    its images and other indexes kept, or start one."""
    before = before or recorded(out_dir)
    replaced = {(n.repository, n.variant) for n in indexes}
    kept = [i for i in (before.indexes if before else ()) if (i.repository, i.variant) not in replaced]
    images = newest_images([before]) if before else []
    return write_release(images, out_dir, sorted(kept + indexes, key=lambda i: (i.variant, i.repository)))


def with_gpu_reports(entries: list[ReleaseEntry], in_dir: Path) -> list[ReleaseEntry]:
    """Each entry whose digest a passing GPU-tier report under `in_dir` names gets that report as its smoke
    summary (the build job's CPU tier is kept where no GPU runner tested it; publish/tested.py marks the digest)."""
    passed: dict[str, SmokeSummary] = {}
    for path in sorted(Path(in_dir).rglob(GPU_REPORT)):
        data = load_json(path, "a GPU-tier report")  # a FIFO, a device or a deep nesting: one line, no hang
        try:  # checked as release.json's smoke record is: "passed": "no" must never read as a pass
            fields = Fields(data)
            digest = ImageRef.parse(fields.text("image", True)).digest
            summary = SmokeSummary.read(fields)
        except BadField as exc:
            raise ConfigError(f"{path} is not a GPU-tier report ({exc}): {FIX}") from None
        summary = replace(summary, seconds=round(summary.seconds, 1))
        if digest and summary.passed and summary.gpu_tier:
            passed[digest] = summary
    return [replace(e, smoke=passed[e.digest]) if e.digest in passed else e for e in entries]
