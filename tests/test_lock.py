"""Locks, inputs digests, the unchanged check and diffs: the pure parts, without a daemon or a registry."""

import dataclasses
import datetime as dt
import json
import shutil

import pytest
from helpers import ROOT
from imgbuild.core import tags
from imgbuild.core.errors import ConfigError
from imgbuild.lock.lockfile import load_lock, lock_inputs, parse_pins, read_lock
from imgbuild.matrix.select import Selection, select
from imgbuild.release.diff import compare, side_from_labels
from imgbuild.release.skip import Previous, decide
from imgbuild.render.inputs import INPUTS_LABEL, inputs_digest
from imgbuild.render.render import render

LOCKED = "2.14.1-cu130-py3.11-runtime"


@pytest.fixture
def variant(matrix):
    return select(matrix, Selection(torch="2.14", cuda="13.0", flavor="runtime", python="3.11"))[0]


@pytest.fixture
def locks(tmp_path, monkeypatch):
    """A copy of the repo's locks, read through $IMGBUILD_LOCKS, so a test may change one."""
    shutil.copytree(ROOT / "locks", tmp_path / "locks")
    monkeypatch.setenv("IMGBUILD_LOCKS", str(tmp_path / "locks"))
    return tmp_path / "locks"


def test_the_repo_locks_the_offline_test_variant_with_hashes(variant):
    lock = load_lock(variant, env={"IMGBUILD_LOCKS": str(ROOT / "locks")})
    versions = lock.versions()
    assert versions["torch"] == "2.14.1" and versions["timm"] == "1.0.30" and versions["jupyterlab"] == "4.5.11"
    assert len(lock.pins) > 100 and all(p.hashes for p in lock.pins)
    assert lock.inputs_digest == lock_inputs(variant).digest


def test_a_changed_pin_makes_the_lock_stale_and_names_the_command(variant, locks):
    newer = dataclasses.replace(variant, timm="1.0.31")
    with pytest.raises(ConfigError, match=f"stale.*run `imgbuild lock --variant {LOCKED}`"):
        load_lock(newer)


def test_a_missing_lock_names_the_command(variant, locks):
    (locks / f"{LOCKED}.txt").unlink()
    with pytest.raises(ConfigError, match=f"has no lock .*run `imgbuild lock --variant {LOCKED}` first"):
        load_lock(variant)


@pytest.mark.parametrize("text, words", [
    ("", "it has no NAME==VERSION pins"),
    ("# notes\nhello world\n", "it has no NAME==VERSION pins"),
    ("requires_python:\n  timm==1.0.30: \">=3.8\"\n", "timm==1.0.30: has no --hash"),  # a matrix
    ("torch==2.6.0\nsix==1.17.0\n", "six==1.17.0 has no --hash"),  # pip freeze
])
def test_a_file_that_is_not_a_lock_is_refused_naming_it(tmp_path, text, words):
    path = tmp_path / "a.txt"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        read_lock(path)
    assert str(err.value) == f"{path} is not a lock ({words}): pass a file `imgbuild lock` wrote"


def test_a_lock_with_a_pin_without_a_hash_names_the_command(variant, locks):
    path = locks / f"{LOCKED}.txt"
    path.write_text(path.read_text().replace("tqdm==4.70.1 \\\n", "tqdm==4.70.1\n#", 1))
    with pytest.raises(ConfigError, match=f"tqdm==4.70.1 has no --hash\\): run `imgbuild lock --variant {LOCKED}`"):
        load_lock(variant)


def test_pins_parse_with_continuations_and_comments():
    text = "# header\nfoo-bar==1.0 \\\n    --hash=sha256:" + "a" * 64 + " \\\n    --hash=sha256:" + "b" * 64 + \
        "\n    # via x\nBaz_Qux==2.0 --hash=sha256:" + "c" * 64 + "\n"
    pins = parse_pins(text)
    assert [(p.name, p.version, len(p.hashes)) for p in pins] == [("baz-qux", "2.0", 1), ("foo-bar", "1.0", 2)]


def test_the_inputs_digest_is_stable_and_follows_the_lock(variant, locks, tmp_path):
    first = inputs_digest(render(variant, tmp_path / "a").path, "sha256:base")
    assert inputs_digest(render(variant, tmp_path / "b").path, "sha256:base") == first
    assert inputs_digest(render(variant, tmp_path / "b").path, "sha256:other-base") != first
    path = locks / f"{LOCKED}.txt"
    path.write_text(path.read_text().replace("tqdm==4.70.1", "tqdm==4.70.0"))
    assert inputs_digest(render(variant, tmp_path / "c").path, "sha256:base") != first


def previous(labels, tested=True):
    return Previous(repository="ns/pytorch", digest="sha256:d1", manifest=b"{}", media_type="m", labels=labels,
                    size=1, tested=tested)


LABELS = {INPUTS_LABEL: "sha256:in", "org.opencontainers.image.created": "2026-11-22T02:17:00+00:00"}
TODAY = dt.date(2026, 11, 23)


@pytest.mark.parametrize(("prev", "kw", "unchanged", "reason"), [
    (previous(LABELS), {}, True, "unchanged since 2026-11-22"),
    (previous(LABELS), {"rebuild": True}, False, "--rebuild"),
    (None, {}, False, "not in the registry"),
    (previous({"org.opencontainers.image.created": "2026-11-22T00:00:00+00:00"}), {}, False, "no inputs digest"),
    (previous({**LABELS, INPUTS_LABEL: "sha256:old"}), {}, False, "inputs changed"),
    (previous(LABELS, tested=False), {}, False, "no passing test"),
    (previous(LABELS), {"today": dt.date(2026, 11, 30)}, False, "built 8 days ago (--max-age 7)"),
    (previous(LABELS), {"today": dt.date(2026, 11, 29)}, True, "unchanged"),
])
def test_the_unchanged_decision(prev, kw, unchanged, reason):
    decision = decide(prev, "sha256:in", kw.get("today", TODAY), max_age=7, rebuild=kw.get("rebuild", False))
    assert decision.unchanged is unchanged and reason in decision.reason


def test_diff_sorts_changes_by_kind():
    a = side_from_labels("a", {"io.imgbuild.packages": "torch==2.6.0 six==1.0 numpy==2.0", INPUTS_LABEL: "x"})
    b = side_from_labels("b", {"io.imgbuild.packages": "torch==2.6.1 numpy==1.9 tqdm==4.0", INPUTS_LABEL: "y"})
    diff = compare(a, b)
    assert diff.upgraded == {"torch": ("2.6.0", "2.6.1")} and diff.downgraded == {"numpy": ("2.0", "1.9")}
    assert diff.added == {"tqdm": "4.0"} and diff.removed == {"six": "1.0"} and diff.inputs == ("x", "y")
    assert json.loads(diff.to_json())["upgraded"] == {"torch": ["2.6.0", "2.6.1"]}
    assert "torch 2.6.0 → 2.6.1" in diff.summary() and compare(a, a).empty


def test_diff_of_two_lock_files(tmp_path):
    from imgbuild.release.diff import read_side

    old = ROOT / "locks" / f"{LOCKED}.txt"
    new = tmp_path / "new.txt"
    new.write_text(old.read_text().replace("tqdm==4.70.1", "tqdm==4.71.0"))
    diff = compare(read_side(str(old)), read_side(str(new)))
    assert diff.upgraded == {"tqdm": ("4.70.1", "4.71.0")} and not diff.added
    assert read_lock(new).versions()["tqdm"] == "4.71.0"


def test_source_date_epoch_sets_the_build_date():
    assert tags.build_date({"SOURCE_DATE_EPOCH": "1795046400"}) == dt.date(2026, 11, 19)
    with pytest.raises(ConfigError, match="SOURCE_DATE_EPOCH"):
        tags.build_time({"SOURCE_DATE_EPOCH": "tomorrow"})


def test_a_failed_resolution_is_one_line_with_a_fix(variant):
    from imgbuild.lock.resolve import _uv_failure

    unreachable = "error: Request failed\n  cause: Failed to fetch: https://download.pytorch.org/whl/cu126/timm/\n"
    assert "not reachable (https://download.pytorch.org/whl/cu126/timm/)" in _uv_failure(unreachable, lock_inputs(variant))
    conflict = "  × No solution found\n  cause: Because torch was not found, unsatisfiable.\n"
    line = _uv_failure(conflict, lock_inputs(variant))
    assert line.startswith("Because torch was not found") and "\n" not in line and "check the matrix's pins" in line


def test_the_nightly_summary_counts_built_unchanged_and_bytes(tmp_path):
    from imgbuild.cli.app import app
    from typer.testing import CliRunner

    def push(size):
        return {"bytes_pushed": size, "layers_pushed": 1, "layers_existing": 0, "seconds": 1.0}

    # release.json as imgbuild writes it: a pushed digest names its registry and is sha256 + 64 hex digits
    images = [{"variant": "a", "repository": "r.example/a", "status": "ok", "digest": "sha256:" + "1" * 64,
               "push": push(3_000_000_000), "changes": {"summary": "torch 2.6.0 → 2.6.1"}},
              {"variant": "b", "repository": "r.example/b", "status": "ok", "digest": "sha256:" + "2" * 64,
               "unchanged_since": "2026-11-19", "push": push(0)},
              {"variant": "c", "repository": "r.example/c", "status": "failed", "digest": None, "error": "boom"}]
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "release.json").write_text(json.dumps({"generated": "2026-11-20T02:17:00", "images": images}))
    result = CliRunner().invoke(app, ["nightly-summary", "--in", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "**1 built, 1 unchanged (retagged), 1 failed, 0 not locked; 3.00 GB of layers pushed**" in result.output
    assert "| b | unchanged | CPU | `sha256:222222222222` | since 2026-11-19 |" in result.output
    assert "torch 2.6.0 → 2.6.1" in result.output
