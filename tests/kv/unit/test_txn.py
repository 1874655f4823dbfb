"""Multi-key transactions of the replicated KV (``KvCommand("txn", ops=...)``): their
checks, their encoding in a log entry, and the state machine applying them whole or not
at all, once per session sequence number, across snapshots."""

from __future__ import annotations

from typing import Any

import pytest

from protocols.common.errors import InvalidRequest
from protocols.contract import Answer
from protocols.kv.commands import MAX_TXN_OPS, MAX_VALUE_BYTES, KvCommand, KvResult
from protocols.kv.rsm import KV_BINDING
from protocols.kv.state_machine import KvStateMachine


def txn(*ops: Any, client: str = "", seq: int = 0) -> KvCommand:
    return KvCommand("txn", "", client_id=client, seq=seq, ops=ops)


def apply(sm: KvStateMachine, cmd: KvCommand) -> KvResult:
    result = sm.apply(cmd)
    assert isinstance(result, KvResult), result
    return result


@pytest.mark.parametrize(("ops", "message"), [
    ((), "ops: a txn needs at least one micro-op"),
    ((("x", "k", None),), r"ops\[0\]: unknown micro-op 'x'"),
    ((("r", "k", "v"),), r"ops\[0\].value: a read takes no value"),
    ((("r", "k", None), ("append", "k", None)), r"ops\[1\].value: append needs a string"),
    ((("w", "k", 5),), r"ops\[0\].value: w needs a string value, not int"),
    ((("r", "", None),), r"ops\[0\].key: must be a non-empty string"),
    ((("r", 3, None),), r"ops\[0\].key: must be a non-empty string"),
    ((("r", "k"),), r"ops\[0\]: a micro-op is \[f, key, value\]"),
    (("rk",), r"ops\[0\]: a micro-op is \[f, key, value\]"),
    ((("r", "k", None),) * (MAX_TXN_OPS + 1), f"at most {MAX_TXN_OPS} micro-ops"),
    ((("append", "k", "x" * MAX_VALUE_BYTES),), "bytes encoded; the limit is"),
])
def test_bad_transactions_are_refused_naming_the_field(ops: Any, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        txn(*ops)


def test_a_txn_names_its_keys_in_its_ops_and_only_a_txn_has_ops() -> None:
    with pytest.raises(InvalidRequest, match="key: a txn names its keys"):
        KvCommand("txn", "k", ops=(("r", "k", None),))
    with pytest.raises(InvalidRequest, match="ops: only a txn has micro-ops"):
        KvCommand("put", "k", "v", ops=(("r", "k", None),))
    with pytest.raises(InvalidRequest, match="ops: a txn's ops are a list"):
        KvCommand("txn", "", ops="r k")  # type: ignore[arg-type]


def test_a_txn_survives_its_encoding_in_a_log_entry() -> None:
    t = txn(["r", "k", None], ["append", "k", "é"], ["w", "r2", ""], client="c", seq=7)
    assert t.ops == (("r", "k", None), ("append", "k", "é"), ("w", "r2", ""))  # lists: tuples
    assert KvCommand.decode(t.encode()) == t
    assert t.encode() == txn(("r", "k", None), ("append", "k", "é"), ("w", "r2", ""),
                             client="c", seq=7).encode()  # deterministic bytes


def test_appends_build_lists_and_reads_return_them_whole() -> None:
    sm = KvStateMachine()
    r = apply(sm, txn(["r", "x", None], ["append", "x", "1"], ["append", "x", "2"],
                     ["r", "x", None], ["w", "y", "s"], ["r", "y", None]))
    assert r == KvResult(txn=(("r", "x", None), ("append", "x", "1"), ("append", "x", "2"),
                              ("r", "x", ("1", "2")), ("w", "y", "s"), ("r", "y", "s")))
    assert apply(sm, txn(["append", "x", "3"], ["r", "x", None])).txn[-1] == \
        ("r", "x", ("1", "2", "3"))
    assert sm.read("x") == KvResult(found=True, value='["1","2","3"]')  # get: JSON text
    assert apply(sm, KvCommand("put", "x", "plain")) == KvResult()  # a put replaces a list
    assert apply(sm, txn(["r", "x", None])).txn == (("r", "x", "plain"),)
    assert apply(sm, KvCommand("delete", "y")) == KvResult(found=True)
    assert apply(sm, txn(["r", "y", None])).txn == (("r", "y", None),)


def test_an_aborted_txn_changes_nothing() -> None:
    """The third op fails (an append to a key holding a string): the first two, which
    succeeded on the overlay, are not applied either."""
    sm = KvStateMachine()
    apply(sm, KvCommand("put", "s", "string"))
    apply(sm, txn(["append", "l", "a"]))
    before = sm.snapshot()
    r = apply(sm, txn(["append", "l", "b"], ["w", "t", "new"], ["append", "s", "x"]))
    assert not r.ok and "ops[2]: cannot append to 's': it holds a string" in r.value
    assert sm.snapshot() == before


def test_a_txn_that_would_read_too_much_is_aborted() -> None:
    sm = KvStateMachine()
    big = "x" * (MAX_VALUE_BYTES // 2)
    apply(sm, txn(["w", "a", big]))
    apply(sm, txn(["w", "b", big]))
    assert apply(sm, txn(*[["r", k, None] for k in "abab"])).ok  # 2 MiB: just fits
    r = apply(sm, txn(*[["r", k, None] for k in "abab"], ["r", "a", None]))
    assert not r.ok and "ops[4]: the txn reads more than" in r.value
    apply(sm, txn(["append", "l", big]))
    r = apply(sm, txn(["append", "l", big], ["append", "l", "y"]))
    assert not r.ok and "ops[1]: the list at 'l' would pass" in r.value
    assert sm.lists["l"] == (big,)


def test_a_retried_txn_applies_once_and_returns_the_first_result() -> None:
    sm = KvStateMachine()
    apply(sm, KvCommand("register", "", client_id="c"))
    first = apply(sm, txn(["append", "x", "1"], ["r", "x", None], client="c", seq=1))
    apply(sm, txn(["append", "x", "2"]))  # someone else, outside any session
    again = apply(sm, txn(["append", "x", "1"], ["r", "x", None], client="c", seq=1))
    assert again == first and first.txn[-1] == ("r", "x", ("1",))
    assert sm.lists["x"] == ("1", "2")


def test_snapshots_keep_lists_and_remembered_txn_results() -> None:
    sm = KvStateMachine()
    apply(sm, KvCommand("register", "", client_id="c"))
    first = apply(sm, txn(["append", "x", "1"], ["r", "x", None], client="c", seq=1))
    apply(sm, KvCommand("put", "p", "v"))
    restored = KvStateMachine.restore(sm.snapshot())
    assert restored.snapshot() == sm.snapshot()
    assert restored.lists == {"x": ("1",)} and restored.data == {"p": "v"}
    assert apply(restored, txn(["append", "x", "1"], ["r", "x", None], client="c",
                              seq=1)) == first  # the retry after a restore: deduplicated
    old = b'{"data":{"k":"v"},"sessions":[["c",3,false,"",true]]}'  # before lists existed
    assert KvStateMachine.restore(old).sessions == {"c": (3, KvResult())}


def test_the_simulator_binding_records_txns_as_lists() -> None:
    cmd = KV_BINDING.kv_command("txn", "", [["r", "x", None], ["append", "x", "1"]], "c", 2)
    assert cmd == txn(("r", "x", None), ("append", "x", "1"), client="c", seq=2)
    ok = Answer(1, KvResult(txn=(("r", "x", ("0",)), ("append", "x", "1"))))
    assert KV_BINDING.kv_outcome("txn", ok) == ("ok", [["r", "x", ["0"]],
                                                       ["append", "x", "1"]], None)
    aborted = Answer(1, KvResult(ok=False, value="txn aborted"))
    assert KV_BINDING.kv_outcome("txn", aborted) == ("fail", None, "txn aborted")
