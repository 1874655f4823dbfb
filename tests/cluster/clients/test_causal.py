"""``python -m cluster causal`` (issue #37): causal broadcast from the shell against a
cluster started by ``cluster up``: send through one member, read another's deliveries in
its order, and the errors (nothing listening, bad arguments)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster.clients.shell import run, silent_port, until


def test_send_and_deliveries(causal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, causal, "causal", "send", "hello", "--node", "n1") == (
        0, ["sent: n1 1"])
    until(capsys, causal, ("causal", "deliveries", "--node", "n2"),
          lambda out: out == ["0 n1 1 hello"])
    # n2 delivered "hello" before sending this: every member delivers it after "hello"
    assert run(capsys, causal, "causal", "--node", "n2", "send", "re: hello") == (
        0, ["sent: n2 1"])
    until(capsys, causal, ("causal", "deliveries", "--node", "n3"),
          lambda out: out == ["0 n1 1 hello", "1 n2 1 re: hello"])
    assert run(capsys, causal, "causal", "deliveries", "--node", "n3", "--since", "1") == (
        0, ["1 n2 1 re: hello"])


def test_errors_are_one_line_and_exit_2(causal: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    with silent_port() as nowhere:
        assert run(capsys, causal, "causal", "--endpoint", nowhere, "send", "x") == (
            2, [f"error: {nowhere}: nothing answers there (down, or not listening)"])
    assert run(capsys, causal, "causal", "deliveries", "--since", "-1") == (
        2, ["error: causal deliveries: --since must be 0 or more, not -1"])
    code, out = run(capsys, causal, "txn", "routing")
    assert code == 2 and out[0].endswith("runs causal; `txn` talks to a twopc or txnkv "
                                         "cluster (try `causal`)"), out
