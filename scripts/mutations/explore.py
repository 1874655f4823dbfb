"""The explorer's rules (``protocols.explore``: Clarke, Emerson & Sistla on symmetry;
Lamport's TLC and Stateright for states, properties and their kinds): the table is
docs/explore-rules.md."""

from __future__ import annotations

from mutations import Mutation

CANON = "src/protocols/explore/canon.py"
SEARCH = "src/protocols/explore/search.py"
SYSTEM = "src/protocols/explore/system.py"

STEPPER = "src/protocols/runtime/stepper.py"
HOST = "src/protocols/runtime/host.py"
SLOT = "src/protocols/runtime/slot.py"
PEERS = "src/protocols/runtime/peers.py"

ENGINE = ("tests/explore/test_engine.py",)
TORN = ("tests/explore/test_causal_vkv_models.py",)
PROCESSES = ("tests/explore/test_replay_processes.py",)

MUTATIONS = [
    Mutation("canonical-order", "a state's encoding does not depend on insertion order",
             CANON, "        return (\"map\", tuple(sorted(items, key=repr)))",
             "        return (\"map\", tuple(items))", ENGINE),
    Mutation("symmetry", "Clarke et al. 1996: a state and its renamings of "
             "interchangeable ids are one state", CANON,
             "    for perm in itertools.permutations(ids):",
             "    for perm in [tuple(ids)]:", ENGINE),
    Mutation("bfs-shortest", "breadth-first: the first violation is on a shortest path",
             SEARCH, "frontier.popleft() if strategy == \"bfs\" else frontier.pop()",
             "frontier.pop()", ENGINE),
    Mutation("always-checked", "an always-property is checked in every reached state",
             SEARCH, "            if why is not None:\n                result.counterexamples",
             "            if False:\n                result.counterexamples", ENGINE),
    Mutation("sometimes-required", "Stateright: a sometimes-property never reached fails "
             "the run (no vacuous pass)", SEARCH,
             "        return not self.counterexamples and all(p is not None for p in "
             "self.reached.values())", "        return not self.counterexamples", ENGINE),
    Mutation("eventually-maximal", "an eventually-property unmet at the end of a maximal "
             "path is a counterexample", SEARCH, "            if not moves and owed:",
             "            if False:", ENGINE),
    Mutation("linearizable", "a model with a KV binding: its clients' history is "
             "linearizable in every state", SEARCH,
             "    if result.verdict == \"violation\":", "    if False:", ENGINE),
    Mutation("core-raises", "a core that raises on an input is a counterexample (a node "
             "would stop)", SYSTEM,
             "            raise CoreFailure(f\"{node.node_id}'s core raised "
             "{type(e).__name__}: {e}\") from e", "            pass", ENGINE),
    Mutation("persist-moves", "a write is a move of its own where asked (a message sent "
             "ahead of its persist may outlive it)", SYSTEM,
             "            if self.bounds.persist_moves and (at is None or node.node_id in at):",
             "            if False:", ENGINE),
    Mutation("crash-loses-unsynced", "a crash loses every byte not fsynced (or keeps the "
             "cut of a torn write)", SYSTEM, "        node.fs.crash(keep=keep)",
             "        node.fs.crash(keep={p: len(f.pending) for p, f in "
             "node.fs.files.items()})", TORN),
    Mutation("fork-copies", "a move copies the node it changes (a state reached is never "
             "changed by its successors)", SYSTEM,
             "            child.nodes[n] = self._copy(self.nodes[n])",
             "            child.nodes[n] = self.nodes[n]",
             ENGINE),
    Mutation("down-hears-nothing", "a node that is down hears nothing: what is sent to "
             "it is lost, as a refused connection is", SYSTEM,
             "        if self.nodes[env.dst].up:", "        if True:", ENGINE),
    Mutation("reply-to-its-life", "a reply goes back to the life of its requester that "
             "asked (the stream the request came on)", SYSTEM,
             "not asker.up or asker.incarnation != incarnation:", "not asker.up:", ENGINE),
    # step mode (runtime.stepper): a process takes the path's moves and no others
    Mutation("step-holds-arrivals", "step mode: a peer's message waits for a step",
             PEERS, "        if stepper is not None:\n            stepper.hold(",
             "        if False:\n            stepper.hold(", PROCESSES),
    Mutation("step-no-ticker", "step mode: the timer fires only on a tick step", HOST,
             "                if self.stepper is None:  # in step mode a tick is a step",
             "                if True:", PROCESSES),
    Mutation("step-fixed-random", "step mode: the core draws the explorer's FixedRandom",
             HOST, "            rng, clock, fs = self.stepper.random, self.stepper.clock, "
             "self.stepper.fs", "            clock, fs = self.stepper.clock, self.stepper.fs",
             PROCESSES),
    Mutation("step-holds-writes", "step mode: a held node's write waits for a persist step",
             STEPPER, "        if self.hold_writes:\n            await self._permit.wait()",
             "        if False:\n            await self._permit.wait()", PROCESSES),
    Mutation("step-torn-write", "step mode: a crash with a cut keeps only the cut of the "
             "write under way", STEPPER, "        room = max(0, self.fs.cut - self.torn)",
             "        room = len(data)", PROCESSES),
    Mutation("step-compares-cores", "the driver checks each process's core against the "
             "model's after every step", "cluster/replay.py", "            if seen.core != "
             "model_core:", "            if False:", PROCESSES),
]
