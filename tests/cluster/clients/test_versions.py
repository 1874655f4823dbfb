"""``python -m cluster vkv`` and ``dynamo`` (issue #37): the multi-version stores from the
shell against clusters started by ``cluster up``: concurrent writes shown as siblings
with their context, a write with that context replacing them, R/W per request, and the
errors (bad context, another protocol's server, a quorum above N, nothing listening)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.ctl.versions import parse_context
from protocols.common.errors import ConfigError
from tests.cluster.clients.shell import client_address, run, silent_port, until


def test_siblings_then_a_write_with_their_context(vkv: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, vkv, "vkv", "put", "cart", "milk", "--node", "n1")
    assert code == 0 and out[0] == "milk" and out[1].startswith("context: "), out
    code, out = run(capsys, vkv, "vkv", "vput", "cart", "eggs", "--node", "n2")  # blind
    assert code == 0 and "eggs" in out[:-1], out
    both = until(capsys, vkv, ("vkv", "vget", "cart", "--node", "n1"),
                 lambda out: out[:-1] == ["eggs", "milk"])
    context = both[-1].removeprefix("context: ")
    assert len(parse_context(context)) == 2, context  # a dot of each writer
    code, out = run(capsys, vkv, "vkv", "put", "cart", "eggs+milk", "--context", context,
                    "--node", "n1")
    assert code == 0 and out[:-1] == ["eggs+milk"], out
    assert run(capsys, vkv, "vkv", "get", "nothing") == (1, ["nothing: no such key"])


def test_vkv_errors(vkv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, vkv, "vkv", "put", "k", "v", "--context", "n1=2") == (
        2, ["error: --context wants NODE:COUNTER,... as get prints it (e.g. n1:2,n2:1), "
            "not 'n1=2'"])
    endpoint = client_address(vkv, "n1")
    assert run(capsys, vkv, "dynamo", "--endpoint", endpoint, "get", "k") == (
        2, [f"error: {endpoint} is not a dynamo node: it does not serve "
            "protocols.dynamo.v1.DynamoKv"])


def test_dynamo_get_and_put(dynamo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, dynamo, "dynamo", "put", "cart", "milk")
    assert code == 0 and out[0] == "milk", out
    code, read = run(capsys, dynamo, "dynamo", "get", "cart", "--r", "3")
    assert code == 0 and read[:-1] == ["milk"], read
    code, out = run(capsys, dynamo, "dynamo", "put", "cart", "eggs", "--w", "3",
                    "--context", read[-1].removeprefix("context: "), "--node", "n2")
    assert code == 0 and out[:-1] == ["eggs"], out  # the context covered milk: replaced
    code, out = run(capsys, dynamo, "dynamo", "get", "cart", "--node", "n3", "--r", "3")
    assert code == 0 and out[:-1] == ["eggs"], out
    assert run(capsys, dynamo, "dynamo", "get", "nothing") == (1, ["nothing: no such key"])


def test_dynamo_errors(dynamo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, dynamo, "dynamo", "get", "cart", "--r", "9")
    assert code == 2 and out == ["error: r: 1 to n=3 replicas (0: the default, 2), got 9"]
    with silent_port() as nowhere:
        assert run(capsys, dynamo, "dynamo", "--endpoint", nowhere, "put", "k", "v") == (
            2, [f"error: {nowhere}: nothing answers there (down, or not listening)"])
    code, out = run(capsys, dynamo, "vkv", "get", "cart")
    assert code == 2 and out[0].endswith("(try `dynamo`)"), out


@pytest.mark.parametrize("raw, parsed", [("", {}), ("n1:2", {"n1": 2}),
                                          ("n1~ab:1,n2~cd:3", {"n1~ab": 1, "n2~cd": 3})])
def test_a_context_as_get_prints_it(raw: str, parsed: dict[str, int]) -> None:
    assert parse_context(raw) == parsed


@pytest.mark.parametrize("raw", ["n1", "n1:x", ":2", "n1:1,n1:2", "n1:-1"])
def test_a_malformed_context_is_refused(raw: str) -> None:
    with pytest.raises(ConfigError, match="--context"):
        parse_context(raw)
