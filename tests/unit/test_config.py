"""Config validation: every mistake gets an error naming the field and the fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from protocols.common.errors import ConfigError, UnknownNode
from protocols.runtime.config import cluster_config_from_dict, load_cluster_config


def _config(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "protocol": "bare",
        "nodes": {
            "n1": {"address": "127.0.0.1:7001", "data_dir": "/tmp/x/n1"},
            "n2": {"address": "127.0.0.1:7002", "data_dir": "/tmp/x/n2"},
            "n3": {"address": "127.0.0.1:7003", "data_dir": "/tmp/x/n3"},
        },
    }
    raw.update(overrides)
    return raw


def test_valid_config_gives_each_node_its_peers() -> None:
    links = {"n1": {"n2": "127.0.0.1:9012", "n3": "127.0.0.1:9013"}}
    cfg = cluster_config_from_dict(_config(links=links, tick_ms=20, seed=7))
    n1 = cfg.node("n1")
    assert n1.peers == {"n2": "127.0.0.1:9012", "n3": "127.0.0.1:9013"}
    assert n1.tick_s == 0.02 and n1.seed == 7
    # no links for n2: it dials its peers directly
    assert cfg.node("n2").peers == {"n1": "127.0.0.1:7001", "n3": "127.0.0.1:7003"}


def test_unknown_node_id_names_the_members() -> None:
    cfg = cluster_config_from_dict(_config())
    with pytest.raises(UnknownNode, match=r"unknown node id 'n9'; members are n1, n2, n3"):
        cfg.node("n9")


def test_duplicate_address_is_refused() -> None:
    raw = _config()
    raw["nodes"]["n3"]["address"] = "127.0.0.1:7001"
    with pytest.raises(ConfigError, match="address 127.0.0.1:7001: used by nodes n1 and n3"):
        cluster_config_from_dict(raw)


def test_missing_peer_in_links_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"links.n1: missing peer\(s\) n3"):
        cluster_config_from_dict(_config(links={"n1": {"n2": "127.0.0.1:9012"}}))


def test_link_to_unknown_node_is_refused() -> None:
    links = {"n1": {"n2": "127.0.0.1:9012", "n3": "127.0.0.1:9013", "n7": "127.0.0.1:9017"}}
    with pytest.raises(ConfigError, match="links.n1: unknown node id 'n7'"):
        cluster_config_from_dict(_config(links=links))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"protocol": ""}, "'protocol' must name a protocol"),
        ({"nodes": {}}, "'nodes' must be a non-empty object"),
        ({"nodes": {"bad id!": {"address": "127.0.0.1:1"}}}, "invalid node id 'bad id!'"),
        ({"nodes": {"n1": {"address": "localhost"}}}, "expected 'host:port'"),
        ({"nodes": {"n1": {"address": "127.0.0.1:70000"}}}, "port in 1..65535"),
        ({"tick_ms": 0}, "'tick_ms' must be a positive number"),
        ({"rpc_deadline_ms": "fast"}, "'rpc_deadline_ms' must be a positive number"),
        ({"seed": 1.5}, "'seed' must be an integer"),
        ({"colour": "blue"}, "unknown key\\(s\\) colour"),
    ],
)
def test_bad_fields_are_named(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        cluster_config_from_dict(_config(**overrides))


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_cluster_config(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match=f"{bad}: not valid JSON"):
        load_cluster_config(str(bad))
    good = tmp_path / "good.json"
    good.write_text(json.dumps(_config()))
    assert load_cluster_config(str(good)).node_ids == ["n1", "n2", "n3"]
