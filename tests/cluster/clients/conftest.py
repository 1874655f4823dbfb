"""The clusters the shell clients' tests talk to: one per protocol, started by ``cluster
up`` as a user would (detached processes), all at once, and stopped by ``cluster down``
after the package's last test.

Started together their start-ups overlap (five clusters in about the time of two one
after the other: most of a start is waiting for processes to come up), which keeps the
package inside its share of the default suite. Only the clusters the run's tests ask
for are started (``-k``, a single module: fewer)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cluster.__main__ import cmd_up, main, parser

CLUSTERS = {"swim": 3, "causal": 3, "vkv": 2, "dynamo": 3, "twopc": 3}  # protocol: nodes


@pytest.fixture(scope="package")
def clusters(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    wanted = sorted({name for item in request.session.items
                     for name in getattr(item, "fixturenames", ()) if name in CLUSTERS})
    dirs = {p: tmp_path_factory.mktemp(f"{p}-cluster") / "c" for p in wanted}
    try:
        asyncio.run(_up(dirs))
        yield dirs
    finally:
        with ThreadPoolExecutor(len(dirs) or 1) as pool:  # each waits for its processes
            list(pool.map(lambda d: main(["--dir", str(d), "down"]), dirs.values()))


async def _up(dirs: dict[str, Path]) -> None:
    results = await asyncio.gather(
        *(cmd_up(parser().parse_args(["--dir", str(d), "up", p, "-n", str(CLUSTERS[p])]))
          for p, d in dirs.items()), return_exceptions=True)
    for p, result in zip(dirs, results, strict=True):
        if result != 0:
            raise AssertionError(f"cluster up {p}: {result!r}")


@pytest.fixture
def swim(clusters: dict[str, Path]) -> Path:
    return clusters["swim"]


@pytest.fixture
def causal(clusters: dict[str, Path]) -> Path:
    return clusters["causal"]


@pytest.fixture
def vkv(clusters: dict[str, Path]) -> Path:
    return clusters["vkv"]


@pytest.fixture
def dynamo(clusters: dict[str, Path]) -> Path:
    return clusters["dynamo"]


@pytest.fixture
def twopc(clusters: dict[str, Path]) -> Path:
    return clusters["twopc"]
