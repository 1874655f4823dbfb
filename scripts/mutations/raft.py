"""Raft's rules (Figure 2 and the thesis extensions the README claims): the table is
docs/raft-rules.md."""

from __future__ import annotations

from mutations import Mutation

CORE = "src/protocols/raft/core.py"
PAPER = ("tests/raft/paper", "tests/raft/unit")
EXPLORE = "tests/explore/test_raft_model.py"  # the explorer finds it (protocols.raft.explore)


def _m(name: str, rule: str, path: str, old: str, new: str,
       tests: tuple[str, ...] = PAPER) -> Mutation:
    return Mutation(name, rule, path, old, new, tests)

MUTATIONS = [
    _m("term-update", "§5.1: a larger term turns a server into a follower of it",
             CORE, "            self.current_term, self.voted_for = term, None\n",
             "            pass\n", (*PAPER, EXPLORE)),
    _m("vote-stale-term", "RequestVote 1: reply false if term < currentTerm",
             CORE, "        if m.term < self.current_term:  # 1. reply false if term < "
             "currentTerm\n"
             "            return RequestVoteReply(self.current_term, False, m.pre_vote)\n",
             ""),
    _m("vote-once", "RequestVote 2: grant only if votedFor is null or candidateId",
             CORE, "granted = up_to_date and self.voted_for in (None, m.candidate_id)",
             "granted = up_to_date", (*PAPER, EXPLORE)),
    _m("election-restriction", "§5.4.1: vote only for an up-to-date log",
             CORE, "up_to_date = self.log.is_up_to_date(m.last_log_index, m.last_log_term)",
             "up_to_date = True"),
    _m("persist-vote", "Figure 2: votedFor is persistent (saved before replying)",
             CORE, "            self._persist_hard_state()  # persisted before the reply leaves\n",
             ""),
    _m("append-stale-term", "AppendEntries 1: reply false if term < currentTerm",
             CORE, "        if m.term < self.current_term:  # 1. reply false if term < "
             "currentTerm\n"
             "            return AppendEntriesReply(self.current_term, False)\n", ""),
    _m("consistency-check", "AppendEntries 2: reject if prevLogTerm does not match",
             CORE, "        if prev_term != m.prev_log_term:", "        if False:"),
    _m("delete-conflicts", "AppendEntries 3: delete a conflicting entry and all after",
             CORE, "                if self.log.term_at(entry.index) == entry.term:\n"
             "                    continue\n",
             "                continue\n"),
    _m("commit-min", "AppendEntries 5: commitIndex = min(leaderCommit, last new entry)",
             CORE, "min(m.leader_commit, match)", "m.leader_commit"),
    _m("figure-8", "§5.4.2: commit only entries of the current term by counting",
             CORE, "if n > self.commit_index and self.log.term_at(n) == self.current_term:",
             "if n > self.commit_index:", ("tests/raft/paper", "tests/raft/unit",
                                           "tests/raft/sim/test_parity.py")),
    _m("noop", "§8: a new leader commits a no-op of its term", CORE,
             "        self._append(EntryKind.NOOP, b\"\")\n", ""),
    _m("own-copy-durable", "thesis §10.2.1: the leader's copy counts once on its disk",
             CORE, "match[self.node_id] = min(self.log.last_index, self.durable_index)",
             "match[self.node_id] = self.log.last_index",
             ("tests/raft/paper/test_thesis_extensions.py", "tests/raft/sim/test_async_disk.py")),
    _m("pre-vote", "thesis §9.6: a pre-vote changes nothing", CORE,
             "        if m.pre_vote:  # would we vote? change nothing\n"
             "            return RequestVoteReply(m.term, up_to_date, True)\n", ""),
    _m("check-quorum", "thesis §6.2: a leader without a majority steps down", CORE,
             "        if not quorum.has_quorum(active, self.voters):",
             "        if False:"),
    _m("stickiness", "thesis §4.2.3: ignore votes while a leader is believed alive",
             CORE, "            return RequestVoteReply(self.current_term, False, m.pre_vote)\n"
             "        if m.term < self.current_term:",
             "            pass\n        if m.term < self.current_term:"),
    _m("read-index-confirm", "thesis §6.4: a read waits for a majority's confirmation",
             "src/protocols/raft/reads.py",
             "                rnd.confirmed = confirmed = is_quorum(rnd.acks)",
             "                rnd.confirmed = confirmed = True"),
    _m("read-index-next-round", "thesis §6.4: a read is confirmed by a round sent "
             "after it arrived", "src/protocols/raft/reads.py",
             "        if any(not r.confirmed for r in self.rounds.values()):\n"
             "            self.queued.append(read)\n            return False\n",
             "        for r in self.rounds.values():\n            if not r.confirmed:\n"
             "                r.reads.append(read)\n                return False\n"),
    _m("read-own-term", "thesis §6.4/§8: serve reads once an entry of the term commits",
             CORE, "        if not self.reads.pending or self.log.term_at(self.commit_index) != "
             "self.current_term:", "        if not self.reads.pending:"),
    _m("lease-clock", "thesis §6.4.1: the lease runs on the monotonic clock",
             CORE, "        return lease_holds(starts, self.quorum, self.clock(), lease_s)",
             "        return lease_holds(starts, self.quorum, self.ticks * self.tick_s, lease_s)"),
    _m("lease-timeout-now", "thesis §3.10/§6.4.1: no lease read after TimeoutNow",
             CORE, "or self.timeout_now_term == self.current_term:", ":"),
    _m("lease-restart-quiet", "lease reads: a restarted server waits before voting",
             CORE, "        if self.options.read_mode == \"lease\" and self.ticks < min_ticks:\n"
             "            return True\n", ""),
    _m("transfer-bound", "thesis §3.10: a transfer lasts an election timeout from its "
             "start", CORE, "            self.transfer_elapsed += 1\n",
             "            self.transfer_elapsed = self.options.election_timeout_max_ticks\n"),
    _m("one-change-at-a-time", "thesis §4.1: one membership change in flight", CORE,
             "        if self.config_index > self.commit_index:", "        if False:",
             ("tests/raft/sim/test_membership.py",)),
    _m("learners-do-not-campaign", "thesis §4.2.1: learners never vote or campaign",
             CORE, "            if self.node_id not in self.voters:  # learners and removed",
             "            if False:  # learners and removed",
             ("tests/raft/sim/test_membership.py",)),
    _m("promote-caught-up", "thesis §4.2.1: a learner is promoted once caught up",
             "src/protocols/raft/membership.py", "    if match_index(node) < commit_index:",
             "    if False:", ("tests/raft/sim/test_membership.py",)),
    _m("snapshot-retain", "Figure 13 step 6: keep the entries after the snapshot",
             CORE, "        if index <= self.log.last_index and self.log.term_at(index) == term:",
             "        if False:"),
    _m("sessions-dedup", "thesis §6.3: a retried command applies once",
             "src/protocols/kv/state_machine.py", "        if cmd.seq <= last[0]:",
             "        if False:"),
    _m("sessions-bounded", "thesis §6.3: the session table is bounded",
             "src/protocols/kv/state_machine.py",
             "        while len(self.sessions) > self.max_sessions:",
             "        while False:"),
    _m("size-limits", "issue #19: keys and values are bounded",
             "src/protocols/kv/commands.py", "    if size > limit:", "    if False:"),
    _m("batch-bytes", "etcd MaxSizePerMsg: AppendEntries bounded by bytes", CORE,
             "        entries = self.log.slice(pr.next_index, self.options.max_batch_entries,\n"
             "                                 self.options.max_batch_bytes)",
             "        entries = self.log.slice(pr.next_index, self.options.max_batch_entries)"),
    _m("inflight-bytes", "etcd MaxInflightBytes: bytes in flight bounded", CORE,
             "or pr.inflight_bytes >= self.options.max_inflight_bytes", "or False"),
    _m("transfer-to-self", "thesis §3.10 (etcd): a transfer to the leader itself is done "
             "already", CORE,
             "        if target == self.node_id:  # it leads already: done (etcd ignores it "
             "likewise)\n",
             "        if False:\n", ("tests/raft/paper/test_figure2.py",)),
    _m("heartbeats-aligned", "CockroachDB's coalesced heartbeats: a process's leaders "
             "heartbeat in the same tick", CORE,
             "        self.heartbeat_elapsed = self.ticks % "
             "self.options.heartbeat_interval_ticks\n",
             "        self.heartbeat_elapsed = 0\n",
             ("tests/raft/sim/test_coalesced_heartbeats.py",)),
]
