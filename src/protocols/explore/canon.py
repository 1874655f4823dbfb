"""Canonical encodings of explored states, and the fixed randomness cores get.

A state is visited once: two states are the same if their canonical encodings are equal.
The encoding walks a core's attributes (dataclasses, ``__slots__``, ``__dict__``,
containers, protobuf messages) into nested tuples whose order never depends on insertion
order or object identity. What is not state is left out: functions and methods (a
driver's callbacks), random generators (``FixedRandom`` draws nothing that varies), a
core's ``Storage`` (its bytes are the node's disk, encoded on their own) and anything an
adapter names in ``ExploreAdapter.ignore``.

Symmetry (Clarke, Emerson & Sistla 1996; what TLC's ``SYMMETRY`` and Stateright's
``Representative`` do): when node ids are interchangeable, a state and its renaming are
one state. ``symmetric_fingerprint`` renames every string equal to a node id under each
permutation and keeps the least encoding.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import itertools
import random
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from protocols.contract import Storage

__all__ = ["FixedRandom", "canon", "fingerprint", "rename", "symmetric_fingerprint"]

_ATOMS = (str, int, float, bool, bytes, type(None))


class FixedRandom(random.Random):
    """A generator whose every draw is the least value it may return.

    An explored core must be deterministic given its moves: the search, not a seed,
    chooses what varies. Timers are explored as moves (a node's tick), so every order in
    which randomized timeouts could fire is explored anyway; a draw only picks a value
    (a timeout's length, a peer to probe), and the fixed choice is its lowest."""

    def __init__(self) -> None:
        super().__init__(0)

    def random(self) -> float:
        return 0.0

    def getrandbits(self, k: int) -> int:
        return 0

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        return 0 if stop is None else start

    def randint(self, a: int, b: int) -> int:
        return a

    def uniform(self, a: float, b: float) -> float:
        return a

    def choice(self, seq: Any) -> Any:
        return seq[0]

    def shuffle(self, x: Any, random: Any = None) -> None:
        return None

    def sample(self, population: Any, k: int, *, counts: Any = None) -> list[Any]:
        return list(population)[:k]

    def expovariate(self, lambd: float) -> float:
        return 0.0

    def gauss(self, mu: float = 0.0, sigma: float = 1.0) -> float:
        return mu

    def __deepcopy__(self, memo: dict[int, Any]) -> FixedRandom:
        return self  # it has no state

    def __reduce__(self) -> tuple[Any, ...]:
        return (FixedRandom, ())  # not the 625 words of a Mersenne Twister's state


def _skipped(value: Any) -> bool:
    """Not state: callbacks, generators, and a core's storage (its bytes are the disk's)."""
    return (callable(value) and not isinstance(value, type)) or \
        isinstance(value, (random.Random, Storage))


def canon(obj: Any, ignore: Collection[str] = (), _seen: frozenset[int] = frozenset()
          ) -> Any:
    """``obj`` as nested tuples of atoms, equal for equal states in any insertion order.
    Attributes named in ``ignore`` ("field" anywhere, or "Class.field") are left out."""
    if isinstance(obj, _ATOMS):
        return obj
    if isinstance(obj, enum.Enum):
        return (type(obj).__name__, obj.name)
    if id(obj) in _seen:
        return ("<cycle>", type(obj).__name__)
    seen = _seen | {id(obj)}
    if isinstance(obj, (list, tuple)):
        return tuple(canon(v, ignore, seen) for v in obj)
    if isinstance(obj, (set, frozenset)):
        return ("set", tuple(sorted((canon(v, ignore, seen) for v in obj), key=repr)))
    if isinstance(obj, Mapping):
        items = [(canon(k, ignore, seen), canon(v, ignore, seen)) for k, v in obj.items()]
        return ("map", tuple(sorted(items, key=repr)))
    if isinstance(obj, (bytearray, memoryview)):
        return bytes(obj)
    serialize = getattr(obj, "SerializeToString", None)
    if serialize is not None:  # a protobuf message
        return (type(obj).__name__, serialize(deterministic=True))
    return (type(obj).__name__, _fields(obj, ignore, seen))


_NAMES: dict[type, tuple[str, ...]] = {}


def _names(obj: Any) -> Iterable[str]:
    cls = type(obj)
    names = _NAMES.get(cls)
    if names is None:
        if dataclasses.is_dataclass(obj):
            names = tuple(f.name for f in dataclasses.fields(obj))
        else:
            names = tuple(sorted({s for c in cls.__mro__ for s in getattr(c, "__slots__", ())}))
        _NAMES[cls] = names
    extra = getattr(obj, "__dict__", None)
    if extra and not dataclasses.is_dataclass(obj):
        return sorted(set(names) | set(extra))
    return names


def _fields(obj: Any, ignore: Collection[str], seen: frozenset[int]) -> tuple[Any, ...]:
    name = type(obj).__name__
    names = _names(obj)
    out = []
    for field in names:
        if field.startswith("__") or field in ignore or f"{name}.{field}" in ignore:
            continue
        try:
            value = getattr(obj, field)
        except AttributeError:
            continue
        if _skipped(value):
            continue
        out.append((field, canon(value, ignore, seen)))
    return tuple(out)


def rename(value: Any, mapping: Mapping[str, str], _bytes: Any = None) -> Any:
    """``value`` (a canonical encoding) with every string that is a key of ``mapping``
    replaced by its image, re-sorted where order was canonical. In bytes (a disk's
    content) a node id is renamed where it stands as a whole word: the result is only
    ever hashed, never read back."""
    if isinstance(value, str):
        return mapping.get(value, value)
    if isinstance(value, bytes):
        if _bytes is None:
            _bytes = _byte_renamer(mapping)
        return _bytes(value)
    if isinstance(value, tuple):
        if len(value) == 2 and value[0] in ("set", "map") and isinstance(value[1], tuple):
            return (value[0], tuple(sorted((rename(v, mapping, _bytes) for v in value[1]),
                                           key=repr)))
        if value and all(isinstance(v, str) and v in mapping for v in value) and \
                list(value) == sorted(value):
            return tuple(sorted(mapping[v] for v in value))  # a sorted list of ids stays so
        return tuple(rename(v, mapping, _bytes) for v in value)
    return value


def _byte_renamer(mapping: Mapping[str, str]) -> Callable[[bytes], bytes]:
    table = {k.encode(): v.encode() for k, v in mapping.items()}
    pattern = re.compile(rb"(?<![\w.~-])(" + b"|".join(re.escape(k) for k in
                                                        sorted(table, key=len, reverse=True))
                         + rb")(?![\w.~-])")
    return lambda data: pattern.sub(lambda m: table[m.group(1)], data)


def fingerprint(encoding: Any) -> bytes:
    """16 bytes standing for a canonical encoding."""
    return hashlib.blake2b(repr(encoding).encode(), digest_size=16).digest()


def symmetric_fingerprint(encoding: Any, ids: Iterable[str]) -> bytes:
    """The least fingerprint of ``encoding`` under every renaming of ``ids`` (all
    interchangeable): one representative per symmetry class."""
    ids = sorted(ids)
    best = None
    for perm in itertools.permutations(ids):
        mapping = dict(zip(ids, perm, strict=True))
        text = repr(rename(encoding, mapping))
        if best is None or text < best:
            best = text
    assert best is not None
    return hashlib.blake2b(best.encode(), digest_size=16).digest()


def key_of(obj: Any, ignore: Collection[str] = ()) -> str:
    """A short stable text naming ``obj``'s value (a message's identity in a move)."""
    return repr(canon(obj, ignore))


Encoder = Callable[[Any], Any]
