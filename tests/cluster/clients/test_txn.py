"""``python -m cluster txn`` (issue #37): one transaction from the shell against a 2PC
cluster started by ``cluster up`` (and, in the slow suite, the transactional store
txnkv, which serves the same ``Transactions``): micro-ops in order, reads seeing the
transaction's own writes, an abort (exit 1: it did not happen), the routing table, and
the errors (a node that does not coordinate, bad micro-ops, another protocol)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.ctl.txn import micro_ops_of
from protocols.common.errors import ConfigError
from tests.cluster.clients.shell import cluster_up, run


def test_transactions_from_the_shell(twopc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, twopc, "txn", "routing") == (
        0, ["shards: n2 n3", "coordinators: n1"])
    assert run(capsys, twopc, "txn", "run", "-w", "a=1", "--put", "b=2", "-r", "a",
               "--get", "c") == (0, ["a 1", "c none", "committed"])
    assert run(capsys, twopc, "txn", "run", "--append", "l=3", "--append", "l=4", "-r", "l",
               "-r", "b", "--node", "n1") == (0, ["l [3, 4]", "b 2", "committed"])
    code, out = run(capsys, twopc, "txn", "run", "--add", "n=5", "--add", "n=-7")
    assert code == 1 and out[0].endswith("n would go below zero (5 + -7) (it did not "
                                         "happen)"), out
    assert run(capsys, twopc, "txn", "run", "-r", "n") == (0, ["n none", "committed"])


def test_txn_errors(twopc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, twopc, "txn", "--node", "n2", "run", "-r", "a") == (
        2, ["error: n2 does not coordinate: send transactions to a coordinator"])
    assert run(capsys, twopc, "txn", "run", "-w", "a=x") == (
        2, ["error: -w wants KEY=INTEGER, not 'a=x'"])
    code, out = run(capsys, twopc, "swim", "members")
    assert code == 2 and out[0].endswith("(try `txn`)"), out


def test_micro_ops_keep_the_command_line_order() -> None:
    assert micro_ops_of([("w", "a=1"), ("r", "a"), ("add", "n=-2")]) == [
        ["w", "a", 1], ["r", "a", None], ["add", "n", -2]]
    for bad in ([], [("append", "l")], [("add", "=1")]):
        with pytest.raises(ConfigError):
            micro_ops_of(bad)


@pytest.mark.slow
def test_a_transaction_on_txnkv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with cluster_up(tmp_path / "c", "txnkv", 3) as d:
        code, out = run(capsys, d, "txn", "routing")
        assert code == 0 and out[1] == "coordinators: n1 n2 n3", out
        assert run(capsys, d, "txn", "run", "-w", "a=1", "-w", "b=2", "-r", "a",
                   "--node", "n2") == (0, ["a 1", "committed"])
        assert run(capsys, d, "txn", "run", "-r", "a", "-r", "b", "--node", "n3") == (
            0, ["a 1", "b 2", "committed"])
        code, out = run(capsys, d, "txn", "run", "--add", "n=-1")
        assert code == 1 and "would go below zero" in out[0], out
