"""``python -m cluster ring``: each node's share of a Dynamo ring (§4.2-4.3) and what it
holds. End to end on a running cluster it is run after a join, in
``test_dynamo_cluster.py``; here, the refusal of another protocol's cluster and the
table's rows for a node that does not answer or sees another ring."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console

from cluster.ring import ownerships, ring_table
from cluster.runner import LocalCluster
from protocols.common.errors import ConfigError
from protocols.dynamo.client import Ownership, Share


async def test_ring_refuses_a_cluster_of_another_protocol(tmp_path: Path) -> None:
    """Refused before any node is asked (the CLI turns the ConfigError into exit code 2,
    as for every command): no cluster needs to run for it."""
    c = LocalCluster("bare", nodes=1, data_dir=tmp_path / "c")
    with pytest.raises(ConfigError, match="shows a dynamo cluster's ring"):
        await ownerships(c)


def test_the_table_names_silent_nodes_and_rings_not_yet_in_step() -> None:
    shares = {n: Share(0.25, 0.75) for n in ("n1", "n2", "n3", "n4")}
    views = {"n1": Ownership("n1", shares, 10, 1, 0), "n2": None,
             "n3": Ownership("n3", {n: shares[n] for n in ("n1", "n3", "n4")}, 7, 0, 4),
             "n4": Ownership("n4", shares, 9, 0, 0)}
    console = Console(width=100, record=True, color_system=None)
    with console.capture() as captured:
        console.print(ring_table(views))
    text = captured.get()
    assert "dynamo ring as n1 sees it: 4 nodes, N=3" in text
    lines = {line.split()[1]: line for line in text.splitlines()
             if re.match(r"│ n\d ", line)}
    assert "no answer" in lines["n2"] and "25.0%" in lines["n2"]
    assert re.search(r"25\.0%\s+│\s+75\.0%\s+│\s+7\s+│\s+0\s+│\s+4", lines["n3"]), text
    assert "n3 sees a different ring: n1, n3, n4" in text
