"""The input boundary, tried as a hostile user would (the rules: hostile.py): no input becomes Dockerfile text, reaches
outside its folder, leaks a secret or destroys a file, and no command succeeds on nothing. A table: add a row for every
new kind of bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hostile import SMALL, Case, fifo, small, table

M = "matrix.yaml"
CPU = ("--torch", "2.6", "--cuda", "cpu")
RENDER = ("render", "--unlocked", *CPU, "--out", "out")
BUILD = ("build", *CPU)  # every one of these stops before the daemon is asked for anything
KEY = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
CERT = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2VydA==\n-----END CERTIFICATE-----\n"
TEAM = ("images:\n  - name: vision\n    variants: [\"2.6.0-*\"]\n    pip: [\"einops==0.8.2\"]\n")
DIGEST = "sha256:" + "a" * 64


def team(extra: str = "", name: str = "vision") -> str:
    """The small matrix with one team image; `extra` adds keys to it (indented as the image's own)."""
    return SMALL + TEAM.replace("vision", name, 1) + extra


def user_folder_named_like_a_variant(folder: Path) -> None:
    mine = folder / "out" / "2.6.0-cpu-py3.12-runtime"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("a user's work\n")


def team_tests_link_to_etc(folder: Path) -> None:
    (folder / "teams").mkdir()
    os.symlink("/etc", folder / "teams" / "link")


def a_team_tests_file(folder: Path) -> None:
    (folder / "teams").mkdir()
    (folder / "teams" / "vision").write_text("not a folder\n")


def empty_folder(folder: Path) -> None:
    (folder / "empty").mkdir()


def broken_release(folder: Path) -> None:
    (folder / "rel").mkdir()
    (folder / "rel" / "release.json").write_text("{\"images\": 3}\n")


def a_release(folder: Path) -> None:
    (folder / "rel").mkdir()
    entry = {"variant": "2.6.0-cpu-py3.12-runtime", "repository": "127.0.0.1:5000/ns/pytorch", "status": "ok",
             "digest": DIGEST, "tags": ["2.6.0-cpu"]}
    (folder / "rel" / "release.json").write_text(json.dumps({"generated": "2026-12-04T00:00:00+00:00",
                                                             "images": [entry]}))


def fifo_release(folder: Path) -> None:
    (folder / "rel").mkdir()
    os.mkfifo(folder / "rel" / "release.json")


def device_release(folder: Path) -> None:
    (folder / "rel").mkdir()
    os.symlink("/dev/zero", folder / "rel" / "release.json")


def fifo_in_out(folder: Path) -> None:
    (folder / "o").mkdir()
    os.mkfifo(folder / "o" / "release.json")


def released(image: dict | None = None, index: dict | None = None, raw: str | None = None) -> dict[str, str]:
    """rel/release.json: a_release's image with `image`'s fields, one index with `index`'s, or the text `raw`."""
    entry = {"variant": "2.6.0-cpu-py3.12-runtime", "repository": "127.0.0.1:5000/ns/pytorch", "status": "ok",
             "digest": DIGEST, "tags": ["2.6.0-cpu"], **(image or {})}
    indexes = [{"variant": "2.6.0-cpu-py3.12-runtime", "repository": "127.0.0.1:5000/ns/pytorch", "status": "ok",
                "digest": DIGEST, **index}] if index else []
    return {"rel/release.json": raw or json.dumps({"generated": "2026-12-04T00:00:00+00:00", "images": [entry],
                                                   "indexes": indexes})}


def a_folder(folder: Path) -> None:
    (folder / "d").mkdir()


CASES = [
    # a value that would become Dockerfile text (the FROM line)
    Case("--base-image with a newline", "--base-image: bad image reference", args=(*RENDER, "--base-image",
                                                                                   "debian:12\nRUN touch /pwned")),
    Case("--base-image empty", "--base-image is empty", args=(*RENDER, "--base-image", "")),
    Case("--base-image blank", "--base-image is empty", args=(*RENDER, "--base-image", "   ")),
    Case("--base-image upper case", "repository 'UPPER'", args=(*RENDER, "--base-image", "UPPER:case")),
    Case("--base-image with a quote", "bad image reference", args=(*RENDER, "--base-image", 'debian"12')),
    Case("--base-image with a space", "bad image reference", args=(*RENDER, "--base-image", "debian:12 AS x")),
    Case("--base-image of 600 characters", "600 characters", args=(*RENDER, "--base-image", "d" * 600)),
    Case("--base-image not ASCII", "bad image reference", args=(*RENDER, "--base-image", "d\u00e9bian:12")),
    Case("--base-image port 70000", "a port is 1 to 65535", args=(*RENDER, "--base-image", "h:70000/img:1")),
    Case("--base-image on build", "--base-image: bad image reference", {M: SMALL},
         args=(*BUILD, "--base-image", "x\ny")),
    Case("--base-image on release", "--base-image: bad image reference", {M: SMALL},
         args=("release", *CPU, "--base-image", "a b")),
    Case("matrix base_image upper case", "defaults.base_image", {M: small("base_image: ubuntu:24.04",
                                                                          "base_image: Ubuntu:24.04")}, at=M),
    Case("matrix base_image port 99999", "a port is 1 to 65535",
         {M: small("base_image: ubuntu:24.04", "base_image: reg.io:99999/ubuntu:24.04")}, at=M),
    # registries and remote references
    Case("--registry with a password", "bad registry '***@ghcr.io/ns'", {M: SMALL},
         args=("push", "--registry", "user:hunter2@ghcr.io/ns", "img:1"), secret="hunter2"),
    Case("--registry with a token", "bad registry '***@ghcr.io/ns'", {M: SMALL},
         args=("push", "--registry", "ghp_T0KEN@ghcr.io/ns", "img:1"), secret="ghp_T0KEN"),
    Case("--registry with a scheme", "bad registry 'https://ghcr.io/ns'", {M: SMALL},
         args=("push", "--registry", "https://ghcr.io/ns", "img:1")),
    Case("--registry empty", "--registry is empty", {M: SMALL}, args=("push", "--registry", "", "img:1")),
    Case("--registry upper case", "bad registry", {M: SMALL}, args=("push", "--registry", "ghcr.io/Org", "img:1")),
    Case("--registry port 99999", "bad registry", {M: SMALL}, args=("push", "--registry", "127.0.0.1:99999/ns", "i:1")),
    Case("--registry on release with a password", "bad registry '***@", {M: SMALL},
         args=("release", *CPU, "--registry", "u:s3cr3t@127.0.0.1:5000/ns"), secret="s3cr3t"),
    Case("half the registry credentials", "only one of IMGBUILD_REGISTRY_USER", {M: SMALL},
         args=("push", "--registry", "ghcr.io/ns", "img:1"), env={"IMGBUILD_REGISTRY_USER": "someone"}),
    Case("sbom of nothing", "bad image reference", args=("sbom", "")),
    Case("sbom without a registry", "bad image reference 'pytorch:2.6'", args=("sbom", "pytorch:2.6")),
    Case("sbom port 99999", "a port is 1 to 65535|bad image reference", args=("sbom", "127.0.0.1:99999/ns/img:t")),
    Case("sbom md5 digest", "bad image reference", args=("sbom", "ghcr.io/org/img@md5:00")),
    Case("sbom with credentials", "bad image reference '***@", args=("sbom", "u:pw0rd@ghcr.io/org/img:1"),
         secret="pw0rd"),
    Case("diff of missing files", "neither a lock file nor a registry image", args=("diff", "./missing.txt", "./x.txt")),
    Case("diff of a Latin-1 file", "is not a lock (byte 0xe9", {"a.txt": "caf\u00e9\n".encode("latin-1")},
         args=("diff", "a.txt", "a.txt")),
    Case("diff of an empty file", "empty.txt is not a lock (it has no NAME==VERSION pins): pass a file `imgbuild lock`",
         {"empty.txt": "", "a.txt": "torch==2.6.0 --hash=sha256:" + "0" * 64}, args=("diff", "a.txt", "empty.txt")),
    Case("diff of a matrix", "matrix.yaml is not a lock (jupyterlab==4.5.11: has no --hash)", {M: SMALL},
         args=("diff", M, M)),
    Case("diff of a pip freeze", "f.txt is not a lock (torch==2.6.0 has no --hash)", {"f.txt": "torch==2.6.0\n"},
         args=("diff", "f.txt", "f.txt")),
    Case("diff of a folder", "neither a lock file nor a registry image", args=("diff", "d", "d"), setup=a_folder),
    # index URLs, certificates and requirements that would carry a secret into an image
    Case("index URL with credentials", "carries credentials",
         {M: small("https://download.pytorch.org/whl/cu124", "https://bot:T0PS3CRET@mirror.example/whl/cu124")},
         at=M, secret="T0PS3CRET"),
    Case("cpu index with a token", "carries credentials",
         {M: small("cpu_index: https://download.pytorch.org/whl/cpu", "cpu_index: https://tok3n@mirror.example/cpu")},
         at=M, secret="tok3n"),
    Case("cpu index over plain http", "plain http:// to mirror.example, which anyone on the way can answer",
         {M: small("cpu_index: https://download.pytorch.org/whl/cpu", "cpu_index: http://mirror.example/cpu")}, at=M),
    Case("index URL over ftp", "is not an http(s) URL",
         {M: small("https://download.pytorch.org/whl/cu124", "ftp://mirror.example/whl/cu124")}, at=M),
    Case("--ca-cert is a private key", "holds a private key", {M: SMALL, "key.pem": KEY},
         args=(*BUILD, "--ca-cert", "key.pem")),
    Case("--ca-cert with a key beside the certificate", "holds a private key", {M: SMALL, "both.pem": CERT + KEY},
         args=(*BUILD, "--ca-cert", "both.pem")),
    Case("--ca-cert empty", "not a PEM certificate file", {M: SMALL, "empty.pem": ""},
         args=(*BUILD, "--ca-cert", "empty.pem")),
    Case("--ca-cert a folder", "d is a folder, not a certificate file: pass --ca-cert", {M: SMALL},
         args=(*BUILD, "--ca-cert", "d"), setup=a_folder),
    Case("--ca-cert missing", "nope.pem: no such file: pass --ca-cert", {M: SMALL},
         args=(*BUILD, "--ca-cert", "nope.pem")),
    Case("--ca-cert a FIFO", "pipe.yaml is a FIFO, not a certificate file", {M: SMALL},
         args=(*BUILD, "--ca-cert", "pipe.yaml"), setup=fifo),
    Case("--ca-cert /dev/zero", "/dev/zero is a device, not a certificate file", {M: SMALL},
         args=(*BUILD, "--ca-cert", "/dev/zero")),
    Case("--ca-cert of 2 MB", "is 2,097,152 bytes; a certificate file is at most 1,048,576", {M: SMALL,
         "big.pem": "x" * (2 << 20)}, args=(*BUILD, "--ca-cert", "big.pem")),
    Case("team pip from a URL with credentials", "einops comes from a URL: a team's pip entries are requirements",
         {M: team().replace("einops==0.8.2", "einops @ https://u:pa55@host.example/einops.whl")}, at=M, secret="pa55"),
    Case("team pip from a file of this host", "einops comes from a URL: a team's pip entries are requirements",
         {M: team().replace("einops==0.8.2", "einops @ file:///etc/passwd")}, at=M),
    Case("team pip a remote wheel, unpinned and unhashed", "pin x==VERSION",
         {M: team().replace("einops==0.8.2", "x @ https://example.com/x.whl")}, at=M),
    Case("team pip a bare wheel URL with a token", "is a file or URL, not a requirement",
         {M: team().replace("einops==0.8.2", "https://t0ken@example.com/x.whl")}, at=M, secret="t0ken"),
    # paths that would reach outside their folder
    Case("team tests at /etc", "is outside the matrix's folder", {M: team("    tests: /etc\n")}, at=M),
    Case("team tests above the matrix", "is outside the matrix's folder", {M: team("    tests: ../../\n")}, at=M),
    Case("team tests through a link", "is outside the matrix's folder", {M: team("    tests: teams/link\n")}, at=M,
         setup=team_tests_link_to_etc),
    Case("team tests a file", "is not there", {M: team("    tests: teams/vision\n")}, at=M, setup=a_team_tests_file),
    # names the image contract owns
    Case("team env PATH", "PATH belongs to the image contract", {M: team("    env: {PATH: /evil}\n")}, at=M),
    Case("team env LD_PRELOAD", "belongs to the image contract", {M: team("    env: {LD_PRELOAD: /x.so}\n")}, at=M),
    Case("team env VIRTUAL_ENV", "belongs to the image contract", {M: team("    env: {VIRTUAL_ENV: /x}\n")}, at=M),
    Case("team env HOME", "belongs to the image contract", {M: team("    env: {HOME: /root}\n")}, at=M),
    Case("team env of imgbuild's own", "belongs to the image contract", {M: team("    env: {IMGBUILD_TORCH: x}\n")},
         at=M),
    Case("team env lower-case path", "belongs to the image contract", {M: team("    env: {path: /evil}\n")}, at=M),
    Case("team env not a name", "is not an environment variable name", {M: team("    env: {1X: y}\n")}, at=M),
    Case("team env with a line break", "has a line break", {M: team('    env: {A: "x\\nRUN y"}\n')}, at=M),
    Case("team apt with a semicolon", "is not a Debian package name", {M: team("    apt: [\"jq;rm\"]\n")}, at=M),
    Case("team name upper case", "is not a repository name like vision", {M: team(name="Vision")}, at=M),
    # answers that name their fix
    Case("misspelt releases", "did you mean 'releases'", {M: SMALL.replace("releases:", "relases:")}, at=M),
    Case("misspelt min_driver", "did you mean 'min_driver'", {M: small("min_driver:", "min_drivr:")}, at=M),
    Case("a key nothing is like", "remove it", {M: small("  timm:", "  zzzzzz: 1\n  timm:")}, at=M),
    Case("a tab in the indentation", "a tab character: YAML indents with spaces only, replace the tab with spaces",
         {M: small("  timm:", "\ttimm:")}, at=M),
    Case("a team name of 120 characters", "has 120 characters, over the 100 allowed: shorten it",
         {M: team(name="v" * 120)}, at=M),
    Case("flavors yes and no", "YAML read a yes/no/on/off word", {M: small("[runtime, devel]", "[yes, no]")}, at=M),
    # options given twice: the last would win silently
    Case("--python twice", "--python is given twice", args=("matrix", "--python", "3.11", "--python", "3.12")),
    Case("--torch twice, one with =", "--torch is given twice", args=("matrix", "--torch=2.6", "--torch", "2.14")),
    Case("--base-image twice", "--base-image is given twice", {M: SMALL},
         args=(*BUILD, "--base-image", "a:1", "--base-image", "b:2")),
    Case("--rebuild twice", "--rebuild is given twice", args=("release", "--rebuild", "--rebuild")),
    Case("--port twice", "--port is given twice", args=("registry", "start", "--port", "5000", "--port", "5001")),
    # commands whose input names nothing
    Case("digests of a missing folder", "is not a folder", args=("digests", "--in", "missing")),
    Case("digests of an empty folder", "no release.json", args=("digests", "--in", "empty"), setup=empty_folder),
    Case("nightly summary of a missing folder", "is not a folder", args=("nightly-summary", "--in", "missing")),
    Case("nightly summary of an empty folder", "no release.json", args=("nightly-summary", "--in", "empty"),
         setup=empty_folder),
    Case("catalog of an empty folder", "no release.json", args=("catalog", "--in", "empty", "--out", "o"),
         setup=empty_folder),
    Case("digests of a broken release", "is not a release manifest", args=("digests", "--in", "rel"),
         setup=broken_release),
    # release.json that is no file (read, it would block for ever), of the wrong types, or forging what is signed
    Case("digests of a FIFO release.json", "rel/release.json is a FIFO, not a file", args=("digests", "--in", "rel"),
         setup=fifo_release),
    Case("catalog of a FIFO release.json", "rel/release.json is a FIFO, not a file",
         args=("catalog", "--in", "rel", "--out", "o"), setup=fifo_release),
    Case("nightly summary of a FIFO release.json", "rel/release.json is a FIFO, not a file",
         args=("nightly-summary", "--in", "rel"), setup=fifo_release),
    Case("digests of a release.json linked to /dev/zero", "rel/release.json is a device, not a file",
         args=("digests", "--in", "rel"), setup=device_release),
    Case("join over a FIFO release.json (before any tag is written)", "o/release.json is a FIFO",
         args=("join", "--variant", "2.14.1-cu130-py3.11-runtime", "--registry", "127.0.0.1:1/x", "--out", "o"),
         setup=fifo_in_out),
    Case("catalog of a size given as a string", "images[0] ('2.6.0-cpu-py3.12-runtime'): field 'size' is a string",
         released({"size": "6400000000"}), args=("catalog", "--in", "rel", "--out", "o")),
    Case("digests of tags given as a string", "field 'tags' is a string 'abc', not a list",
         released({"tags": "abc"}), args=("digests", "--in", "rel")),
    Case("nightly summary of bytes pushed as a string", "field 'push.bytes_pushed' is a string",
         released({"push": {"layers_pushed": 1, "layers_existing": 0, "bytes_pushed": "9", "seconds": 1}}),
         args=("nightly-summary", "--in", "rel")),
    Case("nightly summary of a 100,000-deep nesting", "images[0]: field 'changes[0][0]",
         released(raw='{"images": [{"variant": "v", "changes": ' + "[" * 100_000 + "]" * 100_000 + "}]}"),
         args=("nightly-summary", "--in", "rel")),
    Case("catalog of a 100,000-deep nesting", "is nested deeper than 32 levels",
         released(raw='{"images": [' + "{\"a\": " * 100_000 + "1" + "}" * 100_000 + "]}"),
         args=("catalog", "--in", "rel", "--out", "o")),
    Case("digests of a repository with a newline", "field 'repository' is '127.0.0.1:5000/ns/pytorch\\nevil",
         released({"repository": "127.0.0.1:5000/ns/pytorch\nevil.example/x"}), args=("digests", "--in", "rel")),
    Case("digests of a digest that is a flag", "field 'digest' is 'latest --insecure', not a digest",
         released({"digest": "latest --insecure"}), args=("digests", "--in", "rel")),
    Case("digests of an index with a space in its repository", "indexes[0] ('2.6.0-cpu-py3.12-runtime'): field "
         "'repository'", released(index={"repository": "127.0.0.1:5000/ns/py torch"}), args=("digests", "--in", "rel")),
    Case("digests of an index whose digest is a flag", "indexes[0] ('2.6.0-cpu-py3.12-runtime'): field 'digest'",
         released(index={"digest": "latest --insecure"}), args=("digests", "--in", "rel")),
    Case("join over a damaged release.json of ours (before any tag is written)", "field 'repository' is missing",
         {"o/release.json": '{"images": [{"variant": "v", "status": "ok"}]}\n'},
         args=("join", "--variant", "2.14.1-cu130-py3.11-runtime", "--registry", "127.0.0.1:1/x", "--out", "o")),
    # files a user made, and folders a failure would leave
    Case("render over a user's folder", "imgbuild did not write it", {M: SMALL}, args=(*RENDER, "--force"),
         setup=user_folder_named_like_a_variant),
    Case("render without a lock leaves no folder", "has no lock", {M: SMALL},
         args=("render", *CPU, "--out", "new/deep/out")),
    Case("wheelhouse without a lock leaves no folder", "has no lock", {M: SMALL},
         args=("wheelhouse", *CPU, "--out", "new/wheels")),
    Case("catalog over a user's TAGS.md", "TAGS.md exists and imgbuild did not write it",
         {"o/TAGS.md": "# my notes\n"}, args=("catalog", "--in", "rel", "--out", "o"), setup=a_release),
    Case("catalog over a user's release.json", "release.json exists and imgbuild did not write it",
         {"o/release.json": "[1, 2]\n"}, args=("catalog", "--in", "rel", "--out", "o"), setup=a_release),
    Case("join over a user's release.json (before any tag is written)", "release.json exists and imgbuild did not",
         {"o/release.json": "[1, 2]\n"}, args=("join", "--variant", "2.14.1-cu130-py3.11-runtime", "--registry",
                                             "127.0.0.1:1/x", "--out", "o")),
    Case("join with an empty date", "--date '' is not a date", args=("join", "--date", "", "--registry", "127.0.0.1:1/x")),
    Case("join of builds made for one platform", "made for more than one platform", {M: SMALL},
         args=("join", "--registry", "127.0.0.1:1/x")),
    Case("init --force over a team's own tests", "test_vision.py exists and imgbuild did not write it",
         {M: SMALL, "teams/vision/test_vision.py": "def test_mine():\n    assert True\n"},
         args=("init", "--force", "--team", "vision")),
    Case("test over a user's JUnit file", "report.xml exists and imgbuild did not write it",
         {"report.xml": "<mine/>\n"}, args=("test", "img:1", "--junit", "report.xml")),
    Case("test over a user's JSON file", "report.json exists and imgbuild did not write it",
         {"report.json": "{}\n"}, args=("test", "img:1", "--json", "report.json")),
    # the environment and the output
    Case("a runner label with a line break", "IMGBUILD_RUNNERS.gpu label 'gpu\\nbox' holds a line break", {M: SMALL},
         args=("plan",), env={"IMGBUILD_RUNNERS": '{"gpu": ["self-hosted", "gpu\\nbox"]}'}),
    Case("SOURCE_DATE_EPOCH not a time", "is not a Unix time", {M: SMALL}, args=("matrix", "--json"),
         env={"SOURCE_DATE_EPOCH": "yesterday"}),
    Case("IMGBUILD_MATRIX missing", "no such file", env={"IMGBUILD_MATRIX": "nope.yaml"}),
    Case("output to a full disk", "cannot write the output (No space left on device)", {M: SMALL},
         stdout="/dev/full"),
    Case("an ASCII-only output", "set PYTHONIOENCODING=utf-8", {"a.txt": "torch==2.6.0 --hash=sha256:" + "0" * 64,
                                                              "b.txt": "torch==2.7.0 --hash=sha256:" + "0" * 64},
         args=("diff", "a.txt", "b.txt"), env={"PYTHONIOENCODING": "ascii"}),
    Case("a port the registry cannot have", "Invalid value for '--port'", args=("registry", "start", "--port", "0")),
]


def test_the_table_has_at_least_60_kinds():
    assert len(CASES) >= 60 and len({c.name for c in CASES}) == len(CASES)


@pytest.fixture(scope="module")
def commands(request, tmp_path_factory):
    yield from table(request, CASES, tmp_path_factory.mktemp("hostile"))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_boundary_holds(case, commands):
    commands.check(case)
