"""The JSON a release leaves behind (release.json, gpu-tier.json) read as hostile input: a FIFO, device or socket is
refused before it is opened, the size and the nesting are bounded, and each field is checked for its type and
grammar, so a damaged file ends in one line naming the field, never a traceback, a hang, or a line of someone's
choosing in what the nightly signs."""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from ..core.paths import read_regular
from ..core.reference import SHA256_DIGEST, is_repository, is_tag
from ..core.shown import cut, shown

FIX = "re-run the job that wrote it, or remove the file"
MAX_BYTES = 16 << 20  # a night of hundreds of images with their diffs is a few MB
MAX_DEPTH = 32  # release.json's deepest field (images[i].changes.diff.upgraded.NAME[j]) is 7 levels down

# A grammar: (does the text fit, what it should be).
Grammar = tuple[Callable[[str], Any], str]
TAG: Grammar = (is_tag, "a tag (letters, digits, _ . -)")
DIGEST: Grammar = (SHA256_DIGEST.fullmatch, "a digest (sha256: and 64 lowercase hex digits)")
PLATFORM: Grammar = (lambda t: 2 <= len(t.split("/")) <= 3 and all(is_tag(p) for p in t.split("/")),
                     "a platform like linux/amd64")


class BadField(ValueError):
    """A field that is not what imgbuild writes there: its dotted name and what is wrong with it."""

    def __init__(self, name: str, problem: str):
        super().__init__(f"field {name!r} {problem}" if name else f"the entry {problem}")


class TooDeep(ValueError):
    """Nested deeper than MAX_DEPTH: a JSON file imgbuild never writes, which would exhaust the stack later."""


def load_json(path: Path, what: str) -> Any:
    """The JSON in `path` (`what` it should be, e.g. "a release manifest"); anything else is one ConfigError line."""
    raw = read_regular(path, MAX_BYTES, f"{what} is a plain file imgbuild writes; remove it, or pass a folder "
                       "without it")
    try:
        data = json.loads(raw, parse_constant=_no_constant)
        _check_depth(data)
    except (RecursionError, TooDeep):  # RecursionError: the decoder's own limit (about 1000 levels)
        raise ConfigError(f"{path}: {_too_deep(raw)}: {FIX}") from None
    except ValueError as exc:
        raise ConfigError(f"{path} is not {what} ({cut(str(exc))}): {FIX}") from None
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _check_depth(data: Any) -> None:
    """Iterative, so the check itself cannot overflow the stack."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise TooDeep()
            stack += [(v, depth + 1) for v in (value.values() if isinstance(value, dict) else value)]


_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},:]')


def _too_deep(raw: bytes) -> str:
    """Where the nesting first passes MAX_DEPTH ("images[3]: field 'changes.diff...'"), found by a scan of the text
    that keeps its own stack (the decoder could not parse it): the message names the entry and the field."""
    stack: list[list[Any]] = []  # per open container: its opening bracket, and the key or index now inside it
    last = b""
    for match in _TOKEN.finditer(raw):
        token = match.group()
        if token in (b"{", b"["):
            if len(stack) == MAX_DEPTH:
                break
            stack.append([token, None if token == b"{" else 0])
        elif token in (b"}", b"]") and stack:
            stack.pop()
        elif token == b":" and stack:
            stack[-1][1] = last.decode(errors="replace")
        elif token == b"," and stack and stack[-1][0] == b"[":
            stack[-1][1] += 1
        last = token[1:-1]
    parts = [f"[{label}]" if bracket == b"[" else f".{label}" for bracket, label in stack]
    entry = parts[0][1:] + parts[1] if parts[1:2] and parts[0][0] + parts[1][0] == ".[" else ""
    field = "".join(parts[2:] if entry else parts).lstrip(".")
    where = f"{entry}: " if entry else ""
    return f"{where}field {cut(field, 60)!r} is nested deeper than {MAX_DEPTH} levels" if field else \
        f"nested deeper than {MAX_DEPTH} levels"


class Fields:
    """One JSON object's fields, each read as the type and grammar imgbuild writes it (BadField when not);
    a missing or null field is None, unknown fields are left alone (a newer imgbuild may add some)."""

    def __init__(self, data: Any, where: str = ""):
        if not isinstance(data, dict):
            raise BadField(where, f"is {_a(data)}, not a mapping")
        self.data, self.where = data, where

    def name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def get(self, key: str, required: bool = False) -> Any:
        value = self.data.get(key)
        if value is None and required:
            raise BadField(self.name(key), "is missing")
        return value

    def text(self, key: str, required: bool = False, grammar: Grammar | None = None, free: bool = False) -> Any:
        """A string: one line without control characters unless `free` (an error message), fitting `grammar`."""
        return _text(self.get(key, required), self.name(key), grammar, free)

    def repository(self, key: str, host: bool) -> str:
        """[HOST[:PORT]/]PATH by the reference parser's grammar; `host`: HOST required (a digest was pushed there)."""
        return self.text(key, True, (lambda t: is_repository(t, host=host),
                                     "a repository HOST[:PORT]/PATH" if host else "a repository [HOST[:PORT]/]PATH"))

    def keys(self, grammar: Grammar | None = None, free: bool = False) -> list[str]:
        """The mapping's keys, each one line (unless `free`) fitting `grammar`."""
        return [_text(k, f"{self.where} (a key)", grammar, free) for k in self.data]

    def choice(self, key: str, choices: tuple[str, ...]) -> str:
        value = self.text(key, required=True)
        if value not in choices:
            raise BadField(self.name(key), f"is {shown(value)}, not one of {', '.join(choices)}")
        return value

    def number(self, key: str, whole: bool = False, required: bool = False) -> Any:
        """A number >= 0 (an int where `whole`): never a string, a bool, NaN or past 2**63."""
        value = self.get(key, required)
        if value is not None and not _number(value, whole):
            raise BadField(self.name(key), f"is {_a(value)}, not a {'whole ' if whole else ''}number >= 0")
        return value

    def flag(self, key: str) -> bool:
        value = self.get(key, required=True)
        if not isinstance(value, bool):
            raise BadField(self.name(key), f"is {_a(value)}, not true or false")
        return value

    def texts(self, key: str, grammar: Grammar | None = None) -> tuple[str, ...]:
        """A list of one-line strings ("abc" is refused, never read as three)."""
        value = self.get(key)
        if value is None:
            return ()
        if not isinstance(value, list):
            raise BadField(self.name(key), f"is {_a(value)}, not a list")
        # An item is required: a null in the list read as None would reach the tag rules and TAGS.md as a tag.
        return tuple(_text(v, f"{self.name(key)}[{i}]", grammar, False) if v is not None
                     else _missing(f"{self.name(key)}[{i}]") for i, v in enumerate(value))

    def text_map(self, key: str, grammar: Grammar | None = None, free: bool = False) -> dict[str, str]:
        """A mapping of names to strings fitting `grammar`, each one line unless `free`."""
        fields = self.nested(key)
        if fields is None:
            return {}
        return {k: fields.text(k, True, grammar, free) for k in fields.keys(free=free)}

    def numbers(self, key: str) -> dict[str, Any]:
        """A mapping of one-line names to whole numbers >= 0 (a smoke run's counts)."""
        fields = self.nested(key)
        return {} if fields is None else {k: fields.number(k, True, True) for k in fields.keys()}

    def nested(self, key: str) -> Fields | None:
        value = self.get(key)
        return None if value is None else Fields(value, self.name(key))


def _text(value: Any, name: str, grammar: Grammar | None, free: bool) -> Any:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadField(name, f"is {_a(value)}, not a string")
    # A line break or control character would start a line of its own in what is printed (and signed).
    if not free and any(unicodedata.category(c)[0] in "CZ" and c != " " for c in value):
        raise BadField(name, f"is {shown(value)}, which holds a line break or control character")
    if grammar is not None and not grammar[0](value):
        raise BadField(name, f"is {shown(value)}, not {grammar[1]}")
    return value


def _missing(name: str) -> Any:
    raise BadField(name, "is null, not a string")


def _number(value: Any, whole: bool) -> bool:
    """Bounded too: a 400-digit size would overflow the float TAGS.md divides it into."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return 0 <= value < 2 ** 63
    return not whole and isinstance(value, float) and math.isfinite(value) and value >= 0


def _a(value: Any) -> str:
    """A JSON value's kind, for a message: "a string '12'", "the number -1", "a list", "true/false"."""
    if isinstance(value, str):
        return f"a string {shown(value)}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"the number {shown(value, 30)}"
    return {bool: "true/false", list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)

