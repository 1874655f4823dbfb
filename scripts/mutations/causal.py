"""Causal broadcast's rules (Birman, Schiper, Stephenson 1991, §4: the BSS delivery rule,
reliable delivery by resend, stability) and its checker: the table is
docs/causal-rules.md."""

from __future__ import annotations

from mutations import Mutation

CORE = "src/protocols/causal/core.py"
STORAGE = "src/protocols/causal/storage.py"
CHECK = "src/protocols/check/causal.py"
PAPER = ("tests/causal/paper",)
UNIT = ("tests/causal/unit",)
CHECKS = ("tests/check/test_causal_checks.py",)
EXPLORE = "tests/explore/test_causal_vkv_models.py"


def _m(name: str, rule: str, path: str, old: str, new: str,
       tests: tuple[str, ...] = PAPER) -> Mutation:
    return Mutation(name, rule, path, old, new, tests)


MUTATIONS = [
    _m("bss-causal-past", "§4 BSS rule: deliver only after everything the sender had "
       "delivered (m.clock[k] <= delivered[k])", CORE,
       "        return all(n <= self.origins[k].prefix for k, n in m.clock.items() "
       "if k != m.origin)", "        return True"),
    _m("bss-fifo", "§4 BSS rule: the next message of its origin (m.clock[j] == "
       "delivered[j] + 1)", CORE,
       "        if m.seq != self.origins[m.origin].prefix + 1:\n            return False\n",
       ""),
    _m("hold-back", "§4: a message not yet deliverable waits in the hold-back queue",
       CORE, "            self._hold(m)\n        self._deliver_held()",
       "            pass\n        self._deliver_held()"),
    _m("deliver-held", "§4: a delivery may make held messages deliverable", CORE,
       "            self._hold(m)\n        self._deliver_held()",
       "            self._hold(m)"),
    _m("status-resend", "reliable delivery: a Status makes a peer resend what the sender lacks",
       CORE, "        for m in missing[: self.options.max_resend]:\n"
       "            self.out.messages.append(Envelope(src, m))\n", ""),
    _m("stability", "CBCAST stability: a message leaves the buffers only once every "
       "member has it", CORE,
       "            return all(has.get(key[0], 0) >= key[1] for has in "
       "self.peer_has.values())",
       "            return any(has.get(key[0], 0) >= key[1] for has in "
       "self.peer_has.values())"),
    _m("stable-mark-durable", "an own broadcast stays on disk until it is stable, then "
       "its Stable mark lets it go", CORE,
       "                self.out.persist.append(Stable(key[1]))\n", ""),
    _m("own-kept-until-stable", "an acknowledged broadcast survives its sender's crash "
       "(OwnMessage kept until stable)", CORE,
       "OwnMessage(m) if own else Delivery(m)", "Delivery(m)"),
    _m("seq-from-own-messages", "#31 bug 1: the sequence number is the highest any "
       "durable own message or record holds", CORE,
       "        return max([self.delivered.seq, *(m.seq for m in self.unstable)])",
       "        return self.delivered.seq", (*UNIT, EXPLORE)),
    _m("hand-up-last-write", "a restart hands up the last write's deliveries again (the "
       "upcall may not have happened)", CORE,
       "        for m in recovered.last_write:  # the upcall may not have happened: again",
       "        for m in []:  # the upcall may not have happened: again", (*PAPER, *UNIT)),
    _m("torn-write-forgotten", "a write cut short (no record closed it) is forgotten, "
       "not closed by the next record", STORAGE,
       "        if self.since_record:  # a write cut short",
       "        if False:  # a write cut short", (*UNIT, EXPLORE)),
    _m("rejoin-empty-disk", "#31 bug 4: a member on an empty disk hears every peer "
       "before it broadcasts", CORE,
       "        self.rejoining = recovered is None", "        self.rejoining = False",
       UNIT),
    _m("rejoin-stable-point", "a rejoining member takes what some peer knows every "
       "member delivered as delivered", CORE,
       "                origin.prefix = max([origin.prefix, *(self.peer_stable[p].get("
       "member, 0)", "                origin.prefix = max([origin.prefix, *(0 * "
       "self.peer_stable[p].get(member, 0)", UNIT),
    _m("refuse-impossible-claims", "#31 bug 4: a message or status naming more of our "
       "broadcasts than we made is refused", CORE,
       "        if mine > self.seq and not self.rejoining:",
       "        if False:", UNIT),
    _m("checker-causal-order", "the checker: a delivery before something in its "
       "causal past is a violation", CHECK,
       "                if lacking:\n                    first = next(",
       "                if False:\n                    first = next(",
       (*CHECKS, "tests/causal/sim/test_causal_sim.py")),
    _m("checker-one-payload", "the checker: one (origin, seq) names one payload "
       "everywhere", CHECK, "            if first[0] != p:", "            if False:",
       (*CHECKS, "tests/causal/sim/test_causal_sim.py")),
    _m("checker-acknowledged-delivered", "the checker: every acknowledged broadcast is "
       "delivered by every member", CHECK,
       "        lacking = sorted(set(acknowledged) - set(log))",
       "        lacking = []", CHECKS),
]
