"""A value in a message, cut short: the one way a message shortens what it quotes, so it stays one line of sane
length whatever a user or a registry handed in."""

from __future__ import annotations


def cut(text: str, at: int = 120) -> str:
    """`text` when it fits in `at` characters, else its start and "..." in `at` characters."""
    return text if len(text) <= at else text[:at - 3] + "..."


def shown(value: object, at: int = 60) -> str:
    """A value quoted as Python writes it (escaped: a line break or a control character cannot end the line), cut
    short."""
    return cut(repr(value), at)
