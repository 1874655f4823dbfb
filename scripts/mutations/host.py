"""The host and the contract: what every protocol relies on from its drivers (persist
before a reply leaves, the pump's order, deferred replies released only after their
write). The table is docs/host-rules.md."""

from __future__ import annotations

from mutations import Mutation

MUTATIONS = [
    Mutation("persist-before-reply", "Figure 2 / etcd Ready: a reply leaves once durable",
             "src/protocols/runtime/host.py",
             "                await self._durable_after(seq)  # persist before the reply leaves",
             "                pass", ("tests/runtime/test_host_contract.py",)),
    Mutation("pump-order", "the contract: persist before anything else is acted on",
             "src/protocols/contract.py",
             "        for envelope in ready.messages:\n            if envelope.ahead_of_persist:",
             "        for envelope in ready.messages:\n            if True:",
             ("tests/contract",)),
]
