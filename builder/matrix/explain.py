"""A pydantic error on matrix.yaml in plain words: `file:line: which field of which entry, what it may hold: the fix`.

pydantic's own messages name a regular expression or a length ("String should match pattern '^...$'"), which tells
a person neither what to write nor where; nothing of them reaches the user except, at worst, as a last resort.
"""

from __future__ import annotations

import difflib

from pydantic import ValidationError

from ..core.errors import ConfigError
from ..core.shown import cut, shown
from .schema import MEANING, CudaBuild, CudaVersion, Defaults, MatrixFile, Release, TeamImage, Workbench
from .yamlsource import Located

# Every key a matrix may hold, for "did you mean": a misspelt key is one or two edits from a known one.
KNOWN_KEYS = sorted({name for model in (MatrixFile, Defaults, CudaVersion, CudaBuild, Release, Workbench, TeamImage)
                     for name in model.model_fields})
TYPES = {"string_type": 'a string (quote versions: "2.6.0")', "bool_type": "true or false", "list_type": "a list",
         "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping"}
SCHEMA = "docs/matrix-schema.md"
# What a field holds where MEANING (the patterns) says nothing: the fields limited by length alone.
WHAT = {"variants": 'a --variant pattern like "2.6.0-*"', "tests": "a folder beside matrix.yaml like teams/NAME",
        "pip": 'a pip requirement like "einops==0.8.2"', "env": "an environment value",
        "name": "a repository name", "image": "a repository name"}


def explain(exc: ValidationError, located: Located) -> ConfigError:
    """The first pydantic error as `file:line: what is wrong: the fix`."""
    # An unknown key is usually a misspelt known one: say that, not that the known one is missing.
    err = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
    loc = tuple(err["loc"])
    where = ".".join(_name(p) for p in loc if p != "[key]")
    where += _entry(loc, located.data)
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    field = _field(loc)
    meaning = MEANING.get(field or "") or WHAT.get(field or "")
    if kind == "extra_forbidden":
        message = f"unknown key {shown(loc[-1])} at {where}"
        close = difflib.get_close_matches(str(loc[-1]), KNOWN_KEYS, n=1, cutoff=0.75)
        message += f": did you mean {close[0]!r}?" if close else f": remove it ({SCHEMA} lists every key)"
    elif kind == "missing":
        message = f"missing key {where!r}: add it ({SCHEMA} shows each entry's keys)"
        if loc[-1] == "cudnn":
            message = f"CUDA build {_name(loc[-2])} has no cuDNN version ({where} is missing)"
        elif loc[-1] == "min_driver":
            message = f"CUDA {_name(loc[-2])} has no min_driver ({where} is missing)"
    elif kind == "literal_error" and "flavors" in loc:
        message = f"unknown flavor {shown(value)} (flavors are runtime, devel)"
        if isinstance(value, bool):  # YAML 1.1 reads yes/no/on/off as booleans
            message += ": YAML read a yes/no/on/off word as true/false; write runtime or devel"
    elif kind == "literal_error":
        message = f"{where}: {shown(value)} is not {ctx.get('expected', 'an allowed value')}: write that instead"
    elif kind == "string_pattern_mismatch":
        message = f"{where}: {shown(value)} is not {meaning or 'of the form it takes'}: correct it ({SCHEMA})"
    elif kind in TYPES or kind.endswith("_type"):
        message = f"wrong type at {where}: expected {TYPES.get(kind, kind)}, got {shown(value)}"
    elif kind == "string_too_long":
        message = f"{where}: {shown(value)} has {len(str(value))} characters, over the {ctx.get('max_length')} " \
                  "allowed: shorten it"
    elif kind == "string_too_short":
        message = f"{where} is an empty string: write {meaning or 'a value'}, or remove it"
    elif kind == "too_short":
        message = f"{where} is empty: the matrix needs at least one entry here, list one"
    elif kind == "value_error":  # our own validators: their message already names the fix
        message = f"{where}: {' '.join(str(err['msg']).removeprefix('Value error, ').split())[:300]}"
    else:  # a kind no field of the schema raises today; still one line that says where to look
        message = f"{where}: {shown(value)} is not allowed here: see {SCHEMA} for what {field or 'it'} holds"
    return located.error(loc, message)


def _name(part: object) -> str:
    """A key or index of the field's path, as the message shows it: a key holding a line break or a control
    character ("\\r" in quotes is a YAML key) is escaped, so the message stays one line."""
    return cut(str(part), 40) if isinstance(part, int) or isinstance(part, str) and part.isprintable() \
        else shown(part, 40)


def _field(loc: tuple) -> str | None:
    """The field whose rule failed. A map's key is checked by its map's rule (cuda.<key>.[key]); a map's value by
    the map's too, under another name where key and value differ (workbench.python: a name, then a version)."""
    if loc and loc[-1] == "[key]" and len(loc) >= 3:
        return str(loc[-3])
    if loc[:2] == ("workbench", "python") and len(loc) == 3:
        return "python_version"
    return next((p for p in reversed(loc) if isinstance(p, str) and (p in MEANING or p in WHAT)), None)


def _entry(loc: tuple, data: object) -> str:
    """Which entry of a list the field belongs to, by what a person calls it: (image vision), (torch 2.6.0)."""
    if len(loc) < 3 or loc[0] not in ("images", "releases") or not isinstance(loc[1], int):
        return ""
    key, label = ("name", "image") if loc[0] == "images" else ("torch", "torch")
    try:
        name = data[loc[0]][loc[1]][key]  # type: ignore[index]
    except (KeyError, IndexError, TypeError):
        return ""
    if loc[2] == key or not isinstance(name, str) or not name.isprintable() or len(name) > 40:
        return ""  # the name is the wrong field itself, or no name to speak of
    return f" ({label} {name})"
