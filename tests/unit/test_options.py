"""The options parser every protocol uses (protocols.common.options): each kind of bad
input is a ConfigError naming the option, what it expects and what it was given; string
choices become enums; every protocol of the registry declares its options through it."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import pytest

from protocols.common.errors import ConfigError
from protocols.common.options import Options, option
from protocols.registry import PROTOCOLS, load_spec


class Colour(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


def _even(value: Any, members: tuple[str, ...]) -> int:
    if not isinstance(value, int) or value % 2:
        raise ValueError("must be an even integer")
    return value


@dataclass(frozen=True, slots=True)
class Example(Options):
    protocol = "Example"

    count: int = option(3, "how many", min=1, max=10)
    ratio: float = option(0.5, "a share", above=0)
    flag: bool = option(True, "on or off")
    label: str = option("x", "a name")
    colour: Colour = option(Colour.RED, "which colour")
    names: tuple[str, ...] = option((), "some names")
    limit: int | None = option(None, "a limit, or none", min=0)
    even: int = option(2, "an even number", parse=_even)
    quorum: int = option(0, "nodes to wait for (0: a majority)", min=0)

    def validate(self, members: tuple[str, ...]) -> None:
        if members and self.quorum > len(members):
            raise ConfigError(f"quorum {self.quorum} exceeds the {len(members)} nodes")


def test_defaults_when_nothing_is_given() -> None:
    e = Example.from_mapping({})
    assert e == Example()
    assert (e.count, e.colour, e.names, e.limit) == (3, Colour.RED, (), None)


def test_values_are_converted_to_the_declared_types() -> None:
    e = Example.from_mapping({"count": 10, "ratio": 2, "flag": False, "label": "y",
                              "colour": "blue", "names": ["a", "b"], "limit": 0, "even": 4})
    assert e.colour is Colour.BLUE and isinstance(e.colour, Colour)
    assert e.names == ("a", "b") and e.ratio == 2.0 and isinstance(e.ratio, float)
    assert (e.count, e.flag, e.label, e.limit, e.even) == (10, False, "y", 0, 4)


def test_an_unknown_option_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown Example option\(s\) colr, zzz; known: "
                                          r"colour, count, even, flag, label, limit, names, "
                                          r"quorum, ratio"):
        Example.from_mapping({"zzz": 1, "colr": "red"})


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("count", "3", "an integer between 1 and 10"),  # a string for an integer
    ("count", True, "an integer between 1 and 10"),  # a bool is not a count
    ("count", 2.5, "an integer between 1 and 10"),  # nor is a fraction
    ("count", 0, "an integer between 1 and 10"),  # below min
    ("count", 11, "an integer between 1 and 10"),  # above max
    ("ratio", 0, r"a number > 0"),  # not above the exclusive bound
    ("ratio", "0.5", r"a number > 0"),
    ("ratio", float("nan"), r"a number > 0"),
    ("flag", 1, "true or false"),  # 1 is not a bool
    ("flag", "true", "true or false"),
    ("label", 7, "a string"),
    ("colour", "green", "one of red, blue"),  # not a choice: the choices are listed
    ("colour", 1, "one of red, blue"),
    ("names", "a,b", "a list of strings"),
    ("names", ["a", 1], "a list of strings"),
    ("limit", -1, r"an integer >= 0 or null"),
])
def test_each_kind_of_bad_value_names_the_option_what_it_takes_and_what_it_got(
        name: str, value: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Example.from_mapping({name: value})
    message = str(caught.value)
    assert message.startswith(f"Example option {name} must be "), message
    assert f"must be {expected.replace(chr(92), '')} " in message, message
    assert message.endswith(f"got {value!r}"), message
    help_text = next(h for n, h in Example.describe().items() if n == name).split(" (")[0]
    assert help_text in message, message  # what the option is for


def test_a_parse_function_of_its_own_names_the_option_and_the_reason() -> None:
    with pytest.raises(ConfigError, match=r"Example option even: must be an even integer "
                                          r"\(an even number\), got 3"):
        Example.from_mapping({"even": 3})


def test_a_rule_against_the_cluster_sees_its_members() -> None:
    assert Example.from_mapping({"quorum": 5}).quorum == 5  # the cluster is not known yet
    assert Example.from_mapping({"quorum": 3}, 3).quorum == 3
    with pytest.raises(ConfigError, match="quorum 4 exceeds the 3 nodes"):
        Example.from_mapping({"quorum": 4}, 3)
    with pytest.raises(ConfigError, match="quorum 3 exceeds the 2 nodes"):
        Example.from_mapping({"quorum": 3}, ["a", "b"])


def test_options_that_are_not_a_mapping_are_refused() -> None:
    with pytest.raises(ConfigError, match="Example options must be a mapping"):
        Example.from_mapping(["count"])  # type: ignore[arg-type]


def test_an_unsupported_option_type_is_a_bug_in_the_declaration() -> None:
    @dataclass(frozen=True, slots=True)
    class Bad(Options):
        things: dict[str, int] | None = option(None, "not supported")

    with pytest.raises(TypeError, match="not supported"):
        Bad.from_mapping({"things": {}})


# ====================================================================== every protocol
@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_every_protocol_declares_its_options_through_the_parser(name: str) -> None:
    spec = load_spec(name)
    spec.check_options({}, 3)
    with pytest.raises(ConfigError, match="no_such_option"):
        spec.check_options({"no_such_option": 1}, 3)
    if spec.options_class is None:  # a protocol with no options says so
        assert name == "bare"
        return
    assert issubclass(spec.options_class, Options)
    defaults = spec.options_class.from_mapping({}, 3)
    assert defaults == spec.options_class()
    if "fsync" in spec.options_class.describe():  # a durable protocol may skip the fsync
        assert spec.options_class.from_mapping({"fsync": False}).fsync is False  # type: ignore[attr-defined]


@pytest.mark.parametrize(("protocol", "option_name", "value", "choices"), [
    ("raft", "read_mode", "lease", "read_index, lease"),
    ("paxos", "read_mode", "lease", "log, lease"),
    ("swim", "detector", "phi", "swim, phi"),
    ("swim", "join", "all", "seeds, all"),
    ("vkv", "clock", "vv", "dvv, vv"),
    ("causal", "mode", "fifo", "causal, fifo, none"),
])
def test_string_choices_are_enums_and_a_wrong_one_lists_the_choices(
        protocol: str, option_name: str, value: str, choices: str) -> None:
    cls = load_spec(protocol).options_class
    assert cls is not None
    parsed = getattr(cls.from_mapping({option_name: value}), option_name)
    assert isinstance(parsed, enum.StrEnum) and parsed == value
    with pytest.raises(ConfigError, match=f"{option_name} must be one of {choices}.*"
                                          f"got 'nope'"):
        cls.from_mapping({option_name: "nope"})


def test_command_line_pairs_are_json_or_strings_and_a_bad_pair_names_its_flag() -> None:
    """``-o KEY=JSON`` (scripts/sim, cluster up): one parser for both command lines."""
    from protocols.common.options import option_pairs

    assert option_pairs(["a=1", 'b="x"', "c=lease", "d=[1,2]"]) == {
        "a": 1, "b": "x", "c": "lease", "d": [1, 2]}
    with pytest.raises(ConfigError, match="--option wants KEY=JSON, not 'oops'"):
        option_pairs(["oops"], "--option")
