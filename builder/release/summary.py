"""The nightly's last steps on the release files its jobs wrote: `imgbuild catalog` merges them into one release.json
and TAGS.md, `imgbuild nightly-summary` renders them as Markdown (for $GITHUB_STEP_SUMMARY)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .catalog import outcome_counts
from .manifest import write_release
from .releasefile import read_releases, with_gpu_reports


@dataclass(frozen=True)
class Merged:
    images: int
    indexes: int
    manifest: Path
    catalog: Path


def merge_fragments(in_dir: Path, out: Path) -> Merged:
    """The release fragments under `in_dir` (and the GPU runners' reports) as one release.json and TAGS.md in `out`;
    every file is checked before anything is written."""
    images, indexes = read_releases(in_dir)
    entries = with_gpu_reports(images, in_dir)
    manifest, catalog = write_release(entries, out, indexes)
    return Merged(len(entries), len(indexes), manifest, catalog)


def summary_markdown(in_dir: Path) -> str:
    """A Markdown summary of the releases under `in_dir`: built vs unchanged variants, bytes pushed, the
    multi-platform tags."""
    images, indexes = read_releases(in_dir)
    entries = with_gpu_reports(images, in_dir)
    count = outcome_counts(entries)
    pushed = sum(e.push.bytes_pushed for e in entries if e.push)
    lines = [f"**{count['built']} built, {count['unchanged']} unchanged (retagged), {count['failed']} failed, "
             f"{count['not locked']} not locked; {pushed / 1e9:.2f} GB of layers pushed**", "",
             "| variant | outcome | tested on | digest | detail |", "| --- | --- | --- | --- | --- |"]
    for e in entries:
        detail = (f"since {e.unchanged_since}" if e.unchanged_since else e.error or
                  (e.changes or {}).get("summary") or e.rebuilt_because or "")
        lines.append(f"| {e.variant} | {e.outcome} | {e.tier or '-'} | `{(e.digest or '-')[:19]}` | {detail[:200]} |")
    if indexes:
        written = [i for i in indexes if i.status == "ok"]
        lines += ["", f"**Multi-platform tags: {len(written)} of {len(indexes)} builds joined**", ""]
        lines += [f"- {i.variant}: " + (f"`{i.dated_tag}` = `{(i.digest or '')[:19]}` ({', '.join(i.platforms)})"
                                        if i.status == "ok" else f"not joined: {(i.error or '')[:200]}")
                  for i in indexes]
    return "\n".join(lines)
