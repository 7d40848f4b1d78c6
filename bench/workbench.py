"""Benchmark: what the workbench (matrix.yaml `workbench:` tools and Python tools) adds to the runtime image.

Goal: under 150 MB. Prints the size of the workbench's own layers (`docker history`); the Python tools' net share
(the distributions only they need: numpy or pillow, which torch needs anyway, are not counted); and, with
--baseline, the exact figure: the same variant built with the workbench's tools and Python tools left out (as
imgbuild/pytorch-bench-baseline, removed afterwards), and the difference of the two images.
Usage (these machines): python bench/workbench.py --base-image local/debian:bookworm \\
    --ca-cert /etc/ssl/certs/ca-certificates.crt --wheelhouse /var/cache/imgbuild-ci/wheelhouse [--baseline]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VARIANT = ["--torch", "2.14", "--cuda", "13.0", "--python", "3.11", "--flavor", "runtime"]
TAG = "2.14.1-cuda13.0-cudnn9-runtime"
BASELINE = "pytorch-bench-baseline"

# Inside the image: the installed size of the distributions that only the workbench's Python tools need.
NET_PYTHON = r"""
import json, re, sys
from importlib.metadata import distribution, distributions
def canon(n): return re.sub(r"[-_.]+", "-", n).lower()
dists = {canon(d.metadata["Name"]): d for d in distributions()}
def closure(names):
    seen, todo = set(), [canon(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen or name not in dists: continue
        seen.add(name)
        for req in dists[name].requires or []:
            if "extra ==" not in req: todo.append(re.split(r"[\s\[<>=!~;(]", req, maxsplit=1)[0])
    return seen
tools, rest = json.loads(sys.argv[1]), json.loads(sys.argv[2])
only = closure(tools) - closure(rest)
size = sum(f.size or 0 for n in only for f in (dists[n].files or []))
print(json.dumps({"packages": sorted(only), "bytes": size}))
"""


def run(*command: str) -> str:
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command[:3])} failed: {(result.stdout + result.stderr)[-1500:]}")
    return result.stdout


def layer_sizes(ref: str, tools: list[str], python_tools: list[str]) -> dict[str, int]:
    """The workbench's two layers, found by what their RUN installs."""
    history = run("docker", "history", "--human=false", "--no-trunc", "--format", "{{.Size}}\t{{.CreatedBy}}", ref)
    found = {"tools_layer_bytes": 0, "python_tools_layer_bytes": 0}
    for line in history.splitlines():
        size, _, created_by = line.partition("\t")
        if "apt-get install" in created_by and all(f" {t} " in created_by for t in tools):
            found["tools_layer_bytes"] = int(size)
        elif python_tools and all(f'"{p}"' in created_by for p in python_tools) and "torch==" not in created_by:
            found["python_tools_layer_bytes"] = int(size)
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-image", default="local/debian:bookworm")
    parser.add_argument("--ca-cert", action="append", default=[])
    parser.add_argument("--wheelhouse")
    parser.add_argument("--baseline", action="store_true", help="also build the variant without the workbench")
    args = parser.parse_args()
    site = ["--base-image", args.base_image, "--network", "host"]
    site += [x for cert in args.ca_cert for x in ("--ca-cert", cert)]
    site += ["--wheelhouse", args.wheelhouse] if args.wheelhouse else []
    matrix = yaml.safe_load((ROOT / "matrix.yaml").read_text())
    tools = sorted(set(matrix["workbench"]["tools"]) - set(matrix["workbench"]["system"]))
    python_tools = [f"{name}=={version}" for name, version in sorted(matrix["workbench"]["python"].items())]

    ref = f"imgbuild/pytorch:{TAG}"
    run("imgbuild", "build", *VARIANT, *site)
    figures: dict[str, object] = layer_sizes(ref, tools, python_tools)
    net = json.loads(run("docker", "run", "--rm", "--network", "host", "--entrypoint", "python", ref, "-c", NET_PYTHON,
                         json.dumps(sorted(matrix["workbench"]["python"])),
                         json.dumps(["torch", "torchvision", "timm", "jupyterlab"])))
    figures["python_tools_net_bytes"] = net["bytes"]
    figures["python_tools_net_packages"] = " ".join(net["packages"])
    figures["workbench_mb"] = round((figures["tools_layer_bytes"] + net["bytes"]) / 1e6, 1)
    figures["image_mb"] = round(int(run("docker", "image", "inspect", "--format", "{{.Size}}", ref)) / 1e6, 1)
    if args.baseline:
        matrix["defaults"]["image"] = BASELINE
        matrix["workbench"]["tools"], matrix["workbench"]["python"] = [], {}
        with tempfile.TemporaryDirectory() as tmp:
            bare = Path(tmp) / "matrix.yaml"
            bare.write_text(yaml.safe_dump(matrix, sort_keys=False))
            run("imgbuild", "build", "--matrix", str(bare), *VARIANT, *site)
        base_ref = f"imgbuild/{BASELINE}:{TAG}"
        figures["baseline_image_mb"] = round(int(run("docker", "image", "inspect", "--format", "{{.Size}}",
                                                     base_ref)) / 1e6, 1)
        figures["workbench_adds_mb"] = round(figures["image_mb"] - figures["baseline_image_mb"], 1)
        tags = run("docker", "images", "--format", "{{.Repository}}:{{.Tag}}", f"imgbuild/{BASELINE}").split()
        run("docker", "rmi", *tags)
    for key, value in figures.items():
        print(f"{key:28s} {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
