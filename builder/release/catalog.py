"""TAGS.md, the catalog a team reads: each published image's tags, digest, facts and the tier it was tested on;
then what failed and what was not locked."""

from __future__ import annotations

from typing import Any

from ..core import tags
from .diff import catalog_line
from .indexes import IndexEntry, catalog_section

ReleaseEntry = Any  # manifest.ReleaseEntry, which imports this module: the catalog only reads its fields

CATALOG_TITLE = "# PyTorch images"


def render_catalog(entries: list[ReleaseEntry], generated: str, indexes: list[IndexEntry] = ()) -> str:
    ok = [e for e in entries if e.published]
    lines = [
        CATALOG_TITLE,
        "",
        f"Generated {generated}. Pin the **dated tag** or the **digest**: they never change. The other tags",
        "move to the newest build when an image is rebuilt. **Tested on** says which smoke tier the digest",
        "passed: GPU (the GPU cases on a real GPU, and the CPU ones) or CPU (built and tested without a GPU).",
        "Each tag has a twin, TAG-zstd: the same image with zstd layers, which Docker 23+, containerd and Podman",
        "pull faster; the plain tags (gzip) pull on every engine, Docker 20.10 included.",
        "",
        _counts_line(entries),
        "",
        *catalog_section(list(indexes)),
    ]
    for e in ok:
        repo = e.repository
        lines += [f"## {e.name}", "", _facts(e), "", *_team_line(e), *_change_line(e),
                  "| tag | moves? | pull |", "| --- | --- | --- |"]
        for tag in e.tags:
            kind = "no (dated, immutable)" if tags.is_dated(tag) else "yes"
            lines.append(f"| `{tag}` | {kind} | `docker pull {repo}:{tag}` |")
        lines.append(f"| digest | never | `docker pull {repo}@{e.digest}` |")
        if e.zstd_digest:  # the same image in zstd layers (Docker 23+, containerd, Podman): publish/zstd.py
            lines.append(f"| zstd: every tag + `-zstd` | as its tag | `docker pull {repo}@{e.zstd_digest}` |")
        lines.append("")
        pin = e.dated_tag or (e.tags[0] if e.tags else None)
        lines += [f"Recommended: `FROM {repo}:{pin}` or `FROM {repo}@{e.digest}`.", ""]
    for outcome, title in (("failed", "## Failed"), ("not locked", "## Not locked (nothing built)")):
        left = [e for e in entries if e.outcome == outcome]
        if left:
            lines += [title, "", *(f"- {e.name}: {e.error or 'no digest'}" for e in left), ""]
    return "\n".join(lines)


def outcome_counts(entries: list[ReleaseEntry]) -> dict[str, int]:
    """How many images the night built, left unchanged (retagged), failed, or could not build for want of a lock."""
    return {outcome: sum(e.outcome == outcome for e in entries)
            for outcome in ("built", "unchanged", "failed", "not locked")}


def _counts_line(entries: list[ReleaseEntry]) -> str:
    counts = outcome_counts(entries)
    return ", ".join(f"{n} {outcome}" for outcome, n in counts.items()) + f" of {len(entries)} images."


def _team_line(entry: ReleaseEntry) -> list[str]:
    if entry.team is None:
        return []
    adds = [*entry.team.pip, *(f"apt {p}" for p in entry.team.apt)]
    return [f"On `{entry.team.base}`, plus: {', '.join(f'`{a}`' for a in adds) or 'nothing'}.", ""]


def _change_line(entry: ReleaseEntry) -> list[str]:
    line = catalog_line(entry)
    return [line, ""] if line else []


def _facts(entry: ReleaseEntry) -> str:
    p, labels = tags.LABEL_PREFIX, entry.labels
    cuda = labels.get(f"{p}.cuda", "?")
    parts = [f"PyTorch {labels.get(f'{p}.torch', '?')}",
             "CPU" if cuda == "cpu" else f"CUDA {cuda}, cuDNN {labels.get(f'{p}.cudnn', '?')}",
             f"Python {labels.get(f'{p}.python', '?')}", labels.get(f"{p}.flavor", "?")]
    if labels.get(f"{p}.min-driver", "none") != "none":
        parts.append(f"NVIDIA driver >= {labels[f'{p}.min-driver']}")
    if entry.size:
        parts.append(f"{entry.size / 1e9:.2f} GB")
    smoke = entry.smoke
    if smoke:
        parts.append(f"tested on {entry.tier or 'nothing (FAILED)'} "
                     f"({smoke.counts.get('passed', 0)} passed, {smoke.counts.get('skipped', 0)} skipped)")
    return " · ".join(parts) + f"  \nDigest: `{entry.digest}`"
