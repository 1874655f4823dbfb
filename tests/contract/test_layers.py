"""The layers hold: each module imported alone, in a fresh interpreter, pulls in nothing
it must not (DESIGN.md: a core speaks no IO and knows no shell; the simulator knows no
protocol and not the shell; the contract stands on protocols.common alone)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SHELL_AND_IO = ("asyncio", "grpc", "protocols.runtime", "protocols._pb", "cluster")
PROTOCOLS = ("protocols.raft", "protocols.paxos", "protocols.bare", "protocols.kv",
             "protocols.swim", "protocols.causal", "protocols.vkv", "tests.toy")
# knowing the list of protocols is knowing them: only protocols.simulate, above the
# simulator, resolves a protocol by name
REGISTRY = ("protocols.registry", "protocols.simulate")

RULES = {
    "protocols.contract": (*SHELL_AND_IO, *PROTOCOLS, *REGISTRY, "protocols.sim",
                           "protocols.check"),
    "protocols.raft.core": SHELL_AND_IO,
    "protocols.raft": SHELL_AND_IO,
    "protocols.bare.core": SHELL_AND_IO,
    "protocols.paxos": SHELL_AND_IO,
    "protocols.paxos.core": SHELL_AND_IO,
    "protocols.paxos.synod": SHELL_AND_IO,
    "tests.toy.protocol.core": SHELL_AND_IO,
    "protocols.kv.rsm": SHELL_AND_IO,
    "protocols.sim": (*SHELL_AND_IO, *PROTOCOLS, *REGISTRY),
    "protocols.sim.runner": (*SHELL_AND_IO, *PROTOCOLS, *REGISTRY),
    "protocols.sim.nemesis": (*SHELL_AND_IO, *PROTOCOLS, *REGISTRY),
    "protocols.check": (*SHELL_AND_IO, *PROTOCOLS, "protocols.sim"),
}


def loaded_by(module: str) -> list[str]:
    code = f"import sys, json, {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    loaded: list[str] = json.loads(out.stdout)
    return loaded


@pytest.mark.parametrize("module", sorted(RULES))
def test_a_layer_imports_nothing_above_it(module: str) -> None:
    forbidden = RULES[module]
    bad = [m for m in loaded_by(module)
           if any(m == f or m.startswith(f + ".") for f in forbidden)]
    assert not bad, f"importing {module} loads {bad}"
