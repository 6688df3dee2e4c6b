"""The import arrows run one way: contracts at the bottom, the client and the simulator above it, test tooling on top.

The graph is built from the source with the stdlib ``ast`` (every ``import``, also inside functions, except
those under ``if TYPE_CHECKING:``, which never run), so a lazy import counts like any other. ~60 files:
a few milliseconds; grimp/import-linter would add a dependency for the same answer.
"""

from __future__ import annotations

import ast
import functools
import re
import sys
from pathlib import Path

import pytest

import hatch_build  # the checkout root is on sys.path (the editable install), as for the parts

ROOT = Path(__file__).resolve().parents[1]
# Repository folder -> import name: each part by its own folder name, as Python imports the checkout
# (hatch_build.py moves them under ltxstudio_mock in the wheel).
PARTS = {
    "ltxstudio_mock": "ltxstudio_mock",
    "contracts": "contracts",
    "client": "client",
    "mock_server": "mock_server",
}
CONTRACTS = "contracts"
CLIENT = "client"
SIM = "mock_server"

# Modules outside mock_server/sim and mock_server/store that still read the store (``x.store``). This list may
# only shrink: each entry is work to move behind a Simulator method (issue 16).
STORE_READERS_TO_MOVE: dict[str, str] = {}


def _module_files() -> dict[str, Path]:
    files: dict[str, Path] = {}
    for folder, name in PARTS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join([name, *parts])] = path
    return files


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node that can run: the bodies of ``if TYPE_CHECKING:`` are left out."""
    out: list[ast.AST] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        out.append(node)
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))
    return out


@functools.cache
def _parsed() -> dict[str, tuple[Path, list[ast.AST]]]:
    return {name: (path, _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))))
            for name, path in _module_files().items()}


def _target(name: str, modules: set[str]) -> str | None:
    """The longest module of ours that ``name`` (a dotted import) names or lies in."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


@functools.cache
def import_graph() -> dict[str, set[str]]:
    """module -> the modules of ours it imports (at run time)."""
    parsed = _parsed()
    modules = set(parsed)
    graph: dict[str, set[str]] = {}
    for name, (path, nodes) in parsed.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in nodes:
            if isinstance(node, ast.Import):
                edges.update(t for a in node.names if (t := _target(a.name, modules)))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join([*anchor, base]) if base else ".".join(anchor)
                for alias in node.names:
                    target = _target(f"{base}.{alias.name}", modules) or _target(base, modules)
                    if target:
                        edges.add(target)
        edges.discard(name)
        graph[name] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _imports_into(source_prefix: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(f"{a} -> {b}" for a, targets in import_graph().items() if _within(a, source_prefix)
                  for b in targets if any(_within(b, f) for f in forbidden))


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_the_graph_sees_our_modules() -> None:
    """A guard for the guards: the graph is not empty and finds known arrows (lazy ones too)."""
    graph = import_graph()
    assert len(graph) > 40
    assert "contracts.spec" in graph["mock_server.app"]
    assert "contracts.spec" in graph["client._client"]
    assert "mock_server.scenario" in graph["mock_server.cli"]  # inside a function


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def _between_modules(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph less each package's arrows to its own submodules (re-exports, blueprint registration)."""
    return {a: {b for b in targets if not b.startswith(a + ".")} for a, targets in graph.items()}


def test_no_import_cycles() -> None:
    """No two modules import each other, directly or around a loop.

    A package importing its own submodules is not counted: ``client/__init__`` re-exporting ``_client`` (which
    reads ``__version__`` from it) and ``api/__init__`` registering its blueprints are how Python packages are
    built, not arrows between layers.
    """
    assert _cycles(_between_modules(import_graph())) == []


def test_contracts_import_nothing_above_them() -> None:
    """The contract engine is the bottom layer: not the client, the simulator or the test tooling."""
    above = [a for a in _imports_into(CONTRACTS, (CLIENT, SIM, "ltxstudio_mock"))
             if not _within(a.split(" -> ")[1], CONTRACTS)]
    assert above == []


def test_client_imports_no_simulator() -> None:
    assert _imports_into(CLIENT, (SIM,)) == []


def test_simulator_imports_no_client() -> None:
    """The ``ltx-mock`` command line (mock_server/cli.py) is the one front end of all three parts."""
    assert _imports_into(SIM, (CLIENT,)) == [f"{SIM}.cli -> {CLIENT}.cli"]


def _imports_importlib(node: ast.AST) -> bool:
    if isinstance(node, ast.Import):
        return any(a.name.startswith("importlib") for a in node.names)
    return isinstance(node, ast.ImportFrom) and (node.module or "").startswith("importlib")


def test_client_reaches_contracts_by_plain_imports() -> None:
    """No ``importlib`` in the client: every arrow it has is one an import graph can see."""
    offenders = [name for name, (_, nodes) in _parsed().items() if _within(name, CLIENT)
                 for node in nodes if _imports_importlib(node)]
    assert offenders == []


def test_one_reader_of_openapi_yaml() -> None:
    """Only the contract engine parses the API documents; YAML elsewhere is scenario files."""
    yaml_users = sorted(name for name, targets in _yaml_importers().items() if targets)
    assert yaml_users == ["contracts.spec", "ltxstudio_mock.admin_client",
                          "mock_server.scenario.read", "mock_server.scenario.snapshot"]


def _yaml_importers() -> dict[str, bool]:
    out: dict[str, bool] = {}
    for name, (_, nodes) in _parsed().items():
        out[name] = any(
            (isinstance(node, ast.Import) and any(a.name == "yaml" for a in node.names))
            or (isinstance(node, ast.ImportFrom) and node.module == "yaml") for node in nodes)
    return out


def _store_readers() -> dict[str, list[int]]:
    """Modules outside sim/ and store/ with a ``<something>.store`` attribute read, and the lines."""
    out: dict[str, list[int]] = {}
    for name, (_, nodes) in _parsed().items():
        if _within(name, f"{SIM}.sim") or _within(name, f"{SIM}.store"):
            continue
        lines = sorted({node.lineno for node in nodes if isinstance(node, ast.Attribute) and node.attr == "store"})
        if lines:
            out[name] = lines
    return out


def store_rule_violations(readers: dict[str, list[int]], allowed: dict[str, str]) -> list[str]:
    """What breaks "only sim/ and store/ touch the store": a reader not on the list, or a listed module that no
    longer reads it (the list may only shrink, so an entry nobody needs must go)."""
    new = [f"{name} reads the store at lines {lines}: call a Simulator method instead"
           for name, lines in sorted(readers.items()) if name not in allowed]
    gone = [f"{name} no longer reads the store: remove it from STORE_READERS_TO_MOVE"
            for name in sorted(set(allowed) - set(readers))]
    return new + gone


def test_only_the_rules_reach_into_the_store() -> None:
    """Views, admin, dashboard, artifact serving and the rest call Simulator methods; only sim/ and store/ touch
    the store. The known exceptions are listed (STORE_READERS_TO_MOVE) so that the list can only shrink."""
    assert store_rule_violations(_store_readers(), STORE_READERS_TO_MOVE) == []


def test_the_dashboard_faults_and_admin_read_no_store() -> None:
    """Issue 16's moves, pinned by name: these read the simulator through its methods (``sim.overview``,
    ``sim.faults``), never ``sim.store``, and may not come back onto the list."""
    readers = _store_readers()
    for name in ("dashboard", "dashboard.data", "faults", "admin", "admin.guard"):
        assert f"{SIM}.{name}" in _parsed()
        assert f"{SIM}.{name}" not in readers
        assert f"{SIM}.{name}" not in STORE_READERS_TO_MOVE


BAD_VIEW = """
from flask import current_app

def jobs():
    sim = current_app.extensions["ltx_sim"]
    return sim.store.index_range("jobs", 0, 10)  # a view reading the store around the rules
"""


def _with_module(monkeypatch: pytest.MonkeyPatch, name: str, source: str) -> None:
    """Make the parsed tree hold one more module, as if ``source`` were a file of ours named ``name``."""
    parsed = dict(_parsed())
    parsed[name] = (Path(name.replace(".", "/") + ".py"), _runtime_nodes(ast.parse(source)))
    monkeypatch.setattr(sys.modules[__name__], "_parsed", lambda: parsed)


@pytest.mark.parametrize("rule", ["cycles", "store", "store-list"])
def test_the_rules_fail_on_a_violation(rule: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each rule, shown failing on a graph or module that breaks it."""
    if rule == "cycles":
        graph = _between_modules(import_graph())
        graph[f"{CONTRACTS}.spec"].add(f"{CLIENT}._client")  # client -> contracts.spec -> client
        assert _cycles(graph) != []
    elif rule == "store":
        _with_module(monkeypatch, f"{SIM}.dashboard.bad", BAD_VIEW)
        assert _store_readers()[f"{SIM}.dashboard.bad"] == [6]
        assert store_rule_violations(_store_readers(), STORE_READERS_TO_MOVE) == [
            f"{SIM}.dashboard.bad reads the store at lines [6]: call a Simulator method instead"]
        with pytest.raises(AssertionError):
            test_only_the_rules_reach_into_the_store()
    else:  # a listed module that stopped reading the store must leave the list
        stale = {**STORE_READERS_TO_MOVE, f"{SIM}.faults": "moved into sim/faults.py"}
        assert store_rule_violations(_store_readers(), stale) == [
            f"{SIM}.faults no longer reads the store: remove it from STORE_READERS_TO_MOVE"]


def _constructions(class_name: str) -> list[str]:
    """Modules that call ``class_name(...)`` (by its bare or dotted name)."""
    return sorted(name for name, (_, nodes) in _parsed().items() if any(
        isinstance(node, ast.Call) and ((isinstance(node.func, ast.Name) and node.func.id == class_name)
                                        or (isinstance(node.func, ast.Attribute) and node.func.attr == class_name))
        for node in nodes))


def test_fault_rules_are_built_once_by_the_simulator(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault state belongs to the Simulator: ``Faults(...)`` is built in ``Simulator.__init__`` only, and the app,
    the control API and scenarios take ``sim.faults`` (once built in three places, each on the store)."""
    assert _constructions("Faults") == [f"{SIM}.sim"]
    _with_module(monkeypatch, f"{SIM}.admin.bad", "def view(sim):\n    return Faults(sim.ctx).list()\n")
    assert _constructions("Faults") == [f"{SIM}.admin.bad", f"{SIM}.sim"]  # and a second builder is seen


def test_each_file_has_one_module_name() -> None:
    """No file loads twice under two names (``mock_server.errors.ApiError`` raised and a second copy's class
    caught would never match): the parts exist only under their own names in the checkout, and every loaded
    module of ours comes from a different file."""
    import importlib
    import importlib.util

    for name in ("ltxstudio_mock.mock_server", "ltxstudio_mock.client", "ltxstudio_mock.contracts"):
        assert importlib.util.find_spec(name) is None, f"{name} is importable in the checkout"
    for name in _module_files():
        importlib.import_module(name)
    ours = tuple(str(ROOT / folder) + "/" for folder in PARTS)
    seen: dict[str, str] = {}
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file or not str(Path(file).resolve()).startswith(ours):
            continue
        other = seen.setdefault(str(Path(file).resolve()), name)
        assert other == name, f"{file} is loaded as both {other} and {name}"


def test_every_import_of_ours_survives_the_wheel_rewrite() -> None:
    """hatch_build.rewrite moves each part's imports under ltxstudio_mock; it refuses what it cannot move
    (``import client.x`` binds ``client``), so a file it cannot rewrite fails here, not in a user's install."""
    for name, path in _module_files().items():
        out = hatch_build.rewrite(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(ast.parse(out)):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            stray = [n for n in names if n.split(".")[0] in hatch_build.PARTS]
            assert not stray, f"{name}:{node.lineno}: {stray} left outside ltxstudio_mock"


def test_the_wheel_rewrite_keeps_what_each_import_binds() -> None:
    src = ("import client\nimport mock_server.sim as sim\nfrom contracts.spec import x\nfrom . import y\n"
           "import clientele\n    from client import (\n        a,\n    )\ntext = 'from client import z'\n")
    assert hatch_build.rewrite(src.replace("    from", "if 1:\n    from")) == (
        "from ltxstudio_mock import client\nimport ltxstudio_mock.mock_server.sim as sim\n"
        "from ltxstudio_mock.contracts.spec import x\nfrom . import y\nimport clientele\n"
        "if 1:\n    from ltxstudio_mock.client import (\n        a,\n    )\ntext = 'from client import z'\n")
    with pytest.raises(hatch_build.RewriteError, match="binds `mock_server`"):
        hatch_build.rewrite("import mock_server.sim\n")
    with pytest.raises(hatch_build.RewriteError, match="one part per statement"):
        hatch_build.rewrite("import os, client\n")


SHARED_CONSTANTS = ("DEMO_TOKEN", "DEMO_EMAIL")


def _definitions(name: str, sources: dict[str, str]) -> list[str]:
    """Where a literal is assigned to ``name`` at a module's top level (``NAME = "..."``), as ``path:line``."""
    found = []
    assigned = re.compile(rf"^{name}\s*(:[^=\n]*)?=", re.MULTILINE)  # parse only the files that may assign it
    for path, text in sources.items():
        if not assigned.search(text):
            continue
        for node in ast.parse(text).body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Constant):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                found += [f"{path}:{node.lineno}" for t in targets if isinstance(t, ast.Name) and t.id == name]
    return sorted(found)


def test_the_demo_identity_is_defined_once() -> None:
    """``DEMO_TOKEN`` and ``DEMO_EMAIL`` are written once (``contracts/demo.py``, below every part) and imported
    everywhere else: the simulator, ``ltx-mock check``, the test tooling, the tests and the benchmarks (each once
    had its own copy). A second definition is caught, shown on a copy."""
    files = [*(p for folder in (*PARTS, "tests", "benchmarks") for p in (ROOT / folder).rglob("*.py"))]
    sources = {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in files}
    for name in SHARED_CONSTANTS:
        assert _definitions(name, sources) == ["contracts/demo.py:9" if name == "DEMO_TOKEN" else
                                               "contracts/demo.py:10"], name
    copy = {**sources, "benchmarks/x.py": 'DEMO_TOKEN: str = "demo-token"\n'}
    assert _definitions("DEMO_TOKEN", copy) == ["benchmarks/x.py:1", "contracts/demo.py:9"]


def _unit(module: str) -> str:
    """The row an arrow is shown on: a part, or one package or module of the simulator."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == SIM else parts[0]


def arrow_table() -> str:
    """docs/architecture.md's table of import arrows, from this graph: each part (each package or module of the
    simulator) and what of ours it imports at run time, lazy imports included."""
    arrows: dict[str, set[str]] = {}
    for a, targets in import_graph().items():
        row = arrows.setdefault(_unit(a), set())
        row.update(_unit(b) for b in targets if _unit(b) != _unit(a))
    lines = ["| from | imports |", "|---|---|"]
    for row, targets in sorted(arrows.items()):
        shown = sorted(t.removeprefix(f"{SIM}.") if _within(row, SIM) else t for t in targets)
        lines.append(f"| `{row}` | " + (", ".join(f"`{t}`" for t in shown) or "nothing of ours") + " |")
    return "\n".join(lines)


ARROWS_DOC = ROOT / "docs" / "architecture.md"
ARROWS_BEGIN = "<!-- the arrow table: `python tests/test_layering.py` prints it -->"


def test_the_architecture_page_shows_the_arrows_as_they_are() -> None:
    """The table on docs/architecture.md is this graph's (it once named arrows long gone); a changed import
    fails here until the table is pasted again (``python tests/test_layering.py`` prints it)."""
    text = ARROWS_DOC.read_text(encoding="utf-8")
    shown = text.split(ARROWS_BEGIN, 1)[1].strip().split("\n\n", 1)[0]
    assert shown == arrow_table()
    assert "| `contracts` | nothing of ours |" in shown


if __name__ == "__main__":
    print(arrow_table())
