"""Benchmark: bytes and seconds of pushes to a local registry (Distribution 2.8 on loopback, htpasswd auth).

Each push writes the zstd twin of its tags too (publish/zstd.py; its seconds and the layers it recompressed are
shown apart). Three pushes: a first push (every layer uploads), the same push again (goal: zero layers uploaded) and a
second image sharing the base (goal: only the layers that differ). By default the images are two small ones
built FROM the local Debian base; `--image REF` (repeatable) measures built images instead: the first REF is
pushed twice, the others are pushed after it as the "second image".

    python bench/push.py [--base local/debian:bookworm] [--size-mb 20] [--image imgbuild/pytorch:TAG ...]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # registry_server.py: runs the Debian registry binary on loopback

from imgbuild.build.image import Image
from imgbuild.core.output import Reporter
from imgbuild.core.reference import ImageRef, RegistryRef
from imgbuild.engine.daemon import Engine
from imgbuild.publish.push import PushResult, push_image
from imgbuild.registry.client import RegistryClient
from imgbuild.registry.credentials import Credentials
from imgbuild.registry.target import RegistryTarget
from registry_server import RegistryServer
from rich.console import Console


def build_tiny(base: str, ref: str, name: str, size_mb: int) -> None:
    dockerfile = (f"FROM {base}\nRUN head -c {size_mb}M /dev/urandom > /{name}\n"
                  f"LABEL io.imgbuild.variant=bench-{name}\n")
    subprocess.run(["docker", "build", "-q", "--provenance=false", "--network", "host", "-t", ref, "-"], input=dockerfile,
                   text=True, check=True, capture_output=True)


def measure(engine: Engine, ref: str, tag: str, registry: RegistryRef, creds: Credentials,
            client: RegistryClient, work: Path) -> PushResult:
    dated = f"{tag}-{dt.date.today().isoformat()}"
    local = ImageRef.parse(ref)
    info = engine.image(local)
    image = Image(id=info.id, ref=local, refs=(local.with_tag(dated), local.with_tag(tag)), labels=info.labels)
    return push_image(engine, image, RegistryTarget(registry, creds, client), None,
                      reporter=Reporter(Console(file=io.StringIO())), allow_untested=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", action="append", default=[], help="measure this local image (repeatable)")
    parser.add_argument("--base", default=os.environ.get("IMGBUILD_TEST_BASE_IMAGE", "local/debian:bookworm"))
    parser.add_argument("--size-mb", type=int, default=20, help="size of each small image's own layer")
    args = parser.parse_args()

    engine = Engine()
    built: list[str] = []
    refs = args.image
    if not refs:
        local = f"imgbuild-bench-{secrets.token_hex(3)}/pytorch"
        refs = [f"{local}:first", f"{local}:second"]
        for ref in refs:
            build_tiny(args.base, ref, ImageRef.parse(ref).tag or "latest", args.size_mb)
            built.append(ref)
    missing = [ref for ref in refs if engine.image(ref) is None]
    if missing:
        sys.exit(f"no local image {missing[0]}: build it first or check the name")

    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="imgbuild-bench-") as tmp, \
                RegistryServer(Path(tmp) / "registry", "bench", secrets.token_hex(8)) as server:
            creds = Credentials(server.user, server.password)
            client = RegistryClient(server.host, creds)
            registry = RegistryRef(server.host, "bench")
            work = Path(tmp) / "work"
            for what in ("first push", "same push again"):
                rows.append((what, refs[0], measure(engine, refs[0], "one", registry, creds, client, work)))
            for i, ref in enumerate(refs[1:], start=2):
                rows.append((f"image {i}, same base", ref,
                             measure(engine, ref, f"img{i}", registry, creds, client, work)))
    finally:
        for ref in built:
            engine.remove_image(ref, force=True)

    print(f"{'push':<22} {'layers up':>9} {'existing':>8} {'MB up':>9} {'seconds':>8} {'of it zstd':>10}"
          f" {'zstd made':>9}  image")
    for what, ref, r in rows:
        twin = r.zstd
        print(f"{what:<22} {r.layers_pushed:>9} {r.layers_existing:>8} {r.bytes_pushed / 1e6:>9.1f} "
              f"{r.seconds:>8.2f} {twin.seconds if twin else 0:>10.2f} {twin.layers_converted if twin else 0:>9}"
              f"  {ref} ({r.digest[:19]})")
    again = rows[1][2]
    print(f"goal, same push again uploads nothing: {'met' if again.layers_pushed == 0 else 'MISSED'}")
    for _, _, r in rows[2:]:
        print(f"goal, image sharing the base uploads only its own layers: {r.layers_pushed} uploaded, "
              f"{r.layers_existing} reused")


if __name__ == "__main__":
    main()
