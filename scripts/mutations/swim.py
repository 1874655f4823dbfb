"""SWIM's rules (Das, Gupta, Motivala 2002), Lifeguard's (Dadgar et al. 2018), what
memberlist adds (joining by address, its address rule, reaping, piggybacking by bytes),
anti-entropy, the Membership service's input checks, and SWIM's checkers: the table is
docs/swim-rules.md."""

from __future__ import annotations

from mutations import Mutation

CORE = "src/protocols/swim/core.py"
SYNC = "src/protocols/swim/antientropy.py"
ENTRIES = "src/protocols/swim/entries.py"
LIFEGUARD = "src/protocols/swim/lifeguard.py"
QUEUE = "src/protocols/swim/dissemination.py"
COMMANDS = "src/protocols/swim/commands.py"
CHECK = "src/protocols/check/swim.py"
SIM = "src/protocols/swim/sim.py"

SWIM = "tests/swim/paper/test_swim_rules.py"
JOIN = "tests/swim/paper/test_join_by_address.py"
CHECKS = "tests/check/test_swim_checks.py"
SIM_TESTS = "tests/swim/sim/test_swim_sim.py"
PAPER = ("tests/swim/paper", "tests/swim/unit")
EXPLORE = "tests/explore/test_swim_model.py"


def _m(name: str, rule: str, path: str, old: str, new: str,
       tests: tuple[str, ...] = PAPER) -> Mutation:
    return Mutation(name, rule, path, old, new, tests)


MUTATIONS = [
    # ------------------------------------------------------------ §3.1, §4.3 the probe
    _m("ping-target", "§3.1: a ping meant for another member is not acked", CORE,
       "                if msg.target != self.node_id:\n                    return None\n",
       ""),
    _m("ping-req", "§3.1: no direct ack by the probe timeout: ask k members (ping-req)",
       CORE, "                self._ping_req(probe)\n", "                pass\n", (SWIM,)),
    _m("suspect-silent", "§3.1: no ack at all by the end of the period: suspect", CORE,
       "        if self.options.detector == \"swim\" and m is not None \\\n",
       "        if False and m is not None \\\n", (*PAPER, EXPLORE)),
    _m("round-robin", "§4.3: the probe list is reshuffled after each pass", CORE,
       "            self.rng.shuffle(self.probe_list)\n", ""),
    # ------------------------------------------------------------ §4.2 suspicion
    _m("suspect-overrides-alive", "§4.2: Suspect(i) overrides Alive(i)", CORE,
       "(u.incarnation == cur.incarnation\n"
       "                                                   and cur.state == State.ALIVE)",
       "(False)", (SWIM,)),
    _m("alive-needs-newer", "§4.2: Alive(j) overrides Suspect(i) only if j > i", CORE,
       "            if u.incarnation > cur.incarnation and self._may_move(cur, u.address):",
       "            if u.incarnation >= cur.incarnation and self._may_move(cur, u.address):",
       (SWIM,)),
    _m("dead-not-suspected", "§4.2: a member declared dead is not suspected again", CORE,
       "            if cur.state in (State.DEAD, State.LEFT):\n                return\n", "",
       (SWIM,)),
    _m("confirm-overrides", "§4.2: Confirm(i) overrides Alive and Suspect of i and below",
       CORE, "if cur.state not in (State.DEAD, State.LEFT) and u.incarnation >= cur.incarnation:",
       "if cur.state not in (State.DEAD, State.LEFT) and u.incarnation > cur.incarnation:",
       (SWIM,)),
    _m("refute", "§4.2: a member suspected or declared dead refutes (incarnation + 1)",
       CORE, "        if u.incarnation >= self.incarnation:\n"
       "            self._refute(u.incarnation)\n", "", (SWIM,)),
    _m("refute-durable", "§4.2: the refuting incarnation is durable before it is sent",
       CORE, "            self.events.append((self.node_id, self.node_id, State.ALIVE, "
       "self.incarnation))\n        self.out.persist.append(self._self_record())\n",
       "            self.events.append((self.node_id, self.node_id, State.ALIVE, "
       "self.incarnation))\n", (SWIM, CHECKS)),
    _m("restart-new-life", "§4.2: a restart starts a new life above the last incarnation",
       CORE, "            self.incarnation = recovered.incarnation + 1\n",
       "            self.incarnation = recovered.incarnation\n"),
    _m("suspicion-timeout", "§4.2: a suspicion that stands its timeout is confirmed (dead)",
       CORE, "            if s.due(self.now):\n", "            if False:\n", (SWIM, EXPLORE)),
    _m("refutation-cancels", "§4.2: a refutation cancels the suspicion timer", CORE,
       "        if state != State.SUSPECT:\n            self.suspicions.pop(name, None)\n",
       ""),
    _m("suspect-newer-life", "pinned deviation: a suspicion of a newer incarnation "
       "restarts the timer (memberlist: one more confirmation)", CORE,
       "            if u.incarnation > cur.incarnation or (", "            if ("),
    # ------------------------------------------------------------ Lifeguard
    _m("suspicion-shrinks", "Lifeguard §IV-B: the suspicion timeout shrinks with "
       "independent confirmations", LIFEGUARD,
       "        frac = math.log(confirmations + 1) / math.log(self.expected + 1)",
       "        frac = 0.0"),
    _m("suspicion-shrinks-detection", "Lifeguard §IV-B, end to end: a crash is dead "
       "everywhere within the minimum timeout, not the maximum", LIFEGUARD,
       "        frac = math.log(confirmations + 1) / math.log(self.expected + 1)",
       "        frac = 0.0",
       (f"{SIM_TESTS}::test_a_killed_member_is_detected_within_the_papers_bounds",)),
    _m("independent-confirmations", "Lifeguard §IV-B: one confirmation per member",
       LIFEGUARD, "        if source in self.sources or len(self.sources) > self.expected:",
       "        if len(self.sources) > self.expected:"),
    _m("health-missed-nacks", "Lifeguard §IV-A: missing nacks raise the local health "
       "multiplier", CORE, "            self.awareness.apply(probe.nacks_expected - "
       "probe.nacks)\n", "            self.awareness.apply(0)\n"),
    _m("health-refute", "Lifeguard §IV-A: having to refute raises it (suspect and dead)",
       CORE, "        self.awareness.apply(1)\n        self.incarnation = max(",
       "        self.incarnation = max("),
    _m("health-heals", "Lifeguard §IV-A: an acked probe lowers it", CORE,
       "            self.awareness.apply(-1)\n", "            pass\n"),
    _m("health-stretches", "Lifeguard §IV-A: the protocol period stretches by (LHM + 1)",
       CORE, "        period = self.awareness.scale(self.period_ticks)\n",
       "        period = self.period_ticks\n"),
    _m("nack", "Lifeguard §IV-A: a ping-req helper nacks when the target stays silent",
       CORE, "            if relay.want_nack:  # Lifeguard", "            if False:  # Lifeguard"),
    _m("buddy", "Lifeguard §IV-C: a ping to a suspect carries its suspicion first", CORE,
       "        if buddy is not None and self.options.buddy:",
       "        if False:"),
    # ------------------------------------------------------------ §4.1 dissemination
    _m("piggyback-bytes", "§4.1 / memberlist: a message carries what fits its byte budget",
       QUEUE, "            if cost > free and out:\n                continue\n", ""),
    _m("retransmit-limit", "§4.1: each update is piggybacked lambda*log N times, then "
       "dropped", QUEUE, "            if item.transmits >= limit:", "            if False:"),
    _m("newer-replaces", "§4.1: a newer update about a member replaces the queued one",
       QUEUE, "        self._items[key] = _Item(payload, 0, next(self._order))",
       "        self._items.setdefault(key, _Item(payload, 0, next(self._order)))"),
    # ------------------------------------------------------------ joining, moving, reaping
    _m("join-by-alive", "memberlist: an Alive about an unknown member is a join", CORE,
       "            if u.state == State.ALIVE:  # a join: its address came with it",
       "            if False:"),
    _m("alive-carries-address", "memberlist: an Alive says where the member listens",
       CORE, "        return MemberUpdate(name, m.state, m.incarnation, source,\n"
       "                            m.address if m.state == State.ALIVE else \"\")",
       "        return MemberUpdate(name, m.state, m.incarnation, source, \"\")"),
    _m("dial-learned-address", "every message names where its destination listens", CORE,
       "address=self._address_of(dst),", "address=\"\","),
    _m("conflicting-address", "memberlist: a member moves only once its old life is dead "
       "or left", CORE, "        return not address or address == cur.address or "
       "cur.state in (State.DEAD,", "        return True or cur.state in (State.DEAD,"),
    _m("no-refute-of-another", "memberlist: an Alive of our name from elsewhere is not "
       "refuted", CORE, " and u.address in (\"\", self.address):", ":"),
    _m("reap", "memberlist/serf: the dead and left are forgotten after reap_ms", CORE,
       "                del self.members[name]\n", "                pass\n", (JOIN,)),
    _m("reap-not-early", "the dead are kept reap_ms of real time at least (whole ticks)",
       CORE, "self.now - self.graveyard[0][0] > self.reap_ticks:",
       "self.now - self.graveyard[0][0] >= self.reap_ticks:", (JOIN,)),
    _m("reap-this-death", "a member is reaped for its latest death, not an earlier one", CORE,
       " and m.since == since:", ":", (JOIN,)),
    # ------------------------------------------------------------ anti-entropy
    _m("digest-ack2", "Cassandra: ACK2 sends the entries the other side wanted", SYNC,
       "        wanted = tuple(entries[n] for n in ack.wanted if n in entries)",
       "        wanted = ()"),
    _m("remote-dead-suspect", "memberlist's mergeRemoteState: a remote dead is only a "
       "suspicion", SYNC, "                u = replace(u, state=State.SUSPECT)\n",
       "                pass\n", (SWIM,)),
    _m("own-entry", "an entry is written only by its member", ENTRIES,
       "        if e.member == self.node_id:\n            return  # our own entry",
       "        if False:\n            return  # our own entry"),
    _m("reconnect-dead", "serf's reconnect: anti-entropy with a dead member heals "
       "partitions", SYNC, "            due.append(State.DEAD)  # serf's reconnect",
       "            pass  # serf's reconnect",
       (f"{SIM_TESTS}::test_membership_converges_after_a_partition_into_halves_heals",)),
    _m("phi-first-interval", "Cassandra: phi's first estimate is twice the heartbeat "
       "interval", CORE, "first_interval=2 * o.probe_interval_ms / 1000",
       "first_interval=o.probe_interval_ms / 1000"),
    # ------------------------------------------------------------ client input
    _m("input-delta", "Membership: IncrRequest.delta is non-zero and at most 2**40",
       COMMANDS, "or self.delta == 0 or abs(self.delta) > MAX_DELTA:", "or False:"),
    _m("input-meta-keys", "Membership: at most 64 metadata keys (a 65th used to stop the "
       "node)", CORE, "        if value and key not in self.entry.meta and "
       "len(self.entry.meta) >= MAX_KEYS:", "        if False:"),
    # ------------------------------------------------------------ the checkers
    _m("check-incarnation-authority", "checker: only a member raises its own incarnation",
       CHECK, "        if incarnation > self.own.get(member, 0):\n            raise",
       "        if False:\n            raise", (CHECKS,)),
    _m("check-new-life", "checker: a member's incarnation never goes back across lives",
       CHECK, "(incarnation < before or (new_life and incarnation <= before))", "(False)",
       (CHECKS,)),
    _m("check-convergence", "checker: membership convergence", CHECK,
       "    return out\n\n\ndef counter_disagreements", "    return []\n\n\n"
       "def counter_disagreements", (CHECKS,)),
    _m("check-counter", "checker: every member counts the acknowledged total", CHECK,
       "           if not low <= t <= high]", "           if False]", (CHECKS,)),
    _m("check-sim-wiring", "checker: the simulator hears every membership change", SIM,
       "            core.events = self.changes\n", "", (CHECKS,)),
]
