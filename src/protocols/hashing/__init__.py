"""Consistent hashing: six placement schemes behind one interface (``base.Placement``:
``node_for``, ``nodes_for``, ``add``, ``remove``). Course chapter: partitioning.

Read ``base.py`` first, then a scheme beside its paper:

* ``ring.py``: the ring with virtual nodes and weights (Karger et al. 1997; Dynamo
  §4.2-4.3), and ``Ketama``, which maps keys exactly as ``uhashring`` does;
* ``jump.py``: jump consistent hash (Lamping & Veach 2014);
* ``rendezvous.py``: highest random weight (Thaler & Ravishankar 1998), weighted;
* ``maglev.py``: Maglev's lookup table (Eisenbud et al., NSDI 2016, §3.4);
* ``bounded.py``: consistent hashing with bounded loads (Mirrokni, Thorup &
  Zadimoghaddam, SODA 2018);
* ``multiprobe.py``: multi-probe consistent hashing (Appleton & O'Reilly 2015).

``SCHEMES`` maps each scheme's short name to its class: every scheme passes the same
properties (``tests/hashing/test_properties.py``), its rules are a mutation group
(``docs/hashing-rules.md``), and ``scripts/bench hashing`` measures them side by side with
the packages they are checked against (``docs/hashing.md``, ``docs/benchmarks.md``).
"""

from __future__ import annotations

from protocols.hashing.base import Key, Placement, hash64
from protocols.hashing.bounded import BoundedLoads, NoCapacity
from protocols.hashing.jump import Jump
from protocols.hashing.maglev import Maglev
from protocols.hashing.multiprobe import MultiProbe
from protocols.hashing.rendezvous import Rendezvous
from protocols.hashing.ring import Ketama, Ring

__all__ = ["SCHEMES", "BoundedLoads", "Jump", "Ketama", "Key", "Maglev", "MultiProbe",
           "NoCapacity", "Placement", "Rendezvous", "Ring", "hash64"]

SCHEMES: dict[str, type[Placement]] = {
    "ring": Ring,
    "ketama": Ketama,
    "jump": Jump,
    "rendezvous": Rendezvous,
    "maglev": Maglev,
    "multiprobe": MultiProbe,
    "bounded": BoundedLoads,
}
