"""One tag through `docker push`: the progress it streams (read for layers, sizes and a line every 30 s), the runs
again where a retry can fix what failed, and the one line of a push that failed for good."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..core.errors import PublishError, RegistryRefused, RegistryUnreachable
from ..core.reference import ImageRef
from ..engine.daemon import Engine
from ..registry.referrers import upload_refusal
from ..registry.target import RegistryTarget

# What imgbuild runs `docker push` again for. Always: a registry that refused the connection (restarting: every
# engine gives up at once) or a push that stalled. Docker's classic image store retries each layer's upload itself
# (5 tries) on a 5xx, 429 or reset, so those are not re-run on top; its containerd store and Podman do not, so
# there imgbuild re-runs them too (RERUN_ALL). One layer of retries either way.
RERUN = re.compile(r"connection refused|stalled", re.IGNORECASE)
RERUN_ALL = re.compile(r'connection refused|stalled|\b(429|5\d\d)\b|too many requests|service unavailable|'
                       r'bad gateway|connection reset|broken pipe|": EOF$', re.IGNORECASE)
PROGRESS_S = 30  # a long upload says how far it is this often, so a slow push is told from a stuck one
STALL_S = 120  # a push that says nothing new this long is stalled (a frozen registry): given up, run again
# A registry that dies mid-push: Docker's containerd store says `Post "...": EOF` (the connection closed) or a reset.
UNREACHABLE = re.compile(r'connection refused|no such host|dial tcp|i/o timeout|timed out|stalled|": EOF$|'
                         r"connection reset|broken pipe", re.IGNORECASE)
REFUSED = re.compile(r"unauthorized|authentication required|no basic auth credentials|denied", re.IGNORECASE)


@dataclass
class PushStream:
    """What one `docker push` said: per-layer outcome and size, the digest, the error if any."""

    layers: dict[str, str] = field(default_factory=dict)  # layer id -> pushed | existing
    sizes: dict[str, int] = field(default_factory=dict)
    digest: str | None = None
    error: str | None = None
    sent: dict[str, int] = field(default_factory=dict)  # layer id -> bytes uploaded so far
    tell: Callable[[str], None] | None = None  # where the progress lines go
    told_at: float | None = None

    def read(self, messages: Iterable[dict], scrub=lambda text: text) -> PushStream:
        for msg in messages:
            status, layer = str(msg.get("status") or ""), str(msg.get("id") or "")
            if "error" in msg:
                self.error = scrub(str(msg.get("error") or msg.get("errorDetail")))
            elif "aux" in msg and (msg["aux"] or {}).get("Digest"):
                self.digest = msg["aux"]["Digest"]
            elif status == "Pushing" and layer:
                detail = msg.get("progressDetail") or {}
                seen = int(detail.get("total") or 0) or int(detail.get("current") or 0)
                self.sizes[layer] = max(self.sizes.get(layer, 0), seen)
                self.sent[layer] = int(detail.get("current") or 0)
                self._progress()
            elif status == "Pushed" and layer:
                self.layers[layer] = "pushed"
            elif (status == "Layer already exists" or status.startswith("Mounted from")) and layer:
                self.layers.setdefault(layer, "existing")
        return self

    def _progress(self) -> None:
        now = time.monotonic()
        self.told_at = now if self.told_at is None else self.told_at
        if self.tell and now - self.told_at >= PROGRESS_S:
            self.told_at = now
            busy = [k for k in self.sent if k not in self.layers]
            self.tell(f"{sum(self.sent[k] for k in busy) / 1e6:,.0f} of {sum(self.sizes[k] for k in busy) / 1e6:,.0f}"
                      f" MB of {len(busy)} layer{'s' if len(busy) != 1 else ''} sent")


def push_tag(engine: Engine, ref: ImageRef, target: RegistryTarget, stream: PushStream, *, retries: int,
             backoff: float, done: list[ImageRef], stall: float) -> str | None:
    """`docker push` of one tag, run again (at most `retries` times, with backoff) for an answer a retry can fix
    and that the engine did not retry itself; its digest, or one line naming the cause and what is published."""
    for attempt in range(retries + 1):
        stream.error, stream.digest = None, None
        stream.read(engine.push(ref, target.docker_auth(), stall=stall), target.scrub)
        if stream.error is None:
            return stream.digest
        rerun = RERUN if _retries_itself(engine) else RERUN_ALL  # asked only once a push failed
        if not rerun.search(stream.error) or attempt == retries:
            break
        time.sleep(backoff * 2**attempt)
    error = stream.error or ""
    # One kind, one exit code wherever it happens: a registry that cannot be reached or refuses the credentials is
    # the registry's (7), as at the preflight; anything else a failed push (6).
    kind = RegistryRefused if REFUSED.search(error) else RegistryUnreachable if UNREACHABLE.search(error) \
        else PublishError
    if kind is PublishError and (why := upload_refusal(target.client, ref.repository)):  # Docker names a status
        error = f"{error}; {why}"  # the registry's own answer says why (a full disk)
    raise kind(_push_failure(error, target, done))


def _push_failure(error: str, target: RegistryTarget, done: list[ImageRef]) -> str:
    """The line of a failed `docker push`; where tags are published already, its cause alone (_half_done's)."""
    if REFUSED.search(error):
        user = target.credentials.username if target.credentials else None
        who = f"refused the credentials for user {user!r}" if user else "requires credentials"
        cause = f"registry {target.host} {who} ({error})"
        fix = (f"set IMGBUILD_REGISTRY_USER / IMGBUILD_REGISTRY_PASSWORD or run `docker login {target.host}`; "
               "nothing was half-published")
    elif UNREACHABLE.search(error):
        cause = f"registry {target.host} is not reachable ({_last_clause(error)})"
        fix = "start it or check --registry; nothing was half-published: re-run the same command"
    else:
        cause = f"push to {target.host} failed ({error})"
        fix = "nothing was half-published: fix the cause and re-run the same command"
    return cause if done else f"{cause}: {fix}"


def _retries_itself(engine: Engine) -> bool:
    """Whether the engine retries a layer's upload itself: Docker with its classic image store."""
    return not engine.is_podman and not engine.containerd_store


def _last_clause(error: str) -> str:
    """Docker's innermost cause ("connection refused" of "Put ...: dial tcp ...: connection refused"); a stall is
    kept whole, so the line says it stalled ("stalled: nothing moved for 120 s")."""
    if error.startswith("stalled"):
        return error
    return error.split(": ")[-1].strip() or error
