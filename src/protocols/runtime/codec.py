"""One generic converter between the cores' message dataclasses and protobuf messages.

Cores speak frozen dataclasses named after the paper's RPCs; the wire speaks protobuf
messages with the same field names. ``to_proto``/``from_proto`` map one to the other by
field name, recursively, so a protocol's node.py declares *which* dataclass travels as
*which* protobuf message and never hand-writes a codec.

What maps to what (dataclass field type -> protobuf field):

* ``int`` / ``bool`` / ``float`` / ``str`` / ``bytes`` (or a ``NewType`` of one) -> a
  scalar field of that kind (any integer type for ``int``; ``double``/``float``).
* an ``IntEnum`` (or any Enum with int values) -> a proto ``enum`` or integer field; a
  ``StrEnum`` (or any Enum with str values) -> a ``string`` field. It travels as its value.
* a dataclass -> a sub-message (any depth, recursive types included).
* ``X | None`` -> a field with presence (``optional`` scalar, or a sub-message): ``None``
  is "unset". A sub-message whose dataclass field is *not* Optional must be set.
* ``tuple[X, ...]`` / ``list[X]`` / ``frozenset[X]`` -> ``repeated X`` (a frozenset is
  sent sorted, so the wire bytes are deterministic).
* ``dict[K, V]`` / ``Mapping[K, V]`` -> ``map<K, V>`` (K str/int or a str/int enum; V a
  scalar, enum, bytes or dataclass). Decoding yields a dict in sorted key order, whatever
  order the wire had.

Dataclass fields with ``init=False`` are neither sent nor read. Protobuf fields the
dataclass lacks are ignored (left unset when encoding).

Errors: a dataclass that does not fit its protobuf type (a field the message lacks, a
type that cannot travel in that field) is a programming error: ``TypeError`` naming both
types and the field, raised by both directions. Anything wrong with a decoded message
(an enum number the Enum does not have, a required sub-message unset, a dataclass whose
``__post_init__`` rejects the values, something that is not a message at all) raises
``InvalidRequest`` naming the message type and the field path.

Speed: the first use of a (dataclass, protobuf type) pair builds a plan (type hints and
descriptors inspected once, checked, and compiled to two small functions that do nothing
but attribute access, enum table lookups and one constructor call); it is cached. Errors
take a slow path that walks the message again field by field to say exactly where.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import inspect
import keyword
import types
import typing
from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any, NoReturn, TypeVar

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from protocols.common.errors import InvalidRequest

__all__ = ["from_proto", "to_proto"]

M = TypeVar("M", bound=Message)
T = TypeVar("T")


def to_proto(obj: Any, pb_type: type[M]) -> M:
    """Encode dataclass ``obj`` as a ``pb_type`` message.

    TypeError (or ValueError for an out-of-range number) if ``obj`` does not fit."""
    plan = _PLANS.get((type(obj), pb_type)) or _plan(type(obj), pb_type)
    try:
        return pb_type(**plan.encode_kwargs(obj))
    except Exception as e:
        raise _encode_error(plan, obj, e) from e


def from_proto(msg: Message, cls: type[T]) -> T:
    """Decode ``msg`` into dataclass ``cls``; InvalidRequest if it does not fit.

    TypeError if ``cls`` cannot be decoded from ``type(msg)`` at all (a programming error)."""
    plan = _PLANS.get((cls, type(msg))) or _decode_plan(msg, cls)
    try:
        built: T = plan.decode(msg)
        return built
    except AssertionError:  # a bug, never bad input (protocols.common.errors)
        raise
    except Exception as e:
        raise _decode_error(plan, msg, e) from e


# ----------------------------------------------------------------------------- plans

_PLAIN, _ENUM, _MESSAGE = "plain", "enum", "message"  # how one value converts
_SINGLE, _REPEATED, _MAP = "single", "repeated", "map"  # the shape of one field


class _Plan:
    """How one dataclass travels as one protobuf message type."""

    __slots__ = ("cls", "decode", "encode_kwargs", "fields", "pb")

    def __init__(self, cls: type[Any], pb: type[Message]) -> None:
        self.cls = cls
        self.pb = pb
        self.fields: tuple[_Field, ...] = ()
        # Compiled by _compile once every field is known (a recursive type's plan is
        # referenced before that: generated code looks these up at call time).
        self.decode: Callable[[Any], Any] = _not_compiled
        self.encode_kwargs: Callable[[Any], dict[str, Any]] = _not_compiled

    @property
    def name(self) -> str:
        return _pb_name(self.pb)


@dataclasses.dataclass(frozen=True, slots=True)
class _Conv:
    """The conversion of one scalar, item, map key or map value."""

    kind: str  # _PLAIN (as is), _ENUM or _MESSAGE
    enum_cls: type[enum.Enum] | None = None
    table: Mapping[Any, enum.Enum] | None = None  # wire value -> member (None: call enum_cls)
    to_value: bool = False  # encode as .value (the Enum is not an int/str subclass)
    plan: _Plan | None = None  # the sub-message's plan

    def sortable(self) -> bool:
        return self.kind == _PLAIN or (self.kind == _ENUM and not self.to_value)


@dataclasses.dataclass(frozen=True, slots=True)
class _Field:
    name: str  # the dataclass field and the protobuf field
    shape: str  # _SINGLE, _REPEATED or _MAP
    value: _Conv  # the field's value, a repeated field's items, a map's values
    key: _Conv | None  # a map's keys
    optional: bool  # the dataclass allows None, i.e. "unset"
    presence: bool  # the protobuf field tracks presence
    container: type[Any]  # tuple, list or frozenset (repeated); dict (map)
    keyword: bool  # passed to the dataclass by keyword, not position


_PLANS: dict[tuple[type[Any], type[Any]], _Plan] = {}

_INT_TYPES = frozenset({
    FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED32, FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED32,
    FieldDescriptor.TYPE_SFIXED64,
})
_SCALARS: dict[Any, frozenset[int]] = {
    bool: frozenset({FieldDescriptor.TYPE_BOOL}),
    int: _INT_TYPES,
    float: frozenset({FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT}),
    str: frozenset({FieldDescriptor.TYPE_STRING}),
    bytes: frozenset({FieldDescriptor.TYPE_BYTES}),
}
_TYPE_NAMES = {v: k[len("TYPE_"):].lower() for k, v in vars(FieldDescriptor).items()
               if k.startswith("TYPE_") and isinstance(v, int)}
_REPEATED_ORIGINS: dict[Any, type[Any]] = {
    tuple: tuple, list: list, frozenset: frozenset, collections.abc.Sequence: tuple,
}
_MAP_ORIGINS = (dict, collections.abc.Mapping)


def _decode_plan(msg: Any, cls: type[Any]) -> _Plan:
    if not isinstance(msg, Message):
        raise InvalidRequest(f"malformed request: expected a protobuf message to decode "
                             f"{_cls_name(cls)} from, got {type(msg).__name__}")
    return _plan(cls, type(msg))


def _plan(cls: type[Any], pb: type[Any]) -> _Plan:
    """The plan for (cls, pb), built, checked and compiled on first use."""
    new: dict[tuple[type[Any], type[Any]], _Plan] = {}
    plan = _build(cls, pb, new)
    _PLANS.update(new)  # only once the whole tree fits: no half-built plans are cached
    return plan


def _build(cls: type[Any], pb: type[Any], new: dict[tuple[type[Any], type[Any]], _Plan]) -> _Plan:
    found = _PLANS.get((cls, pb)) or new.get((cls, pb))
    if found is not None:
        return found
    if not (isinstance(pb, type) and issubclass(pb, Message)):
        raise TypeError(f"{pb!r} is not a protobuf message type (encoding/decoding "
                        f"{_cls_name(cls)})")
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"{_cls_name(cls)} is not a dataclass: the codec maps dataclasses "
                        f"to protobuf messages ({_pb_name(pb)})")
    plan = new[(cls, pb)] = _Plan(cls, pb)
    try:
        hints = typing.get_type_hints(cls)
    except Exception as e:
        raise TypeError(f"cannot resolve the type hints of {_cls_name(cls)} (for "
                        f"{_pb_name(pb)}): {e}") from e
    init_fields = [f for f in dataclasses.fields(cls) if f.init]
    by_position = _by_position(cls, init_fields)
    descriptor = typing.cast(Descriptor, pb.DESCRIPTOR)  # the stubs say "or upb's"
    plan.fields = tuple(_field(plan, f.name, hints[f.name], descriptor, new, not by_position)
                        for f in init_fields)
    plan.decode, plan.encode_kwargs = _compile(plan)
    return plan


def _by_position(cls: type[Any], init_fields: list[dataclasses.Field[Any]]) -> bool:
    """Whether cls(...) takes exactly the init fields, in order, positionally (faster)."""
    try:
        params = list(inspect.signature(cls).parameters.values())
    except (TypeError, ValueError):
        return False
    return ([p.name for p in params] == [f.name for f in init_fields]
            and all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params))


def _field(plan: _Plan, name: str, hint: Any, descriptor: Descriptor,
           new: dict[tuple[type[Any], type[Any]], _Plan], by_keyword: bool) -> _Field:
    fd: FieldDescriptor | None = descriptor.fields_by_name.get(name)
    if fd is None:
        raise TypeError(f"protobuf message {descriptor.full_name} has no field {name!r}, "
                        f"which dataclass {_cls_name(plan.cls)} has: add it to the .proto "
                        "or drop it from the dataclass")
    if not name.isidentifier() or keyword.iskeyword(name):  # it goes into generated code
        raise TypeError(f"{_cls_name(plan.cls)}.{name}: not a valid field name")

    def mismatch(why: str) -> TypeError:
        return TypeError(f"{_cls_name(plan.cls)}.{name} ({_hint_name(hint)}) does not fit "
                         f"{descriptor.full_name}.{name} ({_fd_kind(fd)}): {why}")

    inner, optional = _strip_optional(hint)
    if inner is _UNSUPPORTED:
        raise mismatch("a union other than `X | None` cannot travel")
    origin, args = typing.get_origin(inner), typing.get_args(inner)
    entry = fd.message_type
    is_map = entry is not None and entry.GetOptions().map_entry
    if optional and not fd.has_presence:
        raise mismatch("repeated and map fields cannot be None: use an empty collection"
                       if fd.is_repeated else
                       "None needs a field with presence: declare it `optional` in the "
                       ".proto, or drop `| None`")

    def conv(h: Any, f: FieldDescriptor, what: str) -> _Conv:
        try:
            return _conv(h, f, new)
        except _Misfit as e:
            raise mismatch(f"{what}{e}") from None

    if is_map:
        if origin not in _MAP_ORIGINS or len(args) != 2:
            raise mismatch("a map field needs dict[K, V] or Mapping[K, V]")
        assert entry is not None
        k, v = entry.fields_by_name["key"], entry.fields_by_name["value"]
        key = conv(args[0], k, "map key: ")
        if key.kind == _ENUM and key.to_value:
            raise mismatch("map key: use an IntEnum or StrEnum")
        return _Field(name, _MAP, conv(args[1], v, "map value: "), key, optional=False,
                      presence=False, container=dict, keyword=by_keyword)
    if fd.is_repeated:
        container = _REPEATED_ORIGINS.get(origin or inner)
        if container is None or (origin is tuple and (len(args) != 2 or args[1] is not ...)):
            raise mismatch("a repeated field needs tuple[X, ...], list[X] or frozenset[X]")
        item = conv(args[0] if args else Any, fd, "item: ")
        if container is frozenset and not item.sortable():
            raise mismatch("frozenset items are sent sorted: use orderable items")
        return _Field(name, _REPEATED, item, None, optional=False, presence=False,
                      container=container, keyword=by_keyword)
    if origin in _MAP_ORIGINS or _REPEATED_ORIGINS.get(origin or inner) is not None:
        raise mismatch("a collection needs a repeated or map field")
    return _Field(name, _SINGLE, conv(inner, fd, ""), None, optional=optional,
                  presence=fd.has_presence, container=object, keyword=by_keyword)


class _Misfit(Exception):
    """A value type that cannot travel in a protobuf field (becomes a TypeError)."""


def _conv(hint: Any, fd: FieldDescriptor, new: dict[tuple[type[Any], type[Any]], _Plan]) -> _Conv:
    while hasattr(hint, "__supertype__"):  # NewType("NodeId", str) -> str
        hint = hint.__supertype__
    if fd.message_type is not None:
        if not (isinstance(hint, type) and dataclasses.is_dataclass(hint)):
            raise _Misfit(f"the message {fd.message_type.full_name} needs a dataclass")
        return _Conv(_MESSAGE, plan=_build(hint, GetMessageClass(fd.message_type), new))
    if hint is Any:
        return _Conv(_PLAIN)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        values = [m.value for m in hint]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            allowed, wanted = _INT_TYPES | {FieldDescriptor.TYPE_ENUM}, "an enum or integer"
        elif all(isinstance(v, str) for v in values):
            allowed, wanted = _SCALARS[str], "a string"
        else:
            raise _Misfit(f"{hint.__name__} needs all-int or all-str values")
        if fd.type not in allowed:
            raise _Misfit(f"{hint.__name__} needs {wanted} field")
        table = None if issubclass(hint, enum.Flag) else {m.value: m for m in hint}
        return _Conv(_ENUM, enum_cls=hint, table=table,
                     to_value=not issubclass(hint, (int, str)))
    allowed_types = _SCALARS.get(hint)
    if allowed_types is None:
        raise _Misfit(f"the codec cannot map {_hint_name(hint)}")
    if fd.type not in allowed_types:
        raise _Misfit(f"{_hint_name(hint)} needs a field of type "
                      f"{' or '.join(sorted(_TYPE_NAMES[t] for t in allowed_types))}")
    return _Conv(_PLAIN)


_UNSUPPORTED = object()


def _strip_optional(hint: Any) -> tuple[Any, bool]:
    """(X, True) for ``X | None``; (hint, False) otherwise; _UNSUPPORTED for other unions."""
    if typing.get_origin(hint) not in (typing.Union, types.UnionType):
        return hint, False
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if len(args) != 1:
        return _UNSUPPORTED, False
    return args[0], len(args) < len(typing.get_args(hint))


# ----------------------------------------------------------------------------- compiling

def _compile(plan: _Plan) -> tuple[Callable[[Any], Any], Callable[[Any], dict[str, Any]]]:
    """Two functions for ``plan``: decode(msg) -> dataclass and encode_kwargs(obj) ->
    keyword arguments of the protobuf constructor (sub-messages as nested dicts, which
    protobuf builds in C). Only identifiers go into the source; values live in ``ns``."""
    ns: dict[str, Any] = {"_cls": plan.cls, "_sorted": sorted, "_first": itemgetter(0),
                          "_unset": _unset}
    decode_args: list[str] = []
    encode_items: list[str] = []
    for i, f in enumerate(plan.fields):
        dec = _decode_expr(f, f"{i}", ns)
        decode_args.append(f"{f.name}={dec}" if f.keyword else dec)
        encode_items.append(f"{f.name!r}: {_encode_expr(f, f'{i}', ns)}")
    source = (f"def decode(m):\n    return _cls({', '.join(decode_args)})\n\n"
              f"def encode_kwargs(o):\n    return {{{', '.join(encode_items)}}}\n")
    exec(compile(source, f"<codec {_cls_name(plan.cls)} <-> {plan.name}>", "exec"), ns)
    return ns["decode"], ns["encode_kwargs"]


def _decode_fn(c: _Conv, tag: str, ns: dict[str, Any]) -> str | None:
    """The name of a callable converting one wire value, or None if it is used as is."""
    if c.kind == _PLAIN:
        return None
    if c.kind == _MESSAGE:
        ns[f"_p{tag}"] = c.plan
        return f"_p{tag}.decode"  # looked up per call: a recursive plan compiles later
    ns[f"_e{tag}"] = c.table.__getitem__ if c.table is not None else c.enum_cls
    return f"_e{tag}"


def _encode_fn(c: _Conv, tag: str, ns: dict[str, Any]) -> str | None:
    if c.kind == _MESSAGE:
        ns[f"_p{tag}"] = c.plan
        return f"_p{tag}.encode_kwargs"
    if c.kind == _ENUM and c.to_value:
        ns[f"_v{tag}"] = _enum_value
        return f"_v{tag}"
    return None  # ints, strs, bytes, IntEnum, StrEnum: protobuf takes them as they are


def _apply(fn: str | None, src: str) -> str:
    return src if fn is None else f"{fn}({src})"


def _decode_expr(f: _Field, tag: str, ns: dict[str, Any]) -> str:
    src = f"m.{f.name}"
    fn = _decode_fn(f.value, tag, ns)
    if f.shape == _REPEATED:
        ns[f"_c{tag}"] = f.container
        return f"_c{tag}({src})" if fn is None else f"_c{tag}(map({fn}, {src}))"
    if f.shape == _MAP:
        assert f.key is not None
        kfn = _decode_fn(f.key, f"{tag}k", ns)
        items = f"_sorted({src}.items(), key=_first)"  # deterministic: sorted keys
        if fn is None and kfn is None:
            return f"dict({items})"
        return f"{{{_apply(kfn, 'k')}: {_apply(fn, 'v')} for k, v in {items}}}"
    if f.optional:
        return f"({_apply(fn, src)} if m.HasField({f.name!r}) else None)"
    if f.value.kind == _MESSAGE:  # proto3 cannot tell "unset" from "empty": we require it
        return f"({_apply(fn, src)} if m.HasField({f.name!r}) else _unset())"
    return _apply(fn, src)


def _encode_expr(f: _Field, tag: str, ns: dict[str, Any]) -> str:
    src = f"o.{f.name}"
    fn = _encode_fn(f.value, tag, ns)
    if f.shape == _REPEATED:
        if f.container is frozenset:
            src = f"_sorted({src})"
        return src if fn is None else f"list(map({fn}, {src}))"
    if f.shape == _MAP:
        assert f.key is not None
        kfn = _encode_fn(f.key, f"{tag}k", ns)
        if fn is None and kfn is None:
            return src
        return f"{{{_apply(kfn, 'k')}: {_apply(fn, 'v')} for k, v in {src}.items()}}"
    if fn is None:
        return src  # None leaves the field unset
    if f.optional:
        return f"(None if {src} is None else {fn}({src}))"
    return f"{fn}({src})"


def _enum_value(member: enum.Enum) -> Any:
    return member.value


def _unset() -> NoReturn:
    raise LookupError("a required sub-message is unset")  # _explain_decode says which


def _not_compiled(_: Any) -> NoReturn:
    raise AssertionError("codec plan used before it was compiled")


# ----------------------------------------------------------------------------- errors
# The fast paths above know nothing about error reporting. When one fails, the message
# or object is walked again, field by field, to say where.

class _Bad(Exception):
    def __init__(self, where: str, reason: str) -> None:
        super().__init__(where, reason)
        self.where = where
        self.reason = reason


def _decode_error(plan: _Plan, msg: Message, cause: Exception) -> InvalidRequest:
    top = type(msg).__name__
    try:
        _explain_decode(plan, msg, "")
    except _Bad as bad:
        return InvalidRequest(f"malformed {top}: {bad.where}{bad.reason}")
    return InvalidRequest(f"malformed {top}: {_describe(cause)}")


def _explain_decode(plan: _Plan, msg: Any, path: str) -> Any:
    """Decode like plan.decode, but raise _Bad saying which field is wrong."""
    kwargs: dict[str, Any] = {}
    for f in plan.fields:
        here = f"{path}.{f.name}" if path else f.name
        raw = getattr(msg, f.name)
        value: Any
        if f.shape == _REPEATED:
            value = f.container(_explain_value(f.value, x, f"{here}[{i}]")
                                for i, x in enumerate(raw))
        elif f.shape == _MAP:
            assert f.key is not None
            value = {_explain_value(f.key, k, f"{here} key {k!r}"):
                     _explain_value(f.value, v, f"{here}[{k!r}]")
                     for k, v in sorted(raw.items(), key=itemgetter(0))}
        elif f.presence and not msg.HasField(f.name):
            if f.optional:
                value = None
            elif f.value.kind == _MESSAGE:
                assert f.value.plan is not None
                raise _Bad(f"field {here}: ", f"required sub-message {f.value.plan.name} is "
                           "unset")
            else:
                value = _explain_value(f.value, raw, here)
        else:
            value = _explain_value(f.value, raw, here)
        kwargs[f.name] = value
    try:
        return plan.cls(**kwargs)
    except Exception as e:
        raise _Bad(f"field {path} ({plan.name}): " if path else "", _describe(e)) from e


def _explain_value(c: _Conv, raw: Any, where: str) -> Any:
    if c.kind == _PLAIN:
        return raw
    if c.kind == _MESSAGE:
        assert c.plan is not None
        return _explain_decode(c.plan, raw, where)
    assert c.enum_cls is not None
    try:
        return c.table[raw] if c.table is not None else c.enum_cls(raw)
    except (KeyError, ValueError, TypeError):
        raise _Bad(f"field {where}: ", f"{raw!r} is not a valid {c.enum_cls.__name__}") from None


def _encode_error(plan: _Plan, obj: Any, cause: Exception) -> Exception:
    try:
        _explain_encode(plan, obj, type(obj).__name__)
    except _Bad as bad:
        kind = ValueError if isinstance(bad.__cause__, ValueError) else TypeError
        return kind(f"cannot encode {bad.where}: {bad.reason}")
    return TypeError(f"cannot encode {type(obj).__name__} as {plan.name}: {_describe(cause)}")


def _explain_encode(plan: _Plan, obj: Any, path: str) -> dict[str, Any]:
    """Encode like plan.encode_kwargs, but raise _Bad saying which field is wrong."""
    kwargs: dict[str, Any] = {}
    for f in plan.fields:
        here, pb_field = f"{path}.{f.name}", f"{plan.name}.{f.name}"
        try:
            raw = getattr(obj, f.name)
            value: Any
            if f.shape == _REPEATED:
                items = sorted(raw) if f.container is frozenset else raw
                value = [_explain_encode_value(f.value, x, f"{here}[{i}]", pb_field)
                         for i, x in enumerate(items)]
            elif f.shape == _MAP:
                assert f.key is not None
                value = {_explain_encode_value(f.key, k, f"{here} key {k!r}", pb_field):
                         _explain_encode_value(f.value, v, f"{here}[{k!r}]", pb_field)
                         for k, v in raw.items()}
            elif raw is None and f.optional:
                value = None
            else:
                value = _explain_encode_value(f.value, raw, here, pb_field)
            plan.pb(**{f.name: value})
        except _Bad:
            raise
        except Exception as e:
            raise _Bad(f"{here} as {pb_field}", _describe(e)) from e
        kwargs[f.name] = value
    return kwargs


def _explain_encode_value(c: _Conv, value: Any, path: str, pb_field: str) -> Any:
    if c.kind == _MESSAGE:
        assert c.plan is not None
        if not isinstance(value, c.plan.cls):  # duck types are fine, if they quack
            missing = [f.name for f in c.plan.fields if not hasattr(value, f.name)]
            if missing:
                raise _Bad(f"{path} as {pb_field}", f"expected {_cls_name(c.plan.cls)}, got "
                           f"{type(value).__name__} (no {', '.join(missing)})")
        return _explain_encode(c.plan, value, path)
    if c.kind == _ENUM and c.to_value and not isinstance(value, enum.Enum):
        raise _Bad(f"{path} as {pb_field}", f"{value!r} is not a {_cls_name(c.enum_cls)}")
    return value.value if c.kind == _ENUM and c.to_value else value


# ----------------------------------------------------------------------------- names

def _describe(e: BaseException) -> str:
    return str(e) or type(e).__name__


def _cls_name(cls: Any) -> str:
    return getattr(cls, "__qualname__", None) or repr(cls)


def _pb_name(pb: type[Message]) -> str:
    return str(pb.DESCRIPTOR.full_name)


def _hint_name(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) and not typing.get_args(hint) else repr(hint)


def _fd_kind(fd: FieldDescriptor) -> str:
    if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
        k, v = fd.message_type.fields_by_name["key"], fd.message_type.fields_by_name["value"]
        return f"map<{_fd_kind(k)}, {_fd_kind(v)}>"
    if fd.message_type is not None:
        kind = fd.message_type.full_name
    elif fd.enum_type is not None:
        kind = fd.enum_type.full_name
    else:
        kind = _TYPE_NAMES.get(fd.type, str(fd.type))
    if fd.is_repeated:
        return f"repeated {kind}"
    return f"optional {kind}" if fd.has_presence and fd.message_type is None else kind
