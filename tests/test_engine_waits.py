"""Every wait on the daemon is bounded (issue: faults): a daemon that accepts the connection and never answers, and
a push that stops moving, end in one line within seconds. The daemon is a stand-in on a Unix socket that speaks
just enough of the Docker API (ping, version, a push stream that falls silent), as a hung dockerd does."""

from __future__ import annotations

import json
import socketserver
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest
from imgbuild.core.errors import DaemonError
from imgbuild.core.reference import ImageRef
from imgbuild.engine import daemon
from imgbuild.engine.daemon import Engine


class UnixHTTP(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def serve(path, mute: bool):
    """A daemon on `path`: `mute` answers nothing at all; otherwise pings and versions, and a push that sends one
    progress message and then nothing."""
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def address_string(self):
            return "docker.sock"

        def do_GET(self):
            if mute:
                release.wait(30)
                return
            body = b"OK" if self.path.endswith("/_ping") else json.dumps(
                {"ApiVersion": "1.45", "Version": "26.1.5", "Components": []}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_HEAD = do_GET

        def do_POST(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            line = json.dumps({"status": "Pushing", "id": "aaa", "progressDetail": {"current": 1, "total": 9}})
            self.wfile.write(f"{len(line) + 1:x}\r\n{line}\n\r\n".encode())
            self.wfile.flush()
            release.wait(30)  # a frozen registry: Docker says nothing more

        def log_message(self, *args):
            pass

    server = UnixHTTP(str(path), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, release


@pytest.fixture
def short_sock():
    with tempfile.TemporaryDirectory(prefix="imgbuild-sock-") as folder:  # a Unix socket path has 108 bytes at most
        yield f"{folder}/docker.sock"


def test_a_daemon_that_never_answers_is_given_up_in_seconds(short_sock, monkeypatch):
    monkeypatch.setattr(daemon, "ANSWER_S", 1)
    server, release = serve(short_sock, mute=True)
    try:
        start = time.monotonic()
        with pytest.raises(DaemonError, match="cannot reach the Docker daemon at unix://"):
            Engine(base_url=f"unix://{short_sock}")
        assert time.monotonic() - start < 10
    finally:
        release.set()
        server.shutdown()


def test_a_push_that_stops_moving_ends_with_a_stalled_error(short_sock):
    server, release = serve(short_sock, mute=False)
    try:
        engine = Engine(base_url=f"unix://{short_sock}")
        start = time.monotonic()
        messages = list(engine.push(ImageRef.parse("127.0.0.1:5000/team/pytorch:2.6.0-cpu"), None, stall=1))
        assert time.monotonic() - start < 10
        assert messages[0]["status"] == "Pushing"
        assert messages[-1] == {"error": "stalled: nothing moved for 1 s"}
        assert engine._client.api.timeout == 600  # the daemon's other calls keep their own bound
    finally:
        release.set()
        server.shutdown()


def test_a_push_that_repeats_its_progress_without_moving_is_stalled_too():
    """Docker's containerd image store repeats a frozen push's progress on a timer: the stream never falls silent."""
    from imgbuild.engine.progress import until_stalled

    clock = iter(range(0, 1000, 2))  # each message 2 s after the last
    frozen = {"status": "Pushing", "id": "aaa", "progressDetail": {"current": 512, "total": 2048}}
    moving = [{"status": "Pushing", "id": "aaa", "progressDetail": {"current": n, "total": 2048}} for n in range(9)]
    assert list(until_stalled(moving, 5, lambda: next(clock))) == moving  # each one new: never stalled
    messages = list(until_stalled([frozen] * 20, 5, lambda: next(clock)))
    assert messages[-1] == {"error": "stalled: nothing moved for 5 s"} and len(messages) == 4
