"""A fault-injecting HTTP/1.1 proxy on loopback, in front of a real registry (tests/registry_server.py).

Point a push at `proxy.host` instead of the registry's: Docker takes any 127.0.0.1:PORT for an insecure (plain HTTP)
registry, so `docker push` and imgbuild's Registry API client go through it alike. Faults are switched on and off
while a push runs:

- `kill()` closes the listener and every connection, as a registry that dies; `revive()` listens again on the port;
- `freeze(seconds)` accepts connections but relays nothing, for `seconds` or until `thaw()`;
- `fail_every(n, status)` answers every n-th request itself (503: a registry behind a struggling load balancer);
- `drop_body(pattern)` cuts the connection halfway through a matching request's body;
- `disk_full(pattern)` answers matching requests as Distribution does when its disk is full;
- `when(pattern, action)` runs `action` (kill, freeze, set an event) at the first matching request, so a fault
  starts mid-push.

A pattern is searched in "METHOD PATH?QUERY". `seen` lists every request the proxy read, faulted or not.

Requests are parsed (head, then a Content-Length or chunked body) so that a fault can pick one; responses are
relayed as raw bytes by a second thread per connection. HTTP/1.1 clients (Go's, Python's requests) do not pipeline:
a client sends its next request on a connection only once the last answer has arrived, so the proxy may answer a
request itself between two relayed ones.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from http import HTTPStatus
from typing import IO

CHUNK = 1 << 16

# Distribution 2.8's answer when its filesystem driver cannot write (errno 28, ENOSPC), byte for byte in shape.
DISK_FULL_BODY = json.dumps({"errors": [{"code": "UNKNOWN", "message": "unknown error", "detail": {
    "DriverName": "filesystem", "Enclosed": {
        "Op": "write", "Path": "/var/lib/docker-registry/docker/registry/v2/repositories/_uploads/data", "Err": 28}}}]})

NOT_HTTP = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
            b"400 Bad Request")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked on it (close alone does not, on Linux)
    except OSError:
        pass
    sock.close()


def _exactly(reader: IO[bytes], count: int) -> Iterator[bytes]:
    while count > 0:
        piece = reader.read1(min(count, CHUNK))  # type: ignore[attr-defined]
        if not piece:
            raise ConnectionError("the client went away in the middle of a body")
        count -= len(piece)
        yield piece


def _body(reader: IO[bytes], headers: dict[str, str]) -> Iterator[bytes]:
    """A request body's bytes as they came, the chunked framing kept (relayed as is)."""
    if "chunked" not in headers.get("transfer-encoding", "").lower():
        yield from _exactly(reader, int(headers.get("content-length") or 0))
        return
    while True:
        size_line = reader.readline()
        if not size_line:
            raise ConnectionError("the client went away in the middle of a chunked body")
        yield size_line
        if int(size_line.split(b";")[0].strip() or b"0", 16) == 0:
            while (trailer := reader.readline()) not in (b"\r\n", b"\n", b""):
                yield trailer
            yield trailer
            return
        yield from _exactly(reader, int(size_line.split(b";")[0].strip(), 16) + 2)  # the data and its CRLF


def _answer(status: int, body: str = "", *, head_only: bool = False, close: bool = False) -> bytes:
    data = body.encode()
    head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nDocker-Distribution-Api-Version: registry/2.0\r\n"
            + ("Connection: close\r\n" if close else "") + "\r\n")
    return head.encode() + (b"" if head_only else data)


class FaultProxy:
    """One listener on 127.0.0.1:PORT relaying to `upstream` ("127.0.0.1:5000"), with switchable faults."""

    def __init__(self, upstream: str, port: int | None = None) -> None:
        host, _, upstream_port = upstream.rpartition(":")
        self.upstream = (host, int(upstream_port))
        self.port = port or _free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.seen: list[str] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._thawed = threading.Event()
        self.clear()

    # -- the switches ------------------------------------------------------------------------------------------

    def clear(self) -> None:
        """Every fault off; a frozen proxy relays again. `seen` is kept (a test may reset it)."""
        self._every: tuple[int, int] | None = None
        self._drops: list[list] = []  # [pattern, how many more times (None: always)]
        self._full: re.Pattern | None = None
        self._triggers: list[tuple[re.Pattern, Callable[[], object]]] = []
        self.thaw()

    def fail_every(self, n: int, status: int = 503) -> None:
        self._every = (n, status)

    def drop_body(self, pattern: str, times: int | None = 1) -> None:
        self._drops.append([re.compile(pattern), times])

    def disk_full(self, pattern: str) -> None:
        self._full = re.compile(pattern)

    def when(self, pattern: str, action: Callable[[], object]) -> None:
        self._triggers.append((re.compile(pattern), action))

    def freeze(self, seconds: float | None = None) -> None:
        self._thawed.clear()
        if seconds is not None:
            threading.Timer(seconds, self.thaw).start()

    def thaw(self) -> None:
        self._thawed.set()

    def count(self, pattern: str) -> int:
        """How many requests the proxy read whose "METHOD PATH" matches `pattern`."""
        with self._lock:
            return sum(1 for line in self.seen if re.search(pattern, line))

    # -- up and down -------------------------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the same port again after a kill
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    revive = start

    @property
    def listening(self) -> bool:
        return self._listener is not None

    def kill(self) -> None:
        """As a registry process that dies: nothing listens, every open connection is closed."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, set()
        for sock in [listener, *sockets] if listener else sockets:
            _close(sock)

    def stop(self) -> None:
        self.kill()
        self.thaw()  # threads waiting on a freeze find their sockets closed and end

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- relaying ----------------------------------------------------------------------------------------------

    def _track(self, sock: socket.socket) -> bool:
        with self._lock:
            if self._listener is None:  # killed meanwhile
                return False
            self._sockets.add(sock)
            return True

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # killed
                return
            if self._track(client):
                threading.Thread(target=self._serve, args=(client,), daemon=True).start()
            else:
                _close(client)

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            reader = client.makefile("rb")
            if reader.peek(1)[:1] == b"\x16":  # a TLS handshake: answered as the registry's Go server does, so
                client.sendall(NOT_HTTP)  # Docker, which tries https first, falls back to plain HTTP at once
                return
            while (head := self._read_head(reader)) is not None:
                request_line, *lines = head.decode("latin-1").split("\r\n")
                method, target = request_line.split(" ")[:2]
                headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
                line = f"{method} {target}"
                with self._lock:
                    self.seen.append(line)
                    number = len(self.seen)
                self._fire(line)
                self._thawed.wait()
                if (answer := self._own_answer(line, number, method)) is not None:
                    if headers.get("expect", "").lower() == "100-continue":  # its body never comes: close after
                        client.sendall(answer.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1))
                        return
                    for _ in _body(reader, headers):
                        pass  # read to its end, so that the connection stays usable
                    client.sendall(answer)
                    continue
                if upstream is None:
                    upstream = socket.create_connection(self.upstream)
                    if not self._track(upstream):
                        return
                    threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()
                upstream.sendall(head)
                if self._drop(line, headers):
                    self._send_half(reader, headers, upstream)
                    return
                for piece in _body(reader, headers):
                    self._thawed.wait()
                    upstream.sendall(piece)
        except (OSError, ValueError):
            pass  # a connection closed by a kill, the client or the registry: the end of this one
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    _close(sock)

    def _read_head(self, reader: IO[bytes]) -> bytes | None:
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            line = reader.readline()
            if not line:
                return None
            if line in (b"\r\n", b"\n") and not head:
                continue  # a stray CRLF between requests
            head += line
        return head

    def _pump(self, upstream: socket.socket, client: socket.socket) -> None:
        """The registry's answers to the client, byte for byte (paused while frozen)."""
        try:
            while piece := upstream.recv(CHUNK):
                self._thawed.wait()
                client.sendall(piece)
        except OSError:
            pass
        finally:
            _close(client)
            _close(upstream)

    def _fire(self, line: str) -> None:
        with self._lock:  # each action once, even when two connections match at the same moment
            due = [t for t in self._triggers if t[0].search(line)]
            self._triggers = [t for t in self._triggers if t not in due]
        for _, action in due:
            action()  # outside the lock: kill() takes it

    def _own_answer(self, line: str, number: int, method: str) -> bytes | None:
        if self._full is not None and self._full.search(line):
            return _answer(500, DISK_FULL_BODY, head_only=method == "HEAD")
        if self._every is not None and number % self._every[0] == 0:
            status = self._every[1]
            return _answer(status, json.dumps({"errors": [{"code": "UNAVAILABLE", "message": "fault injected"}]}),
                           head_only=method == "HEAD")
        return None

    def _drop(self, line: str, headers: dict[str, str]) -> bool:
        """Whether this request's body is cut: it matches a drop and has a middle (a body of two bytes at least)."""
        if int(headers.get("content-length") or 0) < 2 and "chunked" not in headers.get("transfer-encoding", ""):
            return False
        for drop in self._drops:
            if drop[0].search(line) and drop[1] != 0:
                drop[1] = None if drop[1] is None else drop[1] - 1
                return True
        return False

    def _send_half(self, reader: IO[bytes], headers: dict[str, str], upstream: socket.socket) -> None:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            pieces = _body(reader, headers)
            upstream.sendall(next(pieces) + next(pieces))  # the first chunk's size and some of its data
        else:
            for piece in _exactly(reader, int(headers["content-length"]) // 2):
                upstream.sendall(piece)
