"""The shared checkers (``protocols.check``: linearizability and its register model, the
history, the invariant helpers): each mutation makes one accept what it must refuse,
miss a violation, or refuse what it must accept. The table is docs/checkers-rules.md.
Protocol-specific checkers (raft, paxos, swim, causal, vkv) are in their protocols'
groups."""

from __future__ import annotations

from mutations import Mutation

LIN = "src/protocols/check/linearizability.py"
MODEL = "src/protocols/check/models.py"
HISTORY = "src/protocols/check/history.py"
INV = "src/protocols/check/invariants.py"
LIN_TESTS = ("tests/check/test_linearizability.py",)
INV_TESTS = ("tests/check/test_invariants.py",)

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
             HISTORY, '            if e.type == "fail":\n                continue\n', "",
             LIN_TESTS),
    Mutation("history-info-open", "an info may take effect any time after its call "
             "(ret = inf)", HISTORY,
             'ret = e.time if e.type == "ok" else math.inf', "ret = e.time", LIN_TESTS),
    Mutation("history-never-completed", "an invocation never completed is unknown, not "
             "dropped", HISTORY,
             "        for idx, inv in sorted(open_ops.values(), key=lambda p: p[0]):\n",
             "        for idx, inv in []:\n", LIN_TESTS),
    Mutation("history-invoked-twice", "a process invoking twice without completing is a "
             "malformed history", HISTORY,
             "                if e.process in open_ops:\n", "                if False:\n",
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
]
