"""tests/fault_proxy.py on its own, in front of a stdlib HTTP server (no registry, no daemon): each fault does what
the fault suite (tests/integration/test_faults.py) relies on, and without one it relays keep-alive, Content-Length
and chunked requests unchanged."""

from __future__ import annotations

import hashlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from fault_proxy import FaultProxy
from imgbuild.registry.client import RegistryClient


class Digests(BaseHTTPRequestHandler):
    """Answers every request with the sha256 of the body it received whole."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._reply(hashlib.sha256(self._body()).hexdigest())

    do_PUT = do_PATCH = do_POST = do_HEAD = do_GET

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        data = b""
        while size := int(self.rfile.readline().split(b";")[0], 16):
            data += self.rfile.read(size)
            self.rfile.readline()
        self.rfile.readline()  # the CRLF after the last, empty chunk
        return data

    def _reply(self, text: str) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(text.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Digests)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with FaultProxy(f"127.0.0.1:{server.server_address[1]}") as running:
        yield running
    server.shutdown()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_requests_pass_unchanged_on_a_kept_alive_connection(proxy):
    session, data = requests.Session(), b"x" * 300_000
    url = f"http://{proxy.host}/v2/t/blobs/uploads/1"
    assert session.get(f"http://{proxy.host}/v2/").text == sha(b"")
    assert session.patch(url, data=data).text == sha(data)
    assert session.patch(url, data=iter([data[:7], data[7:]])).text == sha(data)  # chunked, as docker push sends
    assert session.head(url).status_code == 200 and session.put(url + "?digest=x", data=b"ab").text == sha(b"ab")
    assert proxy.seen[0] == "GET /v2/" and proxy.count(r"^PATCH ") == 2 and len(proxy.seen) == 5


def test_every_nth_request_is_answered_by_the_proxy(proxy):
    proxy.fail_every(3)
    codes = [requests.get(f"http://{proxy.host}/v2/").status_code for _ in range(6)]
    assert codes == [200, 200, 503, 200, 200, 503]


def test_a_dropped_body_breaks_off_that_request_only(proxy):
    session = requests.Session()
    proxy.drop_body(r"^PUT .*digest=", times=1)
    with pytest.raises(requests.ConnectionError):
        session.put(f"http://{proxy.host}/v2/t/blobs/uploads/1?digest=x", data=b"y" * 100_000)
    assert session.put(f"http://{proxy.host}/v2/t/blobs/uploads/2?digest=x", data=b"y").text == sha(b"y")


def test_a_full_disk_is_answered_as_distribution_answers_it(proxy):
    proxy.disk_full(r"/blobs/uploads/")
    resp = requests.patch(f"http://{proxy.host}/v2/t/blobs/uploads/1", data=b"z" * 1000)
    assert resp.status_code == 500 and '"Err": 28' in resp.text
    assert "is out of disk space" in str(RegistryClient(proxy.host).disk_full(resp))


def test_a_killed_proxy_refuses_until_revived_and_a_frozen_one_waits(proxy):
    proxy.kill()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://{proxy.host}/v2/", timeout=2)
    proxy.revive()
    proxy.when(r"^GET /v2/slow", lambda: proxy.freeze(0.5))
    start = time.monotonic()
    assert requests.get(f"http://{proxy.host}/v2/slow", timeout=5).status_code == 200
    assert time.monotonic() - start >= 0.5
