"""The rules of the Synod ("Paxos Made Simple", Lamport 2001) and of Multi-Paxos ("Paxos
Made Moderately Complex", van Renesse & Altinbuken 2015, and what makes it usable): the
table is docs/paxos-rules.md."""

from __future__ import annotations

from mutations import Mutation

CORE = "src/protocols/paxos/core.py"
SYNOD = "src/protocols/paxos/synod.py"
ACCEPTOR = "src/protocols/paxos/acceptor.py"
LEADER = "src/protocols/paxos/leader.py"
STORAGE = "src/protocols/paxos/storage.py"
CHECK = "src/protocols/check/paxos.py"

PAPER = ("tests/paxos/paper/test_synod.py",)
EXPLORE = "tests/explore/test_paxos_model.py"  # the explorer finds it (synod-highest-value,
# round-durable)
UNIT = ("tests/paxos/unit",)
SCHEDULES = ("tests/paxos/unit/test_schedules.py",)
PMMC = ("tests/paxos/unit", "tests/paxos/paper/test_pmmc.py")
LEASE = ("tests/paxos/unit", "tests/paxos/sim/test_lease.py")
CHECKS = ("tests/check/test_paxos_safety.py", "tests/paxos/paper")

MUTATIONS = [
    # ------------------------------------------------------------------ the Synod
    Mutation("synod-promise", "PMS §2.2 phase 1b: promise only a number above every promise",
             SYNOD, "        if m.ballot > self.promised:", "        if True:", PAPER),
    Mutation("synod-accept", "PMS §2.2 phase 2b: accept unless a higher number was promised",
             SYNOD, "        if m.ballot >= self.promised:", "        if True:", PAPER),
    Mutation("synod-highest-value", "PMS §2.2 phase 2a: propose the highest-numbered "
             "accepted value", SYNOD,
             "            value = p.best[1] if p.best[0] > BOTTOM else p.value",
             "            value = p.value", (*PAPER, EXPLORE)),
    Mutation("synod-promise-majority", "PMS §2.2: phase 2a needs a majority of promises",
             SYNOD, "        if len(p.promises) >= self.majority:",
             "        if len(p.promises) >= 1:", PAPER),
    Mutation("synod-accept-majority", "PMS §2.2: chosen once a majority accepted", SYNOD,
             "        if len(p.accepts) >= self.majority:", "        if len(p.accepts) >= 1:",
             PAPER),
    Mutation("synod-stable-storage", "PMS §2.3: the acceptor's state is on disk before it "
             "answers", SYNOD,
             "        if changed:  # persisted before the reply leaves (the pump holds it)\n"
             "            self._persist()\n",
             "        if False:\n            self._persist()\n", PAPER),
    Mutation("synod-round-durable", "PMS §2.2: a proposer never issues one number twice "
             "(its round is on disk first)", SYNOD,
             "        p.highest_round += 1\n        self._persist()\n",
             "        p.highest_round += 1\n", PAPER),
    # ------------------------------------------------------------------ the acceptor
    Mutation("p1a-higher-only", "PMMC Acceptor: adopt a ballot only if it is higher",
             ACCEPTOR, "        if m.ballot > self.ballot_number and not refuse:",
             "        if not refuse:", UNIT),
    Mutation("p2a-not-below", "PMMC Acceptor: accept unless a higher ballot was adopted",
             ACCEPTOR, "            if pv.ballot >= self.ballot_number and pv.slot >= "
             "self.decided_upto:", "            if pv.slot >= self.decided_upto:", UNIT),
    Mutation("persist-promise", "PMMC §3: an acceptor's ballot is durable before its P1b",
             CORE, "            self._ready.persist.append(BallotRecord("
             "self.acceptor.ballot_number))\n", "            pass\n", UNIT),
    Mutation("persist-accept", "PMMC §3: an accepted pvalue is durable before its P2b", CORE,
             "            self._ready.persist.append(AcceptRecord(pv))\n",
             "            pass\n", UNIT),
    Mutation("replay-adopts-accepted", "PMMC A2: accepting adopts the ballot, after a "
             "restart too", STORAGE,
             "            a.ballot_number = max(a.ballot_number, ballot)  # accepting adopted it\n",
             "", UNIT),
    # ------------------------------------------------------------------ the leader
    Mutation("pmax", "PMMC Scout/Leader: re-propose the highest-ballot pvalue per slot",
             LEADER, "            if best is None or pv.ballot > best.ballot:",
             "            if True:", PMMC),
    Mutation("phase1-quorum", "PMMC/flexible Paxos: adopted by a phase-1 quorum (q1)", CORE,
             "        self.q1, self.q2 = options.quorums(len(self.nodes))",
             "        self.q1, self.q2 = 1, options.quorums(len(self.nodes))[1]", UNIT),
    Mutation("phase2-quorum", "PMMC/flexible Paxos: decided by a phase-2 quorum (q2)", CORE,
             "            if len(self.nodes) - len(cmd.waitfor) >= self.q2:",
             "            if len(self.nodes) - len(cmd.waitfor) >= 1:", PMMC),
    Mutation("no-op-holes", "PMMC §4: holes up to the highest slot get no-ops", LEADER,
             "            self.proposals.setdefault(slot, NOOP)\n", "            pass\n",
             ("tests/paxos/unit/test_roles.py",)),
    Mutation("fill-handed-out-slots", "issue #31: a leader proposes in every slot its "
             "replica handed out", CORE,
             "self.leader.adopt(scout.ballot, scout.pvalues, first_open, "
             "self.replica.slot_in - 1)",
             "self.leader.adopt(scout.ballot, scout.pvalues, first_open)", SCHEDULES),
    Mutation("gc-first-open", "PMMC §4 GC: propose nothing in slots an acceptor compacted",
             CORE, "        first_open = max(self.replica.slot_out, scout.decided_upto)",
             "        first_open = self.replica.slot_out",
             ("tests/paxos/unit", "tests/paxos/sim/test_multipaxos.py")),
    Mutation("round-durable", "PMS §2.2: a ballot is never reused after a crash (round on "
             "disk before P1a)", CORE,
             "        self._ready.persist.append(RoundRecord(self.max_round))  # before its "
             "P1a leave\n",
             # as before the fix: never written, yet its P2a leave ahead of the write
             "        self.round_durable = self.max_round\n", (*SCHEDULES, EXPLORE)),
    Mutation("own-vote-durable", "thesis §10.2.1: the leader's own vote counts once written",
             CORE, "                self._pending.own_p2b.append((m, self._acceptor_p2a(m)))",
             "                self._on_p2b(self.node_id, m, self._acceptor_p2a(m))", SCHEDULES),
    Mutation("learn-same-ballot", "PMMC L1: a follower learns a decision only from its own "
             "pvalue of that ballot", CORE,
             "            if pv is None or pv.ballot != ballot:", "            if pv is None:",
             ("tests/paxos/unit", "tests/paxos/sim/test_multipaxos.py")),
    Mutation("resend", "PMMC §4: lost phase-1 and phase-2 messages are sent again", CORE,
             "                self._to(n, P2a(waiting, self.replica.slot_out))",
             "                pass", ("tests/paxos/sim/test_multipaxos.py",)),
    Mutation("catch-up", "a lagging replica catches up from the leader", CORE,
             "            self._to(leader, CatchUp(r.slot_out))", "            pass",
             ("tests/paxos/sim/test_multipaxos.py",)),
    Mutation("window", "PMMC Replica: at most WINDOW slots in flight",
             "src/protocols/paxos/replica.py",
             "        if self.slot_in >= self.slot_out + self.window:", "        if False:",
             UNIT),
    # ------------------------------------------------------------------ a stable leader
    Mutation("backoff", "PMMC §4: a preempted leader backs off (no livelock)", CORE,
             "        if self.options.backoff:\n            self._reset_timeout()",
             "        if False:\n            self._reset_timeout()",
             ("tests/paxos/sim/test_multipaxos.py",)),
    Mutation("paxos-stickiness", "acceptors refuse rivals while they hear their leader", CORE,
             "        return (f is not None and ballot.leader_id != f.leader_id\n",
             "        return (False and ballot.leader_id != f.leader_id\n",
             ("tests/paxos/sim/test_stickiness.py", "tests/paxos/unit/test_schedules.py")),
    Mutation("paxos-check-quorum", "a leader that hears no quorum steps down", CORE,
             "        if heard + 1 >= self.q2:\n            return\n",
             "        if True:\n            return\n",
             ("tests/paxos/unit", "tests/paxos/sim")),
    Mutation("late-heartbeat-reply", "issue #31: a reply counts only while leading with its "
             "ballot", CORE, "        if not self._leading_with(request.ballot):\n"
             "            return  # a late answer to a leadership that is over says nothing",
             "        if False:\n            return  # a late answer to a leadership that is "
             "over says nothing", UNIT),
    Mutation("late-p2b", "issue #31: a P2b counts only while leading with its ballot", CORE,
             "        if not self._leading_with(ballot):\n            return  # a late answer "
             "to a leadership that is over\n", "", UNIT),
    # ------------------------------------------------------------------ leases
    Mutation("lease-quorum", "a lease needs n - q1 answers besides the leader's own", CORE,
             "        needed = len(self.nodes) - self.q1  # answers needed besides our own",
             "        needed = 0", LEASE),
    Mutation("lease-floor", "no lease read before what was open at adoption is applied",
             CORE, "self.replica.slot_out <= self.lease_floor:", "False:", LEASE),
    Mutation("lease-send-time", "the lease runs from when the heartbeat was sent", CORE,
             "            self.lease_from[src] = max(self.lease_from.get(src, sent), sent)",
             "            self.lease_from[src] = self.clock()", LEASE),
    # ------------------------------------------------------------------ the checkers
    Mutation("check-agreement", "checker R1: one command decided per slot", CHECK,
             "        if seen != command:\n            raise InvariantViolation(f\"paxos "
             "agreement", "        if False:\n            raise InvariantViolation(f\"paxos "
             "agreement", CHECKS),
    Mutation("check-chosen", "checker: every decision was chosen by a phase-2 quorum", CHECK,
             "        if (slot, command) not in self.chosen_commands:", "        if False:",
             CHECKS),
    Mutation("check-p2c", "checker A5/P2c: no higher pvalue contradicts a choice", CHECK,
             "            if chosen is not None and pv.ballot > chosen[0] and pv.command != "
             "chosen[1]:", "            if False:", CHECKS),
    Mutation("check-a4", "checker A4: one command per ballot and slot", CHECK,
             "            if first != pv.command:", "            if False:", CHECKS),
    Mutation("check-a2", "checker A2: no pvalue above its acceptor's ballot", CHECK,
             "            if pv.ballot > ballot:  # type: ignore[operator]",
             "            if False:", CHECKS),
    Mutation("check-synod", "checker: at most one value chosen by the Synod", CHECK,
             "        if len(self.chosen) > 1:", "        if False:", CHECKS),
    Mutation("check-synod-p2c", "checker PMS P2c: a higher proposal has the chosen value",
             CHECK, "            if ballot > at and value != v:  # type: ignore[operator]",
             "            if False:", CHECKS),
]
