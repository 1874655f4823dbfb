"""Consistent hashing: six placement schemes behind one interface (``base.Placement``).

Issue #35, being built. ``SCHEMES`` maps each scheme's short name to its class; every
scheme is checked by the same properties (``tests/hashing/``) and measured side by side
by ``scripts/bench hashing``.
"""

from __future__ import annotations

from protocols.hashing.base import Key, Placement, hash64
from protocols.hashing.bounded import BoundedLoads
from protocols.hashing.jump import Jump
from protocols.hashing.maglev import Maglev
from protocols.hashing.multiprobe import MultiProbe
from protocols.hashing.rendezvous import Rendezvous
from protocols.hashing.ring import Ketama, Ring

__all__ = ["SCHEMES", "Key", "Placement", "hash64"]

SCHEMES: dict[str, type[Placement]] = {}
SCHEMES["ring"] = Ring
SCHEMES["ketama"] = Ketama
SCHEMES["jump"] = Jump
SCHEMES["rendezvous"] = Rendezvous
SCHEMES["maglev"] = Maglev
SCHEMES["multiprobe"] = MultiProbe
SCHEMES["bounded"] = BoundedLoads
