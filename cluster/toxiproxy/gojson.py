"""Go's ``encoding/json`` (Go 1.23), as a client of Toxiproxy v2.12 sees it.

A client sees Go's JSON in three places, and this module reproduces each:

* **Syntax errors** of a request body (``json.Decoder.Decode`` reads only the first
  value): ``EOF`` for an empty body, ``unexpected EOF`` for a truncated one, otherwise
  ``invalid character 'n' looking for beginning of object key string`` and the rest of
  Go's scanner messages. ``read_value`` is a port of ``scanner.go`` and returns the
  first value as a tree: objects as ``GoObject`` (every key/value pair in document
  order, duplicates kept), numbers as ``GoNumber`` (the literal text), strings with
  invalid UTF-8 and lone surrogates replaced by U+FFFD, as Go does.
* **Type errors** while decoding that tree into the server's Go structs
  (``json: cannot unmarshal string into Go struct field Proxy.name of type string``):
  ``Decoder`` walks a small model of those structs (``Struct``, ``Ptr``, ``Iface`` and
  scalars) with Go's rules — keys match field names case-insensitively (``foldName``),
  unknown keys are ignored, ``null`` leaves a scalar unchanged, and decoding goes on
  after a type error, of which only the first is reported.
* **Encoding** of responses (``dumps``): compact, keys in the given order, non-ASCII
  as UTF-8, ``<``, ``>``, ``&``, U+2028 and U+2029 escaped, and floats formatted like
  Go's ``strconv.AppendFloat(f, 'f' or 'e', -1, bits)`` — a ``Float32`` (a toxic's
  ``toxicity``) in its shortest float32 form, so 1 is ``1`` and 0.2 is ``0.2``.
"""

from __future__ import annotations

import codecs
import math
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

__all__ = [
    "BOOL",
    "FLOAT32",
    "INT",
    "INT64",
    "STRING",
    "Boxed",
    "Decoder",
    "Float32",
    "GoJSONError",
    "GoNumber",
    "GoObject",
    "Iface",
    "Ptr",
    "Scalar",
    "Slice",
    "Struct",
    "dumps",
    "float32",
    "read_value",
]


class GoJSONError(Exception):
    """A decoding error, with Go's message (``EOF``, ``invalid character ...``)."""


class GoObject(list[tuple[str, Any]]):
    """A JSON object: its (key, value) pairs in document order, duplicates kept."""


class GoNumber(str):
    """A JSON number, kept as its literal text (Go parses it per target type)."""


class Float32(float):
    """A float32 value: ``dumps`` writes it as Go writes a float32."""


def float32(value: float) -> float:
    """``value`` rounded to the nearest float32 (OverflowError if out of range)."""
    rounded: float = struct.unpack("f", struct.pack("f", value))[0]
    if math.isinf(rounded) and not math.isinf(value):
        raise OverflowError(f"{value} is out of the float32 range")
    return rounded


# --------------------------------------------------------------------------- scanner
_CONTINUE, _BEGIN_LITERAL, _BEGIN_OBJECT, _OBJECT_KEY, _OBJECT_VALUE, _END_OBJECT = range(6)
_BEGIN_ARRAY, _ARRAY_VALUE, _END_ARRAY, _SKIP_SPACE, _END, _ERROR = range(6, 12)
_PARSE_OBJECT_KEY, _PARSE_OBJECT_VALUE, _PARSE_ARRAY_VALUE = range(3)
_MAX_DEPTH = 10000
_SPACE = frozenset(b" \t\r\n")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_STRING_RUN = re.compile(rb'[^"\\\x00-\x1f]+')
_SPACE_RUN = re.compile(rb"[ \t\r\n]+")

_GO_ESCAPES = {0x07: "\\a", 0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t",
               0x0B: "\\v", 0x5C: "\\\\"}


def _quote_char(c: int) -> str:
    """Go's ``quoteChar``: how a byte is shown in a syntax error message."""
    if c == 0x27:
        return "'\\''"
    if c == 0x22:
        return "'\"'"
    if c in _GO_ESCAPES:
        return f"'{_GO_ESCAPES[c]}'"
    if c < 0x20 or c == 0x7F:
        return f"'\\x{c:02x}'"
    ch = chr(c)  # Go: string(rune(c)), so a byte >= 0x80 is shown as that code point
    if ch.isprintable():  # = strconv.IsPrint for U+0080..U+00FF (not U+00A0, U+00AD)
        return f"'{ch}'"
    return f"'\\u{c:04x}'"


class _Scanner:
    """Go's ``encoding/json`` scanner: one step function per state, fed byte by byte."""

    def __init__(self) -> None:
        self.step: Callable[[int], int] = self.begin_value
        self.parse_state: list[int] = []
        self.err = ""

    def error(self, c: int, context: str) -> int:
        self.step = self.state_error
        self.err = f"invalid character {_quote_char(c)} {context}"
        return _ERROR

    def state_error(self, c: int) -> int:
        return _ERROR

    def push(self, c: int, state: int, success: int) -> int:
        self.parse_state.append(state)
        if len(self.parse_state) <= _MAX_DEPTH:
            return success
        return self.error(c, "exceeded max depth")

    def pop(self) -> None:
        self.parse_state.pop()
        self.step = self.end_top if not self.parse_state else self.end_value

    def begin_value_or_empty(self, c: int) -> int:
        if c in _SPACE:
            return _SKIP_SPACE
        if c == 0x5D:  # ]
            return self.end_value(c)
        return self.begin_value(c)

    def begin_value(self, c: int) -> int:
        if c in _SPACE:
            return _SKIP_SPACE
        if c == 0x7B:  # {
            self.step = self.begin_string_or_empty
            return self.push(c, _PARSE_OBJECT_KEY, _BEGIN_OBJECT)
        if c == 0x5B:  # [
            self.step = self.begin_value_or_empty
            return self.push(c, _PARSE_ARRAY_VALUE, _BEGIN_ARRAY)
        nxt = {0x22: self.in_string, 0x2D: self.neg, 0x30: self.zero, 0x74: self.lit("rue"),
               0x66: self.lit("alse"), 0x6E: self.lit("ull")}.get(c)
        if nxt is None and 0x31 <= c <= 0x39:
            nxt = self.one
        if nxt is None:
            return self.error(c, "looking for beginning of value")
        self.step = nxt
        return _BEGIN_LITERAL

    def begin_string_or_empty(self, c: int) -> int:
        if c in _SPACE:
            return _SKIP_SPACE
        if c == 0x7D:  # }
            self.parse_state[-1] = _PARSE_OBJECT_VALUE
            return self.end_value(c)
        return self.begin_string(c)

    def begin_string(self, c: int) -> int:
        if c in _SPACE:
            return _SKIP_SPACE
        if c == 0x22:
            self.step = self.in_string
            return _BEGIN_LITERAL
        return self.error(c, "looking for beginning of object key string")

    def end_value(self, c: int) -> int:
        if not self.parse_state:
            self.step = self.end_top
            return self.end_top(c)
        if c in _SPACE:
            self.step = self.end_value
            return _SKIP_SPACE
        ps = self.parse_state[-1]
        if ps == _PARSE_OBJECT_KEY:
            if c == 0x3A:  # :
                self.parse_state[-1] = _PARSE_OBJECT_VALUE
                self.step = self.begin_value
                return _OBJECT_KEY
            return self.error(c, "after object key")
        if ps == _PARSE_OBJECT_VALUE:
            if c == 0x2C:  # ,
                self.parse_state[-1] = _PARSE_OBJECT_KEY
                self.step = self.begin_string
                return _OBJECT_VALUE
            if c == 0x7D:
                self.pop()
                return _END_OBJECT
            return self.error(c, "after object key:value pair")
        if c == 0x2C:
            self.step = self.begin_value
            return _ARRAY_VALUE
        if c == 0x5D:
            self.pop()
            return _END_ARRAY
        return self.error(c, "after array element")

    def end_top(self, c: int) -> int:
        if c not in _SPACE:
            self.error(c, "after top-level value")  # reported on the next call only
        return _END

    def in_string(self, c: int) -> int:
        if c == 0x22:
            self.step = self.end_value
            return _CONTINUE
        if c == 0x5C:
            self.step = self.in_string_esc
            return _CONTINUE
        if c < 0x20:
            return self.error(c, "in string literal")
        return _CONTINUE

    def in_string_esc(self, c: int) -> int:
        if c in b'bfnrt\\/"':
            self.step = self.in_string
            return _CONTINUE
        if c == 0x75:  # u
            self.step = self.hex_digit(4)
            return _CONTINUE
        return self.error(c, "in string escape code")

    def hex_digit(self, left: int) -> Callable[[int], int]:
        def state(c: int) -> int:
            if c in _HEX:
                self.step = self.in_string if left == 1 else self.hex_digit(left - 1)
                return _CONTINUE
            return self.error(c, "in \\u hexadecimal character escape")
        return state

    def neg(self, c: int) -> int:
        if c == 0x30:
            self.step = self.zero
            return _CONTINUE
        if 0x31 <= c <= 0x39:
            self.step = self.one
            return _CONTINUE
        return self.error(c, "in numeric literal")

    def one(self, c: int) -> int:
        if 0x30 <= c <= 0x39:
            return _CONTINUE
        return self.zero(c)

    def zero(self, c: int) -> int:
        if c == 0x2E:  # .
            self.step = self.dot
            return _CONTINUE
        if c in (0x65, 0x45):  # e E
            self.step = self.exp
            return _CONTINUE
        return self.end_value(c)

    def dot(self, c: int) -> int:
        if 0x30 <= c <= 0x39:
            self.step = self.dot0
            return _CONTINUE
        return self.error(c, "after decimal point in numeric literal")

    def dot0(self, c: int) -> int:
        if 0x30 <= c <= 0x39:
            return _CONTINUE
        if c in (0x65, 0x45):
            self.step = self.exp
            return _CONTINUE
        return self.end_value(c)

    def exp(self, c: int) -> int:
        if c in (0x2B, 0x2D):  # + -
            self.step = self.exp_sign
            return _CONTINUE
        return self.exp_sign(c)

    def exp_sign(self, c: int) -> int:
        if 0x30 <= c <= 0x39:
            self.step = self.exp0
            return _CONTINUE
        return self.error(c, "in exponent of numeric literal")

    def exp0(self, c: int) -> int:
        if 0x30 <= c <= 0x39:
            return _CONTINUE
        return self.end_value(c)

    def lit(self, rest: str) -> Callable[[int], int]:
        word = {"rue": "true", "alse": "false", "ull": "null"}[rest]

        def state(c: int) -> int:
            if c == ord(rest[0]):
                self.step = self.end_value if len(rest) == 1 else self.lit_tail(word, rest[1:])
                return _CONTINUE
            return self.error(c, f"in literal {word} (expecting '{rest[0]}')")
        return state

    def lit_tail(self, word: str, rest: str) -> Callable[[int], int]:
        def state(c: int) -> int:
            if c == ord(rest[0]):
                self.step = self.end_value if len(rest) == 1 else self.lit_tail(word, rest[1:])
                return _CONTINUE
            return self.error(c, f"in literal {word} (expecting '{rest[0]}')")
        return state


def _first_value_end(raw: bytes) -> int:
    """Where the first JSON value of ``raw`` ends, as ``json.Decoder.readValue`` finds it."""
    s = _Scanner()
    i, n = 0, len(raw)
    while i < n:
        if s.step == s.in_string:
            m = _STRING_RUN.match(raw, i)
            if m:
                i = m.end()
                continue
        elif raw[i] in _SPACE and s.parse_state and s.step in (
                s.end_value, s.begin_value, s.begin_string, s.begin_value_or_empty,
                s.begin_string_or_empty):
            m = _SPACE_RUN.match(raw, i)
            assert m is not None
            i = m.end()
            continue
        op = s.step(raw[i])
        if op == _END:
            return i
        if op in (_END_OBJECT, _END_ARRAY) and s.end_value(0x20) == _END:
            return i + 1
        if op == _ERROR:
            raise GoJSONError(s.err)
        i += 1
    if s.step(0x20) == _END:
        return n
    if raw.strip(b" \t\r\n"):
        raise GoJSONError("unexpected EOF")
    raise GoJSONError("EOF")


# --------------------------------------------------------------------------- parsing
def _go_replace(exc: UnicodeError) -> tuple[str, int]:
    """Go's utf8.DecodeRune: every invalid byte becomes one U+FFFD."""
    assert isinstance(exc, UnicodeDecodeError)
    return "\ufffd", exc.start + 1


codecs.register_error("toxiproxy-go-utf8", _go_replace)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_WS = re.compile(r"[ \t\r\n]*")


def _skip(text: str, i: int) -> int:
    """The index of the first non-whitespace character at or after ``i``."""
    m = _WS.match(text, i)
    assert m is not None  # the pattern matches the empty string
    return m.end()


def _string(text: str, i: int) -> tuple[str, int]:
    value, end = scanstring(text, i + 1, False)
    return _LONE_SURROGATE.sub("\ufffd", value), end


def read_value(raw: bytes) -> Any:
    """The first JSON value of a request body, or GoJSONError with Go's message."""
    end = _first_value_end(raw)
    text = raw[:end].decode("utf-8", "toxiproxy-go-utf8")
    return _parse(text)


def _parse(text: str) -> Any:
    """Parse one (already validated) JSON value without recursion (Go allows depth 10000)."""
    stack: list[tuple[Any, str | None]] = []  # (container, pending key)
    i = _skip(text, 0)
    while True:
        c = text[i]
        if c == "{" or c == "[":
            container: Any = GoObject() if c == "{" else []
            i = _skip(text, i + 1)
            if text[i] in "}]":
                value, i = container, i + 1
            else:
                key = None
                if c == "{":
                    key, i = _string(text, i)
                    i = _skip(text, i) + 1
                    i = _skip(text, i)
                stack.append((container, key))
                continue
        elif c == '"':
            value, i = _string(text, i)
        elif c == "t":
            value, i = True, i + 4
        elif c == "f":
            value, i = False, i + 5
        elif c == "n":
            value, i = None, i + 4
        else:
            m = _NUMBER.match(text, i)
            assert m is not None
            value, i = GoNumber(m.group()), m.end()
        # attach ``value`` to its container, closing every container that ends here
        while True:
            if not stack:
                return value
            container, key = stack[-1]
            if isinstance(container, GoObject):
                assert key is not None
                container.append((key, value))
            else:
                container.append(value)
            i = _skip(text, i)
            if text[i] == ",":
                i = _skip(text, i + 1)
                if isinstance(container, GoObject):
                    key, i = _string(text, i)
                    i = _skip(text, i) + 1
                    i = _skip(text, i)
                    stack[-1] = (container, key)
                break
            stack.pop()
            value, i = container, i + 1


# --------------------------------------------------------------------------- decoding
@dataclass(frozen=True)
class Scalar:
    kind: str  # "string", "bool", "int64", "int", "float32"


STRING, BOOL, INT64, INT, FLOAT32 = (Scalar(k) for k in ("string", "bool", "int64", "int",
                                                         "float32"))


@dataclass(frozen=True)
class Struct:
    name: str  # reflect.Type.Name(): "" for an anonymous struct
    type: str  # reflect.Type.String()
    fields: dict[str, Any] = field(default_factory=dict)  # json name -> type


@dataclass(frozen=True)
class Ptr:
    elem: Any


@dataclass(frozen=True)
class Slice:
    type: str
    elem: Any


@dataclass(frozen=True)
class Iface:
    type: str  # "interface {}" (empty) or a named interface with methods
    empty: bool


@dataclass
class Boxed:
    """An interface value holding a pointer to a struct (decoded into in place)."""

    type: Struct
    values: dict[str, Any]


_FOLD_SPECIAL = {"\u212a": "K", "\u017f": "S"}  # runes whose fold set holds an ASCII letter


def _fold(name: str) -> str:
    """Go 1.23 ``foldName`` (ASCII upper case; other runes: the least of their fold set),
    where only the runes folding to ASCII matter, as every field name is ASCII."""
    return "".join(_FOLD_SPECIAL.get(ch, ch.upper() if ch.isascii() else ch) for ch in name)


def _kind(value: Any) -> str:
    if isinstance(value, GoObject):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, GoNumber):
        return "number"
    return "string"


class Decoder:
    """``json.Unmarshal`` of a parsed value into a model of Go types.

    ``decode(t, value, current)`` returns the new Go value; a type error is recorded
    (the first one only, in document order) and decoding goes on, as in Go.
    """

    def __init__(self) -> None:
        self.error: str | None = None
        self._struct: Struct | None = None
        self._fields: list[str] = []

    def _type_error(self, value: str, type_: str) -> None:
        if self.error is not None:
            return
        if self._struct is not None or self._fields:
            where = (f"Go struct field {self._struct.name if self._struct else ''}."
                     f"{'.'.join(self._fields)}")
        else:
            where = "Go value"
        self.error = f"json: cannot unmarshal {value} into {where} of type {type_}"

    def decode(self, t: Any, value: Any, current: Any) -> Any:
        if value is None:  # null: pointers and interfaces become nil, the rest is kept
            return None if isinstance(t, Ptr | Iface | Slice) else current
        if isinstance(t, Ptr):
            base = current if current is not None else _zero(t.elem)
            return self.decode(t.elem, value, base)
        if isinstance(t, Iface):
            if isinstance(current, Boxed):
                current.values = self.decode(current.type, value, current.values)
                return current
            if t.empty:
                return value
            self._type_error(_kind(value), t.type)
            return current
        if isinstance(t, Struct):
            return self._struct_value(t, value, current)
        if isinstance(t, Slice):
            if not isinstance(value, list) or isinstance(value, GoObject):
                self._type_error(_kind(value), t.type)
                return current
            return [self.decode(t.elem, item, _zero(t.elem)) for item in value]
        return self._scalar(t, value, current)

    def _struct_value(self, t: Struct, value: Any, current: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(value, GoObject):
            self._type_error(_kind(value), t.type)
            return current
        result = dict(current)
        folded = {_fold(name): name for name in t.fields}
        for key, item in value:
            name = key if key in t.fields else folded.get(_fold(key))
            if name is None:
                continue  # unknown keys are ignored
            saved = (self._struct, len(self._fields))
            self._fields.append(name)
            self._struct = t
            result[name] = self.decode(t.fields[name], item, result.get(name))
            self._struct, depth = saved
            del self._fields[depth:]
        return result

    def _scalar(self, t: Scalar, value: Any, current: Any) -> Any:
        kind = _kind(value)
        if t.kind == "string":
            if isinstance(value, str) and not isinstance(value, GoNumber):
                return value
        elif t.kind == "bool":
            if isinstance(value, bool):
                return value
        elif kind == "number":
            if t.kind == "float32":
                number = float(value)
                try:
                    if math.isinf(number):  # beyond float64 too
                        raise OverflowError(value)
                    return float32(number)
                except OverflowError:
                    self._type_error(f"number {value}", t.kind)
                    return current
            if re.fullmatch(r"-?\d+", value) and -(1 << 63) <= int(value) < (1 << 63):
                return int(value)
            self._type_error(f"number {value}", t.kind)
            return current
        self._type_error(kind, t.kind)
        return current


def _zero(t: Any) -> Any:
    if isinstance(t, Struct):
        return {}
    if isinstance(t, Scalar):
        return {"string": "", "bool": False, "float32": 0.0}.get(t.kind, 0)
    return None


# --------------------------------------------------------------------------- encoding
_HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
                 "\u2029": "\\u2029"}
_HTML_UNSAFE = re.compile("[<>&\u2028\u2029]")
_CONTROL = re.compile('[\x00-\x1f"\\\\]')
_SHORT = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b",
          "\f": "\\f"}


def _quote(s: str) -> str:
    s = _LONE_SURROGATE.sub("\ufffd", s)
    s = _CONTROL.sub(lambda m: _SHORT.get(m.group(), f"\\u{ord(m.group()):04x}"), s)
    return '"' + _HTML_UNSAFE.sub(lambda m: _HTML_ESCAPES[m.group()], s) + '"'


def _shortest_digits(value: float, bits: int) -> str:
    """The shortest decimal (as 'd.ddde±x') that reads back as ``value`` at ``bits``."""
    if bits == 64:
        return f"{Decimal(repr(value)):e}"
    for precision in range(1, 10):
        text = f"{value:.{precision - 1}e}"
        if float32(float(text)) == value:
            return text
    return f"{value:.8e}"


def _format_float(value: float, bits: int) -> str:
    """encoding/json's floatEncoder: 'f' format, or 'e' below 1e-6 / from 1e21."""
    if not math.isfinite(value):
        raise ValueError(f"json: unsupported value: {value}")
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        mantissa, exponent = _shortest_digits(value, bits).split("e")
        mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
        exp = int(exponent)
        return f"{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}".replace("e-0", "e-")
    digits = Decimal(_shortest_digits(value, bits))
    text = f"{digits.normalize():f}" if digits else ("-0" if math.copysign(1, value) < 0 else "0")
    return text


def dumps(value: Any) -> str:
    """Go's json.Marshal of plain values (dicts keep their order, like Go structs)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, Float32):
        return _format_float(float(value), 32)
    if isinstance(value, float):
        return _format_float(value, 64)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{_quote(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__}")
