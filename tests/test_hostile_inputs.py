"""Bad and hostile input, run against the installed `imgbuild` as a user would (the rules: hostile.py). A table: add
a row for every new kind of bad input."""

from __future__ import annotations

import pytest
from hostile import SMALL, Case, fifo, laughs, read_only_out, small, table, unreadable

RENDER = ("render", "--unlocked", "--torch", "2.6", "--cuda", "cpu", "--out")
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
    Case("huge file", "a matrix file is at most 4,194,304", {M: "# " + "x" * 5_000_000 + "\n"}),
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
    Case("matrix is a folder", "is a folder, not a matrix file: pass --matrix matrix.yaml",
         args=("matrix", "--matrix", ".")),
    Case("no such matrix", "no such file", args=("matrix", "--matrix", "nope.yaml")),
    Case("matrix under a file", "no such file", {"f": "x"}, args=("matrix", "--matrix", "f/matrix.yaml")),
    Case("matrix is a FIFO", "is a FIFO, not a matrix file", args=("matrix", "--matrix", "pipe.yaml"), setup=fifo),
    Case("matrix is /dev/zero", "is a device, not a matrix file", args=("matrix", "--matrix", "/dev/zero")),
    Case("unreadable matrix", "permission denied", args=("matrix", "--matrix", "secret.yaml"), setup=unreadable,
         permissions=True),
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
         setup=read_only_out, permissions=True),
    Case("render into a file", "is a file: pass --out a folder", {"f": "x"}, args=RENDER + ("f",)),
]


def test_the_table_has_at_least_30_kinds():
    assert len(CASES) >= 30 and len({c.name for c in CASES}) == len(CASES)


@pytest.fixture(scope="module")
def commands(request, tmp_path_factory):
    yield from table(request, CASES, tmp_path_factory.mktemp("hostile"))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_line_nonzero_fast_small_and_writes_nothing(case, commands):
    commands.check(case)
