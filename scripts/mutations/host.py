"""The host, the contract's pump and the transport: what every protocol relies on from
its drivers without writing it (persist before a reply leaves, on the unary path and
the peer stream; the pump's order; deferred replies released only after their write; a
late reply discarded after its deadline; a failed node steps its core no more; missed
ticks skipped), the shared client-facing services' input rules, and the platform's
targeted faults and composed systems in both drivers (the Inbox's deferred and one-way
rules, per-Rpc deadlines, frames addressed to their group and coalesced, crash points,
message hooks, the paused disk, groups, nodes that come and go, roles, TLS). The table
is docs/host-rules.md."""

from __future__ import annotations

from mutations import Mutation

HOST = "src/protocols/runtime/host.py"
SLOT = "src/protocols/runtime/slot.py"
PEERS = "src/protocols/runtime/peers.py"
TRANSPORT = "src/protocols/runtime/transport.py"
CONTRACT = "src/protocols/contract.py"
HOST_TESTS = "tests/runtime/test_host_contract.py"
WORLD = "src/protocols/sim/world.py"
FAULTS = "src/protocols/runtime/faults.py"
MEMBERSHIP = "src/protocols/runtime/membership.py"
TLS = "src/protocols/runtime/tls.py"
PUMP_TESTS = "tests/contract/test_pump.py"
SIM_FAULTS = "tests/sim/test_targeted_faults.py"
CLUSTER_FAULTS = "tests/cluster/test_targeted_faults.py"
SIM_NODES = "tests/sim/test_nodes_come_and_go.py"
TOY_MEMBERSHIP = "tests/toy/integration/test_roles_and_membership.py"

MUTATIONS = [
    Mutation("persist-before-reply", "Figure 2 / etcd Ready: a reply leaves once durable "
             "(the contract's Inbox, for the unary path, the peer stream and the simulator)",
             CONTRACT, "        pump.after_durable(seq, functools.partial(respond, reply))",
             "        respond(reply)", (HOST_TESTS, "tests/contract")),
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
    # ------------------------------------------------------------ the inbox
    Mutation("inbox-deferred-expire", "the contract's Inbox: a deferred reply let go at "
             "its sender's deadline is never sent", CONTRACT,
             "        self._waiting.pop(deferred, None)\n", "        pass\n",
             (f"{PUMP_TESTS}::test_a_deferred_reply_let_go_at_its_deadline_is_never_sent",)),
    Mutation("sim-deferred-let-go", "the simulator lets a deferred reply go at its "
             "sender's deadline", WORLD, "            slot.inbox.expire(deferred)\n",
             "            pass\n",
             (f"{SIM_FAULTS}::test_a_deferred_reply_is_let_go_at_its_senders_deadline",)),
    Mutation("one-way-answered", "a core that answers a one-way message is a bug "
             "(AssertionError), not a reply", CONTRACT,
             "            if reply is not None:\n                raise AssertionError(",
             "            if False:\n                raise AssertionError(",
             (f"{PUMP_TESTS}::test_a_one_way_message_that_is_answered_is_a_bug_in_the_core",)),
    # ------------------------------------------------------------ per-Rpc deadlines
    Mutation("rpc-own-deadline", "an Rpc's own deadline_ms replaces the driver's default",
             CONTRACT, "        if isinstance(kind, Rpc) and kind.deadline_ms:\n",
             "        if False:\n",
             (f"{SIM_FAULTS}::test_each_request_waits_for_its_own_deadline",)),
    Mutation("sim-rpc-deadline", "the simulator times a request out at its Rpc's "
             "deadline", WORLD,
             "        return int(self.groups[group].spec.messages.deadline_ms(msg, "
             "self.rpc_timeout_ms,",
             "        return int(self.rpc_timeout_ms) or int(self.groups[group].spec.messages."
             "deadline_ms(msg, self.rpc_timeout_ms,",
             (f"{SIM_FAULTS}::test_each_request_waits_for_its_own_deadline",)),
    Mutation("envelope-deadline", "a deadline the core sets on an envelope (from its "
             "options) comes before its Rpc's and the driver's", CONTRACT,
             "        if envelope is not None and envelope.deadline_ms:\n",
             "        if False:\n",
             ("tests/contract/test_deadlines.py",)),
    Mutation("host-rpc-deadline", "the host sends a request with its Rpc's deadline",
             SLOT, "            deadline_s=deadline_ms / 1000, group=self.group)",
             "            deadline_s=None, group=self.group)",
             (f"{CLUSTER_FAULTS}::test_each_request_waits_for_its_own_deadline",)),
    # ------------------------------------------------------------ groups
    Mutation("frame-to-its-group", "a frame goes to the core of the group it names",
             PEERS, "        slot = self.host.slots.get(frame.group)\n",
             "        slot = self.host.slots.get(\"\")\n",
             (f"{CLUSTER_FAULTS}::test_a_process_hosts_several_cores_with_their_own_state",)),
    Mutation("sim-request-to-its-group", "the simulator delivers a request to the core "
             "of its group", WORLD,
             "        slot = node.slot(group)\n        if slot is None:\n"
             "            return  # lost (down",
             "        slot = node.slot(\"\")\n        if slot is None:\n"
             "            return  # lost (down",
             (f"{SIM_FAULTS}::test_two_groups_on_the_same_nodes_keep_their_own_state_and_"
              "survive_a_crash",)),
    Mutation("create-group-member", "CreateGroup: this node must be a member of the group",
             HOST, "        if self.node_id not in members:\n", "        if False:\n",
             (f"{CLUSTER_FAULTS}::test_a_bad_group_is_refused_and_changes_nothing",)),
    Mutation("create-group-strangers", "CreateGroup: every member is a peer of this node",
             HOST, "        if strangers:\n", "        if False:\n",
             (f"{CLUSTER_FAULTS}::test_a_bad_group_is_refused_and_changes_nothing",)),
    Mutation("remove-group-destroys-state", "RemoveGroup destroys the group's state",
             HOST, "        shutil.rmtree(self.group_dir(group), ignore_errors=True)\n", "",
             (f"{CLUSTER_FAULTS}::test_a_process_hosts_several_cores_with_their_own_state",)),
    Mutation("sim-remove-group", "the simulator's remove_group stops the group's cores",
             WORLD, "            node.slots.pop(name, None)\n", "            pass\n",
             (f"{SIM_FAULTS}::test_two_groups_on_the_same_nodes_keep_their_own_state_and_"
              "survive_a_crash",)),
    # ------------------------------------------------------------ coalesced frames
    Mutation("frames-coalesced", "frames posted in one loop turn travel as one write",
             TRANSPORT, "        while self.outbox and len(frames) < BATCH_MAX:\n",
             "        while self.outbox and len(frames) < 1:\n",
             ("tests/runtime/test_transport.py::test_frames_posted_in_one_loop_turn_travel_"
              "as_one_write",)),
    Mutation("batch-unpacked", "a node takes every frame of a coalesced batch", PEERS,
             "                    for one in frame.batch or (frame,):",
             "                    for one in (frame,):",
             (f"{HOST_TESTS}::test_a_coalesced_batch_of_frames_is_taken_frame_by_frame",)),
    # ------------------------------------------------------------ crash points
    Mutation("host-crash-after-durable", "after_persist fires once the write is durable, "
             "before it is acted on (the host)", SLOT,
             "                await self._persist(write.records)\n"
             "                if self.halted:  # a failed core's output is never acted on\n"
             "                    return\n"
             "                self.host.crash_points.after_durable(self, write.records)",
             "                self.host.crash_points.after_durable(self, write.records)\n"
             "                await self._persist(write.records)\n"
             "                if self.halted:  # a failed core's output is never acted on\n"
             "                    return\n"
             "                pass",
             (f"{CLUSTER_FAULTS}::test_a_crash_point_ends_the_process_with_the_record_"
              "durable_and_no_ack_sent",)),
    Mutation("sim-crash-after-durable", "after_persist fires once the write is durable "
             "(the simulator)", WORLD,
             "        slot.storage.save(write.records)\n"
             "        if self._crash_point(node, slot.group, lambda p: p.after_persist("
             "write.records)):\n            return False\n",
             "        if self._crash_point(node, slot.group, lambda p: p.after_persist("
             "write.records)):\n            return False\n"
             "        slot.storage.save(write.records)\n",
             (f"{SIM_FAULTS}::test_after_persist_the_record_survives_and_its_reply_never_"
              "leaves",)),
    Mutation("host-crash-before-request", "before_send fires before a request leaves "
             "(the host)", SLOT,
             "        if not self.host.crash_points.before_send(self, envelope.msg):\n",
             "        if False:\n",
             (f"{CLUSTER_FAULTS}::test_a_crash_point_before_a_request_leaves_sends_nothing",)),
    Mutation("host-crash-before-reply", "before_send fires before a reply leaves (the host)",
             PEERS, "            if not self.host.crash_points.before_send(slot, message):\n",
             "            if False:\n",
             (f"{CLUSTER_FAULTS}::test_a_crash_point_ends_the_process_with_the_record_"
              "durable_and_no_ack_sent",)),
    Mutation("sim-crash-before-send", "before_send fires before a request leaves (the "
             "simulator)", WORLD,
             "        if not node.up or self._crash_point(node, group, lambda p: "
             "p.before_send(env.msg)):\n",
             "        if not node.up:\n",
             (f"{SIM_FAULTS}::test_before_send_of_a_message_sent_ahead_of_its_persist_loses_"
              "both",)),
    Mutation("sim-crash-before-reply", "before_send fires before a reply leaves (the "
             "simulator)", WORLD,
             "        if not node.up or self._crash_point(node, request.group,\n"
             "                                            lambda p: p.before_send(reply)):\n",
             "        if not node.up:\n",
             (f"{SIM_FAULTS}::test_before_send_the_reply_never_leaves_and_what_it_waited_"
              "for_is_durable",)),
    Mutation("crash-point-fires-once", "a crash point fires once", WORLD,
             "                del node.crash_points[i]  # a point fires once\n", "",
             (f"{SIM_FAULTS}::test_after_persist_the_record_survives_and_its_reply_never_"
              "leaves",)),
    # ------------------------------------------------------------ message hooks
    Mutation("hook-precedence", "a message hook takes precedence over its link's rule, "
             "for its message type only", FAULTS,
             "        for key in ((peer, message), (ALL_PEERS, message), (peer, \"\"), "
             "(ALL_PEERS, \"\")):",
             "        for key in ((peer, \"\"), (ALL_PEERS, \"\"), (peer, message), "
             "(ALL_PEERS, message)):",
             ("tests/runtime/test_transport.py::test_a_message_hook_takes_precedence_for_"
              "its_message_type_only",)),
    Mutation("sim-hook-drop", "the simulator's drop hook drops the message", WORLD,
             "            if hook.action == \"drop\":\n                return []\n",
             "            if hook.action == \"drop\":\n                continue\n",
             (f"{SIM_FAULTS}::test_a_dropped_message_type_is_dropped_on_its_link_only",)),
    Mutation("sim-hook-drop-reply", "the simulator's drop_reply hook loses the reply",
             WORLD, "            delay = None\n", "            pass\n",
             (f"{SIM_FAULTS}::test_a_dropped_reply_was_delivered_but_never_heard",)),
    # ------------------------------------------------------------ the paused disk
    Mutation("host-paused-disk", "a paused disk holds every write (the host)", SLOT,
             "        await self.host.disk_running.wait()  # a paused disk", "        # ",
             (f"{CLUSTER_FAULTS}::test_a_paused_disk_holds_the_ack_that_needs_it",)),
    Mutation("sim-paused-disk", "a paused disk holds every write (the simulator)", WORLD,
             "            wait = self.disk_latency_ms + max(0, node.disk_paused_until - "
             "self.now)\n", "            wait = self.disk_latency_ms\n",
             (f"{SIM_FAULTS}::test_a_paused_disk_holds_the_reply_that_needs_it",)),
    # ------------------------------------------------------------ nodes that come and go
    Mutation("add-peer-tells-cores", "AddPeer tells every core the new membership",
             MEMBERSHIP,
             "    host.transport.set_address(peer, dial)\n    _tell_cores(host)\n",
             "    host.transport.set_address(peer, dial)\n",
             (f"{TOY_MEMBERSHIP}::test_a_backup_added_and_one_removed_while_writes_go_on",)),
    Mutation("remove-peer-forgotten", "RemovePeer forgets the peer in the configuration",
             MEMBERSHIP,
             "        config, peers={p: a for p, a in config.peers.items() if p != peer},",
             "        config, peers=dict(config.peers),",
             (f"{TOY_MEMBERSHIP}::test_add_peer_and_remove_peer_refuse_bad_input_and_change_"
              "nothing",)),
    Mutation("sim-add-node-tells-members", "a node added in the simulator is made known to "
             "every member", WORLD,
             "        self._start_node(n, first_tick=self.tick_ms)\n"
             "        self._tell_members(exclude=n)\n",
             "        self._start_node(n, first_tick=self.tick_ms)\n",
             (SIM_NODES,)),
    Mutation("sim-remove-node-tells-members", "a node removed in the simulator is made "
             "known to every member", WORLD,
             "        self._event(n, \"leave\")\n        self._tell_members(exclude=nid)\n",
             "        self._event(n, \"leave\")\n", (SIM_NODES,)),
    # ------------------------------------------------------------ roles
    Mutation("role-of-a-member", "a role or per-node option names a member of the cluster",
             CONTRACT, "            if node not in members:\n", "            if False:\n",
             (SIM_NODES,)),
    Mutation("role-known", "a role the protocol does not know is a ConfigError naming the "
             "node", CONTRACT,
             "            if not isinstance(role, str) or role not in self.roles:\n",
             "            if not isinstance(role, str):\n", (SIM_NODES, TOY_MEMBERSHIP)),
    Mutation("node-options-overlaid", "a node's own options overlay the cluster's",
             CONTRACT, "    return {**options, **(own or {})}", "    return dict(options)",
             (SIM_NODES,)),
    # ------------------------------------------------------------ TLS
    Mutation("tls-client-cert-required", "mutual TLS: a node requires a CA-signed "
             "certificate from every caller", TLS, "require_client_auth=True",
             "require_client_auth=False",
             ("tests/cluster/test_tls.py::test_rogue_clients_are_refused_in_one_line_and_"
              "change_nothing",)),
    Mutation("tls-name-is-the-node", "a caller accepts only the certificate naming the "
             "node it dials", TLS,
             "options=[*options, (\"grpc.ssl_target_name_override\",\n"
             "                                                       node_id)])",
             "options=[*options, (\"grpc.ssl_target_name_override\",\n"
             "                                                       \"localhost\")])",
             ("tests/runtime/test_tls.py::test_a_caller_accepts_only_the_certificate_naming_"
              "the_node_it_dials",)),
]
