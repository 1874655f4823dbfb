"""A crash in the middle of a broadcast's write (issue #31, bug 1), on cores and a
simulated disk driven by hand.

A broadcast is persisted as one batch, ``[OwnMessage, DeliveredRecord]``. A power cut
during its fsync may keep any prefix of the batch's bytes, and the WAL keeps every
complete record of it: the own message without the record that counts it. Recovery used
to take the sequence number from the ``DeliveredRecord`` alone, so the member numbered
its next (acknowledged) broadcast like the recovered one, which it resends: peers held
the old payload under that number and dropped the new one as a duplicate."""

from __future__ import annotations

from protocols.causal import CausalStorage
from protocols.causal.core import CausalCore, DeliveredRecord, OwnMessage, Send
from protocols.causal.messages import CausalMessage
from protocols.common.ids import NodeId
from protocols.common.wal import SyncPolicy
from protocols.sim.disk import SimFileSystem
from tests.causal.harness import IDS, member, status_of

DATA = "/data/n1"
WAL = f"{DATA}/causal.wal"


def restarted(storage: CausalStorage) -> CausalCore:
    assert storage.recovered is not None
    return member("n1", storage.recovered)


def to_peers(sender: CausalCore, peers: dict[str, CausalCore]) -> None:
    """Hand every broadcast ``sender`` emitted to its destination."""
    for e in sender.ready().messages:
        if isinstance(e.msg, CausalMessage):
            peers[e.dst].on_message(sender.node_id, e.msg)


def torn_run(cut: int) -> tuple[tuple[str, int], dict[str, dict[int, bytes]]]:
    """n1 broadcasts ``first``, then ``A`` whose batch is cut after ``cut`` unsynced bytes
    by a power cut; n1 restarts, its peers' statuses make it resend, and it broadcasts
    ``B`` (acknowledged). Returns B's (origin, seq) and what each peer delivered of n1."""
    fs = SimFileSystem()
    storage = CausalStorage(fs, DATA, SyncPolicy.ALWAYS)
    n1 = member("n1")
    peers = {p: member(p) for p in IDS[1:]}
    n1.submit("first", Send(b"first"))
    out = n1.ready()
    storage.save(out.persist)
    for e in out.messages:
        peers[e.dst].on_message(NodeId("n1"), e.msg)
    n1.submit("A", Send(b"A"))
    batch = n1.ready().persist  # never durable, so never answered and never sent
    assert [type(r) for r in batch] == [OwnMessage, DeliveredRecord]
    with fs.fsyncs_held():
        storage.save(batch)
    fs.crash(keep={WAL: cut})
    storage = CausalStorage(fs, DATA, SyncPolicy.ALWAYS)
    n1 = restarted(storage)
    for p, core in peers.items():
        n1.on_message(NodeId(p), status_of(core))
    to_peers(n1, peers)
    n1.submit("B", Send(b"B"))
    out = n1.ready()
    storage.save(out.persist)
    (answer,) = out.answers
    for e in out.messages:
        peers[e.dst].on_message(NodeId("n1"), e.msg)
    got = {p: {d.seq: d.payload for d in core.log if d.origin == "n1"}
           for p, core in peers.items()}
    origin, seq, _ = answer.result
    return (origin, seq), got


def unsynced_bytes() -> int:
    """How long A's batch is on disk: the cut points to try."""
    fs = SimFileSystem()
    storage = CausalStorage(fs, DATA, SyncPolicy.ALWAYS)
    n1 = member("n1")
    n1.submit(1, Send(b"first"))
    storage.save(n1.ready().persist)
    n1.submit(2, Send(b"A"))
    with fs.fsyncs_held():
        storage.save(n1.ready().persist)
    return len(fs.files[WAL].pending)


def test_a_batch_torn_at_any_byte_never_makes_a_member_reuse_a_number() -> None:
    cuts = unsynced_bytes()
    assert cuts > 40, "the batch holds two records"
    for cut in range(cuts + 1):
        (origin, seq), delivered = torn_run(cut)
        assert origin == "n1"
        for peer, got in delivered.items():
            assert got.get(seq) == b"B", f"cut at byte {cut} of {cuts}: {peer} holds " \
                                         f"{got} of n1, but B was acknowledged as n1#{seq}"
            assert got[1] == b"first" and set(got.values()) <= {b"first", b"A", b"B"}


def test_the_cut_that_keeps_the_own_message_alone() -> None:
    """The issue's schedule exactly: the own message is complete, the record is not."""
    fs = SimFileSystem()
    storage = CausalStorage(fs, DATA, SyncPolicy.ALWAYS)
    n1 = member("n1")
    n1.submit(1, Send(b"first"))
    storage.save(n1.ready().persist)
    n1.submit(2, Send(b"A"))
    batch = n1.ready().persist
    before = len(fs.read(WAL))
    storage.save(batch[:1])
    own_only = len(fs.read(WAL)) - before
    (_, seq), delivered = torn_run(own_only)
    assert seq == 3, "A kept number 2 (it is resent): B must take 3"
    assert all(got == {1: b"first", 2: b"A", 3: b"B"} for got in delivered.values()), delivered


def test_a_receivers_write_cut_anywhere_loses_no_delivery() -> None:
    """n2 delivers n1#1 (a complete write), then n1#2 and n1#3 in a write a power cut
    tears at some byte. Whatever survived, n2 hands up all three at least once, in order,
    across its lives; and the deliveries of the torn write (no record closed them) are
    forgotten, never counted in by a later record."""
    msgs = [CausalMessage("n1", i, {"n1": i}, f"m{i}".encode()) for i in (1, 2, 3)]
    wal = "/data/n2/causal.wal"

    def life_one(fs: SimFileSystem) -> CausalStorage:
        storage = CausalStorage(fs, "/data/n2", SyncPolicy.ALWAYS)
        n2 = member("n2")
        n2.on_message(NodeId("n1"), msgs[0])
        storage.save(n2.ready().persist)
        n2.on_message(NodeId("n1"), msgs[1])
        n2.on_message(NodeId("n1"), msgs[2])
        with fs.fsyncs_held():
            storage.save(n2.ready().persist)
        return storage

    probe = SimFileSystem()
    life_one(probe)
    cuts = len(probe.files[wal].pending)
    for cut in range(cuts + 1):
        fs = SimFileSystem()
        life_one(fs)  # handed up n1#1 only: the second write never returned
        app = ["n1#1"]
        fs.crash(keep={wal: cut})
        storage = CausalStorage(fs, "/data/n2", SyncPolicy.ALWAYS)
        assert storage.recovered is not None
        n2 = member("n2", storage.recovered)
        for m in msgs[1:]:  # n1 resends what n2's status says it lacks
            if m.seq > n2.origins["n1"].prefix:
                n2.on_message(NodeId("n1"), m)
        out = n2.ready()
        storage.save(out.persist)
        app += [f"{d.origin}#{d.seq}" for d in out.applied]
        first_places = list(dict.fromkeys(app))
        assert first_places == ["n1#1", "n1#2", "n1#3"], f"cut {cut} of {cuts}: {app}"
        again = CausalStorage(fs, "/data/n2", SyncPolicy.ALWAYS).recovered
        assert again is not None and again.delivered.prefix["n1"] == 3
        assert [m.seq for m in again.last_write] == [d.seq for d in out.applied], \
            f"cut {cut}: a record closed the torn write's deliveries too"
