"""SWIM's durable self record: a restart resumes above it; a damaged file is refused and
left untouched; the log stays small."""

from __future__ import annotations

import pytest

from protocols.common.errors import StorageError
from protocols.common.fs import OsFileSystem
from protocols.common.latest import COMPACT_AFTER
from protocols.common.wal import WriteAheadLog
from protocols.swim import SPEC
from protocols.swim.commands import Incr, SetMeta
from protocols.swim.core import SelfRecord, SwimCore
from protocols.swim.messages import Entry
from protocols.swim.storage import SwimStorage
from tests.swim.harness import make


def test_a_restart_resumes_above_its_durable_incarnation_and_keeps_its_entry(tmp_path) -> None:
    fs = OsFileSystem()
    s = SwimStorage(fs, str(tmp_path), "n1")
    assert s.recovered is None
    c = make(recovered=s.recovered)
    c.submit(1, Incr(7))
    c.submit(2, SetMeta("dc", "eu"))
    s.save(c.ready().persist)
    s.close()
    again = SwimStorage(fs, str(tmp_path), "n1")
    assert again.recovered == SelfRecord(0, Entry("n1", 2, 0, {"dc": "eu"}, 7, 0), 0)
    c2 = make(recovered=again.recovered)
    assert (c2.incarnation, c2.entry.version, c2.counter()) == (1, 3, 7)


def test_the_log_is_compacted_to_its_last_record(tmp_path) -> None:
    fs = OsFileSystem()
    s = SwimStorage(fs, str(tmp_path), "n1")
    c = make()
    for i in range(COMPACT_AFTER + 5):
        c.submit(i, Incr(1))
        s.save(c.ready().persist)
    s.close()
    _, records = WriteAheadLog.open(fs, f"{tmp_path}/swim.wal")
    assert len(records) < 10
    assert SwimStorage(fs, str(tmp_path), "n1").recovered.entry.p == COMPACT_AFTER + 5


def test_a_record_that_is_not_swims_is_refused_and_the_file_left_alone(tmp_path) -> None:
    fs = OsFileSystem()
    wal, _ = WriteAheadLog.open(fs, f"{tmp_path}/swim.wal")
    wal.append([b'{"not": "a self record"}'])
    wal.close()
    before = (tmp_path / "swim.wal").read_bytes()
    with pytest.raises(StorageError, match="not a SWIM self record"):
        SwimStorage(fs, str(tmp_path), "n1")
    assert (tmp_path / "swim.wal").read_bytes() == before


def test_the_spec_builds_a_node_from_its_data_dir(tmp_path) -> None:
    import random

    from protocols.common.ids import NodeId
    from protocols.contract import NodeContext
    ctx = NodeContext(NodeId("n1"), (NodeId("n2"), NodeId("n3")), OsFileSystem(),
                      str(tmp_path), random.Random(1), lambda: 0.0, {}, 0.01, "h:1",
                      {NodeId("n2"): "h:2", NodeId("n3"): "h:3"})
    parts = SPEC.create_node(ctx)
    assert isinstance(parts.core, SwimCore)
    assert parts.core.seeds == (("n2", "h:2"), ("n3", "h:3"))
    assert parts.core.members["n1"].address == "h:1", "it advertises where it listens"
