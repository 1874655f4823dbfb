"""The layers hold: each module imported alone, in a fresh interpreter, pulls in nothing
it must not (DESIGN.md: a core speaks no IO and knows no shell; the simulator knows no
protocol and not the shell; the contract stands on protocols.common alone). The protocols
checked are every one the registry knows, and the tests' toy, found from their entries:
a protocol added to the registry is checked without editing this file.

And the project has no import cycle: modules that import each other at run time (at the
top or inside a function) cannot be read, tested or replaced one at a time. Imports under
``if TYPE_CHECKING:`` do not count (they never run)."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import random
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

from protocols.common.ids import NodeId
from protocols.contract import NodeContext
from protocols.registry import PROTOCOLS as REGISTERED
from protocols.registry import ProtocolEntry, entry, load_spec
from protocols.sim.disk import SimFileSystem

ROOT = Path(__file__).resolve().parents[2]
SHELL_AND_IO = ("asyncio", "grpc", "protocols.runtime", "protocols._pb", "cluster")
# every protocol by the name the runner takes: the registry's, and the tests' toy
LOOKUPS = (*sorted(REGISTERED), "tests.toy.protocol:ENTRY")
ENTRIES: dict[str, ProtocolEntry] = {name: entry(name) for name in LOOKUPS}


def _module(target: str) -> str:
    return target.partition(":")[0]


def _core_module(name: str) -> str:
    """The module of the core protocol ``name``'s spec builds (one node, simulated disk)."""
    spec = load_spec(name)
    ctx = NodeContext(NodeId("n1"), (NodeId("n2"), NodeId("n3")), SimFileSystem(), "/n1",
                      random.Random(1), lambda: 0.0)
    parts = spec.create_node(ctx)
    parts.storage.close()
    return type(parts.core).__module__


def _package(module: str) -> str:
    """The protocol's package: protocols.<p> (or tests.toy for the toy)."""
    return ".".join(module.split(".")[:2])


# every protocol's package (and the KV library they share): what lower layers must not know
PROTOCOLS = tuple(sorted({_package(_module(e.spec)) for e in ENTRIES.values()}
                         | {"protocols.kv"}))
# knowing the list of protocols is knowing them: only protocols.simulate, above the
# simulator, and protocols.modelcheck, above the explorer, resolve a protocol by name
REGISTRY = ("protocols.registry", "protocols.simulate", "protocols.modelcheck")

RULES: dict[str, tuple[str, ...]] = {
    "protocols.contract": (*SHELL_AND_IO, *PROTOCOLS, *REGISTRY, "protocols.sim",
                           "protocols.check"),
    "protocols.kv.rsm": SHELL_AND_IO,
    "protocols.sim": (*SHELL_AND_IO, *PROTOCOLS, *REGISTRY),
    "protocols.sim.runner": (*SHELL_AND_IO, *PROTOCOLS, *REGISTRY),
    "protocols.sim.nemesis": (*SHELL_AND_IO, *PROTOCOLS, *REGISTRY),
    "protocols.check": (*SHELL_AND_IO, *PROTOCOLS, "protocols.sim"),
    "protocols.explore": (*SHELL_AND_IO, *PROTOCOLS, *REGISTRY),
    "protocols.explore.search": (*SHELL_AND_IO, *PROTOCOLS, *REGISTRY),
    "protocols.explore.report": (*SHELL_AND_IO, *PROTOCOLS, *REGISTRY),
    "protocols.explore.browse": (*SHELL_AND_IO, *PROTOCOLS, *REGISTRY),
}
for _name, _e in ENTRIES.items():  # a protocol's package, core and simulator adapter: no IO
    for _m in (_module(_e.spec), _package(_module(_e.spec)), _core_module(_name),
               *([_module(_e.sim)] if _e.sim else [])):
        RULES[_m] = SHELL_AND_IO


def loaded_by(module: str) -> list[str]:
    code = f"import sys, json, {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    loaded: list[str] = json.loads(out.stdout)
    return loaded


# protocols.hashing is a library as pure as a core: no IO, no shell; of the project it may
# load protocols.common alone (every other package or module under protocols/, today's and
# tomorrow's, is forbidden), and of the installed packages xxhash alone (the baselines its
# tests compare against, uhashring, jump and clandestined, among those kept out). What a
# bare interpreter already loads (site's startup hooks) is not the library's doing.
_BARE = {m.partition(".")[0] for m in loaded_by("json")}
RULES["protocols.hashing"] = (
    *SHELL_AND_IO,
    *sorted(f"protocols.{p.name.removesuffix('.py')}" for p in (ROOT / "src" / "protocols")
            .iterdir() if (p.suffix == ".py" or (p / "__init__.py").is_file())
            and p.name not in {"__init__.py", "common", "hashing"}),
    *sorted(top for top, dists in importlib.metadata.packages_distributions().items()
            if "xxhash" not in dists and top not in sys.stdlib_module_names
            and top not in _BARE and top != "protocols"))
# protocols.txnkv's library modules (issue #36: MVCC, the timestamp cache, transaction
# records, the split into ranges, the messages) are as pure as a core: of the project
# they may load protocols.common, protocols.clocks and each other alone; of the installed
# packages, none. (The spec, the core and the simulator adapter stand on Raft.)
_TXNKV_FORBIDDEN = (
    *SHELL_AND_IO,
    *sorted(f"protocols.{p.name.removesuffix('.py')}" for p in (ROOT / "src" / "protocols")
            .iterdir() if (p.suffix == ".py" or (p / "__init__.py").is_file())
            and p.name not in {"__init__.py", "common", "clocks", "txnkv"}),
    *sorted(top for top in importlib.metadata.packages_distributions()
            if top not in sys.stdlib_module_names and top not in _BARE and top != "protocols"))
for _m in ("", ".mvcc", ".tscache", ".record", ".ranges", ".messages"):
    RULES[f"protocols.txnkv{_m}"] = _TXNKV_FORBIDDEN


@pytest.mark.parametrize("module", sorted(RULES))
def test_a_layer_imports_nothing_above_it(module: str) -> None:
    forbidden = RULES[module]
    bad = [m for m in loaded_by(module)
           if any(m == f or m.startswith(f + ".") for f in forbidden)]
    assert not bad, f"importing {module} loads {bad}"


def test_every_registered_protocol_is_checked() -> None:
    """The rules above come from the registry: each entry's package and core are in them."""
    for name, e in ENTRIES.items():
        assert _package(_module(e.spec)) in RULES, name
        assert _core_module(name) in RULES, name
    assert {"protocols.raft.core", "protocols.paxos.synod", "protocols.swim.core",
            "protocols.causal.core", "protocols.vkv.core", "protocols.bare.core",
            "tests.toy.protocol.core"} <= set(RULES)


# ====================================================================== import cycles
def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``module`` imports when it runs (TYPE_CHECKING blocks skipped;
    imports inside functions count: they run too)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names if a.name in known)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")[:len(package.split(".")) - child.level + 1]
                    base = ".".join([*parts, *([base] if base else [])])
                for a in child.names:
                    if f"{base}.{a.name}" in known:
                        found.add(f"{base}.{a.name}")
                    elif base in known:
                        found.add(base)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    found.discard(module)
    return found


def import_graph(roots: Iterable[tuple[Path, Path]]) -> dict[str, set[str]]:
    """Module -> the project modules it imports, over every ``.py`` under each root
    (``(directory, the directory module names are relative to)``)."""
    paths: dict[str, Path] = {}
    for directory, base in roots:
        for path in sorted(directory.rglob("*.py")):
            if "_pb" in path.parts:
                continue
            name = ".".join(path.relative_to(base).with_suffix("").parts)
            paths[name.removesuffix(".__init__")] = path
    known = set(paths)
    return {m: _imports(m, p, known) for m, p in paths.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph) + 100))
    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


PROJECT = ((ROOT / "src" / "protocols", ROOT / "src"), (ROOT / "cluster", ROOT),
           (ROOT / "tests", ROOT), (ROOT / "scripts", ROOT))


def test_the_project_has_no_import_cycle() -> None:
    graph = import_graph(PROJECT)
    assert "protocols.contract" in graph["protocols.sim.world"]  # the graph sees imports
    assert "cluster.nemesis" in graph["cluster.runner"]
    assert cycles(graph) == []


def test_a_cycle_is_found_and_a_type_checking_import_is_not_one(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from pkg.c import g\n")  # inside a function
    (pkg / "c.py").write_text("from . import a\n")  # relative
    (pkg / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                              "    from pkg import e\n")
    (pkg / "e.py").write_text("import pkg.d\n")
    graph = import_graph([(pkg, tmp_path)])
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]
    assert graph["pkg.d"] == set() and graph["pkg.e"] == {"pkg.d"}
