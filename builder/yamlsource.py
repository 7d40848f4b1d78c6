"""YAML loading that remembers where every value came from, so errors can say file:line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

Path_ = tuple[Any, ...]


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
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file: pass --matrix FILE or run from the project root") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ConfigError(f"{path}:{line}: YAML syntax error: {exc.problem or exc}") from None
    located = Located(data=None, file=str(path))
    located.lines[()] = 1
    if node is not None:
        # SafeLoader's own constructor gives ints, floats, bools and strings exactly as yaml.safe_load would.
        located.data = _convert(node, (), located, yaml.SafeLoader(""))
    return located


def _convert(node: yaml.Node, path: Path_, located: Located, loader: yaml.SafeLoader) -> Any:
    located.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, loader)
            if key in result:
                raise ConfigError(f"{located.file}:{key_node.start_mark.line + 1}: duplicate key {key!r}")
            located.lines[path + (key,)] = key_node.start_mark.line + 1
            result[key] = _convert(value_node, path + (key,), located, loader)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            located.lines[path + (index,)] = item.start_mark.line + 1
            items.append(_convert(item, path + (index,), located, loader))
        return items
    return _scalar(node, loader)


def _scalar(node: yaml.Node, loader: yaml.SafeLoader) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise ConfigError(f"line {node.start_mark.line + 1}: a key must be a plain value")
    return loader.construct_object(node)
