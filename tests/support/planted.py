"""Plant one of ``scripts/mutations``' bugs in this process, for the explorer's tests.

``with planted("round-durable"): ...`` imports the protocols' modules afresh with that
one rule removed (the mutation's text replaced in its file as ``scripts/mutate`` does,
but in memory), and restores the real ones afterwards. Inside, load what you need
through ``protocols.registry`` (or import it): the modules are the planted ones. The
explorer then shows it finds the bug on the code as it was before the fix. In
``scripts/mutate``'s copy of the tree, where the mutation is already applied, the file
is taken as it is: the test then credits the explorer only if it finds the bug there.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from mutations import GROUPS, Mutation  # noqa: E402

# shared by the real and the planted code (the explorer and what it is built on): a
# mutation never targets them
KEEP = ("protocols._pb", "protocols.contract", "protocols.common", "protocols.explore",
        "protocols.check.history", "protocols.sim.disk")


def mutation(name: str) -> Mutation:
    for ms in GROUPS.values():
        for m in ms:
            if m.name == name:
                return m
    raise KeyError(f"no mutation {name!r} in scripts/mutations")


class _Planting(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, module: str, path: Path, old: str, new: str) -> None:
        self.module, self.path, self.old, self.new = module, path, old, new

    def find_spec(self, fullname: str, path: Any = None, target: Any = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.module:
            return None
        is_pkg = self.path.name == "__init__.py"
        return importlib.util.spec_from_file_location(
            fullname, self.path, loader=self,
            submodule_search_locations=[str(self.path.parent)] if is_pkg else None)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        source = self.path.read_text()
        if source.count(self.old) == 1:
            source = source.replace(self.old, self.new)
        elif self.new not in source:  # scripts/mutate's copy is already mutated: use it
            raise AssertionError(f"the mutation no longer applies to {self.path}")
        code = compile(source, str(self.path), "exec")
        exec(code, module.__dict__)


def _ours(name: str) -> bool:
    return (name == "protocols" or name.startswith("protocols.")) and \
        not any(name == k or name.startswith(k + ".") for k in KEEP) and name != "protocols"


def planted_tree(name: str, dest: Path) -> Path:
    """A copy of ``src/protocols`` under ``dest`` with mutation ``name`` applied, for
    node processes (``LocalCluster(source=dest)``) to run the planted code too."""
    m = mutation(name)
    shutil.copytree(ROOT / "src" / "protocols", dest / "protocols",
                    ignore=shutil.ignore_patterns("__pycache__"))
    target = dest / Path(m.path).relative_to("src")
    text = target.read_text()
    if text.count(m.old) == 1:
        target.write_text(text.replace(m.old, m.new))
    elif m.new not in text:  # scripts/mutate's copy is already mutated: use it
        raise AssertionError(f"the mutation no longer applies to {m.path}")
    return dest


@contextmanager
def planted(name: str) -> Iterator[Mutation]:
    """The protocols' modules with mutation ``name`` applied, for the block's length."""
    m = mutation(name)
    rel = Path(m.path).relative_to("src")
    module = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
    saved = {k: v for k, v in sys.modules.items() if _ours(k)}
    finder = _Planting(module, ROOT / m.path, m.old, m.new)
    for k in saved:
        del sys.modules[k]
    sys.meta_path.insert(0, finder)
    try:
        importlib.import_module(module)
        yield m
    finally:
        sys.meta_path.remove(finder)
        for k in [k for k in sys.modules if _ours(k)]:
            del sys.modules[k]
        sys.modules.update(saved)
        # the parents' attributes point at the planted submodules: put the real ones back
        for k, v in saved.items():
            parent, _, child = k.rpartition(".")
            if parent in sys.modules:
                setattr(sys.modules[parent], child, v)
