"""Dynamo's rules (DeCandia et al., "Dynamo: Amazon's Highly Available Key-value Store",
SOSP 2007): the preference list (§4.2-4.3), coordination and quorums (§4.4-4.5), the
sloppy quorum and hinted handoff (§4.6), anti-entropy with hash trees (§4.7, Merkle and
Riak's Tictac), membership by SWIM (§4.8), rebalancing (§4.9), read repair (§5), the
rules on contexts and dots this store adds to vkv's, last-write-wins, durable state, and
the simulator's convergence check: the table is docs/dynamo-rules.md (issue #35).

The tests named are the unit tests and the simulator's (the integration and chaos tests
run real processes: too slow here, and the simulator covers the same rules); each
mutation names the file that states its rule first, so the table shows that test."""

from __future__ import annotations

from pathlib import Path

from mutations import Mutation

PKG = "src/protocols/dynamo"
CORE = f"{PKG}/core.py"
MEMBERS = f"{PKG}/membership.py"
AAE = f"{PKG}/aae.py"
LWW = f"{PKG}/lww.py"
STORAGE = f"{PKG}/storage.py"
SIM = f"{PKG}/sim.py"

UNIT = "tests/dynamo/unit"
SIMT = "tests/dynamo/sim"
CORE_T = f"{UNIT}/test_core.py"
AAE_T = f"{UNIT}/test_aae.py"
SCEN = f"{SIMT}/test_scenarios.py"
REPAIR = f"{SIMT}/test_repair.py"
SETFULL = f"{SIMT}/test_set_full.py"
LWW_T = f"{SIMT}/test_lww.py"
R_HANDOFF = f"{UNIT}/test_rules_handoff.py"
R_MOVE = f"{UNIT}/test_rules_rebalancing.py"
R_EXCHANGE = f"{UNIT}/test_rules_exchange.py"
R_LWW = f"{UNIT}/test_rules_lww.py"
R_TREES = f"{SIMT}/test_rules_trees.py"
R_MEMBERS = f"{SIMT}/test_rules_membership.py"
R_STORAGE = f"{SIMT}/test_rules_storage.py"


def _files() -> list[str]:
    """Every unit and simulator test file, by name: pytest merges a file named before its
    directory into the directory's order, so the rest are named one by one."""
    root = Path(__file__).resolve().parents[2]
    return [str(p.relative_to(root)) for d in (UNIT, SIMT)
            for p in sorted((root / d).glob("test_*.py"))]


ALL = _files()


def _m(name: str, rule: str, path: str, old: str, new: str, *first: str) -> Mutation:
    """``first``: the tests that state the rule, run before the rest of the unit and
    simulator tests."""
    return Mutation(name, rule, path, old, new,
                    (*first, *(f for f in ALL if f not in first)))


MUTATIONS = [
    # ================================================================== the ring, §4.2-4.3
    _m("dynamo-preference-clockwise", "§4.3: a key's preference list is the nodes in its "
       "order clockwise on the ring (not the same order for every key)", CORE,
       "        return self.view.ring.nodes_for(key, len(self.view.nodes))",
       "        return sorted(self.view.ring.nodes_for(key, len(self.view.nodes)))", REPAIR),
    _m("dynamo-owners-top-n", "§4.3: a key's owners are the first N of its preference "
       "list", CORE, "        return self.preference_list(key)[:self.options.n]",
       "        return self.preference_list(key)[1:self.options.n + 1]", SCEN),
    # ================================================================== coordination, §4.5
    _m("dynamo-forward-non-owner", "§4.5: a node outside the key's top N does not "
       "coordinate; it forwards to an owner", CORE,
       "        if self.node_id in owners:\n            self._coordinate(reply_to, req)",
       "        if True:\n            self._coordinate(reply_to, req)", SCEN),
    _m("dynamo-forward-healthy-owner", "§4.5: a request is forwarded to the first owner "
       "believed healthy, not to a failed one", CORE,
       "        to = next((o for o in owners if self.healthy(o)), owners[0])",
       "        to = owners[0]", R_HANDOFF),
    _m("dynamo-put-coordinator-writes", "§4.5: the coordinator of a put writes the new "
       "version to its own store first (its write is one of the W)", CORE,
       "            s = self._write(key, self._new_version(key, req))",
       "            s = self._new_version(key, req)", SCEN),
    _m("dynamo-write-persisted", "durability: every write of a key's version is "
       "persisted (the pump answers once it is on disk)", CORE,
       "    def _write(self, key: str, s: State) -> State:\n        super()._write(key, s)",
       "    def _write(self, key: str, s: State) -> State:\n        self.store[key] = s",
       SETFULL),
    _m("dynamo-put-replicates", "§4.5: the coordinator sends the new version to the other "
       "N-1 nodes it picked", CORE,
       "            for t, h in sorted(others.items()):\n"
       "                self.out.messages.append(Envelope(NodeId(t), ReplicaPut(",
       "            for t, h in sorted(()):\n"
       "                self.out.messages.append(Envelope(NodeId(t), ReplicaPut(", SCEN),
    _m("dynamo-coordinator-counts-itself", "§4.5: the coordinator's own write (or read) "
       "is one of the W acks (R replies)", CORE,
       "    got: int = 1  # the coordinator's own write or read",
       "    got: int = 0  # the coordinator's own write or read", SCEN),
    _m("dynamo-quorum-wait", "§4.5: a put is answered after W acks, a get after R "
       "replies, not after the first", CORE,
       "        if not op.answered and op.got >= op.need:",
       "        if not op.answered and op.got >= 1:", SCEN),
    _m("dynamo-request-quorum", "§4.5: a request may ask for its own R or W; 0 means the "
       "option's", CORE, "        return v or int(getattr(self.options, name))",
       "        return int(getattr(self.options, name))", SCEN),
    _m("dynamo-quorum-at-most-n", "§4.5: R and W are at most N (a quorum of more than "
       "the N replicas can never be met)", CORE, "            if v > self.n:",
       "            if False:", CORE_T),
    _m("dynamo-get-syncs-replies", "§4.5: a get's coordinator syncs every replica's "
       "version into its own before answering", CORE,
       "                        if reply.state:\n"
       "                            self._merge(op.key, reply.state)",
       "                        if False:\n"
       "                            self._merge(op.key, reply.state)", SCEN),
    _m("dynamo-unavailable", "§4.5: when fewer than W acks (R replies) can still come, "
       "the coordinator answers Unavailable at once", CORE,
       "        elif not op.answered and op.got + len(op.waiting) < op.need:",
       "        elif False:", SCEN),
    # ================================================================== sloppy quorum, §4.6
    _m("dynamo-sloppy-healthy-first", "§4.6 sloppy quorum: the N nodes used are the first "
       "N healthy nodes of the preference list", CORE,
       "        chosen = [p for p in prefs if self.healthy(p)][:n]",
       "        chosen = prefs[:n]", CORE_T),
    _m("dynamo-hint-names-owner", "§4.6: each stand-in's hint names the owner it "
       "replaces, in ring order", CORE,
       "        return {node: (\"\" if node in owners else skipped.pop(0))",
       "        return {node: (\"\" if node in owners else skipped.pop())", CORE_T),
    _m("dynamo-hint-sent", "§4.6: a put to a stand-in carries the hint naming the owner "
       "it stands in for", CORE, "ReplicaPut(key, raw, h, op_id)",
       "ReplicaPut(key, raw, \"\", op_id)", SCEN),
    _m("dynamo-local-failure-detector", "§4.6: a node whose request failed is skipped "
       "(Dynamo's local failure detector)", CORE,
       "        self.view.failed(dst, self.now)\n", "", SCEN),
    _m("dynamo-failure-forgotten", "§4.6: a failed node is skipped for failure_memory_ms "
       "only, then used again", MEMBERS,
       "        if t is not None and now - t < self.memory_ticks:",
       "        if t is not None:", CORE_T),
    _m("dynamo-hinted-apart", "§4.6: a stand-in keeps a hinted version apart, never among "
       "its own keys", CORE, "                if hint and hint != self.node_id:",
       "                if False:", CORE_T),
    _m("dynamo-hinted-persisted", "§4.6: a stand-in persists a hinted version (under "
       "\"\\0owner\\0key\") before it acknowledges it", CORE,
       "            self.out.persist.append(KeyRecord(hinted_key(owner, key), "
       "self._encode(merged)))", "            pass", CORE_T),
    _m("dynamo-hinted-recovered-apart", "§4.6: a restarted stand-in reads its hinted "
       "versions back as hints, not as keys of its own", CORE,
       "        own = {k: v for k, v in recovered.items() if not k.startswith(HINTED)}",
       "        own = dict(recovered)", R_HANDOFF),
    _m("dynamo-hinted-served", "§4.6: a stand-in answers a get with the hinted versions "
       "it keeps", CORE,
       "                for _, hs in sorted(self.hinted.get(key, {}).items()):",
       "                for _, hs in ():", R_HANDOFF),
    # ================================================================== hinted handoff, §4.6
    _m("dynamo-handoff-when-healthy", "§4.6: a hinted version is delivered only once the "
       "owner is healthy again", CORE,
       "                elif self.healthy(owner) and not self._in_flight(\"handoff\", key, "
       "owner, owner):",
       "                elif not self._in_flight(\"handoff\", key, owner, owner):", R_HANDOFF),
    _m("dynamo-handoff-delivers", "§4.6: the stand-in delivers each hinted version to its "
       "owner", CORE,
       "                    self._send_transfer(_Transfer(\"handoff\", key, owner, raw, "
       "owner))", "                    pass", REPAIR),
    _m("dynamo-handoff-drop-after-ack", "§4.6: a hint is dropped only once the owner "
       "acknowledged it (a failed delivery keeps it)", CORE,
       "            self._transfer_done(request.op)  # tried again at the next handoff round",
       "            self._delivered(self._transfer_done(request.op))  # tried again at the "
       "next handoff round", REPAIR),
    _m("dynamo-handoff-same-version", "§4.6: the ack drops the hint only if it is still "
       "the version delivered (one written since is kept)", CORE,
       "            if s is not None and self._encode(s) == t.sent:",
       "            if s is not None:", R_HANDOFF),
    _m("dynamo-handoff-drop-persisted", "§4.6: dropping a delivered hint is persisted (a "
       "restart does not bring it back)", CORE,
       "                self.stats[\"handed_off\"] += 1\n"
       "                self.out.persist.append(KeyRecord(hinted_key(t.owner, t.key), b\"\"))",
       "                self.stats[\"handed_off\"] += 1", REPAIR),
    # ================================================================== membership, §4.8
    _m("dynamo-swim-health", "§4.8: a node SWIM holds suspect or dead is unhealthy", MEMBERS,
       "        return m is not None and m.state == State.ALIVE", "        return True",
       REPAIR),
    _m("dynamo-ring-left-off", "§4.8: a member that left (SWIM's graceful leave) goes off "
       "the ring", MEMBERS, "                         if m.state != State.LEFT)",
       "                         if True)", REPAIR),
    _m("dynamo-ring-dead-stay", "§4.8 (§4.6): a member SWIM holds dead stays on the ring: "
       "an outage is temporary, hinted handoff covers it", MEMBERS,
       "                         if m.state != State.LEFT)",
       "                         if m.state not in (State.LEFT, State.DEAD))", R_MEMBERS),
    _m("dynamo-peers-changed-removes", "§4.8: a node the runner removed (remove-node) goes "
       "off the ring, whatever SWIM says", CORE,
       "        for gone in sorted(self.configured - {*peers}):\n"
       "            self.view.remove(gone)",
       "        for gone in sorted(self.configured - {*peers}):\n            pass", REPAIR),
    # ================================================================== rebalancing, §4.9
    _m("dynamo-move-non-owner-owes", "§4.9: a node holding a key it does not own owes it "
       "to the owners (and drops it after)", CORE,
       "        if self.node_id not in owners:\n            # an owner until now",
       "        if False:\n            # an owner until now", REPAIR),
    _m("dynamo-move-every-owner", "§4.9: a holder that was never an owner (a write on an "
       "older ring, a restart) owes the key to every owner, not one", CORE,
       "                gained if self.node_id in before else owners)",
       "                gained if self.node_id in before else owners[:1])", R_MOVE),
    _m("dynamo-move-former-owner-hands-over", "§4.9: an owner that loses a key hands it "
       "to the new owners before dropping it (it may hold the only copy of a write)", CORE,
       "                gained if self.node_id in before else owners)",
       "                set() if self.node_id in before else owners)", R_MOVE),
    _m("dynamo-move-drop-after-all", "§4.9: a non-owner drops a key only after every "
       "owner acknowledged it", CORE,
       "        self.stats[\"moved\"] += 1\n        if not owed:",
       "        self.stats[\"moved\"] += 1\n        if True:", R_MOVE),
    _m("dynamo-move-first-staying-owner", "§4.9: on a ring change the first remaining "
       "owner streams the key to the new owners", CORE,
       "        if before and gained and staying[0] == self.node_id:",
       "        if False:", REPAIR),
    _m("dynamo-move-prune-non-owners", "§4.9: a debt to a node no longer among the key's "
       "owners is forgotten (the ring changed again)", CORE,
       "            owed.intersection_update(self.owners(key))  # the ring changed again "
       "since\n", "", R_MOVE),
    _m("dynamo-move-owner-keeps", "§4.9: only a node that is not an owner drops a key it "
       "streamed", CORE,
       "        if key in self.store and self.node_id not in self.owners(key):",
       "        if key in self.store:", REPAIR),
    _m("dynamo-move-drop-persisted", "§4.9: dropping a key handed over is persisted", CORE,
       "            self.stats[\"dropped\"] += 1\n"
       "            self.out.persist.append(KeyRecord(key, b\"\"))",
       "            self.stats[\"dropped\"] += 1", R_MOVE),
    # ================================================================== anti-entropy, §4.7
    _m("dynamo-aae-keys-both-own", "§4.7: the tree with a peer covers only the keys both "
       "own", CORE, "        return self.node_id in owners and peer in owners",
       "        return self.node_id in owners", R_TREES),
    _m("dynamo-aae-index-writes", "§4.7: every write updates the tree of every peer "
       "sharing the key", CORE,
       "            self._place(key)  # written here on an older ring: it moves on\n"
       "        self._index(key, owners, raw)\n",
       "            self._place(key)  # written here on an older ring: it moves on\n",
       R_TREES),
    _m("dynamo-aae-clear-on-ring-change", "§4.7: a ring change clears the trees (who "
       "shares which keys changed)", CORE,
       "        self.trees.clear()  # who shares which keys changed: rebuilt when next used\n",
       "", R_TREES),
    _m("dynamo-aae-push", "§4.7: after an exchange a node pushes its version of each "
       "differing key", CORE,
       "            if s is not None and key not in done.missing_here:",
       "            if False:", R_EXCHANGE),
    _m("dynamo-aae-pull", "§4.7: after an exchange a node pulls the peer's version of "
       "each differing key", CORE, "            if key not in done.missing_there:",
       "            if False:", R_EXCHANGE),
    _m("aae-descend-where-differ", "§4.7: the exchange descends only into nodes whose "
       "hashes differ", AAE,
       "        differing = [i for i in ask.indices if mine[i] != answer.hashes[i]]",
       "        differing = list(ask.indices)", AAE_T),
    _m("aae-tictac-xor", "Tictac (Riak): a write XORs the key's old hash out and its new "
       "hash in along its path", AAE, "        delta = (old or 0) ^ (new or 0)",
       "        delta = new or 0", AAE_T),
    _m("aae-merkle-dirty", "§4.7 Merkle: a write marks its segment dirty, rehashed (with "
       "the path above it) at the next read", AAE,
       "    def _changed(self, segment: int, old: int | None, new: int | None) -> None:\n"
       "        self._dirty.add(segment)",
       "    def _changed(self, segment: int, old: int | None, new: int | None) -> None:\n"
       "        pass", AAE_T),
    # ================================================================== read repair, §5
    _m("dynamo-read-repair", "§5: once every replica of a get answered, those behind get "
       "the merged version", CORE,
       "            if node != self.node_id and theirs != raw:", "            if False:",
       SCEN),
    # ================================================================== contexts and dots
    _m("dynamo-preread-unseen-context", "vkv's claim rule across coordinators: a put whose "
       "context names writes unseen here reads the replicas first", CORE,
       "        if req.kind == \"put\" and not self.lww and (self._unseen(key, req.context)\n"
       "                                                   or self._behind(key)):",
       "        if req.kind == \"put\" and not self.lww and (self._behind(key)):", REPAIR),
    _m("dynamo-preread-then-refuse", "vkv's claim rule: after the preread, a context "
       "still naming unseen writes is refused", CORE,
       "            if reread or not others:", "            if not others:", REPAIR),
    _m("dynamo-dropped-count", "DVV dots: a node that hands a key over keeps the count of "
       "its writes of it", CORE,
       "            if made := super()._made(key):  # a dot of ours must never be reused",
       "            if made := 0:  # a dot of ours must never be reused", REPAIR),
    _m("dynamo-dropped-count-persisted", "DVV dots: that count is persisted (a restart "
       "keeps it)", CORE,
       "                self.out.persist.append(KeyRecord(dropped_key(key), "
       "str(made).encode()))\n", "", REPAIR),
    _m("dynamo-behind-reads-first", "DVV dots: writing a key it handed over, a node reads "
       "it from the replicas first", CORE,
       "        return key in self.dropped and super()._made(key) < self.dropped[key]",
       "        return False", REPAIR),
    _m("dynamo-made-counts-dropped", "DVV dots: the writes a node made of a key it handed "
       "over still count as its own (a state may claim them)", CORE,
       "        return max(super()._made(key), self.dropped.get(key, 0))",
       "        return super()._made(key)", REPAIR),
    # ================================================================== last-write-wins
    _m("lww-max-ts", "§4.4 last-write-wins: the register with the larger timestamp wins",
       LWW, "        return max(self, other, key=lambda r: (r.ts, r.writer))",
       "        return min(self, other, key=lambda r: (r.ts, r.writer))", LWW_T),
    _m("lww-tie-by-writer", "last-write-wins: equal timestamps are ordered by writer, so "
       "every replica keeps the same one", LWW,
       "        return max(self, other, key=lambda r: (r.ts, r.writer))",
       "        return max(self, other, key=lambda r: r.ts)", R_LWW),
    _m("lww-clock-offset", "last-write-wins: a node's timestamp is its wall clock plus "
       "clock_offset_ms (the skew under test)", CORE,
       "            ts = round((self.clock() * 1000 + self.options.clock_offset_ms) * 1000)",
       "            ts = round(self.clock() * 1000 * 1000)", LWW_T),
    # ================================================================== storage
    _m("storage-drops-forgotten", "storage: a key dropped by an empty record is forgotten "
       "on recovery", STORAGE,
       "        self.latest = {k: v for k, v in self.keys.latest.items() if v}",
       "        self.latest = dict(self.keys.latest)", REPAIR),
    _m("storage-swim-self-record", "storage: SWIM's self record (its incarnation) is kept "
       "beside the keys", STORAGE,
       "        self.swim.save([r for r in records if isinstance(r, SelfRecord)])",
       "        self.swim.save([])", R_STORAGE),
    # ================================================================== the workload
    _m("sim-convergence-check", "the workload: replicas not converged converge_ms after "
       "the faults stop is a violation", SIM,
       "        if self._converged():", "        if True:", SETFULL),
]
