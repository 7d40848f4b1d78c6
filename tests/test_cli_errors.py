"""Every refusal of the command line is one `imgbuild: error:` line on stderr, its kind's exit code, no work done."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from imgbuild.core import errors


def one_line(result: subprocess.CompletedProcess) -> str:
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("imgbuild: error: "), result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr.strip()


@pytest.mark.parametrize("args, words", [
    (["wheelhouse", "--index", "pypo", "--out", "OUT"], "'pypo' is not one of 'auto', 'pytorch', 'pypi'"),
    (["build", "--network", "wifi"], "'wifi' is not one of 'host', 'none', 'bridge', 'default'"),
    (["release", "--gpu", "maybe", "--registry", "127.0.0.1:9/x"], "'maybe' is not one of 'auto', 'yes', 'no'"),
    (["test", "--gpu", "maybe"], "'maybe' is not one of"),
    (["build", "--no-such-option"], "No such option: --no-such-option"),
    (["no-such-command"], "No such command 'no-such-command'"),
    # a known value that cannot work: refused before the first download
    (["wheelhouse", "--torch", "2.6", "--cuda", "11.8", "--index", "pypi", "--out", "OUT"],
     "PyPI does not carry the cu118 build"),
])
def test_a_bad_value_is_refused_before_any_work(tmp_path, args, words, cli):
    result = cli(*[str(tmp_path / "out") if a == "OUT" else a for a in args])
    assert result.returncode == 2 and words in one_line(result)
    assert not (tmp_path / "out").exists()


def test_catalog_of_a_missing_folder_is_one_line_and_writes_nothing(tmp_path, cli):
    result = cli("catalog", "--in", str(tmp_path / "missing"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "is not a folder" in one_line(result)
    (tmp_path / "empty").mkdir()
    result = cli("catalog", "--in", str(tmp_path / "empty"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "no release.json" in one_line(result)
    assert not (tmp_path / "out").exists()


def test_catalog_of_a_damaged_fragment_is_one_line_and_writes_neither_file(tmp_path, cli):
    (tmp_path / "in").mkdir()
    entry = {"variant": "2.6.0-cpu-py3.12-runtime", "repository": "ghcr.io/team/pytorch", "status": "ok",
             "digest": "sha256:" + "a" * 64, "tags": ["2.6.0-cpu"], "size": "6400000000"}  # a number as a string
    (tmp_path / "in" / "release.json").write_text(json.dumps({"images": [entry]}))
    result = cli("catalog", "--in", str(tmp_path / "in"), "--out", str(tmp_path / "out"))
    assert result.returncode == errors.ConfigError.exit_code
    assert "images[0] ('2.6.0-cpu-py3.12-runtime'): field 'size' is a string" in one_line(result)
    assert not (tmp_path / "out").exists()  # neither release.json nor TAGS.md: no half-done output


def test_join_checks_the_release_json_in_out_before_any_tag_is_written(tmp_path, monkeypatch, cli):
    from imgbuild.cli import publish
    from imgbuild.release import join

    (tmp_path / "release.json").write_text('{"images": [{"variant": "v", "status": "ok"}]}\n')  # ours, damaged
    joined = []
    monkeypatch.setattr(publish, "registry_target", lambda *_: None)  # no registry is asked...
    monkeypatch.setattr(join, "check_registry", lambda _: None)
    monkeypatch.setattr(join, "join_builds", lambda *args: joined.append(args) or [])  # ...nor any tag written
    result = cli("join", "--variant", "2.14.1-cu130-py3.11-runtime", "--registry", "127.0.0.1:1/x",
                 "--out", str(tmp_path))
    err = result.stderr
    assert result.returncode == errors.ConfigError.exit_code and err.count("\n") == 1, err
    assert "release.json: images[0] ('v'): field 'repository' is missing" in err
    assert joined == []  # refused before the plain tags of any build could move


def test_a_bad_image_reference_and_a_bad_registry_have_their_own_codes(cli):
    assert cli("push", "Bad:Ref::", "--registry", "127.0.0.1:9/x").returncode == errors.ConfigError.exit_code
    result = cli("push", "img:1", "--registry", "https://Example.com")
    assert result.returncode == errors.RegistryError.exit_code and "HOST[:PORT]/NAMESPACE" in one_line(result)


def test_render_into_an_unwritable_place_is_an_output_error(tmp_path, cli):
    (tmp_path / "file").write_text("")
    result = cli("render", "--torch", "2.6", "--cuda", "cpu", "--out", str(tmp_path / "file" / "sub"))
    assert result.returncode in (errors.OutputError.exit_code, errors.ConfigError.exit_code)
    one_line(result)


def test_every_error_kind_has_its_own_exit_code():
    kinds = [errors.ImgbuildError, errors.ConfigError, errors.DaemonError, errors.BuildError, errors.SmokeError,
             errors.PublishError, errors.OutputError, errors.RegistryError]
    assert len({k.exit_code for k in kinds}) == len(kinds)
    assert issubclass(errors.NothingSelected, errors.ConfigError)  # a selection is an option: same kind


def test_an_unexpected_exception_is_one_line_unless_debug_asks(monkeypatch, cli):
    from imgbuild.cli.options import SelectionOptions

    def boom(self, **kw):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(SelectionOptions, "variants", boom)
    monkeypatch.delenv("IMGBUILD_DEBUG", raising=False)
    result = cli("matrix")
    err = result.stderr
    assert result.returncode == 1 and err.count("\n") == 1
    assert err.startswith("imgbuild: error: internal error: RuntimeError: boom second line")
    with pytest.raises(RuntimeError, match="boom"):
        cli("matrix", env={"IMGBUILD_DEBUG": "1"})


@pytest.mark.parametrize("args, env, code, words, secret", [
    (["diff", "bob:s3cretPW@127.0.0.1:1/ns/img:a", "127.0.0.1:1/ns/img:b"], {}, 2,
     "'***@127.0.0.1:1/ns/img:a' is neither a lock file nor a registry image", "s3cretPW"),
    (["push", "--registry", "127.0.0.1:0/team", "x"], {}, 7, "bad registry '127.0.0.1:0/team'", None),
    (["plan", "--torch", "2.6"], {"IMGBUILD_RUNNERS": "[]"}, 2, "IMGBUILD_RUNNERS is a JSON list, not an object",
     None),
    (["base", "--platform", "all"], {}, 2, "(one platform: run it once for each)", None),
    (["lock", "--torch", "2.6", "--cuda", "12.4", "--find-links", "/nonexistent/wheels"], {}, 2,
     "--find-links '/nonexistent/wheels' is not a folder", None),
    (["plan", "--gpu-jobs", "--join-jobs"], {}, 2, "drop one of them", None),
    (["plan", "--layout", "--chunk", "0"], {}, 2, "would ignore --chunk: drop --chunk, or drop --layout", None),
])
def test_second_round_inputs_end_in_one_line_that_helps(args, env, code, words, secret, cli):
    result = cli(*args, env=env)
    line = one_line(result)
    assert result.returncode == code and words in line, line
    assert secret is None or secret not in result.stderr + result.stdout


def test_help_names_what_an_option_takes_not_a_python_type(cli):
    for command in ("build", "release", "reproduce", "matrix", "lock"):
        shown = cli(command, "--help").stdout
        assert f"Usage: imgbuild {command} " in shown and "list[" not in shown


def test_sigterm_undoes_what_was_begun_and_says_so_in_one_line(tmp_path):
    """A cancelled CI job: SIGTERM while uv resolves leaves no `locks/.<id>.in` and no empty folder."""
    import signal
    import time

    started = tmp_path / "resolving"
    script = f"""
import pathlib, subprocess, time
import imgbuild.lock.resolve as resolve
def slow(*args, **kwargs):
    pathlib.Path({str(started)!r}).write_text("x")
    time.sleep(60)
resolve.subprocess.run = slow
from imgbuild.cli.app import main
main(["lock", "--torch", "2.6", "--cuda", "12.4"])
"""
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=work, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    for _ in range(300):
        if started.exists() or proc.poll() is not None:
            break
        time.sleep(0.1)
    assert started.exists(), proc.communicate(timeout=30)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143 and err.strip() == ("imgbuild: error: terminated (SIGTERM): what it had begun was "
                                                      "undone; re-run the same command"), err
    assert list(work.rglob("*")) == []  # no .in file, no locks/ folder


@pytest.mark.parametrize("command", [["join"], ["release", "--torch", "2.6"], ["push", "x"]])
def test_a_bad_registry_is_refused_before_any_folder_is_made(tmp_path, command, cli):
    result = cli(*command, "--registry", "bad!", cwd=tmp_path)
    assert result.returncode == 7 and "bad registry 'bad!'" in one_line(result)
    assert list(tmp_path.iterdir()) == []  # no empty ./release


def test_registry_stop_says_when_nothing_was_running(tmp_path, monkeypatch, cli):
    """A registry started before a reboot: its state is left, nothing runs; stop must not claim it stopped one."""
    import json as jsonlib
    import socket

    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    root = tmp_path / "xdg" / "imgbuild" / "registry"
    root.mkdir(parents=True)
    (root / "state.json").write_text(jsonlib.dumps({"backend": "/usr/bin/docker-registry", "port": port,
                                                    "data": str(root / "storage"), "pid": 999999}))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    result = cli("registry", "stop", cwd=tmp_path)
    assert result.returncode == 0 and "local registry was not running; data kept in" in result.stdout, result
