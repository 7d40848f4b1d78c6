"""The image's SSH gate (templates/files/bin/imgbuild-sshgate): its per-source token bucket and source blocks. The
running gate is tested against a real container in tests/integration/test_sessions.py."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path

GATE = Path(__file__).resolve().parents[1] / "templates" / "files" / "bin" / "imgbuild-sshgate"


def load_gate():
    loader = importlib.machinery.SourceFileLoader("imgbuild_sshgate", str(GATE))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


def test_a_source_gets_its_burst_then_its_rate():
    gate = load_gate()
    buckets = gate.Buckets()
    allowed = [buckets.take("10.1.2.3", 100.0) for _ in range(gate.BURST + 5)]
    assert allowed == [True] * gate.BURST + [False] * 5
    assert buckets.take("192.0.2.7", 100.0)  # another source has its own bucket
    assert not buckets.take("10.1.2.3", 100.0 + 0.5 / gate.RATE)  # half a token is not a connection
    assert buckets.take("10.1.2.3", 100.0 + 1.0 / gate.RATE)
    later = 100.0 + 60
    assert [buckets.take("10.1.2.3", later) for _ in range(gate.BURST + 1)] == [True] * gate.BURST + [False]


def test_a_long_table_forgets_full_buckets_only():
    gate = load_gate()
    buckets = gate.Buckets()
    for number in range(5000):
        buckets.take(f"198.51.{number // 250}.{number % 250}", 0.0)
    for _ in range(gate.BURST):
        buckets.take("203.0.113.9", 0.0)
    buckets.take("203.0.113.10", 0.5)  # by now the 5000 one-connection sources have refilled, not the drained one
    assert "203.0.113.9" in buckets.tokens and len(buckets.tokens) < 10


def test_sources_are_counted_by_ipv4_address_and_ipv6_block():
    gate = load_gate()
    assert gate.source_of("::ffff:192.0.2.1") == "192.0.2.1"  # a dual-stack socket's IPv4 client
    assert gate.source_of("2001:db8:1:2:aaaa::1") == gate.source_of("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert gate.source_of("fe80::1%eth0") == "fe80::/64"
