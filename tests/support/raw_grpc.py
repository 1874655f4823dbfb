"""Bytes sent to a node as any client could send them, for bad-input tests: no stub, no
serializer, so a test can send what no generated client would (a corrupt wire format, a
string that is not UTF-8, a request over gRPC's size limit)."""

from __future__ import annotations

import grpc
import pytest

__all__ = ["raw_call"]


async def raw_call(address: str, path: str, body: bytes, timeout_s: float = 30) -> \
        grpc.aio.AioRpcError:
    """``body`` sent as the request of the method ``path`` (``/package.Service/Method``);
    the error it got (the test fails if the call succeeded)."""
    options = [("grpc.max_send_message_length", 128 << 20)]  # let gRPC's server refuse it
    async with grpc.aio.insecure_channel(address, options=options) as ch:
        call = ch.unary_unary(path, request_serializer=lambda b: b,
                              response_deserializer=lambda b: b)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call(body, timeout=timeout_s)
    return err.value
