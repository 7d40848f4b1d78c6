"""The release manifest (`release.json`: each tag and its digest) and the catalog a team reads (`TAGS.md`)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from . import tags
from .build import Image
from .errors import PublishError
from .registry import RegistryRef
from .smoke import SmokeReport

RELEASE_FILE, CATALOG_FILE = "release.json", "TAGS.md"


def release_entry(image: Image, report: SmokeReport | None, push, registry: RegistryRef | None,
                  error: str | None = None) -> dict:
    """One image's record: tags, digest, labels, smoke summary, build figures and whether it all went well.

    `push` is a publish.PushResult or None (not pushed); `error` names what failed, if the caller knows."""
    v = image.variant
    tag_names = [ref.rsplit(":", 1)[1] for ref in image.refs]
    if error is None and report is not None and not report.passed:
        error = f"smoke test failed ({report.counts()['failed']} cases)"
    if error is None and registry is not None and push is None:
        error = "not pushed"
    repository = f"{registry.host}/{registry.repository(v.image)}" if registry else tags.local_repository(v)
    return {
        "variant": v.id,
        "image": v.image,
        "repository": repository,
        "tags": tag_names,
        "dated_tag": next((t for t in tag_names if tags.is_dated(t)), None),
        "digest": push.digest if push else None,
        "artifacts": dict(push.artifacts) if push else {},  # sbom / provenance -> the referrer's digest
        "image_id": image.id,
        "labels": dict(push.labels) if push and push.labels else tags.variant_labels(v),
        "smoke": None if report is None else {
            "passed": report.passed, "counts": report.counts(), "figures": report.figures,
            "gpu_tier": report.gpu_tier, "seconds": round(report.seconds, 1)},
        "build_seconds": round(image.seconds, 1),
        "size": image.size,
        "push": None if push is None else {
            "layers_pushed": push.layers_pushed, "layers_existing": push.layers_existing,
            "bytes_pushed": push.bytes_pushed, "seconds": round(push.seconds, 1)},
        "status": "failed" if error else "ok",
        "error": error,
    }


def write_release(entries: list[dict], out_dir: Path) -> tuple[Path, Path]:
    """Write release.json and TAGS.md into `out_dir`; returns both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    generated = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    manifest, catalog = out_dir / RELEASE_FILE, out_dir / CATALOG_FILE
    manifest.write_text(json.dumps({"generated": generated, "images": entries}, indent=2) + "\n")
    catalog.write_text(render_catalog(entries, generated))
    return manifest, catalog


def merge_releases(in_dir: Path) -> list[dict]:
    """Every image of every release.json under `in_dir` (one per nightly job), the newest record of each
    (repository, variant) kept, sorted by variant id."""
    newest: dict[tuple[str, str], tuple[str, dict]] = {}
    for path in sorted(Path(in_dir).rglob(RELEASE_FILE)):
        try:
            data = json.loads(path.read_text())
            generated, images = str(data.get("generated", "")), list(data["images"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise PublishError(f"{path} is not a release manifest ({exc}): remove it or re-run its job") \
                from None
        for entry in images:
            key = (str(entry.get("repository")), str(entry.get("variant")))
            if key not in newest or generated >= newest[key][0]:
                newest[key] = (generated, entry)
    ordered = sorted(newest.values(), key=lambda g: (str(g[1].get("variant")), str(g[1].get("repository"))))
    return [entry for _, entry in ordered]


def render_catalog(entries: list[dict], generated: str) -> str:
    ok = [e for e in entries if e.get("status") == "ok" and e.get("digest")]
    lines = [
        "# PyTorch images",
        "",
        f"Generated {generated}. Pin the **dated tag** or the **digest**: they never change. The other tags",
        "move to the newest build when an image is rebuilt.",
        "",
    ]
    for e in ok:
        labels, repo = e.get("labels") or {}, e["repository"]
        lines += [f"## {e['variant']}", "", _facts(e, labels), "",
                  "| tag | moves? | pull |", "| --- | --- | --- |"]
        for tag in e["tags"]:
            kind = "no (dated, immutable)" if tags.is_dated(tag) else "yes"
            lines.append(f"| `{tag}` | {kind} | `docker pull {repo}:{tag}` |")
        lines += [f"| digest | never | `docker pull {repo}@{e['digest']}` |", ""]
        pin = e.get("dated_tag") or e["tags"][0]
        lines += [f"Recommended: `FROM {repo}:{pin}` or `FROM {repo}@{e['digest']}`.", ""]
    failed = [e for e in entries if e not in ok]
    if failed:
        lines += ["## Not published", ""]
        lines += [f"- {e.get('variant')}: {e.get('error') or 'no digest'}" for e in failed]
        lines.append("")
    return "\n".join(lines)


def _facts(entry: dict, labels: dict) -> str:
    p = tags.LABEL_PREFIX
    cuda = labels.get(f"{p}.cuda", "?")
    parts = [f"PyTorch {labels.get(f'{p}.torch', '?')}",
             "CPU" if cuda == "cpu" else f"CUDA {cuda}, cuDNN {labels.get(f'{p}.cudnn', '?')}",
             f"Python {labels.get(f'{p}.python', '?')}", labels.get(f"{p}.flavor", "?")]
    if labels.get(f"{p}.min-driver", "none") != "none":
        parts.append(f"NVIDIA driver >= {labels[f'{p}.min-driver']}")
    if entry.get("size"):
        parts.append(f"{entry['size'] / 1e9:.2f} GB")
    smoke = entry.get("smoke")
    if smoke:
        counts = smoke.get("counts") or {}
        parts.append(f"smoke test {'passed' if smoke.get('passed') else 'FAILED'} "
                     f"({counts.get('passed', 0)} passed, {counts.get('skipped', 0)} skipped"
                     f"{', GPU tier' if smoke.get('gpu_tier') else ''})")
    return " · ".join(parts) + f"  \nDigest: `{entry['digest']}`"
