"""How a hostile input is run and judged: against the installed `imgbuild`, a process started as helpers.IMGBUILD
starts it, as a user would, each must end in exactly one line on stderr naming the cause (`file:line:` when a file is
at fault), a non-zero exit, no traceback, no secret it was given, in under 2 s and 200 MB, with nothing written. The
tables are test_hostile_inputs.py and test_hostile_boundary.py; a table's commands run side by side, one per core."""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers import IMGBUILD, SMALL_MATRIX

SMALL = SMALL_MATRIX.read_text(encoding="utf-8")
# Root passes every permission check; without these two capabilities it is held to a file's mode bits like anyone,
# and (unlike a switch to nobody) still reaches the installed imgbuild wherever the checkout lies.
NO_OVERRIDE = ["setpriv", "--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search"]
# The 2 s bound is on the child's own CPU time, which other work on the machine cannot stretch; a hang (the
# thing wall time would catch) is caught by the watchdog and a generous wall bound.
CPU_S, WALL_S, RSS_MB = 2.0, 10.0, 200


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
    permissions: bool = False  # the case is about a file's mode: root runs it without its override capabilities
    env: dict[str, str] = field(default_factory=dict)  # set for the command
    stdout: str | None = None  # a file the command's stdout goes to (/dev/full) instead of a log
    secret: str | None = None  # given in the input: must appear in no output


def fifo(folder: Path) -> None:
    os.mkfifo(folder / "pipe.yaml")


def unreadable(folder: Path) -> None:
    (folder / "secret.yaml").write_text(SMALL)
    (folder / "secret.yaml").chmod(0)


def read_only_out(folder: Path) -> None:
    (folder / "ro").mkdir()
    (folder / "ro").chmod(0o555)


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under the folder with its size, mode and mtime: a write anywhere changes it."""
    found = {}
    for entry in sorted(folder.rglob("*")):
        info = entry.lstat()
        found[str(entry.relative_to(folder))] = (info.st_size, stat.S_IMODE(info.st_mode), info.st_mtime_ns)
    return found


# A process's peak RSS starts at its parent's when it is forked: exec records the old memory's high-water mark
# (Linux exec_mmap). Forked from pytest, which the fuzz and plan tests grow past 300 MB, every command would read
# as that big. So a small launcher forks the command and writes that child's own rusage to the pipe it is given.
LAUNCHER = """import os, sys
pid = os.fork()
if pid == 0:
    os.close(int(sys.argv[1]))
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
os.write(int(sys.argv[1]), f"{status} {usage.ru_utime + usage.ru_stime} {usage.ru_maxrss}".encode())
"""


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@dataclass
class Ran:
    """What one case's command did, measured on that child alone, and its working folder as it was before."""
    code: int
    stdout: str
    stderr: str
    cpu: float  # seconds
    wall: float  # seconds
    rss: float  # peak, MB
    folder: Path
    before: dict[str, tuple]


def run(folder: Path, argv: list[str], logs: Path, env: dict[str, str],
        stdout: str | None = None) -> tuple[int, str, str, tuple[float, float], float]:
    """Run one command; return (exit code, stdout, stderr, (CPU, wall) seconds, peak RSS in MB) of that child alone."""
    report_r, report_w = os.pipe()
    with open(stdout or logs / "out", "w+b" if stdout is None else "wb") as out, open(logs / "err", "w+b") as err:
        start = time.monotonic()
        child = subprocess.Popen([sys.executable, "-S", "-c", LAUNCHER, str(report_w), *argv], cwd=folder,
                                 stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, pass_fds=(report_w,),
                                 start_new_session=True)
        os.close(report_w)
        # a hang fails the wall-time check instead of the whole run
        watchdog = threading.Timer(20, _kill_group, (child.pid,))
        watchdog.start()
        try:
            child.wait()
            with os.fdopen(report_r, "rb") as report:
                said_by_launcher = report.read().decode().split()
        finally:
            watchdog.cancel()
        # killed by the watchdog, the launcher reports nothing: the wall time tells
        status, cpu, maxrss_kb = said_by_launcher or (str(signal.SIGKILL.value), "0", "0")
        wall = time.monotonic() - start
        err.seek(0)
        said = "" if stdout else (out.seek(0), out.read().decode(errors="replace"))[1]
        return os.waitstatus_to_exitcode(int(status)), said, err.read().decode(errors="replace"), \
            (float(cpu), wall), int(maxrss_kb) / 1024


def start(case: Case, folder: Path, logs: Path, env: dict[str, str]) -> Ran:
    """Lay out the case's working folder and run its command there as a user would."""
    for name, content in case.files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    if case.setup:
        case.setup(folder)
    prefix = []
    if case.permissions and os.geteuid() == 0:
        assert shutil.which("setpriv"), "root tests permissions through setpriv: apt-get install util-linux"
        prefix = NO_OVERRIDE
    before = snapshot(folder)
    logs.mkdir(parents=True)
    code, stdout, stderr, (cpu, wall), rss = run(folder, [*prefix, *IMGBUILD, *case.args], logs,
                                                 {**env, **case.env}, case.stdout)
    return Ran(code, stdout, stderr, cpu, wall, rss, folder, before)


def judge(case: Case, ran: Ran) -> None:
    """Hold one case's run to the rules in this module's docstring."""
    stdout, stderr = ran.stdout, ran.stderr
    assert ran.code != 0, stdout
    assert "Traceback" not in stderr and "Traceback" not in stdout
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("imgbuild: error: ") and any(w in lines[0] for w in case.words.split("|")), lines[0]
    if case.at:
        assert re.match(rf"imgbuild: error: {re.escape(case.at)}:\d+: ", lines[0]), lines[0]
    assert len(lines[0]) < 400
    if case.secret:
        assert case.secret not in stderr and case.secret not in stdout, "a secret was echoed"
    assert ran.cpu < CPU_S and ran.wall < WALL_S, f"took {ran.cpu:.2f} s of CPU, {ran.wall:.2f} s on the clock"
    assert ran.rss < RSS_MB, f"peak RSS {ran.rss:.0f} MB"
    assert snapshot(ran.folder) == ran.before, "the command wrote into its working folder"
    assert not Path("/proc/imgbuild-test").exists()


def _new_folder() -> Path:
    path = Path(tempfile.mkdtemp(prefix="imgbuild-hostile-"))
    path.chmod(0o755)
    return path


def _remove_folder(path: Path) -> None:
    """Remove a case's folder, its read-only folders made writable first."""
    for entry in path.rglob("*"):
        if entry.is_dir() and not entry.is_symlink():
            entry.chmod(0o755)
    shutil.rmtree(path)


class Table:
    """The selected cases of one table, started together, one command per core, as soon as its first test runs;
    each test then judges its own case. Each command is still a process of its own, so its CPU time and peak RSS
    are its own; the table takes half the time or less."""

    def __init__(self, cases: list[Case], logs: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("IMGBUILD_MATRIX", "IMGBUILD_DEBUG")}
        env.update(NO_COLOR="1", COLUMNS="200")
        self._folders: list[Path] = []
        self._pool = ThreadPoolExecutor(max_workers=len(os.sched_getaffinity(0)))
        self._runs: dict[str, Future[Ran]] = {
            case.name: self._pool.submit(self._start, case, logs / str(i), env) for i, case in enumerate(cases)}

    def _start(self, case: Case, logs: Path, env: dict[str, str]) -> Ran:
        folder = _new_folder()
        self._folders.append(folder)
        return start(case, folder, logs, env)

    def check(self, case: Case) -> None:
        judge(case, self._runs[case.name].result())

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for folder in self._folders:
            _remove_folder(folder)


def table(request: pytest.FixtureRequest, cases: list[Case], logs: Path) -> Iterator[Table]:
    """A test module's Table of those of its cases this session runs (`-k` picks fewer)."""
    chosen = {item.callspec.params["case"].name for item in request.session.items
              if getattr(item, "module", None) is request.module and hasattr(item, "callspec")
              and "case" in item.callspec.params}
    running = Table([case for case in cases if case.name in chosen], logs)
    try:
        yield running
    finally:
        running.close()
