"""``scripts/mutate``: remove one rule at a time and prove a test fails.

Each mutation below deletes or breaks one rule of Raft's Figure 2 or of a thesis
extension the README claims. For each, this script copies the working tree to a
temporary directory, applies the mutation there (never to your tree), runs the named
tests, and reports which test caught it — or that none did, which is a hole in the suite.

    scripts/mutate                 every mutation (a few minutes)
    scripts/mutate --list          the mutations and the tests that should catch them
    scripts/mutate vote-once lease-clock      only these

Exit status: 0 if every mutation was caught, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = "src/protocols/raft/core.py"
PAPER = ("tests/raft/paper", "tests/raft/unit")


@dataclass(frozen=True)
class Mutation:
    name: str
    rule: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...] = PAPER


MUTATIONS = [
    Mutation("term-update", "§5.1: a larger term turns a server into a follower of it",
             CORE, "            self.current_term, self.voted_for = term, None\n",
             "            pass\n"),
    Mutation("vote-stale-term", "RequestVote 1: reply false if term < currentTerm",
             CORE, "        if m.term < self.current_term:  # 1. reply false if term < "
             "currentTerm\n"
             "            return RequestVoteReply(self.current_term, False, m.pre_vote)\n",
             ""),
    Mutation("vote-once", "RequestVote 2: grant only if votedFor is null or candidateId",
             CORE, "granted = up_to_date and self.voted_for in (None, m.candidate_id)",
             "granted = up_to_date"),
    Mutation("election-restriction", "§5.4.1: vote only for an up-to-date log",
             CORE, "up_to_date = self.log.is_up_to_date(m.last_log_index, m.last_log_term)",
             "up_to_date = True"),
    Mutation("persist-vote", "Figure 2: votedFor is persistent (saved before replying)",
             CORE, "            self._persist_hard_state()  # persisted before the reply leaves\n",
             ""),
    Mutation("append-stale-term", "AppendEntries 1: reply false if term < currentTerm",
             CORE, "        if m.term < self.current_term:  # 1. reply false if term < "
             "currentTerm\n"
             "            return AppendEntriesReply(self.current_term, False)\n", ""),
    Mutation("consistency-check", "AppendEntries 2: reject if prevLogTerm does not match",
             CORE, "        if prev_term != m.prev_log_term:", "        if False:"),
    Mutation("delete-conflicts", "AppendEntries 3: delete a conflicting entry and all after",
             CORE, "                if self.log.term_at(entry.index) == entry.term:\n"
             "                    continue\n",
             "                continue\n"),
    Mutation("commit-min", "AppendEntries 5: commitIndex = min(leaderCommit, last new entry)",
             CORE, "min(m.leader_commit, match)", "m.leader_commit"),
    Mutation("figure-8", "§5.4.2: commit only entries of the current term by counting",
             CORE, "if n > self.commit_index and self.log.term_at(n) == self.current_term:",
             "if n > self.commit_index:", ("tests/raft/paper", "tests/raft/unit",
                                           "tests/raft/sim/test_parity.py")),
    Mutation("noop", "§8: a new leader commits a no-op of its term", CORE,
             "        self._append(EntryKind.NOOP, b\"\")\n", ""),
    Mutation("own-copy-durable", "thesis §10.2.1: the leader's copy counts once on its disk",
             CORE, "match[self.node_id] = min(self.log.last_index, self.durable_index)",
             "match[self.node_id] = self.log.last_index",
             ("tests/raft/paper/test_thesis_extensions.py", "tests/raft/sim/test_async_disk.py")),
    Mutation("pre-vote", "thesis §9.6: a pre-vote changes nothing", CORE,
             "        if m.pre_vote:  # would we vote? change nothing\n"
             "            return RequestVoteReply(m.term, up_to_date, True)\n", ""),
    Mutation("check-quorum", "thesis §6.2: a leader without a majority steps down", CORE,
             "        if not quorum.has_quorum(active, self.voters):",
             "        if False:"),
    Mutation("stickiness", "thesis §4.2.3: ignore votes while a leader is believed alive",
             CORE, "            return RequestVoteReply(self.current_term, False, m.pre_vote)\n"
             "        if m.term < self.current_term:",
             "            pass\n        if m.term < self.current_term:"),
    Mutation("read-index-confirm", "thesis §6.4: a read waits for a majority's confirmation",
             "src/protocols/raft/reads.py",
             "                rnd.confirmed = confirmed = is_quorum(rnd.acks)",
             "                rnd.confirmed = confirmed = True"),
    Mutation("read-index-next-round", "thesis §6.4: a read is confirmed by a round sent "
             "after it arrived", "src/protocols/raft/reads.py",
             "        if any(not r.confirmed for r in self.rounds.values()):\n"
             "            self.queued.append(read)\n            return False\n",
             "        for r in self.rounds.values():\n            if not r.confirmed:\n"
             "                r.reads.append(read)\n                return False\n"),
    Mutation("read-own-term", "thesis §6.4/§8: serve reads once an entry of the term commits",
             CORE, "        if not self.reads.pending or self.log.term_at(self.commit_index) != "
             "self.current_term:", "        if not self.reads.pending:"),
    Mutation("lease-clock", "thesis §6.4.1: the lease runs on the monotonic clock",
             CORE, "        return lease_holds(starts, self.quorum, self.clock(), lease_s)",
             "        return lease_holds(starts, self.quorum, self.ticks * self.tick_s, lease_s)"),
    Mutation("lease-timeout-now", "thesis §3.10/§6.4.1: no lease read after TimeoutNow",
             CORE, "or self.timeout_now_term == self.current_term:", ":"),
    Mutation("lease-restart-quiet", "lease reads: a restarted server waits before voting",
             CORE, "        if self.options.read_mode == \"lease\" and self.ticks < min_ticks:\n"
             "            return True\n", ""),
    Mutation("transfer-bound", "thesis §3.10: a transfer lasts an election timeout from its "
             "start", CORE, "            self.transfer_elapsed += 1\n",
             "            self.transfer_elapsed = self.options.election_timeout_max_ticks\n"),
    Mutation("one-change-at-a-time", "thesis §4.1: one membership change in flight", CORE,
             "        if self.config_index > self.commit_index:", "        if False:",
             ("tests/raft/sim/test_membership.py",)),
    Mutation("learners-do-not-campaign", "thesis §4.2.1: learners never vote or campaign",
             CORE, "            if self.node_id not in self.voters:  # learners and removed",
             "            if False:  # learners and removed",
             ("tests/raft/sim/test_membership.py",)),
    Mutation("promote-caught-up", "thesis §4.2.1: a learner is promoted once caught up",
             "src/protocols/raft/membership.py", "    if match_index(node) < commit_index:",
             "    if False:", ("tests/raft/sim/test_membership.py",)),
    Mutation("snapshot-retain", "Figure 13 step 6: keep the entries after the snapshot",
             CORE, "        if index <= self.log.last_index and self.log.term_at(index) == term:",
             "        if False:"),
    Mutation("sessions-dedup", "thesis §6.3: a retried command applies once",
             "src/protocols/kv/state_machine.py", "        if cmd.seq <= last[0]:",
             "        if False:"),
    Mutation("sessions-bounded", "thesis §6.3: the session table is bounded",
             "src/protocols/kv/state_machine.py",
             "        while len(self.sessions) > self.max_sessions:",
             "        while False:"),
    Mutation("size-limits", "issue #19: keys and values are bounded",
             "src/protocols/kv/commands.py", "    if size > limit:", "    if False:"),
    Mutation("batch-bytes", "etcd MaxSizePerMsg: AppendEntries bounded by bytes", CORE,
             "        entries = self.log.slice(pr.next_index, self.options.max_batch_entries,\n"
             "                                 self.options.max_batch_bytes)",
             "        entries = self.log.slice(pr.next_index, self.options.max_batch_entries)"),
    Mutation("inflight-bytes", "etcd MaxInflightBytes: bytes in flight bounded", CORE,
             "or pr.inflight_bytes >= self.options.max_inflight_bytes", "or False"),
    Mutation("persist-before-reply", "Figure 2 / etcd Ready: a reply leaves once durable",
             "src/protocols/runtime/host.py",
             "                await self._durable_after(seq)  # persist before the reply leaves",
             "                pass", ("tests/runtime/test_host_contract.py",)),
    Mutation("pump-order", "the contract: persist before anything else is acted on",
             "src/protocols/contract.py",
             "        for envelope in ready.messages:\n            if envelope.ahead_of_persist:",
             "        for envelope in ready.messages:\n            if True:",
             ("tests/contract",)),
]


def copy_tree(dest: Path) -> None:
    """The working tree as it is (tracked and new files), without .venv or caches."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        src = ROOT / f
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)


def run(m: Mutation) -> tuple[bool, str, float]:
    with tempfile.TemporaryDirectory(prefix=f"mutate-{m.name}-") as tmp:
        tree = Path(tmp)
        copy_tree(tree)
        target = tree / m.path
        text = target.read_text()
        if text.count(m.old) != 1:
            return False, f"the mutation no longer applies to {m.path} (update it)", 0.0
        target.write_text(text.replace(m.old, m.new))
        env = {**os.environ, "PYTHONPATH": f"{tree / 'src'}{os.pathsep}{tree}"}
        started = time.monotonic()
        out = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p",
                              "no:cacheprovider", *m.tests],
                             cwd=tree, env=env, capture_output=True, text=True, timeout=1200)
        elapsed = time.monotonic() - started
        failed = [line.split(" ")[1] for line in out.stdout.splitlines()
                  if line.startswith("FAILED ")]
        if out.returncode == 0:
            return False, "NOT CAUGHT: every test passed", elapsed
        return True, "caught by " + (", ".join(failed) or out.stdout.strip()[-200:]), elapsed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scripts/mutate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", help="mutations to run (default: all)")
    p.add_argument("--list", action="store_true")
    args = p.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.names or m.name in args.names]
    unknown = set(args.names) - {m.name for m in MUTATIONS}
    if unknown:
        print(f"error: unknown mutation(s) {sorted(unknown)}", file=sys.stderr)
        return 2
    if args.list:
        for m in chosen:
            print(f"{m.name:26} {m.rule}\n{'':26} tests: {' '.join(m.tests)}")
        return 0
    missed = 0
    for m in chosen:
        caught, what, elapsed = run(m)
        missed += not caught
        print(f"{'ok  ' if caught else 'MISS'} {m.name:26} {elapsed:5.1f}s  {what}", flush=True)
    print(f"\n{len(chosen) - missed} of {len(chosen)} mutations caught")
    return 0 if missed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
