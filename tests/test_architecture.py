"""The tree keeps its layering (docs/architecture.md): stages in flow order, imports only downward, no cycle, short
modules. Read from the source with ast, imports inside functions and under TYPE_CHECKING included."""

import ast
from pathlib import Path

from helpers import ROOT

PACKAGE = ROOT / "builder"
# Lowest first: the core, the adapters, the stages in flow order, the command line.
LAYERS = ["core", "engine", "registry", "host", "matrix", "lock", "plan", "render", "build", "smoke", "publish", "release",
          "cli"]
MAX_LINES = 300


def modules() -> dict[str, Path]:
    return {".".join(p.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__"): p
            for p in sorted(PACKAGE.rglob("*.py"))}


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every module of the package that `name` imports (relative imports resolved)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)] + (node.module.split(".") if node.module else [])
            for alias in node.names:
                target = ".".join(base + [alias.name])
                found.add(target if target in known else ".".join(base))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found |= {n.removeprefix("imgbuild.") for n in names if n.startswith("imgbuild.")}
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            found.add("__import__")
    return {f for f in found if f in known and f != name} | ({"__import__"} & found)


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports(name, path, set(found)) for name, path in found.items()}


def test_every_module_sits_in_a_layer():
    assert {name.split(".")[0] for name in modules()} - {"__init__"} <= set(LAYERS)


def test_imports_only_go_down_the_layers():
    upward = [(a, b) for a, targets in graph().items() for b in targets
              if b != "__import__" and LAYERS.index(b.split(".")[0]) > LAYERS.index(a.split(".")[0])]
    assert upward == []


def test_no_import_cycle_and_no_import_trick():
    edges = graph()
    assert not any("__import__" in targets for targets in edges.values())
    state: dict[str, int] = {}  # 1 on the path, 2 done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    assert cycles == []


def test_no_module_over_300_lines():
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}


# The command line decides nothing (docs/architecture.md): a command resolves its options, calls ONE stage function
# and prints what it returns. Counted here: calls of functions imported from host/ and the stages (matrix/ to
# release/), in the command's body; constructing a value from them (a capitalised name: `ReleasePlan(...)`) is
# resolving options, and the core and the adapters to the outside world (engine/, registry/) are not stages.
STAGES = LAYERS[LAYERS.index("host"):LAYERS.index("cli")]
MAX_STAGE_CALLS = 1


def stage_names(nodes) -> dict[str, str]:
    """The names that `from ..STAGE.module import name` binds (module-level or inside a function)."""
    return {(alias.asname or alias.name): f"{node.module}.{alias.name}" for node in nodes
            if isinstance(node, ast.ImportFrom) and node.level == 2 and node.module
            and node.module.split(".")[0] in STAGES for alias in node.names}


def stage_calls() -> dict[str, list[str]]:
    """Each command (`*_cmd` in cli/) and the stage functions it calls, once per call site."""
    found = {}
    for path in sorted((PACKAGE / "cli").glob("*.py")):
        tree = ast.parse(path.read_text())
        top = stage_names(tree.body)
        for command in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name.endswith("_cmd")):
            names = {**top, **stage_names(ast.walk(command))}
            calls = []
            for node in ast.walk(command):
                if isinstance(node, ast.Call):
                    root = node.func
                    while isinstance(root, ast.Attribute):
                        root = root.value
                    if isinstance(root, ast.Name) and root.id in names and not root.id[0].isupper():
                        calls.append(names[root.id])
            found[f"{path.stem}.{command.name}"] = calls
    return found


def test_a_command_calls_one_stage_function():
    calls = stage_calls()
    assert len(calls) >= 20  # every command was found (a rename of the *_cmd convention would empty this rule)
    over = {name: called for name, called in calls.items() if len(called) > MAX_STAGE_CALLS}
    assert over == {}, "a command chains stage calls: give it one stage function that does the chain"


def test_imports_inside_functions_are_in_cli_only():
    """The command line imports a command's stages when it runs (so `imgbuild --help` loads no docker, requests or
    pydantic: test_cli_startup.py); below it every import is at the top of its module."""
    inside = [f"{name}:{node.lineno}" for name, path in modules().items() if not name.startswith("cli")
              for function in ast.walk(ast.parse(path.read_text()))
              if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
              for node in ast.walk(function) if isinstance(node, ast.Import | ast.ImportFrom)]
    assert inside == []
