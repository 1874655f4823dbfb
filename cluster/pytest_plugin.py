"""pytest plugin for chaos tests on local clusters (registered as the ``cluster`` pytest11
entry point, so any project that installs this package gets it).

Fixtures:

* ``cluster`` — a factory: ``c = await cluster("raft", nodes=5)`` starts a
  ``LocalCluster`` under the test's ``tmp_path``; every cluster is torn down at the end
  of the test, and on failure the paths of its node logs and nemesis log are printed
  (pytest keeps the tmp dirs of recent runs; ``PROTOCOLS_ARTIFACTS=DIR`` copies them);
  a cluster started with ``event_log=True`` also leaves ``spacetime.html`` (the run as a
  space-time diagram) and a ShiViz log there.
* ``history`` — a ``protocols.check.history.History``, written to ``history.jsonl`` in
  the test's tmp dir at teardown.

Helper: ``await wait_until(predicate, deadline_s, describe=...)`` polls a sync or async
predicate; on timeout it fails with what the predicate (or ``describe``) last saw.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cluster.waiting import WaitTimeout, wait_until
from protocols.check.history import History

__all__ = ["WaitTimeout", "wait_until"]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report: Any = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
async def cluster(request: pytest.FixtureRequest,
                  tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    from cluster.runner import LocalCluster

    started: list[LocalCluster] = []

    async def make(protocol: str = "bare", nodes: int = 3, **kwargs: Any) -> LocalCluster:
        c = LocalCluster(protocol, nodes, data_dir=tmp_path / f"cluster{len(started)}",
                         **kwargs)
        started.append(c)
        await c.start()
        return c

    try:
        yield make
    finally:
        for c in started:
            await c.stop()
        if request.node.stash.get(_FAILED, False):
            _draw_runs(request, started)
            _report_artifacts(request, [c.dir for c in started])


def _draw_runs(request: pytest.FixtureRequest, started: list[Any]) -> None:
    """Clusters started with ``event_log=True`` leave a space-time diagram of the run."""
    from cluster.diagrams import write_diagrams

    for c in started:
        if not (c.dir / "spacetime.html").exists():
            write_diagrams(c.dir, faults=c.nemesis.intervals(), title=request.node.name)


def _report_artifacts(request: pytest.FixtureRequest, dirs: list[Path]) -> None:
    target = os.environ.get("PROTOCOLS_ARTIFACTS")
    lines = []
    for d in dirs:
        keep = d
        if target:
            keep = Path(target) / request.node.name / d.name
            shutil.copytree(d, keep, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("*.lock", "LOCK"))
        logs = sorted(str(p) for p in keep.glob("*.log"))
        lines.append(f"cluster artifacts: {keep} (logs: {', '.join(logs)}; nemesis: "
                     f"{keep / 'nemesis.jsonl'})")
    print("\n" + "\n".join(lines))


@pytest.fixture
def history(tmp_path: Path) -> Iterator[History]:
    h = History()
    yield h
    (tmp_path / "history.jsonl").write_text(h.to_jsonl())
