"""The software bill of materials of a built image: what it holds, as CycloneDX JSON (cyclonedx-python-lib).

The inventory is read from the image itself (its venv's package metadata, dpkg's database, the lock it carries),
so the SBOM names what was installed, not what was asked for.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass
from importlib.metadata import version as installed_version

from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import LicenseExpression
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from ..core.errors import BuildError
from ..core.tags import LABEL_PREFIX, release_tag
from ..core.variant import Variant
from ..engine.daemon import Engine

SBOM_PATH = "/opt/imgbuild/sbom.cdx.json"
LOCK_PATH = "/opt/imgbuild/requirements.lock"
MEDIA_TYPE = "application/vnd.cyclonedx+json"

# Runs inside the image with its own Python: stdlib only, one JSON document on stdout.
INVENTORY_SCRIPT = r"""
import hashlib, importlib.metadata as md, json, pathlib, subprocess
python = sorted({(d.metadata["Name"], d.version, d.metadata.get("License-Expression") or "")
                 for d in md.distributions() if d.metadata["Name"]})
fields = "${Package}\t${Version}\t${Architecture}\t${source:Package}\t${db:Status-Status}\n"
dpkg = subprocess.run(["dpkg-query", "-W", "-f", fields], capture_output=True, text=True, check=True).stdout
osr = dict(line.split("=", 1) for line in pathlib.Path("/etc/os-release").read_text().splitlines() if "=" in line)
lock = pathlib.Path("__LOCK__")
text = lock.read_text() if lock.is_file() else ""
print(json.dumps({
    "python": python,
    "os": [row.split("\t")[:4] for row in dpkg.splitlines() if row.endswith("\tinstalled")],
    "distro": {k: osr.get(k, "").strip('"') for k in ("ID", "VERSION_ID", "VERSION_CODENAME")},
    "lock": text, "lock_sha256": hashlib.sha256(text.encode()).hexdigest() if text else "",
}))
""".replace("__LOCK__", LOCK_PATH)

_REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


@dataclass(frozen=True)
class PythonPackage:
    name: str
    version: str
    license: str = ""


@dataclass(frozen=True)
class OsPackage:
    name: str
    version: str
    arch: str
    source: str


@dataclass(frozen=True)
class Inventory:
    """What one image holds, read from inside it."""

    python: tuple[PythonPackage, ...]
    os: tuple[OsPackage, ...]
    distro: dict[str, str]
    lock_hashes: dict[str, tuple[str, ...]]  # normalized name -> sha256 of its distribution files (from the lock)
    lock_sha256: str  # digest of /opt/imgbuild/requirements.lock ("" when the image has none)

    @classmethod
    def from_json(cls, text: str) -> Inventory:
        raw = json.loads(text)
        return cls(python=tuple(PythonPackage(*row) for row in raw["python"]),
                   os=tuple(OsPackage(*row) for row in raw["os"]), distro=dict(raw["distro"]),
                   lock_hashes=lock_hashes(raw["lock"]), lock_sha256=raw["lock_sha256"])


def collect(engine: Engine, image: str) -> Inventory:
    """Run the image once (its own Python, no entrypoint checks) and read its inventory."""
    result = engine.run(image, [INVENTORY_SCRIPT], entrypoint=["python", "-c"])
    try:
        return Inventory.from_json(result.output) if result.exit_code == 0 else _fail(image, result.output)
    except (ValueError, KeyError, TypeError) as exc:
        return _fail(image, f"unreadable inventory ({exc})")


def _fail(image: str, why: str) -> Inventory:
    tail = " | ".join(why.strip().splitlines()[-3:])
    raise BuildError(f"could not read the package inventory of {image} for its SBOM: {tail}: the image needs "
                     "python and dpkg-query on PATH; see the build log")


def normalize(name: str) -> str:
    """PEP 503 names, as purls and locks compare them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_hashes(lock: str) -> dict[str, tuple[str, ...]]:
    """name -> sha256 hashes from a hashed lock (`name==1.0 \\ --hash=sha256:...`); a plain freeze has none."""
    found: dict[str, tuple[str, ...]] = {}
    for entry in lock.replace("\\\n", " ").splitlines():
        if (match := _REQUIREMENT.match(entry.strip())) and (hashes := _HASH.findall(entry)):
            found[normalize(match[1])] = tuple(sorted(set(hashes)))
    return found


def cyclonedx_json(inventory: Inventory, variant: Variant, image_id: str, created: dt.datetime) -> str:
    """The CycloneDX 1.6 document of one image: the image as the subject, every Python and OS package in it."""
    image = Component(type=ComponentType.CONTAINER, name=f"{variant.image}", version=release_tag(variant),
                      bom_ref="image", properties=[Property(name=f"{LABEL_PREFIX}.variant", value=variant.id)])
    tool = Component(type=ComponentType.APPLICATION, name="imgbuild", version=installed_version("imgbuild"))
    components = [*(_python_component(p, inventory) for p in inventory.python),
                  *(_os_component(p, inventory.distro) for p in inventory.os)]
    bom = Bom(
        serial_number=uuid.uuid5(uuid.NAMESPACE_URL, f"imgbuild:sbom:{image_id}"),  # one image, one serial
        metadata=BomMetaData(component=image, timestamp=created, tools=ToolRepository(components=[tool])),
        components=components,
    )
    bom.register_dependency(image, components)  # the image holds every package (a flat graph: no pip tree)
    return JsonV1Dot6(bom).output_as_string(indent=2)


def _python_component(package: PythonPackage, inventory: Inventory) -> Component:
    name = normalize(package.name)
    purl = PackageURL(type="pypi", name=name, version=package.version)
    return Component(
        name=package.name, version=package.version, purl=purl, bom_ref=purl.to_string(),
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=h) for h in inventory.lock_hashes.get(name, ())],
        licenses=[LicenseExpression(package.license)] if package.license else None,
        properties=[Property(name=f"{LABEL_PREFIX}.package-manager", value="pip")])


def _os_component(package: OsPackage, distro: dict[str, str]) -> Component:
    vendor = distro.get("ID") or "debian"
    qualifiers = {"arch": package.arch, "distro": f"{vendor}-{distro.get('VERSION_ID', '')}".rstrip("-")}
    purl = PackageURL(type="deb", namespace=vendor, name=package.name, version=package.version, qualifiers=qualifiers)
    properties = [Property(name=f"{LABEL_PREFIX}.package-manager", value="dpkg")]
    if package.source and package.source != package.name:
        properties.append(Property(name=f"{LABEL_PREFIX}.source-package", value=package.source))
    return Component(name=package.name, version=package.version, purl=purl, bom_ref=purl.to_string(),
                     properties=properties)
