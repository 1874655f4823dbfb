"""``python -m cluster kv`` (issue #37's shell client for the KV): put, get, cas, del
against a Raft cluster started by ``cluster up`` in another process, the leader found by
the client; answers "no" exit 1, failures one line and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.__main__ import main


def kv(capsys: pytest.CaptureFixture[str], d: Path, *args: str) -> tuple[int, str]:
    code = main(["--dir", str(d), "kv", *args])
    return code, " ".join(capsys.readouterr().out.split())


def test_the_kv_from_the_shell(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "kv"
    assert main(["--dir", str(d), "up", "raft", "-n", "3"]) == 0
    try:
        capsys.readouterr()
        assert kv(capsys, d, "put", "a", "1") == (0, "ok")
        assert kv(capsys, d, "get", "a") == (0, "1")
        assert kv(capsys, d, "cas", "a", "1", "2") == (0, "ok")
        assert kv(capsys, d, "cas", "a", "1", "3") == (
            1, "a: compare failed (it does not hold '1')")
        assert kv(capsys, d, "cas", "b", "--absent", "7") == (0, "ok")
        assert kv(capsys, d, "del", "a") == (0, "deleted")
        assert kv(capsys, d, "get", "a") == (1, "a: no such key")
        assert kv(capsys, d, "del", "a") == (1, "a: no such key")
        # user text is printed as it is, never read as rich markup
        assert kv(capsys, d, "put", "[/x]", "[bold]v") == (0, "ok")
        assert kv(capsys, d, "get", "[/x]") == (0, "[bold]v")
        assert kv(capsys, d, "get", "[/y]") == (1, "[/y]: no such key")
        code, out = kv(capsys, d, "--node", "n9", "get", "b")
        assert code == 2 and "no node 'n9' in this cluster (n1, n2, n3)" in out
        code, out = kv(capsys, d, "cas", "b", "7")
        assert code == 2 and "give OLD, or --absent" in out
        leader_or_not = [kv(capsys, d, "--node", n, "--timeout", "1", "get", "b")
                         for n in ("n1", "n2", "n3")]
        assert (0, "7") in leader_or_not  # the leader answers; the others say who leads
        assert all(code == 0 or "not the leader" in out for code, out in leader_or_not)
    finally:
        main(["--dir", str(d), "down"])
