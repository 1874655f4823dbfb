"""The CockroachDB-style store's rules (issue #36): leases, the timestamp cache, latches,
the uncertainty bound on clocks, transaction records, parallel commits and status
recovery (CockroachDB's architecture docs; RFC "Parallel Commits" and its TLA+ model).
The table is docs/txnkv-rules.md."""

from __future__ import annotations

from mutations import Mutation

REPLICA = "src/protocols/txnkv/replica.py"
COORD = "src/protocols/txnkv/coordinator.py"
CORE = "src/protocols/txnkv/core.py"
RANGES = "src/protocols/txnkv/ranges.py"

UNIT = ("tests/txnkv/unit/test_replica_rules.py", "tests/txnkv/unit/test_split.py")
SIMS = ("tests/txnkv/sim/test_coordinator_crash.py", "tests/txnkv/sim/test_clock_skew.py",
        "tests/txnkv/sim/test_txnkv_sim.py")
ALL = (*UNIT, *SIMS)

MUTATIONS = [
    Mutation("txnkv-recovery-queries-writes", "RFC Parallel Commits: a recovery commits a "
             "STAGING record only once it found every in-flight write (else prevents one "
             "and aborts)", COORD, "        self._prevent(record, decided, failed)\n",
             "        decided(True)\n", ALL),
    Mutation("txnkv-coordinator-prevents-before-aborting", "TLA+ model: the coordinator "
             "aborts its own STAGING record only once a write can never land (it resolves "
             "its attempt's status as a recovery does)", COORD,
             "            self._prevent(staged, lambda commit: self._end(txn, commit, final),\n"
             "                          lambda: final(None))",
             "            self._end(txn, False, final)", ALL),
    Mutation("txnkv-replay-stays", "a replayed write (its reply lost) does not move its "
             "intent: it may already count for an implicit commit", REPLICA,
             "            if intent.txn.seq >= op.seq:", "            if False:", ALL),
    Mutation("txnkv-lease-no-overlap", "a new holder's lease starts after the old one "
             "expires", REPLICA, "        elif new.start <= old.expiration:",
             "        elif False:", ALL),
    Mutation("txnkv-lease-sequence-at-apply", "a batch evaluated under a lease no longer "
             "in force applies nothing", REPLICA,
             "        if command.lease_sequence != self.lease.sequence:",
             "        if False:", ALL),
    Mutation("txnkv-lease-stasis", "a lease stops serving max_offset before it expires",
             REPLICA, "lease.expiration.wall - self.settings.max_offset_ms,",
             "lease.expiration.wall,", ALL),
    Mutation("txnkv-new-lease-low-water", "a lease acquired here starts its timestamp "
             "cache at the lease's start (above every read the old holder served)",
             REPLICA, "TimestampCache(low_water=lease.start, max_entries=4096)",
             "TimestampCache(low_water=None, max_entries=4096)", ALL),
    Mutation("txnkv-restart-low-water", "a lease found on starting starts its cache at "
             "its expiration (reads served before the crash are unknown)", REPLICA,
             "TimestampCache(low_water=lease.expiration, max_entries=4096)",
             "TimestampCache(low_water=None, max_entries=4096)", ALL),
    Mutation("txnkv-reads-recorded", "a served read is recorded in the timestamp cache",
             REPLICA, "        tscache.add(op.key, h.read_ts, h.txn.id if h.txn else None)",
             "        pass", ALL),
    Mutation("txnkv-write-pushed", "a write below a served read is pushed above it",
             REPLICA, "ts = self._timestamp_cache().pushed_ts(op.key, txn.write_ts, txn.id)",
             "ts = txn.write_ts", ALL),
    Mutation("txnkv-too-old", "a write over a version newer than its transaction's reads "
             "is too old (a lost update): the attempt restarts", REPLICA,
             "too_old = bool(versions) and versions[0].ts > h.read_ts", "too_old = False",
             ALL),
    Mutation("txnkv-prevent-raises-cache", "a query that finds nothing prevents the write: "
             "the key's timestamp cache is raised to the record's timestamp", REPLICA,
             "        self._timestamp_cache().add(op.write.key, op.ts, None)",
             "        pass", ALL),
    Mutation("txnkv-latches", "a batch waits while another touching its keys is in Raft",
             REPLICA,
             "if waiting.keys & blocked or any(self.latched[k] for k in waiting.keys):",
             "if False:", ALL),
    Mutation("txnkv-clock-bound", "a message from a clock further ahead than max_offset "
             "is refused (ClockOffsetError)", CORE,
             "                if not self._observe(msg.header.now):",
             "                if False:", ALL),
    Mutation("txnkv-aborted-stays-aborted", "an ABORTED record refuses to be staged or "
             "committed (a pusher's abort wins)", REPLICA,
             '            raise _Refused(Err("txn-aborted", f"{op.txn_id} was aborted", '
             'record=current))', "            return current", ALL),
    Mutation("txnkv-push-only-abandoned", "a push aborts a transaction without a record "
             "only once it has been silent for the TTL", REPLICA,
             "            if now.wall - pushee.write_ts.wall > ttl:",
             "            if True:", ALL),
    Mutation("txnkv-push-only-expired", "a push aborts a PENDING record only once it "
             "expired (no heartbeat for the TTL)", REPLICA,
             "if current.status is TxnStatus.PENDING and rec.expired(current, now, ttl):",
             "if current.status is TxnStatus.PENDING:", ALL),
    Mutation("txnkv-serializable-restarts", "serializable: an attempt pushed above its "
             "reads restarts (snapshot isolation commits higher: write skew)", COORD,
             '            if self.settings.isolation == "serializable":',
             "            if False:", ALL),
    Mutation("txnkv-ack-only-unpushed", "parallel commits: the client hears 'committed' "
             "only when every write landed at or below the STAGING record's timestamp",
             COORD, "        if top > a.write_ts:", "        if False:", ALL),
    Mutation("txnkv-txn-timeout", "no attempt starts, and nothing is written, once the "
             "client's time is up", COORD,
             "        if self.now().wall - txn.submitted_ms <= self.settings.txn_timeout_ms:",
             "        if True:", ALL),
    Mutation("txnkv-stale-copy-discarded", "an intent above its committed record (a write "
             "resent after its transaction committed) is discarded on resolution, not "
             "committed above its commit", REPLICA,
             "            status = TxnStatus.ABORTED\n", "            pass\n", ALL),
    Mutation("txnkv-blind-write-pushes", "an attempt stopped by another's intent pushes it "
             "before the next attempt (a blind write reads nothing)", COORD,
             "            if conflicts:\n                self._on_conflict(txn, conflicts, "
             "restart)\n            else:\n                self._later(",
             "            if False:\n                self._on_conflict(txn, conflicts, "
             "restart)\n            else:\n                self._later(", ALL),
    Mutation("txnkv-commit-let-go", "a coordinator that cannot make its commit explicit "
             "stops heartbeating, so a reader recovers the record", COORD,
             "                else:  # left to a recovery: stop keeping the record alive\n"
             "                    a.record_written = False\n"
             "                    self.txns.pop(txn.request_id, None)\n",
             "                else:  # left to a recovery: stop keeping the record alive\n"
             "                    pass\n", ALL),
    Mutation("txnkv-clock-outlier", "a node whose clock is beyond the bound from most of "
             "its peers is the one out of sync", CORE,
             "return far if self.peers and 2 * len(far) > len(self.peers) else []",
             "return []", ALL),
    Mutation("txnkv-outlier-serves-nothing", "a node out of sync serves no range", REPLICA,
             "        return (not self.out_of_sync() and raft.role is Role.LEADER",
             "        return (raft.role is Role.LEADER", ALL),
    Mutation("txnkv-outlier-hands-over", "a node out of sync hands its ranges' Raft "
             "leadership over (else no one else can take the lease)", CORE,
             "            if suspect and replica.raft.role is Role.LEADER:",
             "            if False:", ALL),
    Mutation("txnkv-outlier-refuses-transactions", "a node out of sync refuses "
             "transactions", CORE, "        far = self.clock_suspect()\n        if far:",
             "        far = self.clock_suspect()\n        if False:", ALL),
    # range splits (CockroachDB's split trigger)
    Mutation("txnkv-split-recheck-at-evaluation", "a batch that waited while its range "
             "split is checked again when evaluated (else it reads keys no longer there)",
             REPLICA, "        outside = self._outside(waiting.request)  # a split applied "
             "while it waited\n        if outside is not None:",
             "        outside = self._outside(waiting.request)  # a split applied while it "
             "waited\n        if False:", ALL),
    Mutation("txnkv-split-check-at-apply", "a batch evaluated before a split and applied "
             "after it applies nothing if it touches what moved", REPLICA,
             "        if outside:  # evaluated before a split", "        if False:  #", ALL),
    Mutation("txnkv-split-moves-records", "a split moves the records anchored in the new "
             "range with it", REPLICA,
             "                    right.records[txn_id] = self.records.pop(txn_id)",
             "                    pass", ALL),
    Mutation("txnkv-split-copies-tscache", "the new range's leaseholder inherits the reads "
             "served on its keys before the split (else, safe but slow: every write there "
             "is pushed past the lease's expiration)", CORE,
             "            replica.tscache = copy.deepcopy(parent.tscache)\n"
             "            replica.serving_sequence = parent.serving_sequence",
             "            pass", ALL),
    Mutation("txnkv-split-seed", "a new range's seed is written before its log: a restart "
             "finds the range", CORE,
             "        self._ready.persist.append(RangeSeed(rid, machine.snapshot()))",
             "        pass", ALL),
    Mutation("txnkv-split-latest-start", "of the ranges whose span holds a key, the "
             "latest-starting one holds it (a stale wide descriptor loses)", RANGES,
             "        if r.contains(key) and (best is None or r.start > best.start):",
             "        if r.contains(key) and best is None:", ALL),
    Mutation("txnkv-split-learn-on-mismatch", "a coordinator told of a split learns the "
             "new descriptors and routes again", COORD,
             "                self.learn(resp.error.descriptors)  # the range split: route "
             "again", "                pass", ALL),
]
