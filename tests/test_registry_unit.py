"""imgbuild.registry without a real registry: credentials, parsing, and a scripted loopback server for the
bearer-token flow (Docker Hub, GHCR), Link pagination and retries, which Distribution 2.8 cannot show."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from imgbuild.core.errors import RegistryError
from imgbuild.core.reference import RegistryRef
from imgbuild.registry.client import RegistryClient
from imgbuild.registry.credentials import Credentials, credentials_for

# -- credentials -----------------------------------------------------------------------------------------


def test_env_credentials_come_first(tmp_path: Path) -> None:
    env = {"IMGBUILD_REGISTRY_USER": "ci", "IMGBUILD_REGISTRY_PASSWORD": "s3cret"}
    assert credentials_for("ghcr.io", env, tmp_path / "missing.json") == Credentials("ci", "s3cret")


def test_half_set_env_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="set both or neither"):
        credentials_for("ghcr.io", {"IMGBUILD_REGISTRY_USER": "ci"}, tmp_path / "missing.json")


def test_docker_config_auth_entries(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    auth = base64.b64encode(b"alice:pa:ss").decode()  # a password may contain ':'
    config.write_text(
        json.dumps(
            {
                "auths": {
                    "127.0.0.1:5000": {"auth": auth},
                    "https://index.docker.io/v1/": {"auth": base64.b64encode(b"bob:hub").decode()},
                    "ghcr.io": {},  # left by a credsStore login: no secret in the file
                }
            }
        )
    )
    assert credentials_for("127.0.0.1:5000", {}, config) == Credentials("alice", "pa:ss")
    assert credentials_for("docker.io", {}, config) == Credentials("bob", "hub")
    assert credentials_for("ghcr.io", {}, config) is None
    assert credentials_for("quay.io", {}, config) is None
    assert credentials_for("quay.io", {}, tmp_path / "missing.json") is None


def test_docker_config_dir_from_env(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {"ghcr.io": {"auth": base64.b64encode(b"u:p").decode()}}})
    )
    assert credentials_for("ghcr.io", {"DOCKER_CONFIG": str(tmp_path)}) == Credentials("u", "p")


def test_credentials_repr_hides_the_password() -> None:
    assert "hunter2" not in repr(Credentials("ci", "hunter2")) and "'ci'" in repr(
        Credentials("ci", "hunter2")
    )


# -- registry references ---------------------------------------------------------------------------------


def test_parse_registry() -> None:
    ref = RegistryRef.parse("127.0.0.1:5000/team")
    assert (ref.host, ref.namespace) == ("127.0.0.1:5000", "team")
    assert ref.repository("torch") == "team/torch"
    assert str(ref.image_ref("torch", "2.6.0-cpu")) == "127.0.0.1:5000/team/torch:2.6.0-cpu"
    assert RegistryRef.parse("ghcr.io/org/sub").namespace == "org/sub"
    assert RegistryRef.parse("localhost/team").host == "localhost"


@pytest.mark.parametrize(
    "value", ["team", "ghcr.io", "https://ghcr.io/org", "ghcr.io/Org", "ghcr.io//x", "a b/c"]
)
def test_parse_registry_rejects_bad_values(value: str) -> None:
    with pytest.raises(RegistryError, match="HOST\\[:PORT\\]/NAMESPACE"):
        RegistryRef.parse(value)


def test_scheme_is_http_only_on_loopback() -> None:
    assert RegistryClient("127.0.0.1:5000").base == "http://127.0.0.1:5000"
    assert RegistryClient("localhost:5000").base == "http://localhost:5000"
    assert RegistryClient("ghcr.io").base == "https://ghcr.io"
    assert RegistryClient("registry.lan:5000", scheme="http").base == "http://registry.lan:5000"


# -- a scripted registry on loopback ----------------------------------------------------------------------

Route = Callable[[BaseHTTPRequestHandler], tuple[int, dict[str, str], bytes]]


@pytest.fixture
def fake() -> Iterator[tuple[str, dict[str, Route], list[str]]]:
    """A loopback HTTP server answering from `routes` ("METHOD /path" -> handler); `seen` logs requests."""
    routes: dict[str, Route] = {}
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            seen.append(f"{self.command} {self.path}")
            self.sent = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            route = routes.get(f"{self.command} {self.path.split('?')[0]}")
            status, headers, body = route(self) if route else (404, {}, b'{"errors":[]}')
            if status == 0:  # a dropped connection: no answer at all
                self.close_connection = True
                return
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = do_POST = do_PUT = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}", routes, seen
    server.shutdown()
    server.server_close()


def test_bearer_token_flow_caches_one_token_per_scope(fake) -> None:
    host, routes, seen = fake
    good = "Basic " + base64.b64encode(b"ci:pw").decode()

    def token(req: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        if req.headers.get("Authorization") != good:
            return 401, {}, b"{}"
        scope = req.path.partition("scope=")[2] or "none"
        return 200, {}, json.dumps({"access_token": f"tok-{scope}"}).encode()

    def protected(req: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        if (req.headers.get("Authorization") or "").startswith("Bearer tok-"):
            return 200, {"Docker-Content-Digest": "sha256:abc"}, b"{}"
        challenge = f'Bearer realm="http://{host}/token",service="fake",scope="repository:team/x:pull"'
        return 401, {"WWW-Authenticate": challenge}, b"{}"

    routes.update(
        {
            "GET /token": token,
            "GET /v2/": protected,
            "HEAD /v2/team/x/manifests/a": protected,
            "HEAD /v2/team/x/manifests/b": protected,
        }
    )
    client = RegistryClient(host, Credentials("ci", "pw"))
    client.check_login()
    assert client.manifest_digest("team/x", "a") == client.manifest_digest("team/x", "b") == "sha256:abc"
    assert [s for s in seen if s.startswith("GET /token")] == [
        "GET /token?service=fake",
        "GET /token?service=fake&scope=repository%3Ateam%2Fx%3Apull",
    ]

    with pytest.raises(RegistryError, match="refused the credentials for user 'ci'") as err:
        RegistryClient(host, Credentials("ci", "wrong-pw")).check_login()
    assert "wrong-pw" not in str(err.value)
    with pytest.raises(RegistryError, match="requires credentials"):
        RegistryClient(host).check_login()


def test_tags_follow_link_pagination(fake) -> None:
    host, routes, _ = fake

    def page(req: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        if "last=a" in req.path:
            return 200, {}, b'{"name":"team/x","tags":["b"]}'
        return (
            200,
            {"Link": '</v2/team/x/tags/list?n=1&last=a>; rel="next"'},
            b'{"name":"team/x","tags":["a"]}',
        )

    routes["GET /v2/team/x/tags/list"] = page
    assert RegistryClient(host).tags("team/x", page_size=1) == ["a", "b"]
    assert RegistryClient(host).tags("team/none") == []


def test_head_without_digest_falls_back_to_hashing_the_body(fake) -> None:
    host, routes, _ = fake
    body = b'{"schemaVersion":2}'
    routes["HEAD /v2/team/x/manifests/a"] = routes["GET /v2/team/x/manifests/a"] = lambda req: (200, {}, body)
    assert RegistryClient(host).manifest_digest("team/x", "a") == "sha256:" + hashlib.sha256(body).hexdigest()


def test_transient_errors_are_retried_then_reported(fake) -> None:
    host, routes, seen = fake
    answers = iter([503, 429, 200])
    routes["GET /v2/"] = lambda req: (next(answers), {}, b"{}")
    RegistryClient(host, retries=3, backoff=0.001).check_login()
    assert len(seen) == 3

    routes["GET /v2/"] = lambda req: (502, {}, b"{}")
    with pytest.raises(RegistryError, match=f"registry {host} failed with 502 on /v2/: try again later"):
        RegistryClient(host, retries=2, backoff=0.001).check_login()


def test_a_broken_blob_upload_starts_a_new_upload_session(fake) -> None:
    """A PUT re-sent to the session whose first PUT broke off is refused by Distribution ("upload resumed at wrong
    offset"): each attempt opens its own session, and a file is sent again from where it started."""
    from imgbuild.registry.referrers import upload_blob

    host, routes, seen = fake
    sessions = iter(range(1, 10))
    routes["POST /v2/team/pytorch/blobs/uploads/"] = lambda req: (
        202, {"Location": f"/v2/team/pytorch/blobs/uploads/session-{next(sessions)}"}, b"")
    answers, bodies = iter([0, 503, 201]), []
    for n in range(1, 10):
        routes[f"PUT /v2/team/pytorch/blobs/uploads/session-{n}"] = lambda req: (
            bodies.append(req.sent) or next(answers), {}, b"")
    data = io.BytesIO(b"ignored prefix|the blob")
    data.seek(len(b"ignored prefix|"))
    upload_blob(RegistryClient(host, retries=3, backoff=0.001), "team/pytorch", "sha256:" + "a" * 64, data)
    puts = [line.split("?")[0] for line in seen if line.startswith("PUT")]
    assert puts == [f"PUT /v2/team/pytorch/blobs/uploads/session-{n}" for n in (1, 2, 3)]
    assert bodies == [b"the blob"] * 3

    answers = iter([0] * 9)
    with pytest.raises(RegistryError, match="not reachable"):
        upload_blob(RegistryClient(host, retries=1, backoff=0.001), "team/pytorch", "sha256:" + "a" * 64, b"x")


def test_a_registry_with_a_full_disk_is_named_as_such(fake) -> None:
    """Distribution's answer when its filesystem is full: a 500 whose detail carries the errno (28, ENOSPC)."""
    from imgbuild.registry.referrers import upload_blob

    host, routes, seen = fake
    routes["POST /v2/team/pytorch/blobs/uploads/"] = lambda req: (
        202, {"Location": "/v2/team/pytorch/blobs/uploads/s"}, b"")
    routes["PUT /v2/team/pytorch/blobs/uploads/s"] = lambda req: (500, {}, json.dumps({"errors": [{
        "code": "UNKNOWN", "message": "unknown error", "detail": {"DriverName": "filesystem", "Enclosed": {
            "Op": "write", "Path": "/var/lib/docker-registry/x/data", "Err": 28}}}]}).encode())
    with pytest.raises(RegistryError, match=f"registry {host} is out of disk space .*free space on its storage"):
        upload_blob(RegistryClient(host, retries=1, backoff=0.001), "team/pytorch", "sha256:" + "a" * 64, b"x")
    routes["GET /v2/"] = lambda req: (500, {}, b'{"errors":[{"message":"mkdir /data: no space left on device"}]}')
    with pytest.raises(RegistryError, match="is out of disk space"):
        RegistryClient(host, retries=0).check_login()


def _helper(tmp_path: Path, monkeypatch, name: str, user: str, secret: str) -> None:
    """A real credential helper on PATH (`docker-credential-NAME get`, the server on stdin, JSON out)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / f"docker-credential-{name}"
    script.write_text(f"""#!/bin/sh
read server
[ "$1" = get ] || exit 1
case "$server" in *127.0.0.1:5000*|*ghcr.io*) ;; *) echo "credentials not found in native keychain"; exit 1;; esac
printf '{{"ServerURL":"%s","Username":"{user}","Secret":"{secret}"}}' "$server"
""")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")


def test_credentials_from_a_creds_store_helper(tmp_path: Path, monkeypatch) -> None:
    _helper(tmp_path, monkeypatch, "imgbuildtest", "desk-user", "desk-secret")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"auths": {"ghcr.io": {}}, "credsStore": "imgbuildtest"}))
    assert credentials_for("ghcr.io", {}, config) == Credentials("desk-user", "desk-secret")
    assert credentials_for("quay.io", {}, config) is None  # the helper has no entry: not an error


def test_credentials_from_a_per_registry_cred_helper(tmp_path: Path, monkeypatch) -> None:
    _helper(tmp_path, monkeypatch, "ci", "ci-user", "ci-secret")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"credHelpers": {"127.0.0.1:5000": "ci"}}))
    assert credentials_for("127.0.0.1:5000", {}, config) == Credentials("ci-user", "ci-secret")
    assert credentials_for("ghcr.io", {}, config) is None  # no helper named for it, no auths entry


def test_a_missing_helper_is_one_line_naming_docker_login(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"credsStore": "not-installed-anywhere"}))
    with pytest.raises(RegistryError, match="docker login ghcr.io"):
        credentials_for("ghcr.io", {}, config)


def test_a_failing_helper_is_named_and_what_it_printed_is_not_echoed(tmp_path: Path, monkeypatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-leaky"
    helper.write_text("#!/bin/sh\necho 'token=TOPSECRET-123 could not be refreshed'\nexit 3\n")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"credsStore": "leaky"}))
    with pytest.raises(RegistryError) as caught:
        credentials_for("ghcr.io", {}, config)
    assert "docker-credential-leaky failed" in str(caught.value) and "TOPSECRET" not in str(caught.value)


@pytest.mark.parametrize(("value", "zstd"), [(None, True), ("1", True), ("0", False), ("off", False), (" TRUE ", True)])
def test_imgbuild_zstd_switches_the_twins(value: str | None, zstd: bool) -> None:
    from imgbuild.registry.target import RegistryTarget

    env = {"IMGBUILD_ZSTD": value} if value is not None else {}
    assert RegistryTarget.open("127.0.0.1:5000/team", env).zstd is zstd


def test_a_bad_imgbuild_zstd_is_one_line_naming_the_values() -> None:
    from imgbuild.core.errors import ConfigError
    from imgbuild.registry.target import RegistryTarget

    with pytest.raises(ConfigError, match=r"IMGBUILD_ZSTD='maybe': set 1 .* or 0"):
        RegistryTarget.open("127.0.0.1:5000/team", {"IMGBUILD_ZSTD": "maybe"})
