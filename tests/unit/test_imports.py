"""Imports run downward: the project's modules form no import cycle, the configuration
(`engine/settings.py`) imports nothing above it, and `engine/wiring.py` is the one place
that reads the settings to build the registry and the adapters.

The graph is read from the source (ast), not from what happens to be imported: every
`import`, at module level or inside a function, under `if TYPE_CHECKING:` or not, and every
`importlib.import_module("literal")` counts, because a cycle hidden in a function or behind
TYPE_CHECKING is still a cycle in the design.
"""

from __future__ import annotations

import ast
import graphlib
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: The top-level modules beside the packages (pyproject's `py-modules`).
TOP_MODULES = ("worker", "starter")
#: Below the configuration, the only project code it may reach: the domain (`filing`, the
#: bottom layer: the filing policy is a setting) and the keyrings' value type.
BELOW_CONFIGURATION = ("filing", "engine.keys")


def below_configuration(module: str) -> bool:
    return any(module == base or module.startswith(f"{base}.") for base in BELOW_CONFIGURATION)


def project_modules() -> dict[str, Path]:
    """Every module of the project's own packages (the top-level directories with an
    `__init__.py`, not the tests) and the top-level modules, by dotted name."""
    modules: dict[str, Path] = {name: ROOT / f"{name}.py" for name in TOP_MODULES}
    for init in sorted(ROOT.glob("*/__init__.py")):
        if init.parent.name == "tests":
            continue
        for path in init.parent.rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


@cache
def import_graph() -> dict[str, frozenset[str]]:
    """Module -> the project modules it imports."""
    modules = project_modules()

    def known(name: str) -> str | None:  # `a.b.C` (a class) is module `a.b`
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, frozenset[str]] = {}
    for module, path in modules.items():
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        targets: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets |= {known(alias.name) for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = ".".join([*package[: len(package) - node.level + 1], node.module or ""] if node.level
                                else [node.module or ""]).strip(".")
                # `from pkg import mod` imports the submodule; `from mod import name`, the module
                targets |= {known(f"{base}.{alias.name}") if f"{base}.{alias.name}" in modules else known(base)
                            for alias in node.names}
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name)
                  and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
                  and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                targets.add(known(node.args[0].value))
        graph[module] = frozenset(t for t in targets if t and t != module)
    return graph


def strongly_connected(graph: dict[str, frozenset[str]]) -> list[list[str]]:
    """The import cycles, each as the modules that import one another (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            members = stack[stack.index(node):]
            del stack[stack.index(node):]
            if len(members) > 1:
                cycles.append(sorted(members))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def imported_by(module: str) -> set[str]:
    """Everything `module` imports of the project, directly or through others."""
    graph = import_graph()
    seen: set[str] = set()
    todo = list(graph[module])
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo += graph[module]
    return seen


def test_the_graph_sees_the_project():
    """The walk finds the modules and the kinds of import the other tests rely on."""
    graph = import_graph()
    assert {"engine.settings", "engine.wiring", "registry.sql_registry", "adapters.materials_s3", "cli.options",
            "worker"} <= graph.keys()
    assert "engine.settings" in graph["engine.wiring"]  # `from engine.settings import Settings`
    assert "cli.via_temporal" in graph["cli.options"]  # imported inside a method
    assert "registry.importer" in graph["registry.sql_registry"]  # `from registry import importer`


def test_no_module_imports_itself_back():
    cycles = strongly_connected(import_graph())
    assert not cycles, "import cycles (each line: modules that import one another):\n" + "\n".join(
        " <-> ".join(cycle) for cycle in cycles)
    graphlib.TopologicalSorter(import_graph()).prepare()  # the same claim, as the standard library sees it


def test_the_configuration_imports_nothing_above_it():
    """`engine/settings.py` is read by everything, so it imports nothing that could import it:
    nothing of the engine's but the keyrings' type, none of the registry, adapters, activities,
    workflows, service or CLI; only the domain, which imports nothing outside itself."""
    above = sorted(m for m in imported_by("engine.settings") if not below_configuration(m))
    assert above == [], f"engine/settings.py imports (directly or not) {above}"
    graph = import_graph()
    escaping = {m: sorted(t for t in graph[m] if not below_configuration(t)) for m in graph if below_configuration(m)}
    assert {m: t for m, t in escaping.items() if t} == {}


def test_only_the_composition_root_reads_the_settings_below_it():
    """The registry, the adapters, the activities, the workflows and the domain take their
    settings as arguments: none of them imports the configuration."""
    graph = import_graph()
    readers = sorted(m for m, targets in graph.items() if "engine.settings" in targets
                     and m.split(".")[0] in {"registry", "adapters", "activities", "workflows", "filing"})
    assert readers == []


def test_the_composition_root_builds_the_names_the_configuration_accepts():
    """`FILINGS_ADAPTERS__<PORT>` is checked against `engine.settings.ADAPTER_NAMES` when the
    settings load; `engine.wiring.ADAPTERS` must build exactly those."""
    from engine import wiring
    from engine.settings import ADAPTER_NAMES

    assert {port: sorted(names) for port, names in wiring.ADAPTERS.items()} == {
        port: sorted(names) for port, names in ADAPTER_NAMES.items()}, (
        "an adapter name was added on one side only: add it to both engine.settings.ADAPTER_NAMES "
        "and engine.wiring.ADAPTERS")


def test_no_merge_leftovers_among_the_sources():
    """A `*.orig` / `*.rej` (a patch's or a merge's leftover, such as a `worker.py.orig`) is not shipped."""
    dirs = [ROOT, *(init.parent for init in ROOT.glob("*/__init__.py"))]
    leftovers = [p for d in dirs for pattern in ("*.orig", "*.rej")
                 for p in (d.glob(pattern) if d == ROOT else d.rglob(pattern))]
    assert leftovers == []
