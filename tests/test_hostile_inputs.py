"""Bad and hostile input, run against the installed `imgbuild` as a user would: each must end in exactly one
line on stderr naming the cause (`file:line:` when a file is at fault), a non-zero exit, no traceback, in under
2 s and 200 MB, with nothing written. A table: add a row for every new kind of bad input."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers import SMALL_MATRIX

SMALL = SMALL_MATRIX.read_text(encoding="utf-8")
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
# The 2 s bound is on the child's own CPU time, which other work on the machine cannot stretch; a hang (the
# thing wall time would catch) is caught by the watchdog and a generous wall bound.
CPU_S, WALL_S, RSS_MB = 2.0, 10.0, 200


def installed_imgbuild() -> str:
    beside = Path(sys.executable).parent / "imgbuild"
    found = str(beside) if beside.exists() else shutil.which("imgbuild")
    assert found, "imgbuild is not installed: pip install -e '.[test]'"
    return found


def small(old: str, new: str) -> str:
    assert old in SMALL, old
    return SMALL.replace(old, new, 1)


def laughs(levels: int = 12) -> str:
    """The billion laughs: 1 KB whose aliases expand to 10^12 strings."""
    rows = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    rows += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "\n".join(rows) + "\n"


@dataclass
class Case:
    name: str
    words: str  # what the one stderr line must say
    files: dict[str, str | bytes] = field(default_factory=dict)  # written into the working folder first
    args: tuple[str, ...] = ("matrix",)
    at: str | None = None  # the file at fault: the line must start `imgbuild: error: FILE:LINE: `
    setup: Callable[[Path], None] | None = None
    as_nobody: bool = False  # root reads and writes anything: run as nobody where permissions are the point


def fifo(folder: Path) -> None:
    os.mkfifo(folder / "pipe.yaml")


def unreadable(folder: Path) -> None:
    (folder / "secret.yaml").write_text(SMALL)
    (folder / "secret.yaml").chmod(0)


def read_only_out(folder: Path) -> None:
    (folder / "ro").mkdir()
    (folder / "ro").chmod(0o555)


RENDER = ("render", "--torch", "2.6", "--cuda", "cpu", "--out")
M = "matrix.yaml"
CASES = [
    # YAML that attacks the parser
    Case("billion laughs", "anchor &a0: a matrix has no aliases or anchors", {M: laughs()}, at=M),
    Case("self-referencing alias", "anchor &d", {M: "defaults: &d {x: *d}\n"}, at=M),
    Case("alias without anchor", "alias *nothing", {M: "defaults: *nothing\n"}, at=M),
    Case("merge key", "merge key <<", {M: small("defaults:\n", "defaults:\n  <<: {image: pytorch}\n")}, at=M),
    Case("python object tag", "explicit tag !!python/object/apply:os.system",
         {M: 'defaults: !!python/object/apply:os.system ["touch pwned"]\n'}, at=M),
    Case("custom tag", "explicit tag !custom", {M: small("  image: pytorch", "  image: !custom pytorch")}, at=M),
    Case("binary tag", "explicit tag !!binary", {M: small("  timm:", "  junk: !!binary aGk=\n  timm:")}, at=M),
    Case("two documents", "a second YAML document", {M: SMALL + "---\n" + SMALL}, at=M),
    Case("nesting 40 deep", "nesting deeper than 16 levels", {M: "a: " + "[" * 40 + "]" * 40 + "\n"}, at=M),
    # PyYAML 6.0.4 stops this in its parser, 6.0.3 hands it to the loader's own depth check
    Case("nesting 10,000 deep", "YAML syntax error|nesting deeper than 16 levels",
         {M: "[" * 10000 + "]" * 10000 + "\n"}, at=M),
    Case("syntax error", "YAML syntax error", {M: small("flavors: [runtime, devel]", "flavors: [runtime, devel")},
         at=M),
    Case("a mapping as a key", "a key must be a plain value", {M: "? {a: 1}\n: b\n"}, at=M),
    # bytes that are not a UTF-8 text file
    Case("control byte", "control character U+0007", {M: small("  image: pytorch", "  image: pyt\x07orch")}, at=M),
    Case("terminal escape", "control character U+001B", {M: "# \x1b[2J\n" + SMALL}, at=M),
    Case("NUL byte", "NUL byte", {M: SMALL.encode() + b"\x00"}, at=M),
    Case("Latin-1", "byte 0xe9 at offset", {M: ("# caf\xe9\n" + SMALL).encode("latin-1")}, at=M),
    Case("UTF-16 with BOM", "the file is UTF-16, not UTF-8", {M: SMALL.encode("utf-16")}, at=M),
    Case("UTF-16 without BOM", "NUL byte", {M: SMALL.encode("utf-16-le")}, at=M),
    Case("binary file", "NUL byte", {M: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))}, at=M),
    Case("huge file", "a matrix may be at most 4,194,304", {M: "# " + "x" * 5_000_000 + "\n"}, at=M),
    Case("more values than any matrix", "more than 300,000 values",
         {M: "".join(f"- {1_000_000 + i}\n" for i in range(310_000))}, at=M),
    # values
    Case("number of 5,000 digits", "a value of 5,004 characters",
         {M: small('torch: "2.6.0"', "torch: " + "9" * 5004)}, at=M),
    Case("version of 400 digits", "is not a version like", {M: small('torch: "2.6.0"', 'torch: "2.6.' + "9" * 400 + '"')},
         at=M),
    Case("CUDA key not a version", "is not a CUDA version like", {M: small('  "13.2": {min', '  "13.x": {min')}, at=M),
    Case("two CUDA keys, one id", "would both be cu124",
         {M: small("cpu_index:", '  "1.24": {min_driver: "1.0", index: "https://x.org/cu124", nvcc: x}\ncpu_index:')},
         at=M),
    Case("a date for a version", "expected a string", {M: small('torch: "2.6.0"', "torch: 2026-01-01")}, at=M),
    Case("an impossible date", "cannot read '2026-13-45'", {M: small('torch: "2.6.0"', "torch: 2026-13-45")}, at=M),
    Case("a YAML version from the future", "YAML syntax error", {M: "%YAML 9.9\n---\n" + SMALL}, at=M),
    Case("two patches of one minor", "torch 2.6.1 and 2.6.0 are both 2.6",
         {M: SMALL + SMALL[SMALL.index('  - torch: "2.6.0"'):SMALL.index('  - torch: "2.15.0"')].replace(
             '"2.6.0"', '"2.6.1"')}, at=M),
    # what would make two variants with one id
    Case("flavor twice", "flavor runtime is listed twice", {M: small("[runtime, devel]", "[runtime, runtime, devel]")},
         at=M),
    Case("release spelt twice", "torch 2.6.0.0 is the same release as 2.6.0",
         {M: SMALL + SMALL[SMALL.index('  - torch: "2.6.0"'):SMALL.index('  - torch: "2.15.0"')].replace(
             '"2.6.0"', '"2.6.0.0"')}, at=M),
    Case("python twice", "Python 3.12 is listed twice", {M: small('"3.12", "3.13", "3.14"]', '"3.12", "3.12"]')}, at=M),
    Case("duplicate key", "duplicate key 'image'", {M: small("  image: pytorch\n", "  image: pytorch\n  image: x\n")},
         at=M),
    # facts that cannot build, and shapes that are not a matrix
    Case("python a pin does not support", "lists Python 3.8, but jupyterlab==4.5.11 needs Python >=3.9",
         {M: small('pythons: ["3.9",', 'pythons: ["3.8", "3.9",')}, at=M),
    Case("a list, not a mapping", "the matrix must be a mapping", {M: "- a\n- b\n"}, at=M),
    Case("empty file", "the matrix is empty", {M: ""}, at=M),
    Case("misspelt key", "unknown key 'timmm'", {M: small("  timm:", "  timmm:")}, at=M),
    Case("a key of 500 characters", "unknown key 'kkkk", {M: small("  timm:", "  " + "k" * 500 + ": 1\n  timm:")}, at=M),
    Case("an anchor name of 100,000 characters", "anchor &aaaa", {M: "x: &" + "a" * 100_000 + " 1\n"}, at=M),
    # paths that are not a readable matrix file
    Case("matrix is a folder", "is a folder, not a matrix file", args=("matrix", "--matrix", ".")),
    Case("no such matrix", "no such file", args=("matrix", "--matrix", "nope.yaml")),
    Case("matrix under a file", "no such file", {"f": "x"}, args=("matrix", "--matrix", "f/matrix.yaml")),
    Case("matrix is a FIFO", "is not a regular file", args=("matrix", "--matrix", "pipe.yaml"), setup=fifo),
    Case("matrix is /dev/zero", "is not a regular file", args=("matrix", "--matrix", "/dev/zero")),
    Case("unreadable matrix", "permission denied", args=("matrix", "--matrix", "secret.yaml"), setup=unreadable,
         as_nobody=True),
    # command-line options
    Case("empty --torch", "--torch is empty", args=("matrix", "--torch", "")),
    Case("empty --cuda", "--cuda is empty", args=("matrix", "--cuda", "")),
    Case("empty --python", "--python is empty", args=("matrix", "--python", "")),
    Case("empty --flavor", "--flavor is empty", args=("matrix", "--flavor", " ")),
    Case("empty --variant", "--variant '' is not a variant id", args=("matrix", "--variant", "")),
    Case("--cuda cu12", "--cuda 'cu12' is not a CUDA version", args=("matrix", "--cuda", "cu12")),
    Case("--cuda cpu --flavor devel", "CPU builds come in the runtime flavor only",
         args=("matrix", "--cuda", "cpu", "--flavor", "devel")),
    Case("--torch of 5,000 digits", "is not a torch version", args=("matrix", "--torch", "9" * 5000)),
    Case("--python 3", "--python '3' is not a Python version", args=("matrix", "--python", "3")),
    Case("--flavor slim", "unknown flavor 'slim'", args=("build", "--flavor", "slim")),
    # output folders that cannot be written
    Case("render into /proc", "cannot write build contexts into /proc/imgbuild-test",
         args=RENDER + ("/proc/imgbuild-test",)),
    Case("render under a file", "cannot write build contexts into f/out", {"f": "x"}, args=RENDER + ("f/out",)),
    Case("render into a read-only folder", "cannot write build contexts into ro", args=RENDER + ("ro",),
         setup=read_only_out, as_nobody=True),
    Case("render into a file", "is a file: pass --out a folder", {"f": "x"}, args=RENDER + ("f",)),
]


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under the folder with its size, mode and mtime: a write anywhere changes it."""
    found = {}
    for entry in sorted(folder.rglob("*")):
        info = entry.lstat()
        found[str(entry.relative_to(folder))] = (info.st_size, stat.S_IMODE(info.st_mode), info.st_mtime_ns)
    return found


def run(folder: Path, argv: list[str], logs: Path) -> tuple[int, str, str, tuple[float, float], float]:
    """Run one command; return (exit code, stdout, stderr, (CPU, wall) seconds, peak RSS in MB) of that child alone."""
    env = {k: v for k, v in os.environ.items() if k not in ("IMGBUILD_MATRIX", "IMGBUILD_DEBUG")}
    env.update(NO_COLOR="1", COLUMNS="200")
    with open(logs / "out", "w+b") as out, open(logs / "err", "w+b") as err:
        start = time.monotonic()
        child = subprocess.Popen(argv, cwd=folder, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        watchdog = threading.Timer(20, child.kill)  # a hang fails the wall-time check instead of the whole run
        watchdog.start()
        try:
            _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage: ru_maxrss in KB
        finally:
            watchdog.cancel()
        child.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - start
        out.seek(0), err.seek(0)
        return child.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"), \
            (usage.ru_utime + usage.ru_stime, wall), usage.ru_maxrss / 1024


def nobody_can_run(folder: Path) -> bool:
    """Root passes every permission check, so those cases run as nobody, which must be able to run imgbuild."""
    if not shutil.which("setpriv"):
        return False
    probe = subprocess.run([*NOBODY, installed_imgbuild(), "--version"], cwd=folder, capture_output=True, timeout=60)
    return probe.returncode == 0


@pytest.fixture
def folder(tmp_path):
    """A working folder anyone may enter (a run as nobody needs it), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="imgbuild-hostile-"))
    path.chmod(0o755)
    yield path
    for entry in path.rglob("*"):
        if entry.is_dir() and not entry.is_symlink():
            entry.chmod(0o755)
    shutil.rmtree(path)


def test_the_table_has_at_least_30_kinds():
    assert len(CASES) >= 30 and len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_line_nonzero_fast_small_and_writes_nothing(case, folder, tmp_path):
    for name, content in case.files.items():
        (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    if case.setup:
        case.setup(folder)
    prefix = []
    if case.as_nobody and os.geteuid() == 0:
        if not nobody_can_run(folder):
            pytest.skip("root cannot test permissions here: no setpriv, or nobody cannot run the installed imgbuild")
        prefix = NOBODY
    before = snapshot(folder)
    code, stdout, stderr, seconds, rss = run(folder, [*prefix, installed_imgbuild(), *case.args], tmp_path)

    assert code != 0, stdout
    assert "Traceback" not in stderr and "Traceback" not in stdout
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("imgbuild: error: ") and any(w in lines[0] for w in case.words.split("|")), lines[0]
    if case.at:
        assert re.match(rf"imgbuild: error: {re.escape(case.at)}:\d+: ", lines[0]), lines[0]
    assert len(lines[0]) < 400
    cpu, wall = seconds
    assert cpu < CPU_S and wall < WALL_S, f"took {cpu:.2f} s of CPU, {wall:.2f} s on the clock"
    assert rss < RSS_MB, f"peak RSS {rss:.0f} MB"
    assert snapshot(folder) == before, "the command wrote into its working folder"
    assert not Path("/proc/imgbuild-test").exists()
