"""The shared checkers (``protocols.check``: linearizability and its register model, the
history, the invariant helpers, Elle's list-append checker, the KV transaction's atomicity
that list-append histories rely on): each mutation makes one accept what it must refuse,
miss a violation, or refuse what it must accept. The table is docs/checkers-rules.md.
Protocol-specific checkers (raft, paxos, swim, causal, vkv) are in their protocols'
groups."""

from __future__ import annotations

from mutations import Mutation

LIN = "src/protocols/check/linearizability.py"
MODEL = "src/protocols/check/models.py"
HISTORY = "src/protocols/check/history.py"
INV = "src/protocols/check/invariants.py"
ELLE = "src/protocols/check/elle.py"
SETFULL = "src/protocols/check/setfull.py"
KV_SM = "src/protocols/kv/state_machine.py"
LIN_TESTS = ("tests/check/test_linearizability.py",)
INV_TESTS = ("tests/check/test_invariants.py",)
ELLE_TESTS = "tests/check/test_elle.py"
SET_TESTS = "tests/check/test_setfull.py"
RECORD = "src/protocols/check/record.py"
REPORT_TESTS = "tests/cluster/test_report.py"

MUTATIONS = [
    # ------------------------------------------------------------ linearizability
    Mutation("lin-no-violation", "Wing & Gong: a return no linearization gets past is a "
             "violation", LIN,
             "        if not stack:\n            return _violation(result, ops, best, culprit, "
             "model, steps)\n",
             "        if not stack:\n            break\n", LIN_TESTS),
    Mutation("lin-real-time", "real time: an operation that returned precedes every later "
             "call", LIN, "        events.append((op.ret, 1, i))",
             "        events.append((math.inf, 1, i))", LIN_TESTS),
    Mutation("lin-verdict", "one key's violation is the history's", LIN,
             'verdict: Verdict = ("violation" if "violation" in verdicts else',
             'verdict: Verdict = ("ok" if "violation" in verdicts else', LIN_TESTS),
    Mutation("lin-budget-unknown", "a search out of time says unknown, never ok", LIN,
             '            result.verdict = "unknown"\n', '            result.verdict = "ok"\n',
             LIN_TESTS),
    Mutation("lin-per-key", "P-compositionality: keys are independent registers", LIN,
             "        by_key[op.key].append(op)", "        by_key[None].append(op)", LIN_TESTS),
    Mutation("lin-unknown-reads-only", "only unanswered reads are dropped: an unanswered "
             "write may have happened", LIN,
             'ops = [op for op in ops if not (op.status != "ok" and op.f in ("get", "read"))]',
             'ops = [op for op in ops if op.status == "ok"]', LIN_TESTS),
    # ------------------------------------------------------------ the register model
    Mutation("model-read", "a read returns the register's value", MODEL,
             "                return unknown or op.output == state, state",
             "                return True, state", LIN_TESTS),
    Mutation("model-cas", "a cas reports whether its expectation held", MODEL,
             "                legal = unknown or bool(op.output) == holds",
             "                legal = True", LIN_TESTS),
    Mutation("model-delete", "a delete reports whether the key existed", MODEL,
             "                return unknown or bool(op.output) == (state is not None), None",
             "                return True, None", LIN_TESTS),
    Mutation("model-unknown-output", "an unknown outcome's output was never seen: only its "
             "effect counts", MODEL, '        unknown = op.status != "ok"',
             "        unknown = False", LIN_TESTS),
    # ------------------------------------------------------------ the history
    Mutation("history-fail-dropped", "a fail certainly did not happen: it is dropped",
             HISTORY, '            elif e.type != "fail":', '            else:', LIN_TESTS),
    Mutation("history-info-open", "an info may take effect any time after its call "
             "(ret = inf)", HISTORY,
             'ret = e.time if e.type == "ok" else math.inf', "ret = e.time", LIN_TESTS),
    Mutation("history-never-completed", "an invocation never completed is unknown, not "
             "dropped", HISTORY,
             "    for idx, inv in sorted(open_ops.values(), key=lambda p: p[0]):\n",
             "    for idx, inv in []:\n", LIN_TESTS),
    Mutation("history-invoked-twice", "a process invoking twice without completing is a "
             "malformed history", HISTORY,
             "            if e.process in open_ops:\n", "            if False:\n",
             LIN_TESTS),
    # ------------------------------------------------------------ invariants
    Mutation("inv-election-safety", "Raft §5.2: at most one leader per epoch", INV,
             "        if other != node:\n", "        if False:\n", INV_TESTS),
    Mutation("inv-log-matching", "Raft §5.3: same (index, term) => identical prefixes", INV,
             "        if la[index - sa] != lb[index - sb]:",
             "        if False:", INV_TESTS),
    Mutation("inv-log-matching-last", "log matching compares up to the last index whose "
             "terms agree", INV, "    for index in range(hi, lo - 1, -1):",
             "    for index in range(lo, hi + 1):", INV_TESTS),
    Mutation("inv-agreement", "one value decided per index", INV,
             "            if first[1] != value:\n", "            if False:\n", INV_TESTS),
    Mutation("inv-monotonic", "a commit index never goes backwards", INV,
             "            if cur < prev:\n", "            if False:\n", INV_TESTS),
    Mutation("inv-acked-present", "no acknowledged write lost", INV,
             "        lost = [w for w in wanted if w not in have]", "        lost = []",
             INV_TESTS),
    Mutation("inv-converged", "after healing, every node holds the same state", INV,
             "    differ = [n for n in nodes if states[n] != first]", "    differ = []",
             INV_TESTS),
    # ------------------------------------------------------------ list-append (Elle)
    Mutation("elle-ww-edges", "G0: the version order gives ww edges (dirty write)", ELLE,
             "            if a is not None and b is not None:\n", "            if False:\n",
             (f"{ELLE_TESTS}::test_g0_write_cycle",)),
    Mutation("elle-g1a", "G1a: a committed read of a failed txn's append", ELLE,
             '                elif w is not None and self.txns[w].status == "fail" and \\\n',
             "                elif False and \\\n", (f"{ELLE_TESTS}::test_g1a_aborted_read",)),
    Mutation("elle-g1b", "G1b: a read ending at an append its txn followed with another",
             ELLE, "            if items[-1] != theirs[-1]:\n", "            if False:\n",
             (f"{ELLE_TESTS}::test_g1b_intermediate_read",)),
    Mutation("elle-wr-edges", "G1c: a read gives a wr edge from the txn of its last "
             "element", ELLE,
             "                if w is not None:\n                    self._edge(w, t.id, \"wr\"",
             "                if False:\n                    self._edge(w, t.id, \"wr\"",
             (f"{ELLE_TESTS}::test_g1c_circular_information_flow",)),
    Mutation("elle-rw-edges", "G2: a read gives an rw edge to the txn that appended next",
             ELLE, "            if order is not None and len(items) < len(order):\n",
             "            if False:\n", (f"{ELLE_TESTS}::test_g2_write_skew",)),
    Mutation("elle-g-single", "G-single: a cycle with exactly one rw edge is read skew, "
             "not G2", ELLE, '("G-single" if rws == 1 else "G2")',
             '("G-single" if rws == 0 else "G2")',
             (f"{ELLE_TESTS}::test_g_single_read_skew",)),
    Mutation("elle-realtime-edges", "strict serializability: a txn that completed "
             "precedes every later one (rt edges)", ELLE,
             "                for p in sorted(frontier):\n", "                for p in []:\n",
             (f"{ELLE_TESTS}::test_a_stale_read_is_a_realtime_anomaly_only",)),
    Mutation("elle-lost-append", "lost-append: an acknowledged append missing from a read "
             "invoked after it completed", ELLE,
             "            if n == 0 or (k in self.orders and len(items) >= needs[n - 1]):\n",
             "            if True:\n", (f"{ELLE_TESTS}::test_lost_append",)),
    Mutation("elle-lost-append-concurrent", "an append concurrent with a read may be "
             "missing from it: not lost", ELLE,
             "            n = bisect.bisect_left(rets, t.call)", "            n = len(rets)",
             (f"{ELLE_TESTS}::test_an_append_nobody_read_yet_is_not_lost",)),
    Mutation("elle-incompatible-order", "every read of a key is a prefix of the longest "
             "one (else incompatible-order)", ELLE,
             "            if full[:len(items)] != items and k not in broken:\n",
             "            if False:\n", (f"{ELLE_TESTS}::test_incompatible_order",)),
    Mutation("elle-internal", "internal: a txn reads its own appends", ELLE,
             "        elif expected is None and mine and tuple(items[-len(mine):]) != "
             "tuple(mine):\n", "        elif False:\n",
             (f"{ELLE_TESTS}::test_duplicates_garbage_and_internal_reads",)),
    Mutation("elle-duplicates", "duplicate-elements: a list holds each append once", ELLE,
             "            if len(set(items)) != len(items):\n", "            if False:\n",
             (f"{ELLE_TESTS}::test_duplicates_garbage_and_internal_reads",)),
    Mutation("elle-garbage-read", "garbage-read: a value nobody appended", ELLE,
             '                if w is None and ("garbage", k, v) not in reported:\n',
             "                if False:\n",
             (f"{ELLE_TESTS}::test_duplicates_garbage_and_internal_reads",)),
    Mutation("elle-info-read-committed", "an info txn whose append someone read took "
             "effect: it joins the graph", ELLE,
             '                if w is not None and self.txns[w].status == "info":\n',
             "                if False:\n", (f"{ELLE_TESTS}::test_info_txns_count_when_read",)),
    # ------------------------------------------------------------ set-full (Jepsen)
    Mutation("setfull-lost-began-after", "set-full: a lost element is one missing from "
             "the last read, which began after it was known (acknowledged or seen)", SETFULL,
             "        elif known is not None and m and reads[-1].call > known:\n",
             "        elif known is not None and m:\n",
             (f"{SET_TESTS}::test_a_read_concurrent_with_the_add_may_miss_it",)),
    Mutation("setfull-stable-last-read", "set-full: stable only if the last read shows it; "
             "seen, then missing for good, is lost", SETFULL,
             "        if m and ls == m - 1:  # the last read shows it",
             "        if m and ls is not None:  # the last read shows it",
             (f"{SET_TESTS}::test_lost_an_acknowledged_element_missing_from_every_later_read",)),
    Mutation("setfull-info-not-lost", "set-full: an info add never seen is not lost (it "
             "may never have happened)", SETFULL,
             "known_at = min(add.ret, seen.ret if seen is not None else math.inf)",
             'known_at = min(add.call if add.status == "info" else add.ret, '
             "seen.ret if seen is not None else math.inf)",
             (f"{SET_TESTS}::test_an_unknown_add_never_seen_is_not_lost",)),
    Mutation("setfull-linearizable-stale", "set-full, linearizable: a read that began after "
             "an element was known must show it (stale is a violation)", SETFULL,
             "    if linearizable:\n", "    if False:\n",
             (f"{SET_TESTS}::test_stale_late_to_appear_and_flickering_are_reported_not_lost",)),
    Mutation("setfull-per-key", "set-full: each key is an independent set (Jepsen's "
             "independent)", SETFULL, "reads.setdefault(inv.key, []).append(r)",
             "reads.setdefault(None, []).append(r)",
             (f"{SET_TESTS}::test_keys_are_independent_sets",)),
    # ------------------------------------------------------------ what list-append checks
    Mutation("kv-txn-atomic", "a KV txn whose micro-op fails applies nothing (all or "
             "nothing)", KV_SM,
             "                overlay[key] = value if f == \"w\" else _appended(i, key, now, "
             "value)\n",
             "                overlay[key] = value if f == \"w\" else _appended(i, key, now, "
             "value)\n                self._write(key, overlay[key])\n",
             ("tests/kv/unit/test_txn.py::test_an_aborted_txn_changes_nothing",)),
    # ------------------------------------------------------------ the run's page
    Mutation("record-violation-wins", "a run's verdict is a violation if any check found "
             "one", RECORD,
             '        return "violation" if "violation" in found else',
             '        return "ok" if "violation" in found else',
             (f"{REPORT_TESTS}::test_a_planted_bug_shows_as_a_violation",)),
    Mutation("report-escapes", "the run's page shows run data as text (escaped)",
             "cluster/report.py", "    return html.escape(str(value), quote=True)",
             "    return str(value)", (f"{REPORT_TESTS}::test_run_data_is_escaped",)),
]
