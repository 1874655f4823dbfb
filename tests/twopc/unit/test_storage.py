"""2PC's log on a real disk: what a restart recovers, and what compaction keeps."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocols.common.fs import OsFileSystem
from protocols.common.ids import NodeId
from protocols.common.wal import SyncPolicy
from protocols.contract import Ready
from protocols.twopc import storage
from protocols.twopc.messages import Inquiry, Outcome
from protocols.twopc.participant import Participant
from protocols.twopc.storage import Committed, Prepared, TwoPcStorage
from protocols.twopc.table import Mode


def test_a_participant_remembers_its_outcomes_across_compaction_and_a_restart(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A peer may ask about a transaction long after this participant committed it
    (cooperative termination): one that lost the outcome would have no record, and a
    participant with no record of a transaction answers "aborted" (it never voted)."""
    monkeypatch.setattr(storage, "COMPACT_AFTER", 10)
    fs = OsFileSystem()
    s = TwoPcStorage(fs, str(tmp_path), SyncPolicy.ALWAYS)
    s.save([Prepared("n1.1.1", "n1", ("n2", "n3"), (("x", 1),)), Committed("n1.1.1")])
    for i in range(2, 20):  # enough to compact (more than once)
        s.save([Prepared(f"n1.1.{i}", "n1", ("n2", "n3"), (("y", i),)),
                Committed(f"n1.1.{i}")])
    assert s.records < 10
    s.close()
    again = TwoPcStorage(fs, str(tmp_path), SyncPolicy.ALWAYS)
    assert again.recovered.finished["n1.1.1"] is True
    assert again.recovered.data == {"x": 1, "y": 19}
    ready = Ready()
    p = Participant(NodeId("n2"), Mode(), again.recovered, lambda: ready, 5, 5)
    p.on_inquiry(NodeId("n3"), Inquiry("n1.1.1"))
    (answer,) = [e.msg for e in ready.messages]
    assert answer == Outcome("n1.1.1", "committed") and not ready.persist
    again.close()
