"""``python -m cluster swim`` (issue #37): SWIM's membership from the shell against a
cluster started by ``cluster up`` in this process, as a user would: members, the
PN-counter, user events and metadata spreading by gossip, a member leaving, and the
errors (unknown node, another protocol's server or cluster, bad arguments)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster.clients.shell import client_address, run, until


def test_members_counter_events_and_meta(swim: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = run(capsys, swim, "swim", "members")
    assert code == 0 and [line.split()[:3] for line in lines] == [
        [n, "alive", "0"] for n in ("n1", "n2", "n3")], lines
    assert run(capsys, swim, "swim", "--node", "n2", "counter", "add", "5") == (0, ["5"])
    assert run(capsys, swim, "swim", "counter", "add", "-2", "--node", "n2") == (0, ["3"])
    until(capsys, swim, ("swim", "counter", "--node", "n3"), lambda out: out == ["3"])
    assert run(capsys, swim, "swim", "event", "deploy", "v1.2", "--node", "n1") == (
        0, ["event 'deploy' sent from n1 (seq 1)"])
    until(capsys, swim, ("swim", "events", "--node", "n3"),
          lambda out: out == ["n1 1 deploy v1.2"])
    assert run(capsys, swim, "swim", "meta", "zone", "eu", "--node", "n2") == (
        0, ["n2/zone=eu"])
    until(capsys, swim, ("swim", "meta", "--node", "n1"), lambda out: "n2/zone=eu" in out)


def test_errors_are_one_line_and_exit_2(swim: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, swim, "swim", "--node", "n9", "members") == (
        2, ["error: no node 'n9' in this cluster (n1, n2, n3)"])
    assert run(capsys, swim, "swim", "leave") == (
        2, ["error: swim leave: say which node leaves (--node N or --endpoint)"])
    code, out = run(capsys, swim, "kv", "get", "a")
    assert code == 2 and out[0].endswith("runs swim; `kv` talks to a raft or paxos cluster "
                                         "(try `swim`)"), out
    endpoint = client_address(swim, "n1")
    assert run(capsys, swim, "causal", "--endpoint", endpoint, "send", "hi") == (
        2, [f"error: {endpoint} is not a causal node: it does not serve "
            "protocols.causal.v1.Broadcaster"])
    with pytest.raises(SystemExit) as bad:
        run(capsys, swim, "swim", "counter", "5")
    err = capsys.readouterr().err.splitlines()
    assert bad.value.code == 2 and len(err) == 1 and "invalid choice: '5'" in err[0], err


def test_a_member_leaves(swim: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Last: the cluster has one member fewer after it."""
    endpoint = client_address(swim, "n3")
    assert run(capsys, swim, "swim", "leave", "--endpoint", endpoint) == (
        0, [f"{endpoint} left"])
    until(capsys, swim, ("swim", "members", "--node", "n1"),
          lambda out: any(line.startswith("n3 left ") for line in out))
