"""One generic converter between the cores' message dataclasses and protobuf messages.

Cores speak frozen dataclasses named after the paper's RPCs; the wire speaks protobuf
messages with the same field names. ``to_proto``/``from_proto`` map one to the other by
field name, recursively (nested dataclasses, lists, tuples, enums, bytes, optional
fields), so a protocol's node.py declares *which* dataclass travels as *which* protobuf
message and never hand-writes a codec.

Rules: a dataclass field ``x`` maps to the protobuf field ``x``; ``None`` means "unset"
(for ``optional`` proto3 fields and sub-messages); an ``enum.Enum`` travels as its value
(int for proto enums, str for string fields); a tuple/list travels as a repeated field.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from functools import cache
from typing import Any, TypeVar

from google.protobuf.message import Message

from protocols.common.errors import InvalidRequest

__all__ = ["from_proto", "to_proto"]

M = TypeVar("M", bound=Message)
T = TypeVar("T")


def to_proto(obj: Any, pb_type: type[M]) -> M:
    """Encode dataclass ``obj`` as a ``pb_type`` message."""
    msg = pb_type()
    _fill(msg, obj)
    return msg


def _fill(msg: Message, obj: Any) -> None:
    fields = msg.DESCRIPTOR.fields_by_name
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        fd = fields.get(f.name)
        if fd is None:
            raise TypeError(f"{type(msg).__name__} has no field {f.name!r} "
                            f"(needed for {type(obj).__name__})")
        if value is None:
            continue
        if _is_repeated(fd):
            target = getattr(msg, f.name)
            for item in value:
                if fd.message_type is not None:
                    _fill(target.add(), item)
                else:
                    target.append(_scalar_out(item))
        elif fd.message_type is not None:
            _fill(getattr(msg, f.name), value)
        else:
            setattr(msg, f.name, _scalar_out(value))


def _is_repeated(fd: Any) -> bool:
    return bool(fd.is_repeated)  # protobuf >= 6 (FieldDescriptor.label is gone)


def _scalar_out(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def from_proto(msg: Message, cls: type[T]) -> T:
    """Decode ``msg`` into dataclass ``cls``; InvalidRequest if it does not fit."""
    try:
        built: T = _build(msg, cls)
        return built
    except (TypeError, ValueError) as e:
        raise InvalidRequest(f"malformed {type(msg).__name__}: {e}") from None


def _build(msg: Message, cls: Any) -> Any:
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    fields = msg.DESCRIPTOR.fields_by_name
    for f in dataclasses.fields(cls):
        fd = fields[f.name]
        hint = hints[f.name]
        raw = getattr(msg, f.name)
        if _is_repeated(fd):
            item_t = _item_type(hint)
            kwargs[f.name] = tuple(_value(x, item_t, fd) for x in raw)
            if _origin(hint) is list:
                kwargs[f.name] = list(kwargs[f.name])
        elif fd.has_presence and not msg.HasField(f.name):
            kwargs[f.name] = None if _optional(hint) else _value(raw, _strip_optional(hint), fd)
        else:
            kwargs[f.name] = _value(raw, _strip_optional(hint), fd)
    return cls(**kwargs)


def _value(raw: Any, hint: Any, fd: Any) -> Any:
    if fd.message_type is not None:
        return _build(raw, hint)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(raw)
    return raw


@cache
def _hints(cls: Any) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _origin(hint: Any) -> Any:
    return typing.get_origin(hint)


def _optional(hint: Any) -> bool:
    return _origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)


def _strip_optional(hint: Any) -> Any:
    if _optional(hint):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else Any
    return hint


def _item_type(hint: Any) -> Any:
    hint = _strip_optional(hint)
    args = typing.get_args(hint)
    return args[0] if args else Any
