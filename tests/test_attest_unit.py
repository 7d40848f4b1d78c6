"""SBOM, provenance, referrers and the nightly's signing chain, without a daemon or a registry."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess

import pytest
import yaml
from helpers import ROOT
from imgbuild.build import provenance, sbom
from imgbuild.cli.app import app
from imgbuild.core.errors import ConfigError
from imgbuild.core.reference import ImageRef
from imgbuild.matrix.select import Selection, select
from imgbuild.registry.referrers import referrers_tag
from imgbuild.render.dockerfile import NOT_FOR_SESSIONS, render_dockerfile
from typer.testing import CliRunner

CREATED = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.timezone.utc)
INVENTORY = {
    "python": [["torch", "2.14.1", ""], ["Jinja2", "3.1.6", "BSD-3-Clause"], ["typing_extensions", "4.15.0", ""]],
    "os": [["openssh-server", "1:9.2p1-2+deb12u6", "amd64", "openssh"], ["bash", "5.2.15-2+b7", "amd64", "bash"]],
    "distro": {"ID": "debian", "VERSION_ID": "12", "VERSION_CODENAME": "bookworm"},
    "lock": "torch==2.14.1 \\\n    --hash=sha256:" + "a" * 64 + " \\\n    --hash=sha256:" + "b" * 64 + "\njinja2==3.1.6\n",
    "lock_sha256": "c" * 64,
}


@pytest.fixture
def variant(matrix):
    return select(matrix, Selection(torch="2.14", cuda="13.0", flavor="runtime", python="3.11"))[0]


def test_lock_hashes_come_from_a_hashed_lock_only():
    assert sbom.lock_hashes(INVENTORY["lock"]) == {"torch": ("a" * 64, "b" * 64)}
    assert sbom.lock_hashes("torch==2.14.1\nnumpy==2.3.0\n") == {}


def test_the_sbom_is_cyclonedx_with_purls_hashes_and_the_image_as_subject(variant):
    doc = json.loads(sbom.cyclonedx_json(sbom.Inventory.from_json(json.dumps(INVENTORY)), variant, "sha256:1",
                                         CREATED))
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.6"
    assert doc["metadata"]["component"]["version"] == "2.14.1-cuda13.0-cudnn9-runtime"
    found = {c["name"]: c for c in doc["components"]}
    assert found["torch"]["purl"] == "pkg:pypi/torch@2.14.1"
    assert [h["content"] for h in found["torch"]["hashes"]] == ["a" * 64, "b" * 64]
    assert found["typing_extensions"]["purl"] == "pkg:pypi/typing-extensions@4.15.0"
    assert found["Jinja2"]["licenses"] == [{"expression": "BSD-3-Clause"}]
    assert found["openssh-server"]["purl"] == \
        "pkg:deb/debian/openssh-server@1:9.2p1-2%2Bdeb12u6?arch=amd64&distro=debian-12"
    again = sbom.cyclonedx_json(sbom.Inventory.from_json(json.dumps(INVENTORY)), variant, "sha256:1", CREATED)
    assert json.loads(again)["serialNumber"] == doc["serialNumber"]  # one image, one serial number


def test_the_sbom_validates_against_the_cyclonedx_schema(variant):
    pytest.importorskip("jsonschema")
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    text = sbom.cyclonedx_json(sbom.Inventory.from_json(json.dumps(INVENTORY)), variant, "sha256:1", CREATED)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None


def test_provenance_is_an_in_toto_statement_with_a_slsa_predicate(variant):
    env = {"GITHUB_WORKFLOW_REF": "org/imgbuild/.github/workflows/nightly.yml@refs/heads/main",
           "GITHUB_REPOSITORY": "org/imgbuild", "GITHUB_RUN_ID": "42"}
    predicate = provenance.predicate(variant, source="https://github.com/org/imgbuild", revision="f" * 40,
                                     base_image="debian:bookworm", base_image_id="sha256:" + "d" * 64,
                                     lock_sha256="c" * 64, options={"index": "pytorch"}, started=CREATED,
                                     finished=CREATED, env=env)
    doc = json.loads(provenance.statement(predicate, "ghcr.io/org/pytorch", "sha256:" + "e" * 64))
    assert doc["_type"] == "https://in-toto.io/Statement/v1"
    assert doc["predicateType"] == "https://slsa.dev/provenance/v1"
    assert doc["subject"] == [{"name": "ghcr.io/org/pytorch", "digest": {"sha256": "e" * 64}}]
    run = doc["predicate"]["runDetails"]
    assert run["builder"]["id"] == "https://github.com/org/imgbuild/.github/workflows/nightly.yml@refs/heads/main"
    assert run["metadata"]["invocationId"].endswith("/actions/runs/42/attempts/1")
    definition = doc["predicate"]["buildDefinition"]
    assert definition["externalParameters"]["variant"]["id"] == variant.id
    assert {d["uri"] for d in definition["resolvedDependencies"]} == {
        "git+https://github.com/org/imgbuild@" + "f" * 40, "docker-image://debian:bookworm",
        "file:///opt/imgbuild/requirements.lock"}


@pytest.mark.parametrize(("ref", "want"), [
    ("127.0.0.1:5000/team/pytorch:2.6.0-cpu", ("127.0.0.1:5000", "team/pytorch", "2.6.0-cpu")),
    ("ghcr.io/org/pytorch@sha256:" + "a" * 64, ("ghcr.io", "org/pytorch", "sha256:" + "a" * 64)),
    ("localhost/pytorch", ("localhost", "pytorch", "latest")),
])
def test_image_references(ref, want):
    parsed = ImageRef.parse_remote(ref)  # the one parser: `imgbuild sbom` and `diff` read their references with it
    assert (parsed.registry, parsed.repository, parsed.reference) == want


@pytest.mark.parametrize("ref", ["pytorch:2.6.0", "ghcr.io", "ghcr.io/org/pytorch@md5:00"])
def test_bad_image_references_name_the_fix(ref):
    with pytest.raises(ConfigError, match="HOST/NAMESPACE/IMAGE:TAG"):
        ImageRef.parse_remote(ref)


def test_referrers_tag_scheme():
    assert referrers_tag("sha256:" + "a" * 64) == "sha256-" + "a" * 64


def test_digests_lists_images_and_their_artifacts_from_release_json(tmp_path):
    a, s, p = ("sha256:" + c * 64 for c in "a5b")  # digests as a registry computes them (others are refused)
    for variant, status in (("a", "ok"), ("b", "failed")):
        (tmp_path / variant).mkdir()
        (tmp_path / variant / "release.json").write_text(json.dumps({"generated": "2026-11-25T00:00:00+00:00",
            "images": [{"variant": variant, "repository": "ghcr.io/org/pytorch", "status": status,
                        "digest": a if status == "ok" else None, "artifacts": {"sbom": s, "provenance": p}}]}))
    full = CliRunner().invoke(app, ["digests", "--in", str(tmp_path)])
    assert full.exit_code == 0 and full.stdout.split() == [
        f"ghcr.io/org/pytorch@{a}", f"ghcr.io/org/pytorch@{p}", f"ghcr.io/org/pytorch@{s}"]
    images = CliRunner().invoke(app, ["digests", "--in", str(tmp_path), "--images-only"])
    assert images.stdout.split() == [f"ghcr.io/org/pytorch@{a}"]


def env_names(dockerfile: str) -> list[str]:
    """Every name an ENV instruction of `dockerfile` sets, in order, less NOT_FOR_SESSIONS: read back from the text,
    to check the names the renderer takes from its own data."""
    names: list[str] = []
    continued = False
    for line in dockerfile.splitlines():
        if line.startswith("ENV ") or continued:
            match = re.match(r"(?:^ENV\s+|^\s+)([A-Za-z_][A-Za-z0-9_]*)=", line)
            if match and match[1] not in NOT_FOR_SESSIONS and match[1] not in names:
                names.append(match[1])
            continued = line.rstrip().endswith("\\")
    return names


@pytest.mark.parametrize("flavor", ["runtime", "devel"])
def test_sessions_get_every_env_name_of_the_dockerfile_but_home_and_shell(matrix, flavor):
    text = render_dockerfile(select(matrix, Selection(torch="2.14", cuda="13.0", flavor=flavor, python="3.11"))[0])
    names = env_names(text)
    assert {"PATH", "VIRTUAL_ENV", "SSL_CERT_FILE", "PIP_CERT", "JUPYTER_PORT", "IMGBUILD_VARIANT"} <= set(names)
    assert not {"HOME", "SHELL", "DEBIAN_FRONTEND"} & set(names)
    assert f"for name in {' '.join(names)}; do" in text


@pytest.mark.skipif(not shutil.which("dash"), reason="dash is Debian's /bin/sh")
def test_the_profile_script_restores_path_and_keeps_run_time_values(tmp_path):
    script = (ROOT / "templates/files/etc/profile.d/imgbuild-env.sh").read_text()
    env_file = tmp_path / "session.env"
    env_file.write_text("PATH=/opt/venv/bin:/usr/bin:/bin\nJUPYTER_PORT=8888\nIMGBUILD_FLAVOR=runtime\n")
    (tmp_path / "profile.sh").write_text(script.replace("/opt/imgbuild/session.env", str(env_file)))
    out = subprocess.run(["dash", "-c", f". {tmp_path}/profile.sh; echo $PATH $JUPYTER_PORT $IMGBUILD_FLAVOR"],
                         env={"PATH": "/usr/bin:/bin", "JUPYTER_PORT": "9999"}, capture_output=True, text=True)
    assert out.stdout.split() == ["/opt/venv/bin:/usr/bin:/bin", "9999", "runtime"], out.stderr


def test_sign_verify_and_scan_use_the_digests_the_release_step_wrote():
    jobs = yaml.safe_load((ROOT / ".github/workflows/nightly.yml").read_text())["jobs"]
    chunk = yaml.safe_load((ROOT / ".github/workflows/nightly-chunk.yml").read_text())["jobs"]  # one per chunk
    build = {step.get("id") or step.get("name"): step for step in chunk["build"]["steps"]}
    release_out = '--out "release/$VARIANT"'
    assert release_out in build["imgbuild release"]["run"]
    assert 'imgbuild digests --in "release/$VARIANT" --images-only' in build["published"]["run"]
    scan = build["scan"]
    assert scan["uses"].startswith(("aquasecurity/trivy-action@", "anchore/scan-action@"))
    assert scan["with"]["image-ref"] == "${{ steps.published.outputs.image }}"
    assert scan["with"]["exit-code"] == "1" and scan["with"]["severity"]
    allow_list = ROOT / scan["with"]["trivyignores"]
    assert allow_list.read_text().startswith("# The nightly's vulnerability allow-list")
    for job, verb in (("sign", "cosign sign"), ("verify", "cosign verify")):
        steps = jobs[job]["steps"]
        download = next(s for s in steps if str(s.get("uses", "")).startswith("actions/download-artifact"))
        assert download["with"] == {"pattern": "release-*", "path": "artifacts/"}  # the build jobs' release/
        script = next(s["run"] for s in steps if verb in s.get("run", ""))
        assert "imgbuild digests --in artifacts/ > digests.txt" in script and "< digests.txt" in script
    verify = next(s["run"] for s in jobs["verify"]["steps"] if "cosign verify" in s.get("run", ""))
    assert "--certificate-identity \"${GITHUB_SERVER_URL}/${GITHUB_WORKFLOW_REF}\"" in verify
    assert "https://token.actions.githubusercontent.com" in verify
    assert jobs["verify"]["needs"] == "sign" and "verify" in jobs["catalog"]["needs"]


def test_an_image_built_at_a_fixed_time_names_no_run_and_the_registry_copy_names_the_one_that_published_it(variant):
    """Two runs of a nightly at one SOURCE_DATE_EPOCH must seal the same provenance into the image (its digest is
    reproducible); the attestation pushed beside the digest still says which run built and published it."""
    env = {"GITHUB_WORKFLOW_REF": "org/imgbuild/.github/workflows/nightly.yml@refs/heads/main",
           "GITHUB_REPOSITORY": "org/imgbuild", "GITHUB_RUN_ID": "42"}
    sealed = [provenance.predicate(variant, source="https://github.com/org/imgbuild", revision="f" * 40,
                                   base_image="debian:bookworm", base_image_id="sha256:" + "d" * 64,
                                   lock_sha256="c" * 64, options={}, started=CREATED, finished=None,
                                   env={**env, "GITHUB_RUN_ID": run}, run_details=False) for run in ("42", "43")]
    assert sealed[0] == sealed[1]
    assert sealed[0]["runDetails"]["metadata"] == {"startedOn": "2026-11-25T10:00:00Z"}
    assert sealed[0]["runDetails"]["builder"]["id"].startswith("https://github.com/imgbuild/imgbuild@v")
    published = provenance.for_this_run(json.loads(json.dumps(sealed[0])), env)
    assert published["runDetails"]["metadata"]["invocationId"].endswith("/actions/runs/42/attempts/1")
    assert published["runDetails"]["builder"]["id"].endswith("nightly.yml@refs/heads/main")
    assert provenance.for_this_run(json.loads(json.dumps(sealed[0])), {}) == sealed[0]  # a run outside GitHub
