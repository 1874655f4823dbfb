"""The host, the contract's pump and the transport: what every protocol relies on from
its drivers without writing it (persist before a reply leaves, on the unary path and
the peer stream; the pump's order; deferred replies released only after their write; a
late reply discarded after its deadline; a failed node steps its core no more; missed
ticks skipped), and the shared client-facing services' input rules. The table is
docs/host-rules.md."""

from __future__ import annotations

from mutations import Mutation

HOST = "src/protocols/runtime/host.py"
SLOT = "src/protocols/runtime/slot.py"
PEERS = "src/protocols/runtime/peers.py"
TRANSPORT = "src/protocols/runtime/transport.py"
CONTRACT = "src/protocols/contract.py"
HOST_TESTS = "tests/runtime/test_host_contract.py"

MUTATIONS = [
    Mutation("persist-before-reply", "Figure 2 / etcd Ready: a reply leaves once durable "
             "(the contract's Inbox, for the unary path, the peer stream and the simulator)",
             CONTRACT, "        pump.after_durable(seq, lambda: respond(reply))\n",
             "        respond(reply)\n", (HOST_TESTS, "tests/contract")),
    Mutation("pump-order", "the contract: persist before anything else is acted on",
             CONTRACT,
             "        for envelope in ready.messages:\n            if envelope.ahead_of_persist:",
             "        for envelope in ready.messages:\n            if True:",
             ("tests/contract",)),
    Mutation("deferred-reply-after-write",
             "the contract: a deferred reply leaves only after its Ready's write",
             CONTRACT, "        self.writing = Write(ready.persist, ready, covered)\n",
             "        for reply in ready.replies:\n"
             "            self.actions.reply(reply)\n"
             "        ready.replies = []\n"
             "        self.writing = Write(ready.persist, ready, covered)\n",
             ("tests/contract",)),
    Mutation("write-before-done", "the host reports a write done only once it is durable",
             SLOT, "                await self._persist(write.records)\n"
                   "                if self.halted:  # a failed core's output is never acted on\n"
                   "                    return\n",
             "                self.pump.write_done()\n"
             "                await self._persist(write.records)\n"
             "                if self.halted:  # a failed core's output is never acted on\n"
             "                    return\n", (HOST_TESTS,)),
    Mutation("deferred-let-go", "a deferred reply is forgotten at its sender's deadline "
             "(a later one is discarded)", PEERS,
             "            asyncio.get_running_loop().call_later(frame.deadline_ms / 1000,\n"
             "                                                  slot.inbox.expire, arrival)\n",
             "            pass\n",
             (f"{HOST_TESTS}::test_a_deferred_reply_on_the_peer_stream_is_let_go_at_the_"
              "senders_deadline",)),
    Mutation("late-reply-discarded", "a reply after the deadline is discarded: one outcome "
             "per request", TRANSPORT, "        del self.pending[request.frame_id]\n", "",
             ("tests/runtime/test_transport.py",)),
    Mutation("frame-deadline", "a frame still queued at its deadline is never sent",
             TRANSPORT,
             "if remaining <= 0 or (request is not None and request.failed):",
             "if request is not None and request.failed:",
             ("tests/runtime/test_transport.py",)),
    Mutation("failed-core-stepped-no-more",
             "fail-stop: a core that raised takes no input, says nothing", SLOT,
             "        if self.halted:\n            raise CoreFailed()\n        try:\n"
             "            arrival = self.inbox.receive(",
             "        try:\n            arrival = self.inbox.receive(",
             (f"{HOST_TESTS}::test_a_core_that_fails_stops_the_node_with_exit_code_4",)),
    Mutation("ticks-skipped", "the contract: missed ticks are skipped, not burst", HOST,
             "next_at = max(next_at + tick_s, loop.time())", "next_at = next_at + tick_s",
             (f"{HOST_TESTS}::test_ticks_a_stalled_loop_missed_are_skipped_not_burst",)),
    Mutation("malformed-refused", "bytes that are not the request: INVALID_ARGUMENT",
             "src/protocols/runtime/malformed.py",
             "        if type(request) is Malformed:\n"
             "            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(request))\n",
             "", ("tests/runtime/test_admin_input.py",)),
    Mutation("admin-fault-peer", "Admin: a fault names a peer of the node, not itself",
             "src/protocols/runtime/admin_input.py",
             "    if peer == me:\n", "    if False:\n",
             ("tests/runtime/test_admin_input.py",)),
    Mutation("admin-load-bounds", "Admin: a load beyond its bounds is refused, runs nothing",
             "src/protocols/runtime/admin_input.py",
             "    if request.in_flight > MAX_LOAD_IN_FLIGHT:\n",
             "    if False:\n", ("tests/runtime/test_admin_input.py",)),
    Mutation("kv-session-seq", "Kv: a session write with seq 0 is refused (it would be "
             "taken for a retry)", "src/protocols/kv/service.py",
             'if client_id and op in ("put", "cas", "delete") and seq == 0:',
             "if False:",
             ("tests/kv/integration/test_cluster.py::test_client_input_never_stops_a_node",)),
]
