"""Secrets never reach a message, a log or a file: credentials written into a URL or a reference are masked wherever
one is echoed, and refused where one would be stored."""

from __future__ import annotations

import re

# user:password@ (or token@) before a host: in a URL after the scheme, or at the start of a registry reference.
# The scheme is matched from the start of its run of scheme characters (the same texts match): tried at every
# letter of a long word, the search was quadratic (a 40,000-character --registry value took 18 s to be refused).
_USERINFO = re.compile(r"(?P<lead>^|(?<![a-zA-Z0-9+.-])[0-9+.-]*[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^\s/@]+)@"
                       r"(?![a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,})(?=[^\s/@]+)")  # not NAME@sha256:DIGEST


def has_credentials(text: str) -> bool:
    """A URL or reference that carries a user, a password or a token before its host."""
    return bool(_USERINFO.search(text))


def redact(text: str) -> str:
    """`text` with any user:password@ (or token@) before a host replaced by ***@."""
    return _USERINFO.sub(lambda m: f"{m['lead']}***@", text)
