"""Last-write-wins (DeCandia et al., SOSP 2007, §4.4; Cassandra): two registers merge by
keeping the larger (timestamp, writer), so every replica keeps the same one whatever
order it merged them in."""

from __future__ import annotations

from protocols.dynamo.lww import LwwRegister


def test_the_later_timestamp_wins_either_way() -> None:
    old, new = LwwRegister(1, "n2~00000002", "old"), LwwRegister(2, "n1~00000001", "new")
    assert old.sync(new) == new.sync(old) == new


def test_equal_timestamps_are_ordered_by_writer_so_replicas_agree() -> None:
    a, b = LwwRegister(5, "n1~00000001", "a"), LwwRegister(5, "n2~00000002", "b")
    assert a.sync(b) == b.sync(a) == b
