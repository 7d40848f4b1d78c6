"""YAML loading that remembers where every value came from, so errors can say file:line.

A matrix is plain data, and it may come from anyone (a team's fork, a CI artifact), so this reader is built
to refuse what a matrix never needs instead of trusting the YAML library with it: anchors and aliases (they let
1 KB expand to gigabytes, or refer to themselves), merge keys, explicit tags, text that is not UTF-8, control
characters, and files, values or nesting far beyond any real matrix. The document is read from the parser's
events in one pass, so memory and time grow with the file's size and nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..core.errors import ConfigError
from ..core.paths import read_regular

Path_ = tuple[Any, ...]

# Limits far above any real matrix (the shipped one is 10 KB, 12 releases, 1,300 values; bench/matrix_scale.py's
# 9,000 releases are 2.5 MB and 280,000 values), low enough that a file at the limit is refused in about a second
# and 130 MB (each value costs a few microseconds here: that, not the parser, is what the value limit bounds).
MAX_BYTES = 4 * 1024 * 1024
MAX_VALUES = 300_000
MAX_SCALAR = 512
MAX_DEPTH = 16

# What YAML 1.1 allows in a stream (PyYAML's Reader), minus nothing: anything else is a control character.
_NOT_TEXT = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_BOMS = {b"\xff\xfe\x00\x00": "UTF-32", b"\x00\x00\xfe\xff": "UTF-32", b"\xff\xfe": "UTF-16", b"\xfe\xff": "UTF-16"}
_MERGE = "tag:yaml.org,2002:merge"
_STR = "tag:yaml.org,2002:str"
_NO_KEY = object()
# The parser's words for a syntax error, and what a person does about them (the parser names no fix).
_SYNTAX_FIXES = (
    ("cannot start any token", "quote a value that starts with @ ` % ! & * | or >"),
    ("end of stream", "a quote is left open: close it"),
    ("unknown escape", "a \\ in a double-quoted value: use single quotes, or write \\\\"),
    ("mapping values are not allowed", "indent each key like its neighbours, and quote a value that holds ': '"),
    ("expected ':'", "write key: value, with a space after the colon, and close every quote"),
    ("expected key", "indent each key like its neighbours, and close every quote"),
    ("expected '-'", "indent each list item like its neighbours"),
    ("expected ',' or ']'", "close the [list] with ]"),
    ("expected ',' or '}'", "close the {mapping} with }"),
)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: the generated matrix loads 10x faster


@dataclass
class Located:
    """Plain Python data plus the line of every mapping key / sequence item, by path."""

    data: Any
    file: str
    lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, path: Path_) -> int:
        """The line of `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)

    def error(self, path: Path_, message: str) -> ConfigError:
        return ConfigError(f"{self.file}:{self.line(path)}: {message}")


def load_located(path: Path) -> Located:
    text = read_text(path)
    located = Located(data=None, file=str(path))
    located.lines[()] = 1
    _EventReader(text, located).read()
    return located


def read_text(path: Path) -> str:
    """The file's text, strictly UTF-8 (a BOM is fine), or one line saying why it is not a matrix."""
    data = _read_bytes(path)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for bom, name in _BOMS.items():
        if data.startswith(bom):
            raise ConfigError(f"{path}:1: the file is {name}, not UTF-8: save it as UTF-8")
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        raise ConfigError(f"{path}:{line}: NUL byte: this is a binary file (or UTF-16), not a YAML matrix")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{path}:{line}: byte 0x{data[exc.start]:02x} at offset {exc.start} is not UTF-8 "
                          "(Latin-1 or another encoding?): save the file as UTF-8") from None
    bad = _NOT_TEXT.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        raise ConfigError(f"{path}:{line}: control character U+{ord(bad.group()):04X}: "
                          "a matrix is plain text, remove it")
    return text


def _read_bytes(path: Path) -> bytes:
    # A regular file only, never past the limit (a FIFO would block and /dev/zero never ends).
    fix = f"pass --matrix {path / 'matrix.yaml'}" if path.is_dir() else \
        "pass --matrix a matrix.yaml, or run from the project root"
    return read_regular(path, MAX_BYTES, fix, "a matrix file")


@dataclass
class _Frame:
    """An open mapping or sequence: its value, its path, and (for a mapping) the key waiting for its value."""

    value: Any
    path: Path_
    key: Any = _NO_KEY


class _EventReader:
    """Builds plain data from the parser's events, refusing what a matrix never needs as soon as it appears."""

    def __init__(self, text: str, located: Located) -> None:
        self.text, self.located, self.file = text, located, located.file
        self.stack: list[_Frame] = []
        self.values = 0
        self.plain: dict[str, Any] = {}  # plain scalar -> its value (ints, bools, nulls, dates are immutable)

    def fail(self, line: int, message: str) -> ConfigError:
        return ConfigError(f"{self.file}:{line}: {message}")

    def read(self) -> None:
        loader = _Loader(self.text)
        try:
            self._events(loader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            if exc.context_mark and exc.context in ("while scanning a simple key", "while scanning a quoted scalar"):
                mark = exc.context_mark  # where the key or the open quote began: the line to fix, not where it ended
            line = mark.line + 1 if mark else 1
            problem = " ".join(str(exc.problem or exc.context or "").split())
            text = self.text.splitlines()[line - 1] if 0 < line <= len(self.text.splitlines()) else ""
            if "\t" in text[:(mark.column + 1) if mark else None] and ("token" in problem or "tab" in problem):
                raise self.fail(line, "a tab character: YAML indents with spaces only, replace the tab with spaces") \
                    from None
            fix = next((f for words, f in _SYNTAX_FIXES if words in problem), "fix the YAML at this line")
            raise self.fail(line, f"YAML syntax error ({problem}): {fix}") from None
        except yaml.YAMLError as exc:
            raise self.fail(1, f"YAML error: {' '.join(str(exc).split())}") from None
        finally:
            loader.dispose()

    def _events(self, loader: yaml.SafeLoader) -> None:
        documents = 0
        while True:
            event = loader.get_event()
            kind = type(event)
            if kind is yaml.ScalarEvent or kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                self._node(event, loader)
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                self.stack.pop()
            elif kind is yaml.AliasEvent:
                raise self.fail(event.start_mark.line + 1,
                                f"alias *{event.anchor[:40]}: a matrix has no aliases or anchors, write the value out")
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise self.fail(event.start_mark.line + 1,
                                    "a second YAML document (---): a matrix is one document")
            elif kind is yaml.StreamEndEvent:
                return

    def _node(self, event: yaml.NodeEvent, loader: yaml.SafeLoader) -> None:
        line = event.start_mark.line + 1
        if event.anchor is not None:
            raise self.fail(line, f"anchor &{event.anchor[:40]}: a matrix has no aliases or anchors, write the value out")
        if event.tag is not None:
            tag = event.tag.replace("tag:yaml.org,2002:", "!!")
            raise self.fail(line, f"explicit tag {tag[:60]}: a matrix holds plain values only, remove the tag")
        self.values += 1
        if self.values > MAX_VALUES:
            raise self.fail(line, f"more than {MAX_VALUES:,} values: far beyond any matrix, is this the right file?")
        if type(event) is yaml.ScalarEvent:
            self._place(self._scalar(event, loader, line), line)
            return
        if len(self.stack) >= MAX_DEPTH:
            raise self.fail(line, f"nesting deeper than {MAX_DEPTH} levels: a matrix is at most 4 levels deep")
        value: Any = {} if type(event) is yaml.MappingStartEvent else []
        path = self._place(value, line)
        self.stack.append(_Frame(value, path))

    def _scalar(self, event: yaml.ScalarEvent, loader: yaml.SafeLoader, line: int) -> Any:
        if len(event.value) > MAX_SCALAR:
            raise self.fail(line, f"a value of {len(event.value):,} characters; values are at most {MAX_SCALAR}: "
                                  "shorten it")
        if not event.implicit[0]:
            return event.value  # quoted: a string (most values are quoted versions)
        if event.value in self.plain:
            return self.plain[event.value]
        value = event.value
        if value.isdigit() and value.isascii() and (value[0] != "0" or value == "0"):
            return int(value)  # what YAML 1.1 makes of it (a leading 0 is octal there: left to the resolver)
        tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
        if tag == _STR:
            return value
        if tag == _MERGE:
            raise self.fail(line, "merge key <<: a matrix has no merge keys or aliases, write the keys out")
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            # SafeLoader's own scalar constructors: ints, floats, bools, nulls exactly as yaml.safe_load gives them.
            construct = loader.yaml_constructors.get(tag, yaml.SafeLoader.construct_yaml_str)
            value = construct(loader, node)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            raise self.fail(line, f"cannot read {event.value!r} ({' '.join(str(exc).split())[:80]}): quote it") from None
        if len(self.plain) < 4096:  # plain values repeat (runtime, true, devel): resolve each spelling once
            self.plain[event.value] = value
        return value

    def _place(self, value: Any, line: int) -> Path_:
        """Attach a value to the open mapping or sequence (or make it the document); return its path."""
        if not self.stack:
            self.located.data = value
            return ()
        frame = self.stack[-1]
        if isinstance(frame.value, list):
            path = frame.path + (len(frame.value),)
            frame.value.append(value)
        elif frame.key is _NO_KEY:
            if isinstance(value, (dict, list)):
                raise self.fail(line, "a key must be a plain value, not a mapping or list")
            if value in frame.value:
                raise self.fail(line, f"duplicate key {repr(value)[:60]}")
            frame.key = value
            self.located.lines[frame.path + (value,)] = line
            return frame.path + (value,)
        else:
            path = frame.path + (frame.key,)
            frame.value[frame.key] = value
            frame.key = _NO_KEY
        self.located.lines.setdefault(path, line)
        return path
