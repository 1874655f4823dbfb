"""The explorer's own rules (protocols.explore), each shown on the Synod's model: states
are visited once under a canonical encoding, symmetry merges renamings, breadth-first
finds the shortest counterexample, a sometimes-property never reached fails the run, an
eventually-property is judged on every maximal path, a core that raises is a
counterexample, and a saved path replays to the same violation."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import pytest

from protocols.common.errors import ConfigError
from protocols.common.ids import NodeId
from protocols.explore import Always, Bounds, Eventually
from protocols.explore.canon import FixedRandom, canon, fingerprint, symmetric_fingerprint
from protocols.explore.report import load, replay_path, save
from protocols.explore.search import Explorer
from protocols.explore.system import Move, System
from protocols.paxos.explore import synod
from protocols.paxos.synod import SynodCore

SMALL = Bounds(ticks=0, timeouts=False, persist_moves=False, in_flight=4)


def _one_proposer(**changes: object) -> object:
    a = dataclasses.replace(synod("small"), bounds=SMALL)
    return dataclasses.replace(a, commands=("x",), targets=(("n1",),), **changes)


def test_canonical_encoding_ignores_insertion_order_and_named_fields() -> None:
    @dataclasses.dataclass
    class S:
        votes: dict[str, int]
        seen: set[str]
        counter: int

    a = S({"n1": 1, "n2": 2}, {"x", "y"}, 1)
    b = S({"n2": 2, "n1": 1}, {"y", "x"}, 2)
    assert canon(a) != canon(b)  # the counter differs
    assert canon(a, ignore={"S.counter"}) == canon(b, ignore={"counter"})


def test_fixed_random_draws_the_least_value_and_pickles_small() -> None:
    import pickle

    r = FixedRandom()
    assert (r.random(), r.randrange(3, 9), r.randint(2, 5), r.choice("abc")) == (0.0, 3, 2, "a")
    assert len(pickle.dumps(r)) < 100  # not a Mersenne Twister's 625 words


def test_symmetric_fingerprint_merges_renamings_only() -> None:
    enc = ("map", (("n1", ("leader", 2)), ("n2", ("follower", 2)), ("n3", ("follower", 1))))
    swapped = ("map", (("n1", ("follower", 2)), ("n2", ("leader", 2)), ("n3", ("follower", 1))))
    other = ("map", (("n1", ("leader", 2)), ("n2", ("follower", 1)), ("n3", ("follower", 1))))
    ids = ["n1", "n2", "n3"]
    assert fingerprint(enc) != fingerprint(swapped)
    assert symmetric_fingerprint(enc, ids) == symmetric_fingerprint(swapped, ids)
    assert symmetric_fingerprint(enc, ids) != symmetric_fingerprint(other, ids)


def test_equal_states_are_visited_once() -> None:
    """Delivering two independent messages in either order reaches one state."""
    result = Explorer(_one_proposer()).run("bfs")  # type: ignore[arg-type]
    assert result.ok and result.complete
    assert result.unique < result.states  # interleavings met again were not re-expanded


def test_symmetry_reduces_the_states_of_a_symmetric_model() -> None:
    """One client's value, which it may hand to any node: until ballots are compared
    (they order node ids, so the Synod is not symmetric beyond that), a state and its
    renamings are one. The first moves (a submit to n1, n2 or n3; its Prepares) merge."""
    adapter = dataclasses.replace(synod("small"), commands=("x",), targets=(),
                                  bounds=dataclasses.replace(SMALL, depth=3))
    plain = Explorer(adapter, symmetry=False).run("bfs")
    reduced = Explorer(adapter, symmetry=True).run("bfs")
    assert plain.unique >= 2 * reduced.unique, (plain.unique, reduced.unique)


def _chosen(system: System) -> bool:
    return any(isinstance(n.core, SynodCore) and n.core.chosen for n in system.nodes.values()
               if n.up)


def _all_learned(system: System) -> bool:
    return all(isinstance(n.core, SynodCore) and n.core.chosen for n in system.nodes.values())


def _nothing_chosen(system: System) -> str | None:
    return "a value was chosen" if _chosen(system) else None


def test_the_fixed_code_is_safe_and_a_value_is_chosen() -> None:
    result = Explorer(_one_proposer()).run("bfs")  # type: ignore[arg-type]
    assert result.ok and result.complete, result.verdicts()
    assert result.reached["a value is chosen"] is not None


def test_bfs_finds_the_shortest_counterexample_where_dfs_takes_a_detour(tmp_path: Path
                                                                      ) -> None:
    """A property that forbids what the protocol does (choose a value) breaks on the
    shortest path that does it: Prepare and Promise from a majority (n1 itself and one
    more), Accept and Accepted likewise, and the submit: 9 moves. The path replays, is
    saved and read back, and a path that no longer applies names its step."""
    adapter = _one_proposer(properties=(Always("nothing is chosen", _nothing_chosen),),
                            bounds=dataclasses.replace(SMALL, ticks=1))  # detours exist
    bfs = Explorer(adapter).run("bfs")  # type: ignore[arg-type]
    dfs = Explorer(adapter).run("dfs")  # type: ignore[arg-type]
    assert [c.prop for c in bfs.counterexamples] == ["nothing is chosen"]
    path = bfs.counterexamples[0].path
    assert len(path) == 9, [str(m) for m in path]
    assert dfs.counterexamples and len(dfs.counterexamples[0].path) > len(path)  # a detour
    replayed = replay_path(adapter, path)  # type: ignore[arg-type]
    assert replayed.broken is not None and replayed.broken_at == len(path)
    assert "VIOLATED: always nothing is chosen" in replayed.text()
    f = save(tmp_path / "cx.json", protocol="synod", model="synod", size="small",
             counterexample=bfs.counterexamples[0])
    header, moves = load(f)
    assert header["property"] == "nothing is chosen" and moves == path
    broken = [*moves[:2], dataclasses.replace(moves[2], key="no such message"), *moves[3:]]
    with pytest.raises(ValueError, match="step 3: .* is not possible here"):
        replay_path(adapter, broken)  # type: ignore[arg-type]


def test_a_bad_counterexample_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text(json.dumps({"format": "x"}))
    with pytest.raises(ConfigError, match="not a counterexample"):
        load(tmp_path / "bad.json")
    (tmp_path / "bad2.json").write_text(json.dumps({
        "format": "protocols.explore/counterexample/1", "protocol": "synod", "model": "s",
        "size": "small", "path": [1]}))
    with pytest.raises(ConfigError, match="malformed"):
        load(tmp_path / "bad2.json")
    (tmp_path / "bad3.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "bad3.json")


def test_a_sometimes_property_never_reached_fails_the_run() -> None:
    adapter = dataclasses.replace(synod("small"), commands=(), targets=())
    result = Explorer(adapter).run("bfs")
    assert not result.counterexamples
    assert result.reached == {"a value is chosen": None}
    assert not result.ok
    assert any("NEVER REACHED" in line for line in result.verdicts())


def test_eventually_is_judged_on_every_maximal_path() -> None:
    """One proposer, nothing lost: every maximal path ends with every node knowing the
    value. One message lost (the Chosen to a learner) and no timer: some path ends with
    a node that never learns it."""
    prop = Eventually("every node learns the value", _all_learned)
    safe = Explorer(_one_proposer(properties=(prop,))).run("bfs")  # type: ignore[arg-type]
    assert safe.ok, safe.verdicts()
    lossy = _one_proposer(properties=(prop,), bounds=dataclasses.replace(SMALL, drops=1),
                          within=_only_chosen_is_lost)
    broken = Explorer(lossy).run("bfs")  # type: ignore[arg-type]
    assert [(c.kind, c.prop) for c in broken.counterexamples] == [
        ("eventually", "every node learns the value")]
    final = replay_path(lossy, broken.counterexamples[0].path).final  # type: ignore[arg-type]
    assert final is not None and not final.moves() and not _all_learned(final)
    assert any(m.kind == "drop" for m in broken.counterexamples[0].path)


def _only_chosen_is_lost(system: System) -> bool:
    """The lossy model's constraint (keeps it small): a message is lost only once a value
    is chosen; a path that lost one earlier is not expanded."""
    return system.drops == 0 or _chosen(system)


def test_a_core_that_raises_is_a_counterexample() -> None:
    def boom(system: System) -> None:  # n2's core breaks on its next tick
        core = system.nodes[NodeId("n2")].core
        if core is not None:
            core.tick = _raise  # type: ignore[method-assign]
    adapter = _one_proposer(properties=(Always("arm", boom),),
                            bounds=dataclasses.replace(SMALL, ticks=1))
    result = Explorer(adapter, symmetry=False).run("bfs")  # type: ignore[arg-type]
    assert result.counterexamples
    assert result.counterexamples[0].prop == "no core raises"
    assert "ZeroDivisionError" in result.counterexamples[0].why
    assert [str(m) for m in result.counterexamples[0].path] == ["tick n2"]


def _raise() -> None:
    raise ZeroDivisionError("planted")


def test_progress_lines_name_states_unique_depth_queue_and_rate() -> None:
    out = io.StringIO()
    Explorer(_one_proposer(), progress=out, progress_every_s=0.0).run("bfs")  # type: ignore[arg-type]
    line = out.getvalue().splitlines()[0]
    for word in ("states", "unique", "depth", "queue", "states/s"):
        assert word in line


def test_a_move_not_possible_here_names_its_step() -> None:
    system = System(synod("small"))
    with pytest.raises(ValueError, match="step 1: .* is not possible here"):
        system.find(Move("deliver", "n1", "no such message"))


def test_explored_histories_are_checked_for_linearizability() -> None:
    """A model with a KV binding gets the "linearizable" property: the project's checker
    over what its clients saw so far. A read that misses an acknowledged write breaks it
    (planted in the history itself: no protocol here loses one within small bounds)."""
    from protocols.raft.explore import MODELS

    adapter = MODELS["raft"]("small")
    explorer = Explorer(adapter)
    prop = next(p for p in explorer.properties if p.name == "linearizable")
    system = System(adapter)
    assert isinstance(prop, Always) and prop.check(system) is None
    h = system.history
    put = h.invoke(0, "put", "x", "1", 0)
    h.complete(put, "ok", None, 1)
    get = h.invoke(1, "get", "x", None, 2)
    h.complete(get, "ok", None, 3)
    why = prop.check(system)
    assert why is not None and "violation" in why


def test_persist_moves_only_where_asked() -> None:
    """A write is a move of its own at the nodes of ``persist_moves_at`` only; elsewhere
    it is made with its input (a node that never crashes gains nothing from it)."""
    def after_prepare_at_n2(at: tuple[str, ...] | None) -> System:
        adapter = _one_proposer(bounds=dataclasses.replace(SMALL, persist_moves=True,
                                                           persist_moves_at=at))
        system = System(adapter)  # type: ignore[arg-type]
        system.apply(system.find(Move("submit", "n1", "0")))
        system.apply(system.find(Move("persist", "n1")))  # its round, before the Prepares
        prepare = next(p for p in system.network if p.dst == "n2")
        system.apply(system.find(Move("deliver", "n2", prepare.key)))
        return system

    everywhere = after_prepare_at_n2(None)
    assert everywhere.nodes[NodeId("n2")].pump.writing is not None  # type: ignore[union-attr]
    assert "persist n2" in {f"{m.kind} {m.node}" for m in everywhere.moves()}
    only_n1 = after_prepare_at_n2(("n1",))
    assert only_n1.nodes[NodeId("n2")].pump.writing is None  # type: ignore[union-attr]
    assert "persist n2" not in {f"{m.kind} {m.node}" for m in only_n1.moves()}
    assert any(p.kind == "reply" and p.src == "n2" for p in only_n1.network)


def test_a_node_that_is_down_hears_nothing_and_a_reply_goes_to_the_life_that_asked() -> None:
    """As on the gRPC nodes: what is sent to a crashed node is lost (its connection is
    refused), not delivered after its restart; a request sent by a node's first life
    and delivered after it restarted is answered to nobody (the reply goes back on the
    stream the request came on, which died with that life), even if the second life
    waits on an equal request."""
    adapter = _one_proposer(bounds=dataclasses.replace(SMALL, crashes=1, restarts=True))
    system = System(adapter)  # type: ignore[arg-type]
    system.apply(system.find(Move("crash", "n2")))
    system.apply(system.find(Move("submit", "n1", "0")))
    assert {p.dst for p in system.network} == {"n1", "n3"}  # the Prepare to n2 is lost
    assert any(o.dst == "n2" for o in system.nodes[NodeId("n1")].outstanding)  # it waits
    system.apply(system.find(Move("restart", "n2")))
    assert {p.dst for p in system.network} == {"n1", "n3"}

    old = System(adapter)  # type: ignore[arg-type]
    old.apply(old.find(Move("submit", "n1", "0")))
    to_n2 = next(p for p in old.network if p.dst == "n2")
    old.apply(old.find(Move("crash", "n1")))
    old.apply(old.find(Move("restart", "n1")))
    assert to_n2 in old.network and to_n2.incarnation == 1  # from n1's first life
    old.apply(old.find(Move("deliver", "n2", to_n2.key)))
    assert not any(p.kind == "reply" for p in old.network)  # nobody to answer


def test_eventually_after_is_owed_only_once_its_trigger_holds() -> None:
    """``Eventually(after=...)`` is TLA's leads-to: a property owed only from a state where
    ``after`` holds on; one never triggered holds, one triggered and never met fails on
    a maximal path."""
    never = _one_proposer(properties=(Eventually("never owed", lambda s: False,
                                                 after=lambda s: False),))
    assert Explorer(never).run("bfs").ok  # type: ignore[arg-type]
    owed = _one_proposer(properties=(Eventually("owed once chosen", lambda s: False,
                                                after=_chosen),))
    result = Explorer(owed).run("bfs")  # type: ignore[arg-type]
    assert [(c.prop, c.kind) for c in result.counterexamples] == [
        ("owed once chosen", "eventually")]
