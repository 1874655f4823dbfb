"""Mutual TLS material (protocols.runtime.tls): what ``cluster up --tls`` issues, and the
clear ConfigError a node gives for each way its files can be wrong — in the library and
from a real node process (exit 2, one line naming the file)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from protocols.common.errors import ConfigError
from protocols.runtime.config import cluster_config_from_dict
from protocols.runtime.tls import CLIENT_NAME, CertificateAuthority, TlsFiles, issue_cluster_tls


def _cert(path: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def test_issued_certificates_name_their_node_and_keys_are_private(tmp_path: Path) -> None:
    nodes, client = issue_cluster_tls(tmp_path, ["n1", "n_2"])
    ca = CertificateAuthority.load(tmp_path)
    for name, files in [*nodes.items(), (CLIENT_NAME, client)]:
        assert stat.S_IMODE(os.stat(files.key).st_mode) == 0o600, files.key
        assert ca.signed(Path(files.cert).read_bytes())
        assert files.load(name).name == name
        sans = _cert(files.cert).extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value
        assert name in sans.get_values_for_type(x509.DNSName)
    assert stat.S_IMODE(os.stat(tmp_path / "ca.key").st_mode) == 0o600
    node_sans = _cert(nodes["n1"].cert).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert {str(ip) for ip in node_sans.get_values_for_type(x509.IPAddress)} == {"127.0.0.1"}
    assert "localhost" in node_sans.get_values_for_type(x509.DNSName)
    usage = _cert(client.cert).extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]  # a client cannot serve as a node
    other = CertificateAuthority.create(tmp_path / "other")
    assert not other.signed(Path(nodes["n1"].cert).read_bytes())


@pytest.fixture
def files(tmp_path: Path) -> TlsFiles:
    nodes, _ = issue_cluster_tls(tmp_path / "tls", ["n1"])
    return nodes["n1"]


def test_each_bad_file_is_a_config_error_naming_it(files: TlsFiles, tmp_path: Path) -> None:
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello\n")
    os.chmod(not_pem, 0o600)
    loose = tmp_path / "loose.key"
    loose.write_bytes(Path(files.key).read_bytes())
    os.chmod(loose, 0o644)
    other_key = tmp_path / "other" / "n1.key"
    CertificateAuthority.create(tmp_path / "other").issue("n1", tmp_path / "other", server=True)
    cases = [
        (TlsFiles(str(tmp_path / "nope.pem"), files.cert, files.key),
         f"node n1: CA certificate: {tmp_path / 'nope.pem'} does not exist"),
        (TlsFiles(str(tmp_path), files.cert, files.key),  # a directory: unreadable as a file
         f"node n1: CA certificate: cannot read {tmp_path}"),
        (TlsFiles(files.ca, str(not_pem), files.key),
         f"node n1: certificate: {not_pem} is not a PEM certificate"),
        (TlsFiles(files.ca, files.cert, str(not_pem)),
         f"node n1: private key: {not_pem} is not an unencrypted PEM private key"),
        (TlsFiles(files.ca, files.cert, str(loose)),
         f"node n1: private key: {loose} is readable by others (mode 0644); chmod 600"),
        (TlsFiles(files.ca, files.cert, str(other_key)),
         f"node n1: private key {other_key} does not belong to certificate {files.cert}"),
    ]
    for bad, message in cases:
        with pytest.raises(ConfigError) as info:
            bad.load("node n1")
        assert str(info.value).startswith(message), str(info.value)


def _raw(tls: object) -> dict[str, object]:
    return {"protocol": "bare", "tls": tls,
            "nodes": {"n1": {"address": "127.0.0.1:7001"}, "n2": {"address": "127.0.0.1:7002"}}}


@pytest.mark.parametrize("tls,message", [
    ("yes", "'tls' must be an object with 'ca'"),
    ({"ca": "ca.pem"}, "'tls' must be an object with 'ca'"),
    ({"ca": 3, "nodes": {}}, "tls.ca: expected the path of the CA certificate"),
    ({"ca": "ca.pem", "nodes": {"n1": {"cert": "a", "key": "b"}}},
     "tls.nodes: no certificate for n2"),
    ({"ca": "ca.pem", "nodes": {"n1": {"cert": "a", "key": "b"}, "n2": {"cert": "a", "key": "b"},
                                "n9": {"cert": "a", "key": "b"}}},
     "tls.nodes: unknown node(s) n9"),
    ({"ca": "ca.pem", "nodes": {"n1": {"cert": "a"}, "n2": {"cert": "a", "key": "b"}}},
     "tls.nodes.n1: expected {\"cert\": PATH, \"key\": PATH}"),
])
def test_the_tls_section_is_checked(tls: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        cluster_config_from_dict(_raw(tls), "c.json")
    assert str(info.value).startswith(f"c.json: {message}"), str(info.value)


def test_the_tls_section_round_trips() -> None:
    tls = {"ca": "ca.pem", "nodes": {"n1": {"cert": "1.pem", "key": "1.key"},
                                     "n2": {"cert": "2.pem", "key": "2.key"}}}
    config = cluster_config_from_dict(_raw(tls))
    assert config.node("n2").tls == TlsFiles("ca.pem", "2.pem", "2.key")
    assert config.to_json()["tls"] == tls
    assert cluster_config_from_dict(_raw(None)).node("n1").tls is None  # plaintext


def test_a_node_with_a_bad_key_exits_2_saying_which_file(files: TlsFiles,
                                                         tmp_path: Path) -> None:
    os.chmod(files.key, 0o640)
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps({
        "protocol": "bare", "nodes": {"n1": {"address": "127.0.0.1:1",
                                             "data_dir": str(tmp_path / "n1")}},
        "tls": {"ca": files.ca, "nodes": {"n1": {"cert": files.cert, "key": files.key}}}}))
    done = subprocess.run([sys.executable, "-m", "protocols", "--config", str(path),
                           "--node-id", "n1"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: node n1: private key: {files.key} is readable by others (mode 0640); "
        f"chmod 600 {files.key}")


async def test_a_caller_accepts_only_the_certificate_naming_the_node_it_dials(
        tmp_path: Path) -> None:
    """Every node's certificate is signed by the same CA, so the CA alone cannot tell n1
    from n2: the caller checks the node id in the certificate (a link wired to the wrong
    node, or another CA holder at a node's address, fails the handshake)."""
    import grpc
    import grpc.aio
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    from protocols.runtime.tls import diagnose, open_channel, server_credentials

    nodes, client_files = issue_cluster_tls(tmp_path, ["n1", "n2"])
    client = client_files.load("client")
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    port = server.add_secure_port("127.0.0.1:0", server_credentials(nodes["n1"].load("n1")))
    address = f"127.0.0.1:{port}"
    await server.start()
    try:
        outcomes = {}
        for name in ("n1", "n2"):
            async with open_channel(address, client, name) as ch:
                try:
                    await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(),
                                                               timeout=5)
                    outcomes[name] = "ok"
                except grpc.aio.AioRpcError as e:
                    outcomes[name] = e.code().name
        why = await diagnose(address, "n2", client)
    finally:
        await server.stop(None)
    assert outcomes == {"n1": "ok", "n2": "UNAVAILABLE"}
    assert why is not None and why.startswith(f"TLS: node n2 at {address} showed a "
                                              "certificate this client does not trust"), why
