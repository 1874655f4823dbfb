"""Dynamo's models (``protocols.dynamo.explore``, issue #35): no acknowledged write lost,
each durable at W nodes and kept for each owner (by itself or a stand-in's hint), on
every path the explorer walks; and two planted bugs the properties catch.

The default suite walks the first states of ``dynamo`` and of ``handoff`` breadth first
(every path a few moves deep: the crash, a lost message, a torn write at n1; a stand-in's
hint handed to its owner). The whole models run with ``--run-slow``
(``scripts/check-models dynamo``)."""

from __future__ import annotations

import dataclasses

import pytest

from protocols.contract import NodeContext, NodeParts, Ready
from protocols.dynamo.core import DynamoCore, _Transfer
from protocols.dynamo.explore import (
    ANN,
    OWNERS,
    Installed,
    dynamo,
    handoff,
)
from protocols.explore import ExploreAdapter
from protocols.explore.search import Explorer, Result
from protocols.registry import load_models

LOST = "no acknowledged write is lost"
DURABLE = "an acknowledged write is durable at W nodes"
KEPT = "a write acknowledged by W = N is kept for each owner"


# ---------------------------------------------------------------- planted bugs
class EagerCore(DynamoCore):
    """Answers before its own write is durable: each Ready's writes are held back and
    go out with the next Ready (the answer and the replica writes leave at once)."""

    def ready(self) -> Ready:
        out = super().ready()
        out.persist, self.late = list(getattr(self, "late", [])), out.persist
        return out


class HastyCore(DynamoCore):
    """A stand-in that drops a hinted version as soon as it sends it to its owner, not
    once the owner acknowledged it (§4.6 keeps the hint until then)."""

    def _send_transfer(self, t: _Transfer) -> None:
        super()._send_transfer(t)
        if t.why == "handoff":
            self._delivered(t)  # as if the owner had acknowledged it


class Planted(Installed):
    core_class: type[DynamoCore] = DynamoCore

    def create_node(self, ctx: NodeContext) -> NodeParts:
        parts = super().create_node(ctx)
        parts.core.__class__ = self.core_class
        return parts


class Eager(Planted):
    core_class = EagerCore


class Hasty(Planted):
    core_class = HastyCore


def only(adapter: ExploreAdapter, name: str) -> ExploreAdapter:
    """``adapter`` checking the safety property ``name`` alone (a state that breaks
    another is not expanded: this shows each property can fail on its own)."""
    return dataclasses.replace(adapter, properties=tuple(
        p for p in adapter.properties if p.name == name))


def broken(result: Result) -> list[str]:
    return [c.prop for c in result.counterexamples]


def steps(result: Result) -> list[str]:
    return [str(m) for m in result.counterexamples[0].path]


# ---------------------------------------------------------------- the store holds
def test_the_model_is_registered_and_the_ring_is_as_the_models_say() -> None:
    models = load_models("dynamo")
    assert set(models) == {"dynamo", "forward", "handoff", "handoff-faults", "dynamo-aae"}
    from protocols.explore.system import System
    system = System(models["dynamo"]("small"))
    core = system.nodes["n1"].core  # type: ignore[index]
    assert isinstance(core, DynamoCore)
    for key, owners in OWNERS.items():
        assert tuple(core.owners(key)) == owners


def test_the_first_states_of_the_dynamo_model_lose_no_acknowledged_write() -> None:
    """The first 400 states breadth first (every path of 4 moves or so: a crash, a torn
    write of n1, a lost message, a timeout, among Ann's and Bob's writes)."""
    result = Explorer(dynamo("small"), max_states=400).run("bfs")
    assert not result.counterexamples, result.verdicts()
    assert result.reached["a node crashed"] is not None
    assert result.reached["concurrent writes become siblings"] is not None


def test_a_stand_in_keeps_its_hint_until_the_owner_has_it() -> None:
    """The first 400 states of ``handoff`` breadth first (every path of 7 moves): n1's
    replica write of Ann's first value to n2 times out, so her second (W = 2) goes to n3
    with a hint for n2, is acknowledged by n3, and n3 hands it to n2 at its tick:
    durable at two nodes throughout, and kept for n2. The whole model: ``--run-slow``."""
    result = Explorer(handoff("small"), max_states=400).run("bfs")
    assert not result.counterexamples, result.verdicts()
    assert all(p is not None for p in result.reached.values()), result.verdicts()


# ---------------------------------------------------------------- the properties fail
def test_a_coordinator_answering_before_its_write_is_durable_is_caught() -> None:
    """Ann's first write (W = 1) answered before n1's disk has it: at once not durable at
    W nodes; and lost outright if n1 then loses power (two moves)."""
    result = Explorer(dynamo("small", Eager())).run("bfs")
    assert broken(result) == [DURABLE], result.verdicts()
    assert steps(result) == [f"submit {ANN!r} to n1"]
    assert "'ann' acknowledged with W=1 is on the disk of no node" in \
        result.counterexamples[0].why
    result = Explorer(only(dynamo("small", Eager()), LOST)).run("bfs")
    assert broken(result) == [LOST], result.verdicts()
    assert [m.kind for m in result.counterexamples[0].path] == ["submit", "crash"]
    assert "acknowledged 'ann' is held by no node" in result.counterexamples[0].why


def test_a_stand_in_dropping_its_hint_before_the_owners_ack_is_caught() -> None:
    """n3 drops the hint for n2 as it sends it (6 moves: Ann's first replica write to n2
    times out, her second goes to n3 with a hint and is acknowledged, n3 ticks): Ann's
    W = 2 write is then on n1's disk alone, and neither n2 nor a stand-in for it holds
    it. Both properties break on that path, each on its own."""
    result = Explorer(handoff("small", Hasty())).run("bfs")
    assert broken(result) == [DURABLE], result.verdicts()
    assert "'ann again' acknowledged with W=2 is on the disk of ['n1'] only" in \
        result.counterexamples[0].why
    result = Explorer(only(handoff("small", Hasty()), KEPT)).run("bfs")
    assert broken(result) == [KEPT], result.verdicts()
    (found,) = result.counterexamples
    assert "'ann again' acknowledged with W=2: neither its owner n2 nor a stand-in for it" \
        in found.why
    assert [m.kind for m in found.path] == ["submit", "timeout", "submit", "deliver",
                                            "deliver", "tick"]


# ---------------------------------------------------------------- the whole model
def complete(name: str) -> Result:
    result = Explorer(load_models("dynamo")[name]("small")).run("bfs")
    assert result.complete and result.ok, (result.summary(), result.verdicts())
    return result


@pytest.mark.slow
def test_the_dynamo_model_loses_no_acknowledged_write_on_any_path() -> None:
    complete("dynamo")


@pytest.mark.slow
def test_a_forwarded_write_is_kept_on_every_path() -> None:
    complete("forward")


@pytest.mark.slow
def test_the_handoff_model_keeps_every_hint_on_every_path() -> None:
    complete("handoff")


@pytest.mark.slow
def test_handoff_under_a_crash_and_a_lost_message_loses_nothing() -> None:
    complete("handoff-faults")


@pytest.mark.slow
def test_anti_entropy_repairs_a_lost_replica_write_and_loses_nothing() -> None:
    result = complete("dynamo-aae")
    assert result.reached["anti-entropy brings Ann's write to n2"] is not None
