"""Two-phase commit's rules (Gray 1978; Bernstein, Hadzilacos & Goodman ch. 3 and 7;
Mohan, Lindsay & Obermarck 1986; Rosenkrantz, Stearns & Lewis 1978) and three-phase
commit's (Skeen 1981; BHG §7.5): the table is docs/twopc-rules.md."""

from __future__ import annotations

from mutations import Mutation

TABLE = "src/protocols/twopc/table.py"
PART = "src/protocols/twopc/participant.py"
COORD = "src/protocols/twopc/coordinator.py"
LOCKS = "src/protocols/twopc/locks.py"
SIM = "src/protocols/twopc/sim.py"
STORE = "src/protocols/twopc/storage.py"

UNIT = ("tests/twopc/unit/test_participant.py", "tests/twopc/unit/test_table.py",
        "tests/twopc/unit/test_threepc.py", "tests/twopc/unit/test_storage.py")
SIMS = ("tests/twopc/sim/test_twopc_sim.py", "tests/twopc/sim/test_threepc_sim.py",
        "tests/twopc/sim/test_twopc_workloads.py")
ALL = (*UNIT, *SIMS)

MUTATIONS = [
    Mutation("prepared-before-yes", "BHG §7.3: a participant forces PREPARED (its "
             "after-images) before it votes YES", PART,
             "            out.persist.append(Prepared(t.txn, str(t.coordinator), "
             "t.participants,\n                                        t.work.writes, "
             "reads, t.ts))", "            pass", ALL),
    Mutation("decision-forced", "Gray 1978: the coordinator forces its decision before "
             "phase two or the client's answer", COORD,
             "            out.persist.append(Decided(t.txn, action is Action.FORCE_COMMIT,\n"
             "                                       tuple(sorted(self._told(t)))))",
             "            pass", ALL),
    Mutation("locks-held-while-uncertain", "strict 2PL (BHG ch. 3): a prepared "
             "participant keeps its locks until the outcome", TABLE,
             "_move(State.PREPARED, Action.EXECUTE, Action.FORCE_PREPARED,",
             "_move(State.PREPARED, Action.EXECUTE, Action.RELEASE_LOCKS, "
             "Action.FORCE_PREPARED,", ALL),
    Mutation("uncertain-does-not-guess", "BHG §7.4: a 2PC participant that voted YES may "
             "not decide alone: it asks and waits (blocking)", TABLE,
             "t[p, Event.TIMEOUT] = _move(p, Action.ASK)",
             "t[p, Event.TIMEOUT] = _move(State.ABORTED, Action.LOG_ABORT, "
             "Action.RELEASE_LOCKS)", ALL),
    Mutation("presumption", "Mohan et al. 1986: a coordinator that forgot a transaction "
             "answers its presumption (commit under presumed commit)", TABLE,
             "Action.REPLY_COMMIT if pc else Action.REPLY_ABORT", "Action.REPLY_ABORT",
             ALL),
    Mutation("unilateral-abort-durable", "BHG §7.4: a participant that aborts on a peer's "
             "inquiry before voting writes it first (a restart must not vote YES)", TABLE,
             "t[s, Event.PEER_INQUIRY] = _move(State.ABORTED, Action.LOG_ABORT,",
             "t[s, Event.PEER_INQUIRY] = _move(State.ABORTED,", ALL),
    Mutation("cooperative-termination", "BHG §7.4: an uncertain participant asks its "
             "peers too, not only the coordinator", PART,
             "{str(to_coordinator), *t.participants}", "{str(to_coordinator)}", ALL),
    Mutation("wait-die", "Rosenkrantz et al. 1978: a younger transaction that meets an "
             "older one dies (no deadlock across shards)", LOCKS,
             "            if any(self.ages.get(o, age) < age for o in in_way):",
             "            if False:", ALL),
    Mutation("recovery-relocks", "BHG §7.3: a recovered in-doubt transaction takes its "
             "locks back", PART,
             "            self.locks.take(txn, (p.ts, txn), p.reads, (k for k, _ in "
             "p.writes))", "            pass", ALL),
    Mutation("coordinator-recovers-decisions", "BHG §7.3: a restarted coordinator resends "
             "the decisions its log holds without END", COORD,
             "        for d in recovered.decided.values():", "        for d in ():", ALL),
    # ------------------------------------------------------------------ 3PC (Skeen 1981)
    Mutation("3pc-precommit-before-commit", "Skeen 1981 §4: after every YES the 3PC "
             "coordinator sends PRECOMMIT, and commits only after (nobody commits while "
             "another is uncertain)", TABLE,
             "_move(State.PRECOMMITTED, Action.RECORD_VOTE, Action.SEND_PRECOMMIT)",
             "_move(State.COMMITTED, Action.RECORD_VOTE, *commit)", ALL),
    Mutation("3pc-coordinator-waits-for-precommit-acks", "Skeen 1981 §4: the 3PC "
             "coordinator commits once every YES voter acknowledged PRECOMMIT", TABLE,
             "t[p, Event.PRECOMMIT_ACK] = _move(p, Action.RECORD_ACK)",
             "t[p, Event.PRECOMMIT_ACK] = _move(State.COMMITTED, *commit)", ALL),
    Mutation("3pc-missing-precommit-ack-commits", "Skeen 1981 §4: a PRECOMMIT-ACK missing "
             "at the timeout means a failed site, not a NO: the coordinator commits", TABLE,
             "t[p, Event.TIMEOUT] = _move(State.COMMITTED, *commit)",
             "t[p, Event.TIMEOUT] = _move(State.ABORTED, *abort)", ALL),
    Mutation("3pc-precommitted-forced", "Skeen 1981: a participant forces PRECOMMITTED "
             "before it acknowledges PRECOMMIT", PART,
             "            out.persist.append(PreCommitted(t.txn))", "            pass", ALL),
    Mutation("3pc-does-not-block", "Skeen 1981 §5: a 3PC participant that voted YES and "
             "hears nothing starts the termination protocol (2PC's would ask and wait)",
             TABLE, "t[p, Event.TIMEOUT] = _move(p, Action.ELECT)",
             "t[p, Event.TIMEOUT] = _move(p, Action.ASK)", ALL),
    Mutation("3pc-lowest-is-elected", "termination protocol: only the lowest-named "
             "participant among those heard from decides", PART,
             "        return self.node_id == min({self.node_id, *t.reports})",
             "        return True", ALL),
    Mutation("3pc-all-uncertain-aborts", "Skeen's termination rule (BHG §7.5): all "
             "PREPARED, none PRECOMMITTED: abort (the coordinator cannot have committed)",
             PART, "elif State.ABORTED in states or State.PRECOMMITTED not in states:",
             "elif State.ABORTED in states:", ALL),
    Mutation("3pc-any-precommitted-commits", "Skeen's termination rule (BHG §7.5): any "
             "PRECOMMITTED: every vote was YES, commit", PART,
             "elif State.ABORTED in states or State.PRECOMMITTED not in states:",
             "elif True:", ALL),
    Mutation("3pc-termination-precommits-the-uncertain", "Skeen 1981 §5: the elected "
             "participant PRECOMMITs the uncertain ones before it commits", PART,
             "t.awaiting = {n for n, s in t.reports.items() if s == State.PREPARED}",
             "t.awaiting = set()", ALL),
    Mutation("3pc-recovers-precommitted", "Skeen 1981: a participant recovers PRECOMMITTED "
             "from its log (the termination protocol counts on it)", PART,
             "State.PRECOMMITTED if doubt.precommitted else State.PREPARED",
             "State.PREPARED", ALL),
    Mutation("3pc-no-read-only-vote", "3PC has no read-only vote: a voter that forgot "
             "the transaction would report it aborted to the termination protocol", COORD,
             "        if reading and not self.mode.three_phase:", "        if reading:", ALL),
    Mutation("read-only-after-lock-point", "BHG §3.2 and §7.5: a read-only participant "
             "releases its locks at its vote only when asked last, once every other holds "
             "its locks (the lock point)", COORD,
             "            for p in t.voters:\n                self._send(p, Prepare(t.txn, "
             "t.work[p], t.voters, ts=t.ts))",
             "            for p in t.participants:\n                self._send(p, Prepare("
             "t.txn, t.work[p], t.voters, ts=t.ts, read_only=True))", ALL),
    Mutation("read-only-voter-not-asked", "BHG §7.4: the cooperative termination protocol "
             "asks only the participants that voted: one that left phase two would answer "
             "'aborted'", COORD,
             "                self._send(p, Prepare(t.txn, t.work[p], t.voters, ts=t.ts))",
             "                self._send(p, Prepare(t.txn, t.work[p], t.participants, "
             "ts=t.ts))", ALL),
    Mutation("decided-names-the-told", "BHG §7.3: the decision record names who must hear "
             "it (not a read-only voter, which never acknowledges)", COORD,
             "                                       tuple(sorted(self._told(t)))))",
             "                                       t.participants))", ALL),
    Mutation("outcomes-survive-compaction", "BHG §7.4: a participant keeps the outcomes it "
             "reached (a peer may ask; no record would mean 'never voted': abort)", STORE,
             "                                                     "
             "tuple(sorted(s.finished.items())))]",
             "                                                     ())]", ALL),
    Mutation("atomicity-checked", "the simulator's invariant: no transaction committed at "
             "one participant and aborted at another", SIM,
             "                if len(set(seen.values())) > 1:", "                if False:",
             ALL),
]
