"""A cluster file's per-node roles and options (``nodes.<id>.role``, ``nodes.<id>.options``):
parsed, overlaid on the cluster's options in each node's config, written back by
``to_json``, and refused with an error naming the node when malformed."""

from __future__ import annotations

from typing import Any

import pytest

from protocols.common.errors import ConfigError
from protocols.runtime.config import cluster_config_from_dict


def raw(**nodes: dict[str, Any]) -> dict[str, Any]:
    return {"protocol": "toy", "options": {"resend_ticks": 7, "resend_max": 3},
            "nodes": {"n1": {"address": "127.0.0.1:7001"},
                      "n2": {"address": "127.0.0.1:7002"}, **nodes}}


def test_roles_and_options_reach_each_node_overlaid_on_the_cluster_s() -> None:
    c = cluster_config_from_dict(raw(n3={"address": "127.0.0.1:7003", "role": "primary",
                                         "options": {"resend_ticks": 2}}))
    n3, n1 = c.node("n3"), c.node("n1")
    assert n3.role == "primary" and n3.options == {"resend_ticks": 2, "resend_max": 3}
    assert n1.role == "" and n1.options == {"resend_ticks": 7, "resend_max": 3}
    assert n1.roles == {"n3": "primary"}
    again = cluster_config_from_dict(c.to_json())
    assert again.roles == c.roles and again.node_options == {"n3": {"resend_ticks": 2}}


@pytest.mark.parametrize(("node", "error"), [
    ({"address": "127.0.0.1:7003", "role": ""}, "node n3: 'role' must be a non-empty string"),
    ({"address": "127.0.0.1:7003", "role": 3}, "node n3: 'role' must be a non-empty string"),
    ({"address": "127.0.0.1:7003", "options": [1]}, "node n3: 'options' must be an object"),
])
def test_a_malformed_role_or_options_names_the_node(node: dict[str, Any], error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        cluster_config_from_dict(raw(n3=node))
