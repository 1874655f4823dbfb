"""One parser for every protocol's options.

A protocol declares its options once, as a frozen dataclass deriving from ``Options``:
each field's annotation is its type, its default is the value when the cluster file says
nothing, and ``option(default, help, min=..., max=...)`` adds the range the parser checks
and one line saying what the option is for. A string that picks one of a few behaviours
is an ``enum.StrEnum``: the parser takes the member's value (``"lease"``) and refuses
anything else, listing the choices. ``X | None`` lets an option be ``null``;
``tuple[X, ...]`` takes a JSON list.

``RaftOptions.from_mapping(raw, members)`` turns what a cluster file, ``cluster up -o``
or ``World(options=...)`` gave into that dataclass, or raises ``ConfigError`` naming the
option, what it expects and what it was given; an unknown option is refused with the
list of known ones. Rules that tie options together, or to the cluster (a quorum size
cannot exceed the number of nodes), go in the class's ``validate(members)``, which the
parser calls last.

Why one parser: six hand-written copies had drifted apart (one accepted ``True`` for a
tick count, one a float for an integer, one named the option and one did not).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self, TypeVar, Union, get_args, get_origin, get_type_hints

from protocols.common.errors import ConfigError

__all__ = ["OptionSpec", "Options", "option", "option_pairs", "parse_options"]

T = TypeVar("T")
OptionsT = TypeVar("OptionsT", bound="Options")

_META = "protocols.option"

Parse = Callable[[Any, tuple[str, ...]], Any]


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """What ``option()`` records on a field: its help text and its constraints."""

    help: str = ""
    min: float | None = None  # inclusive
    max: float | None = None  # inclusive
    above: float | None = None  # exclusive lower bound (a threshold that must be > 0)
    parse: Parse | None = None  # a conversion of its own, given the cluster's members


def option(default: T, help: str = "", *, min: float | None = None,
           max: float | None = None, above: float | None = None,
           parse: Parse | None = None) -> T:
    """A field of an ``Options`` dataclass: its default, what it is for, its range.

    ``parse(value, members)`` replaces the type's conversion for an option whose values
    depend on the cluster (SWIM's seeds: addresses or node ids of the cluster); it
    returns the value or raises ``ConfigError``/``ValueError`` with the reason."""
    spec = OptionSpec(help, min, max, above, parse)
    return dataclasses.field(default=default, metadata={_META: spec})


class Options:
    """Base of a protocol's options dataclass (declare it ``@dataclass(frozen=True,
    slots=True)``). ``protocol`` names it in error messages ("unknown Raft option")."""

    __slots__ = ()
    protocol: ClassVar[str] = "protocol"

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], members: int | Sequence[str] = ()) -> Self:
        """The options ``raw`` gives, for a cluster of ``members`` (node ids, or a count
        standing for ``n1..nN``; empty: not known, and rules about it are skipped)."""
        return parse_options(cls, raw, members)

    def validate(self, members: tuple[str, ...]) -> None:
        """Rules across options or against the cluster: raise ``ConfigError``. Default:
        none."""

    @classmethod
    def describe(cls) -> dict[str, str]:
        """Each option's name -> its help text, its type and its default (for docs and
        error messages)."""
        return {f.name: f"{_spec(f).help} ({_expected(hint, _spec(f))}, default {f.default!r})"
                for f, hint in _fields(cls)}


def option_pairs(pairs: Sequence[str], flag: str = "-o") -> dict[str, Any]:
    """Options from a command line's ``KEY=JSON`` pairs (``-o read_mode='"lease"'``); a
    value that is not JSON is taken as a string. The protocol checks them afterwards."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{flag} wants KEY=JSON, not {pair!r}")
        try:
            options[key] = json.loads(raw)
        except ValueError:
            options[key] = raw
    return options


def parse_options(cls: type[OptionsT], raw: Mapping[str, Any],
                  members: int | Sequence[str] = ()) -> OptionsT:
    """``cls`` built from ``raw``; ``ConfigError`` naming the first thing wrong."""
    ids = tuple(f"n{i}" for i in range(1, members + 1)) if isinstance(members, int) \
        else tuple(members)
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{cls.protocol} options must be a mapping of name to value, "
                          f"got {raw!r}")
    fields = {f.name: (f, hint) for f, hint in _fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        known = ", ".join(sorted(fields)) or "(none)"
        raise ConfigError(f"unknown {cls.protocol} option(s) {', '.join(map(str, unknown))}; "
                          f"known: {known}")
    values = {name: _value(cls.protocol, name, *fields[name], value, ids)
              for name, value in raw.items()}
    opts = cls(**values)
    opts.validate(ids)
    return opts


# ====================================================================== one value
_FIELDS: dict[type[Options], tuple[tuple[dataclasses.Field[Any], Any], ...]] = {}


def _fields(cls: type[Options]) -> tuple[tuple[dataclasses.Field[Any], Any], ...]:
    """Each init field of ``cls`` with its resolved type (computed once per class)."""
    found = _FIELDS.get(cls)
    if found is None:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{cls.__name__} must be a dataclass to be parsed as options")
        hints = get_type_hints(cls)
        found = tuple((f, hints[f.name]) for f in dataclasses.fields(cls) if f.init)
        _FIELDS[cls] = found
    return found


def _spec(f: dataclasses.Field[Any]) -> OptionSpec:
    spec = f.metadata.get(_META)
    return spec if isinstance(spec, OptionSpec) else OptionSpec()


def _value(protocol: str, name: str, f: dataclasses.Field[Any], hint: Any, value: Any,
           members: tuple[str, ...]) -> Any:
    spec = _spec(f)
    where = f"{protocol} option {name}"
    about = f" ({spec.help})" if spec.help else ""
    if spec.parse is not None:
        try:
            return spec.parse(value, members)
        except ValueError as e:
            raise ConfigError(f"{where}: {e}{about}, got {value!r}") from None
    try:
        converted = _convert(hint, value)
    except _Wrong:
        converted = _WRONG
    if converted is _WRONG or not _in_range(spec, converted):
        raise ConfigError(f"{where} must be {_expected(hint, spec)}{about}, got {value!r}")
    return converted


class _Wrong(Exception):
    """The value is not of the option's type."""


_WRONG = object()


def _convert(hint: Any, value: Any) -> Any:
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1:
            raise TypeError(f"an option may be one type or None, not {hint}")
        return _convert(rest[0], value)
    if origin is tuple:
        if not isinstance(value, list | tuple) or len(args) != 2 or args[1] is not Ellipsis:
            raise _Wrong
        return tuple(_convert(args[0], v) for v in value)
    if hint is bool:
        if not isinstance(value, bool):
            raise _Wrong
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Wrong
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise _Wrong
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise _Wrong
        return value
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        if isinstance(value, hint):
            return value
        for member in hint:
            if isinstance(value, str) and member.value == value:
                return member
        raise _Wrong
    raise TypeError(f"options of type {hint} are not supported: use bool, int, float, str, "
                    f"a StrEnum, tuple[X, ...] or X | None")


def _in_range(spec: OptionSpec, value: Any) -> bool:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return True
    return ((spec.min is None or value >= spec.min)
            and (spec.max is None or value <= spec.max)
            and (spec.above is None or value > spec.above))


def _expected(hint: Any, spec: OptionSpec) -> str:
    """What the option takes, in words: 'an integer >= 1', 'one of read_index, lease'."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        return f"{_expected(rest[0], spec)} or null"
    if origin is tuple:
        plural = {str: "strings", int: "integers", float: "numbers", bool: "booleans"}
        return f"a list of {plural.get(args[0], str(args[0]))}"
    if hint is bool:
        return "true or false"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "one of " + ", ".join(str(m.value) for m in hint)
    if hint is str:
        return "a string"
    words = "an integer" if hint is int else "a number"
    bounds = []
    if spec.min is not None and spec.max is not None:
        bounds.append(f"between {_num(spec.min)} and {_num(spec.max)}")
    elif spec.min is not None:
        bounds.append(f">= {_num(spec.min)}")
    elif spec.max is not None:
        bounds.append(f"<= {_num(spec.max)}")
    if spec.above is not None:
        bounds.append(f"> {_num(spec.above)}")
    return " ".join([words, *bounds])


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)
