"""The placement schemes' rules (issue #35): the ring (Karger et al., STOC 1997; Dynamo,
DeCandia et al., SOSP 2007 §4.2-4.3) and its ketama mode (libmemcached, as uhashring
builds it); jump consistent hash (Lamping & Veach 2014); rendezvous hashing (Thaler &
Ravishankar 1998; Schindelhauer & Schomaker, SPAA 2005, for weights); Maglev (Eisenbud et
al., NSDI 2016 §3.4); consistent hashing with bounded loads (Mirrokni, Thorup &
Zadimoghaddam, SODA 2018); multi-probe consistent hashing (Appleton & O'Reilly 2015); and
the interface every scheme shares (``base.Placement``): the table is docs/hashing-rules.md.
"""

from __future__ import annotations

from mutations import Mutation

PKG = "src/protocols/hashing"
BASE = f"{PKG}/base.py"
RING = f"{PKG}/ring.py"
JUMP = f"{PKG}/jump.py"
HRW = f"{PKG}/rendezvous.py"
MAGLEV = f"{PKG}/maglev.py"
BOUNDED = f"{PKG}/bounded.py"
PROBE = f"{PKG}/multiprobe.py"

T = "tests/hashing"
PROPS = f"{T}/test_properties.py"


def _m(name: str, rule: str, path: str, old: str, new: str, *tests: str) -> Mutation:
    """``tests``: the scheme's own file first (so the table names the test of the rule),
    then the properties every scheme shares."""
    return Mutation(name, rule, path, old, new, (*tests, PROPS))


MUTATIONS = [
    # ================================================================== base.Placement
    _m("placement-weight-checked-first", "the interface: a refused call changes nothing "
       "(a non-positive weight is refused before the node is recorded)", BASE,
       "        if not weight > 0:\n"
       "            raise InvalidRequest(f\"{self.name}: node {node!r} needs a positive "
       "weight, \"\n                                 f\"got {weight!r}\")\n"
       "        self._weights[node] = weight\n",
       "        self._weights[node] = weight\n"
       "        if not weight > 0:\n"
       "            raise InvalidRequest(f\"{self.name}: node {node!r} needs a positive "
       "weight, \"\n                                 f\"got {weight!r}\")\n"),
    _m("placement-add-once", "the interface: a node already placed is refused, not "
       "placed twice", BASE, "        if node in self._weights:\n            raise",
       "        if False:\n            raise"),
    _m("placement-list-needs-nodes", "Dynamo §4.3: a preference list is n distinct "
       "physical nodes, so one longer than the nodes is refused", BASE,
       "        if len(self._weights) < n:", "        if False:"),
    # ================================================================== ring and ketama
    _m("ring-successor", "Karger et al. 1997: a key belongs to the first point clockwise "
       "from it (not the one before it)", RING,
       "        return self._owners[bisect_right(self._points, self._hash(key))]",
       "        return self._owners[bisect_right(self._points, self._hash(key)) - 1]",
       f"{T}/test_ring.py"),
    _m("ring-strictly-clockwise", "ketama (libmemcached, uhashring): the first point "
       "strictly greater than the key's; a key on a point belongs to the next", RING,
       "        return self._owners[bisect_right(self._points, self._hash(key))]",
       "        return self._owners[bisect_right(self._points, self._hash(key) - 1)]",
       f"{T}/test_ring.py"),
    _m("ring-wraps", "Karger et al. 1997: the ring is a circle: a key past the last point "
       "belongs to the first", RING,
       "[node for _, node in circle] + [node for _, node in circle[:1]]",
       "[node for _, node in circle] + [node for _, node in circle[-1:]]",
       f"{T}/test_ring.py"),
    _m("ring-preference-distinct", "Dynamo §4.3: the preference list skips the points of "
       "nodes already chosen: n distinct physical nodes", RING,
       "            if node not in chosen:\n                chosen.append(node)",
       "            if True:\n                chosen.append(node)", f"{T}/test_ring.py"),
    _m("ring-vnodes-weight", "Dynamo §4.2: a node has vnodes x weight virtual nodes (a "
       "more capable node more of them)", RING,
       "        count = max(1, round(self.vnodes * weight))",
       "        count = self.vnodes", f"{T}/test_ring.py"),
    _m("ketama-point-words", "ketama (uhashring): a node's points are the four 32-bit "
       "little-endian words of each MD5(\"{node}-{i}\")", RING,
       "            yield int.from_bytes(digest[4 * r:4 * r + 4], \"little\")",
       "            yield int.from_bytes(digest[r:r + 4], \"little\")",
       f"{T}/test_ring.py"),
    _m("ketama-key-hash", "ketama (uhashring): a key's point is the first 32-bit "
       "little-endian word of its MD5", RING,
       "    return int.from_bytes(md5(as_bytes(key)).digest()[:4], \"little\")",
       "    return int.from_bytes(md5(as_bytes(key)).digest()[:4], \"big\")",
       f"{T}/test_ring.py"),
    _m("ketama-weight-share", "ketama (uhashring): vnodes/4 x N x weight // total digests "
       "per node: its share of the total weight", RING,
       "int(self.vnodes // KETAMA_REPLICAS * len(self.nodes) * weight // total)",
       "int(self.vnodes // KETAMA_REPLICAS * weight)", f"{T}/test_ring.py"),
    # ================================================================== jump
    _m("jump-lcg", "Lamping & Veach 2014, Fig. 1: the key steps by the LCG "
       "key * 2862933555777941757 + 1 (mod 2^64)", JUMP,
       "        key = (key * 2862933555777941757 + 1) & MASK64",
       "        key = (key * 2862933555777941757 + 3) & MASK64", f"{T}/test_jump.py"),
    _m("jump-next-jump", "Lamping & Veach 2014, Fig. 1: the next jump is "
       "(b + 1) x 2^31 / ((key >> 33) + 1)", JUMP,
       "        j = int((b + 1) * (float(1 << 31) / float((key >> 33) + 1)))",
       "        j = int((b + 1) * (float(1 << 31) / float((key >> 34) + 1)))",
       f"{T}/test_jump.py"),
    _m("jump-loop-bound", "Lamping & Veach 2014, Fig. 1: jump while the next jump lands "
       "inside [0, n); the last bucket landed in is the answer", JUMP,
       "    while j < num_buckets:", "    while j <= num_buckets:", f"{T}/test_jump.py"),
    _m("jump-remove-last-only", "Lamping & Veach 2014: buckets shrink only from the end; "
       "removing another node is refused and changes nothing", JUMP,
       "        if node in self.nodes and node != self._buckets[-1]:", "        if False:",
       f"{T}/test_jump.py"),
    _m("jump-no-weights", "Lamping & Veach 2014: every bucket has the same share; a "
       "weight is refused", JUMP, "        if weight != 1:", "        if False:",
       f"{T}/test_jump.py"),
    _m("jump-preference-distinct", "jump's preference list (seeds 0, 1, 2, ...) skips "
       "buckets already chosen (Dynamo §4.3)", JUMP, "            if b not in chosen:",
       "            if True:", f"{T}/test_jump.py"),
    # ================================================================== rendezvous
    _m("hrw-highest", "Thaler & Ravishankar 1998: the key goes to the node of highest "
       "score (highest random weight)", HRW,
       "            if score > best or (score == best and node > owner):",
       "            if best < 0 or score < best or (score == best and node > owner):",
       f"{T}/test_rendezvous.py"),
    _m("hrw-ties", "rendezvous (as clandestined): of equal scores the larger node name "
       "wins", HRW, "            if score > best or (score == best and node > owner):",
       "            if score > best or (score == best and node < owner):",
       f"{T}/test_rendezvous.py"),
    _m("hrw-preference-highest", "Thaler & Ravishankar 1998: the preference list is the n "
       "highest scores, the owner first", HRW, "heapq.nlargest(n, self._scores(",
       "heapq.nsmallest(n, self._scores(", f"{T}/test_rendezvous.py"),
    _m("hrw-weighted-highest", "Schindelhauer & Schomaker 2005: with weights too the "
       "highest (weighted) score wins", HRW,
       "            return max(self._scores(as_bytes(key)))[1]",
       "            return min(self._scores(as_bytes(key)))[1]", f"{T}/test_rendezvous.py"),
    _m("hrw-log-score", "Schindelhauer & Schomaker 2005: the weighted score is -w / ln(u), "
       "so node i wins with probability w_i / W", HRW,
       "    return -weight / math.log(u)", "    return weight * u",
       f"{T}/test_rendezvous.py"),
    _m("hrw-u-open-interval", "Schindelhauer & Schomaker 2005: u = h / 2^bits must lie "
       "strictly inside (0, 1) (h centred in its interval)", HRW,
       "    u = ((h >> shift) + 0.5) / float(1 << (bits - shift))",
       "    u = (h >> shift) / float(1 << (bits - shift))", f"{T}/test_rendezvous.py"),
    # ================================================================== maglev
    _m("maglev-offset", "Maglev §3.4: offset <- h1(name) mod M", MAGLEV,
       "    offset = hash64(name, seed=1) % M", "    offset = hash64(name, seed=2) % M",
       f"{T}/test_maglev.py"),
    _m("maglev-skip", "Maglev §3.4: skip <- h2(name) mod (M - 1) + 1 (never 0: with M "
       "prime, a permutation)", MAGLEV, "    skip = hash64(name, seed=2) % (M - 1) + 1",
       "    skip = hash64(name, seed=2) % (M - 1)", f"{T}/test_maglev.py"),
    _m("maglev-permutation", "Maglev §3.4: permutation[i][j] = (offset + j x skip) mod M",
       MAGLEV, "            offset, skip = permutation[i]\n"
       "            c = (offset + next_[i] * skip) % M",
       "            offset, skip = permutation[i]\n"
       "            c = (offset + next_[i] * skip + 1) % M", f"{T}/test_maglev.py"),
    _m("maglev-skip-taken-slots", "Maglev Pseudocode 1: a backend claims its most "
       "preferred slot still empty (it skips taken ones)", MAGLEV,
       "            while entry[c] >= 0:", "            while False:",
       f"{T}/test_maglev.py"),
    _m("maglev-weighted-turns", "Maglev with weights (as Envoy's): a backend of weight w "
       "takes w / w_max of the turns", MAGLEV,
       "            if weight is not None and round_ * weight[i] < turns[i] * heaviest:",
       "            if False:", f"{T}/test_maglev.py"),
    _m("maglev-turn-order", "Maglev §3.4: every balancer fills the same table from the same "
       "nodes (turns in name order, not joining order)", MAGLEV,
       "            names = sorted(self.nodes)", "            names = list(self.nodes)",
       f"{T}/test_maglev.py"),
    _m("maglev-lookup", "Maglev §3.4: a key's node is entry[hash(key) mod M]", MAGLEV,
       "        return self.table()[hash64(key) % self.M]",
       "        return self.table()[hash64(key, seed=1) % self.M]", f"{T}/test_maglev.py"),
    _m("maglev-preference-distinct", "Maglev's preference list walks the table from the "
       "key's slot, skipping nodes already listed", MAGLEV,
       "            if entry[slot] not in chosen:", "            if True:",
       f"{T}/test_maglev.py"),
    _m("maglev-prime", "Maglev §3.4: M is prime (so every offset/skip is a permutation)",
       MAGLEV, "        if not is_prime(table_size):", "        if False:",
       f"{T}/test_maglev.py"),
    _m("maglev-m-over-100n", "Maglev §3.4: M > 100 x N; one node more is refused and "
       "changes nothing", MAGLEV,
       "        if node not in self.nodes and len(self.nodes) >= self.max_nodes:",
       "        if False:", f"{T}/test_maglev.py"),
    # ================================================================== bounded loads
    _m("bounded-cap-epsilon", "Mirrokni, Thorup & Zadimoghaddam 2018: a node's cap is "
       "(1+ε) times its share of m, rounded up", BOUNDED,
       "        return math.ceil(self._c * (self.m if m is None else m) * self._share[node])",
       "        return math.ceil((self.m if m is None else m) * self._share[node])",
       f"{T}/test_bounded.py"),
    _m("bounded-cap-ceiling", "Mirrokni, Thorup & Zadimoghaddam 2018: the cap is the "
       "ceiling ⌈(1+ε)·m/n⌉ (so the caps always hold m keys for ε >= 0)", BOUNDED,
       "        return math.ceil(self._c * (self.m if m is None else m) * self._share[node])",
       "        return math.floor(self._c * (self.m if m is None else m) * self._share[node])",
       f"{T}/test_bounded.py"),
    _m("bounded-under-cap", "Mirrokni, Thorup & Zadimoghaddam 2018: a key goes to the "
       "first node clockwise *under* its cap", BOUNDED,
       "        node = self._first_with_room(k, self.m + 1)",
       "        node = next(self._clockwise(k))  # full or not", f"{T}/test_bounded.py"),
    _m("bounded-requests-as-balls", "Mirrokni, Thorup & Zadimoghaddam 2018 (as Vimeo uses "
       "it): a ball lands at the point ``key_hash`` gives it, so every request of a hot key "
       "starts its walk at that key's point", RING,
       "key_hash or (ketama_hash if ketama else hash64)", "(ketama_hash if ketama else hash64)",
       f"{T}/test_bounded.py"),
    _m("bounded-walk-from-successor", "Mirrokni, Thorup & Zadimoghaddam 2018: the walk "
       "starts at the key's ring successor (the plain ring when no cap binds)", BOUNDED,
       "        start = bisect_right(self._points, self._hash(k))\n        count",
       "        start = 0\n        count", f"{T}/test_bounded.py"),
    _m("bounded-sticky", "Mirrokni, Thorup & Zadimoghaddam 2018: a ball is placed once: a "
       "key already assigned keeps its node", BOUNDED,
       "        node = self._assigned.get(k)\n        if node is not None:\n"
       "            return node\n", "", f"{T}/test_bounded.py"),
    _m("bounded-join-takes-keys", "bounded loads (as the ring): a join takes the keys whose "
       "clockwise walk now reaches it first", BOUNDED,
       "                if other == node:\n                    self._take(k)",
       "                if False:\n                    self._take(k)",
       f"{T}/test_bounded.py"),
    _m("bounded-shed", "Mirrokni, Thorup & Zadimoghaddam 2018: no node above its cap: when "
       "caps shrink a node sheds its newest keys clockwise", BOUNDED,
       "            while self.load(node) > self.cap(node):", "            while False:",
       f"{T}/test_bounded.py"),
    _m("bounded-no-capacity", "bounded loads: when the caps sum to fewer than m (ε < 0) "
       "the change is refused (NoCapacity)", BOUNDED,
       "        if sum(caps.values()) < m:", "        if False:", f"{T}/test_bounded.py"),
    _m("bounded-refuse-before-remove", "bounded loads: NoCapacity changes nothing: a leave "
       "is checked before the node goes", BOUNDED,
       "            if rest:\n                self._need_room(self.m, rest)",
       "            if rest:\n                pass", f"{T}/test_bounded.py"),
    # ================================================================== multi-probe
    _m("multiprobe-closest", "Appleton & O'Reilly 2015: the key goes to the point closest "
       "clockwise over all k probes", PROBE, "            if distance < best_distance:",
       "            if j == 0:", f"{T}/test_multiprobe.py"),
    _m("multiprobe-wraps", "Appleton & O'Reilly 2015: a probe past the last point finds the "
       "first (the ring is a circle)", PROBE,
       "                i = 0  # past the last point", "                i = count - 1  #",
       f"{T}/test_multiprobe.py"),
    _m("multiprobe-weight-points", "multi-probe with weights (this project's: the paper has "
       "none): weight w is round(w) points", PROBE,
       "        return [hash64(node, seed=i) for i in range(max(1, round(weight)))]",
       "        return [hash64(node, seed=i) for i in range(1)]",
       f"{T}/test_multiprobe.py"),
    _m("multiprobe-preference-distinct", "multi-probe's preference list walks on clockwise "
       "from the winning point, skipping nodes already chosen", PROBE,
       "            if node not in chosen:\n                chosen.append(node)\n"
       "            i = (i + 1)",
       "            if True:\n                chosen.append(node)\n            i = (i + 1)",
       f"{T}/test_multiprobe.py"),
]
