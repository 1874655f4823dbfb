"""Two-phase commit as models for the explorer (``protocols.explore``).

A coordinator (n1) and two participants (n2, n3) run the cores the simulator runs, one
transaction writing a key on each participant; every order of messages, a lost message,
the timers, and one crash of any node at any point (with a restart from its log). The
timers are as short as the options allow, and a node's fires only while it waits for
something (``ExploreAdapter.armed``). Checked in every state: *atomicity* (the
simulator's ``Atomicity``: no transaction committed at one participant and aborted at
another); reached in some: the transaction commits, and it aborts.

* ``atomic``: the coordinator crashes once, in any of its writes, and restarts from its
  log: atomicity on every path, and both outcomes reached. (That an uncertain participant
  then learns the outcome is not checked here: with each timer bounded, a path can spend
  a participant's last tick before the restart, and the explorer has no fairness for
  timers yet; the simulator's tests show it with time unbounded.)
* ``three-shards``: ``atomic`` with a coordinator and three participants (n2-n4), the
  transaction writing on each: the coordinator crashes once in any of its writes and
  restarts; atomicity on every path, both outcomes reached.
* ``blocking``: the coordinator crashes and never comes back. Atomicity still holds, but
  "an uncertain participant learns the outcome" (a leads-to: ``Eventually(after=...)``)
  fails: the shortest counterexample is 2PC's blocking — the
  participants voted YES, the decision died with the coordinator, and asking each other
  (cooperative termination) cannot help, since neither knows (BHG §7.4).

Three-phase commit (``commit_protocol="3pc"``, Skeen 1981; BHG §7.5), the same cluster and
transaction, the coordinator crashing once and never coming back. A participant's timer
stands for Skeen's failure detector: it fires only once the coordinator is down (no
participant suspects a live one), and the coordinator's fires only once every vote or
acknowledgement on its way has arrived; what the two models differ in is only how long
the participants' own messages may take:

* ``nonblocking``: synchronous, as Skeen assumes: every timer waits until the network is
  quiet (a timeout never overtakes a message). Atomicity on every path, both outcomes
  reached, and "an uncertain participant learns the outcome" holds: where the
  ``blocking`` model finds 2PC stuck, 3PC's termination protocol finishes.
* ``split``: the participants' messages may be delayed past their timeouts (the network
  partitions between them). The shortest counterexample to atomicity: the PRECOMMIT
  reached n2 only, the coordinator crashed, n2 and n3 each ask the other and hear nothing,
  and each, alone, decides from its own state: n2 (PRECOMMITTED) commits, n3 (PREPARED)
  aborts.
"""

from __future__ import annotations

from collections.abc import Callable

from protocols.common.ids import NodeId
from protocols.explore import Bounds, Eventually, ExploreAdapter, Sometimes, System
from protocols.twopc import SPEC
from protocols.twopc.coordinator import shard_of
from protocols.twopc.core import TwoPcCore
from protocols.twopc.messages import MicroOp, Transact
from protocols.twopc.sim import ADAPTER

__all__ = ["MODELS"]

PARTICIPANTS = ("n2", "n3")
OPTIONS = {"vote_timeout_ticks": 1, "resend_ticks": 1, "lock_timeout_ticks": 1,
           "inquiry_ticks": 1}
IGNORE = frozenset({"Participant.blocked_ticks", "Coordinator.committed",
                    "Coordinator.aborted", "PTxn.waited", "CTxn.waited"})


def _key_on(shard: str) -> str:
    return next(f"k{i}" for i in range(100) if shard_of(f"k{i}", PARTICIPANTS) == shard)


TXN = Transact((MicroOp("w", _key_on("n2"), 1), MicroOp("w", _key_on("n3"), 1)))


def _cores(system: System) -> dict[str, TwoPcCore]:
    return {n: c for n in system.up_nodes() if isinstance(c := system.core(n), TwoPcCore)}


def _outcomes(system: System) -> set[bool]:
    return {v for c in _cores(system).values() if c.participant is not None
            for v in c.participant.outcomes.values()}


def _committed(system: System) -> bool:
    return True in _outcomes(system)


def _aborted(system: System) -> bool:
    return False in _outcomes(system)


def _somebody_in_doubt(system: System) -> bool:
    return not _nobody_in_doubt(system)


def _nobody_in_doubt(system: System) -> bool:
    """Every participant that is up knows the outcome (or never voted)."""
    return all(not c.participant.in_doubt() for c in _cores(system).values()
               if c.participant is not None)


def _armed(system: System, n: str) -> bool:
    """A node's timer serves something only while it waits: a coordinator for votes or
    acks, a participant for its locks or the outcome."""
    core = system.core(n)
    assert isinstance(core, TwoPcCore)
    if core.coordinator is not None and core.coordinator.txns:
        return True
    return core.participant is not None and bool(core.participant.txns)


LEARNS = "an uncertain participant learns the outcome"


SHARDS3 = ("n2", "n3", "n4")
TXN3 = Transact(tuple(MicroOp("w", next(f"k{i}" for i in range(100)
                                        if shard_of(f"k{i}", SHARDS3) == s), 1)
                      for s in SHARDS3))


def _model(name: str, size: str, restarts: bool, crash_only: tuple[str, ...] | None,
           shards: int = 2) -> ExploreAdapter:
    full = size == "full"
    return ExploreAdapter(
        name, SPEC, nodes=shards + 1, options=OPTIONS,
        bounds=Bounds(depth=60, ticks=2 if full else 1, crashes=1, drops=1 if full else 0,
                      duplicates=0, timeouts=False, restarts=restarts, in_flight=6,
                      # the coordinator's forced writes are moves: a crash can fall
                      # between a decision's write and its messages
                      persist_moves=True, persist_moves_at=("n1",),
                      crash_in_writes=not full),
        commands=(TXN if shards == 2 else TXN3,), targets=(("n1",),),
        properties=(Sometimes("the transaction commits", _committed),
                    Sometimes("the transaction aborts", _aborted),
                    *((Eventually(LEARNS, _nobody_in_doubt, after=_somebody_in_doubt),)
                      if not restarts else ())),
        symmetric=False, ignore=IGNORE, sim=ADAPTER,
        within=_within(crash_only),
        armed=_armed,
        expect_violation=None if restarts else LEARNS,
        summary=f"2PC: a coordinator and {shards} participants, one crash "
                f"({'with' if restarts else 'without'} recovery)")


def _within(crash_only: tuple[str, ...] | None) -> Callable[[System], bool] | None:
    """Only the nodes of ``crash_only`` crash (None: any)."""
    if crash_only is None:
        return None

    def within(system: System) -> bool:
        return all(system.nodes[n].up for n in system.ids if n not in crash_only)
    return within


def atomic(size: str = "small") -> ExploreAdapter:
    """"small": the coordinator alone crashes, each timer fires once, nothing is lost;
    "full": any node crashes, timers fire twice, one message may be lost."""
    return _model("atomic", size, True, None if size == "full" else ("n1",))


def three_shards(size: str = "small") -> ExploreAdapter:
    """``atomic`` with a coordinator and three participants (the issue's size): the
    coordinator crashes once, in any of its writes, and restarts."""
    return _model("three-shards", size, True, ("n1",), shards=3)


def blocking(size: str = "small") -> ExploreAdapter:
    return _model("blocking", size, False, ("n1",))


# ====================================================================== 3PC
THREE = {**OPTIONS, "commit_protocol": "3pc", "termination_ticks": 1}


def _coordinator_down(system: System) -> bool:
    return not system.nodes[NodeId("n1")].up


def _quiet(system: System) -> bool:
    """No message in flight: every timeout waits for what was sent (synchrony)."""
    return not system.network


def _armed_3pc(synchronous: bool) -> Callable[[System, str], bool]:
    def armed(system: System, n: str) -> bool:
        if not _armed(system, n):
            return False
        if n == "n1":  # the coordinator's votes and acks come before its timeouts
            return _quiet(system)
        # a perfect failure detector: a participant suspects only a crashed coordinator
        return _coordinator_down(system) and (not synchronous or _quiet(system))
    return armed


def _three(name: str, synchronous: bool) -> ExploreAdapter:
    return ExploreAdapter(
        name, SPEC, nodes=3, options=THREE,
        bounds=Bounds(depth=40, ticks=2, crashes=1, drops=0, duplicates=0, timeouts=False,
                      restarts=False, in_flight=6, persist_moves=True,
                      persist_moves_at=("n1",)),
        commands=(TXN,), targets=(("n1",),),
        properties=(Sometimes("the transaction commits", _committed),
                    Sometimes("the transaction aborts", _aborted),
                    Eventually(LEARNS, _nobody_in_doubt, after=_somebody_in_doubt)),
        symmetric=False, ignore=IGNORE, sim=ADAPTER,
        within=_within(("n1",)), armed=_armed_3pc(synchronous),
        expect_violation=None if synchronous else "sim:Atomicity",
        summary=f"3PC: a coordinator and two participants, the coordinator crashes for "
                f"good; the participants' messages "
                f"{'arrive before any timeout' if synchronous else 'may be late'}")


def nonblocking(size: str = "small") -> ExploreAdapter:
    return _three("nonblocking", synchronous=True)


def split(size: str = "small") -> ExploreAdapter:
    return _three("split", synchronous=False)


MODELS = {"atomic": atomic, "three-shards": three_shards, "blocking": blocking,
          "nonblocking": nonblocking, "split": split}
