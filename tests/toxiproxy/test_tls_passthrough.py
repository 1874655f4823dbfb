"""The proxy carries TLS untouched: it relays TCP bytes and holds no key, so a mutual-TLS
gRPC call through it is one TLS session between the two ends — the server sees the
client's own certificate, the client checks the server's by its node name, and a
certificate the server's CA did not sign is refused through the proxy as it is direct."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import grpc
import grpc.aio

from protocols._pb import admin_pb2, admin_pb2_grpc
from protocols.runtime.tls import (
    CertificateAuthority,
    TlsFiles,
    diagnose,
    open_channel,
    server_credentials,
)
from tests.toxiproxy.toxiproxy_support import Server


class _WhoCalls(admin_pb2_grpc.ProbeServicer):
    """Answers a ping with the common name of the certificate the caller showed."""

    async def Ping(self, request: admin_pb2.PingRequest,
                   context: grpc.aio.ServicerContext) -> admin_pb2.PingReply:
        names = context.auth_context().get("x509_common_name", [b"?"])
        return admin_pb2.PingReply(node_id=names[0].decode(), seq=request.seq)


def test_mutual_tls_through_a_proxy_is_end_to_end(tp: Server, tmp_path: Path) -> None:
    ca = CertificateAuthority.create(tmp_path / "ca")
    node = ca.issue("n1", tmp_path / "ca", server=True).load("n1")
    client = ca.issue("client", tmp_path / "ca", server=False).load("client")
    other = CertificateAuthority.create(tmp_path / "other")
    rogue = TlsFiles(client.files.ca, *_cert_and_key(other.issue("client", tmp_path / "other",
                                                                 server=False))).load("rogue")

    async def run() -> tuple[str, grpc.StatusCode, str | None]:
        server = grpc.aio.server()
        admin_pb2_grpc.add_ProbeServicer_to_server(_WhoCalls(), server)
        port = server.add_secure_port("127.0.0.1:0", server_credentials(node))
        await server.start()
        proxy = await asyncio.to_thread(tp.client.create_proxy, "tls", f"127.0.0.1:{port}")
        try:
            async with open_channel(proxy.listen, client, "n1") as ch:
                reply = await admin_pb2_grpc.ProbeStub(ch).Ping(
                    admin_pb2.PingRequest(from_id="t", seq=7, payload=os.urandom(100_000)),
                    timeout=10)
            async with open_channel(proxy.listen, rogue, "n1") as ch:
                try:
                    await admin_pb2_grpc.ProbeStub(ch).Ping(admin_pb2.PingRequest(seq=1),
                                                            timeout=10)
                    refused = grpc.StatusCode.OK
                except grpc.aio.AioRpcError as e:
                    refused = e.code()
            why = await diagnose(proxy.listen, "n1", rogue)
            return f"{reply.node_id}:{reply.seq}", refused, why
        finally:
            await server.stop(None)

    seen, refused, why = asyncio.run(run())
    assert seen == "client:7"  # the server saw the client's certificate, not the proxy's
    assert refused == grpc.StatusCode.UNAVAILABLE
    assert why is not None and "refused this client's certificate" in why


def _cert_and_key(files: TlsFiles) -> tuple[str, str]:
    return files.cert, files.key
