"""Benchmark: what the SBOM and provenance add to a build, measured on a built image.

    python bench/sbom.py imgbuild/pytorch:2.14.1-cuda13.0-cudnn9-runtime

Prints the inventory run, the CycloneDX document (size, components) and the sealing build (a second build
FROM the image that copies both files in), which is the time the step adds to `imgbuild build`."""

from __future__ import annotations

import datetime as dt
import io
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from imgbuild.build import sbom, seal
from imgbuild.core.output import Reporter
from imgbuild.engine.daemon import Engine
from imgbuild.matrix.load import load_matrix
from rich.console import Console  # noqa: E402


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    engine, ref = Engine(), sys.argv[1]
    info = engine.image(ref)
    if info is None:
        sys.exit(f"no local image {ref}: build it first")
    variant_id = info.labels.get("io.imgbuild.variant", "")
    variant = next((v for v in load_matrix(ROOT / "matrix.yaml").expand() if v.id == variant_id), None)
    if variant is None:
        sys.exit(f"{ref} is not an image of this matrix (variant label {variant_id!r})")
    t0 = time.perf_counter()
    inventory = sbom.collect(engine, info.id)
    t1 = time.perf_counter()
    document = sbom.cyclonedx_json(inventory, variant, info.id, dt.datetime.now(dt.timezone.utc))
    t2 = time.perf_counter()
    facts = seal.BuildFacts("https://example.invalid/src", "0" * 40, variant.base_image, "sha256:" + "0" * 64, {},
                            dt.datetime.now(dt.timezone.utc))
    with tempfile.TemporaryDirectory() as work:
        start = time.perf_counter()
        sealed = seal.seal(engine, info.id, variant, facts, Path(work), io.StringIO(),
                           Reporter(Console(file=io.StringIO())))
        seal_total = time.perf_counter() - start
    engine.remove_image(sealed)
    print(f"image                 {ref} ({info.size / 1e9:.2f} GB)")
    print(f"inventory run         {t1 - t0:.2f} s ({len(inventory.python)} Python, {len(inventory.os)} OS packages)")
    print(f"CycloneDX document    {t2 - t1:.2f} s, {len(document) / 1024:.0f} KiB, "
          f"{len(inventory.python) + len(inventory.os)} components")
    print(f"added to a build      {seal_total:.2f} s (inventory + documents + sealing build)")


if __name__ == "__main__":
    main()
