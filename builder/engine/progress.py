"""A push's progress messages, given up when they stop saying anything new.

Docker's containerd image store repeats a push's progress on a timer even when no byte moves (a frozen registry), so
a stream that never falls silent can still be stuck: a message is progress only where it differs from the last one
about the same layer."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator


def until_stalled(messages: Iterable[dict], stall: float,
                  clock: Callable[[], float] = time.monotonic) -> Iterator[dict]:
    """`messages`, ending with a "stalled" error once none has said anything new for `stall` seconds."""
    last: dict[str, str] = {}
    moved = clock()
    for message in messages:
        said, about = json.dumps(message, sort_keys=True), str(message.get("id") or "")
        if last.get(about) != said:
            last[about], moved = said, clock()
        elif clock() - moved >= stall:
            yield {"error": f"stalled: nothing moved for {stall:.0f} s"}
            return
        yield message
