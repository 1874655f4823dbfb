"""The clocks' rules (Lamport 1978; Fidge 1988 and Mattern 1989; Preguiça et al. 2010 and
Gonçalves et al. 2015 for dotted version vectors; Kulkarni et al. 2014 for hybrid
logical clocks): the table is docs/clocks-rules.md."""

from __future__ import annotations

from mutations import Mutation

VECTOR = "src/protocols/clocks/vector.py"
LAMPORT = "src/protocols/clocks/lamport.py"
DVV = "src/protocols/clocks/dvv.py"
HLC = "src/protocols/clocks/hlc.py"
CLOCKS = ("tests/clocks",)


def _m(name: str, rule: str, path: str, old: str, new: str,
       tests: tuple[str, ...] = CLOCKS) -> Mutation:
    return Mutation(name, rule, path, old, new, tests)


MUTATIONS = [
    _m("lamport-ir2", "Lamport IR2: a receive sets the clock past both its own and the "
       "message's", LAMPORT, "        return LamportClock(max(self.time, other.time) + 1)",
       "        return LamportClock(self.time + 1)"),
    _m("vc-merge", "Fidge/Mattern: a receive takes the pointwise maximum", VECTOR,
       "            if count > get(node, 0):\n                merged[node] = count",
       "            if count < get(node, 0):\n                merged[node] = count"),
    _m("vc-compare", "Fidge/Mattern: a -> b iff V(a) < V(b), every entry <= (the sum "
       "only says which way to look)", VECTOR,
       "            return Ordering.BEFORE if _covered(self._entries, other._entries) "
       "else _CONC", "            return Ordering.BEFORE"),
    _m("vc-int-counters", "#31: a vector clock counts events: its counters are ints",
       VECTOR, "                if type(count) is not int:  # not a float",
       "                if False:  # not a float"),
    _m("dvv-sync-replaced", "DVVSet sync (merge/5): a value the other side has seen "
       "replaced is dropped", DVV, "    if a_replaced >= b_replaced:\n        return a\n",
       "    if True:\n        return a\n"),
    _m("dvv-update-discard", "DVVSet update: the context discards exactly the values "
       "whose dots it covers", DVV, "        synced = read.sync(self)",
       "        synced = self"),
    _m("vv-union-multiset", "#31 bug 2: siblings at one clock are a multiset; their "
       "union commutes", DVV, "        if y in unmatched:\n            unmatched.remove(y)",
       "        if y in xs:\n            pass",
       ("tests/clocks", "tests/vkv/unit/test_convergence.py")),
    _m("vv-update-dominated", "plain version vectors: a write discards the siblings only "
       "if its context dominates their clock", DVV,
       "        kept = () if self.clock <= context else self.siblings",
       "        kept = ()"),
    _m("hlc-send", "HLC Figure 5, send/local: c counts on while l does not move", HLC,
       "        logical = previous.logical + 1 if wall == previous.wall else 0",
       "        logical = 0"),
    _m("hlc-receive", "HLC Figure 5, receive: c continues from the larger of both when "
       "l' = l.m = l", HLC,
       "            logical = max(previous.logical, received.logical) + 1",
       "            logical = previous.logical + 1"),
    _m("hlc-offset", "HLC: a peer further ahead than max_offset is refused (the bounded "
       "skew the paper assumes)", HLC,
       "        if received.wall - physical > self.max_offset:", "        if False:"),
    _m("hlc-16-bits", "#31: the logical counter stays within 16 bits", HLC,
       "        if logical > MAX_LOGICAL:\n            raise LogicalOverflowError",
       "        if False:\n            raise LogicalOverflowError"),
]
