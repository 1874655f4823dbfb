"""The versioned KV's rules (DeCandia et al., "Dynamo", SOSP 2007: §4.4 data versioning,
§4.7 anti-entropy; dotted version vectors for the siblings) and its lost-write checker:
the table is docs/vkv-rules.md."""

from __future__ import annotations

from mutations import Mutation

CORE = "src/protocols/vkv/core.py"
CHECK = "src/protocols/check/vkv.py"
PAPER = ("tests/vkv/paper",)
UNIT = ("tests/vkv/unit",)
EXPLORE = "tests/explore/test_causal_vkv_models.py"


def _m(name: str, rule: str, path: str, old: str, new: str,
       tests: tuple[str, ...] = PAPER) -> Mutation:
    return Mutation(name, rule, path, old, new, tests)


MUTATIONS = [
    _m("sibling-sync", "§4.4: a replica merges another's state (sync), keeping what "
       "either has that the other has not seen replaced", CORE,
       "        merged = theirs if mine is None else mine.sync(theirs)",
       "        merged = theirs"),
    _m("context-discard", "§4.4: a write replaces exactly what its context covers (the "
       "values its client read)", CORE,
       "                    VectorClock(dict(context)), self.replica_id, value))",
       "                    VectorClock(), self.replica_id, value))",
       (*PAPER, EXPLORE)),
    _m("eager-replication", "§4.4: a write is sent to every other replica", CORE,
       "                for p in self.peers:  # eager replication; anti-entropy repairs "
       "losses\n", "                for p in ():  # eager replication; anti-entropy "
       "repairs losses\n"),
    _m("anti-entropy-differ", "§4.7 anti-entropy: the answer sends the states whose hash "
       "differs", CORE, "                                if mine.get(k) != hashes.get(k))",
       "                                if False)"),
    _m("anti-entropy-wanted", "§4.7 anti-entropy: the asker sends back what the answerer "
       "lacks", CORE, "            for key in reply.wanted:", "            for key in ():"),
    _m("durable-before-answer", "a write is answered once the key's new state is on disk",
       CORE, "        self.out.persist.append(KeyRecord(key, self._encode(s)))  # answered once "
       "durable\n", ""),
    _m("put-reply-siblings", "#31 bug 3: a write's answer lists every sibling its "
       "context covers", CORE,
       "                self.out.answers.append(Answer(request_id, (sorted(s.values()),",
       "                self.out.answers.append(Answer(request_id, ([value],",
       (*UNIT, EXPLORE)),
    _m("context-claims", "#31 bug 4: a context names no more of a replica's writes than "
       "this replica has seen", CORE, "            if n > seen[rid]:",
       "            if False:", (*UNIT, EXPLORE)),
    _m("peer-state-claims", "#31 bug 4: a peer's state names no more of our writes than "
       "we made", CORE, "        if claimed[self.replica_id] > made:", "        if False:",
       UNIT),
    _m("replica-id-per-disk", "#31 bug 4: each disk counts its writes under an id of its "
       "own", CORE, "            replica_id = f\"{node_id}~{rng.getrandbits(32):08x}\"",
       "            replica_id = f\"{node_id}~0\"", UNIT),
    _m("checker-lost-writes", "the checker: an acknowledged value gone that no write "
       "which saw it replaced is a lost write", CHECK,
       "    out = [f\"{k}: acknowledged {v!r} is gone, and no write that saw it replaced it\"",
       "    out = [f\"{k}: acknowledged {v!r} is gone, and no write that saw it replaced it\""
       " for _ in ()",
       (*PAPER, "tests/vkv/sim/test_vkv_sim.py")),
    _m("checker-replaced-only-if-applied", "the checker: a write replaces only if it was "
       "applied (acknowledged, or its value seen)", CHECK,
       "    replaced = {(k, r) for k, v, read in tried if (k, v) in seen for r in read}",
       "    replaced = {(k, r) for k, v, read in tried for r in read}", PAPER),
]
