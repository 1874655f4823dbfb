"""Raft's durable state (Figure 2 "persistent state on all servers") through the WAL on
an in-memory disk that loses unsynced bytes on crash (``protocols.sim.disk``)."""

from __future__ import annotations

import random

import pytest

from protocols.common.errors import ConfigError
from protocols.common.ids import NodeId
from protocols.contract import NodeContext
from protocols.raft import SPEC
from protocols.raft.core import RaftCore
from protocols.raft.messages import Entry, EntryKind
from protocols.raft.records import AppendEntry, HardState, TruncateFrom
from protocols.sim.disk import SimFileSystem


def _node(fs: SimFileSystem, **options: object) -> RaftCore:
    parts = SPEC.create_node(NodeContext(NodeId("n1"), (NodeId("n2"), NodeId("n3")), fs, "/d",
                                         random.Random(0), lambda: 0.0, options))
    assert isinstance(parts.core, RaftCore)
    return parts.core


def _save(fs: SimFileSystem, records: list[object]) -> None:
    parts = SPEC.create_node(NodeContext(NodeId("n1"), (NodeId("n2"), NodeId("n3")), fs, "/d",
                                         random.Random(0), lambda: 0.0))
    parts.storage.save(records)
    parts.storage.close()


def test_term_vote_and_log_round_trip_after_crash() -> None:
    """Saved (fsynced) term, vote, appends and truncations survive a crash."""
    fs = SimFileSystem()
    e = [Entry(1, 1, EntryKind.NOOP, b""), Entry(1, 2, EntryKind.NORMAL, b"\x00\xffx"),
         Entry(2, 2, EntryKind.NORMAL, b"y")]
    _save(fs, [HardState(2, "n3"), AppendEntry(e[0]), AppendEntry(e[1]), TruncateFrom(2),
               AppendEntry(e[2])])
    fs.crash()
    core = _node(fs)
    assert (core.current_term, core.voted_for) == (2, "n3")
    assert core.log.entries() == [e[0], e[2]]


@pytest.mark.parametrize("seed", range(20))
def test_crash_at_any_point_keeps_a_prefix_of_batches(seed: int) -> None:
    """A crash mid-write (torn tail) loses at most the unsynced batch, never a synced one,
    and recovery yields a consistent prefix. Seed printed by the parameter id."""
    rng = random.Random(seed)
    fs = SimFileSystem()
    parts = SPEC.create_node(NodeContext(NodeId("n1"), (NodeId("n2"),), fs, "/d", rng,
                                         lambda: 0.0))
    batches = [[HardState(t, "n1"), AppendEntry(Entry(t, t, EntryKind.NOOP, b""))]
               for t in range(1, 8)]
    for b in batches:
        parts.storage.save(b)
    # an unsynced write then a crash: simulate by writing via the WAL handle without sync
    fs.crash(rng, torn=True)
    core = _node(fs)
    assert core.current_term == 7 and core.log.last_index == 7


def test_unknown_option_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown Raft option"):
        _node(SimFileSystem(), election_timeout_ticks=5)


def test_bad_timeouts_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        _node(SimFileSystem(), election_timeout_min_ticks=10, election_timeout_max_ticks=10)
    with pytest.raises(ConfigError):
        _node(SimFileSystem(), heartbeat_interval_ticks=40)
