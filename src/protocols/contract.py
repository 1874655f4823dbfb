"""The contract between a protocol core and everything that drives it.

Every protocol's core implements ``Core``; the asyncio shell (``protocols.runtime``), the
deterministic simulator (``protocols.sim``) and the tests' harnesses drive it through
exactly these methods, and all of them handle its output with the one ``Pump`` below.
That is what makes a simulated run and a run on real processes exercise the same
algorithm with the same safety rules. This module imports no core, no driver and no IO
library: cores, shell and simulator all stand on it.

Inputs to a core (etcd's ``RawNode`` style, course chapter 17 "sans-IO"):

* ``tick()``: one unit of logical time passed (a core never reads a clock);
* ``on_message(src, msg)``: a peer's message. Its *kind* is declared in the protocol's
  ``ProtocolSpec.messages``:

  - ``Rpc(Request, Reply)``: the core returns the reply now; or returns a ``Deferred``
    and puts ``Reply(deferred, msg)`` in a later ``Ready`` (SWIM's ping-req answers only
    after probing a third node; a 2PC coordinator answers once it decides); or returns
    None to drop it. The requester hears ``on_reply(src, request, reply)`` or, when no
    reply came (dropped, lost, peer down, deadline passed), ``on_send_failed``;
  - ``OneWay(Message)``: fire-and-forget. The core returns None; the sender hears
    nothing back, neither a reply nor a failure (causal broadcast's deliveries, gossip).

* ``submit(request_id, command)``: a client's command; its outcome comes back as an
  ``Answer`` with the same ``request_id``.
* ``on_persisted()``: the driver made the ``persist`` of the oldest drained ``Ready``
  durable (optional; see ``Envelope.ahead_of_persist``).

Outputs are drained with ``ready()``: a ``Ready`` lists state to persist, messages to
send, deferred replies, entries applied, client answers and trace lines. ``Pump`` acts on
it in the only safe order: persist -> send -> apply -> answer ("persist before you
speak": Raft §5.1 / Figure 2, etcd's ``Ready`` contract). A reply to a peer leaves only
once the input that produced it is durable.
"""

from __future__ import annotations

import enum
import functools
import random
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from protocols.common.errors import ConfigError, InvalidRequest
from protocols.common.ids import NodeId
from protocols.common.options import Options

if TYPE_CHECKING:
    from protocols.common.fs import FileSystem

__all__ = [
    "Answer",
    "Arrival",
    "Core",
    "Deferred",
    "Envelope",
    "Inbox",
    "MessageKind",
    "MessageTable",
    "NoStorage",
    "NodeContext",
    "NodeParts",
    "NodeStatus",
    "OneWay",
    "ProtocolSpec",
    "Pump",
    "PumpActions",
    "Ready",
    "Reply",
    "Rpc",
    "Storage",
    "Write",
    "check_assignment",
    "node_options",
]


# ====================================================================== message kinds
@dataclass(frozen=True, slots=True)
class Rpc:
    """A request that gets a reply: now, later (``Deferred``), or never (dropped).

    ``deadline_ms``: how long its sender waits for the reply before it hears
    ``on_send_failed``; 0 means the driver's default (the cluster's ``rpc_deadline_ms``,
    the simulator adapter's ``rpc_timeout_ms``). A request answered only after a round
    of its own (SWIM's ping-req) declares a longer one than the rest of its protocol."""

    request: type[Any]
    reply: type[Any]
    deadline_ms: int = 0

    def __post_init__(self) -> None:
        if self.deadline_ms < 0:
            raise ConfigError(f"{self.request.__name__}: deadline_ms must be >= 0")


@dataclass(frozen=True, slots=True)
class OneWay:
    """A message that gets no reply and no failure notice (fire-and-forget)."""

    message: type[Any]


MessageKind = Rpc | OneWay


class MessageTable:
    """The kinds of a protocol's peer messages, by message type."""

    def __init__(self, kinds: Iterable[MessageKind]) -> None:
        self.kinds = tuple(kinds)
        self._by_type: dict[type[Any], MessageKind] = {}
        for kind in self.kinds:
            t = kind.request if isinstance(kind, Rpc) else kind.message
            if t in self._by_type:
                raise ConfigError(f"message {t.__name__} is declared twice")
            self._by_type[t] = kind

    def kind_of(self, msg: Any) -> MessageKind:
        """The declared kind of ``msg``; a message nobody declared is a bug in its core."""
        kind = self._by_type.get(type(msg))
        if kind is None:
            raise AssertionError(f"{type(msg).__name__} is not declared in the protocol's "
                                 f"ProtocolSpec.messages")
        return kind

    def is_one_way(self, msg: Any) -> bool:
        return isinstance(self.kind_of(msg), OneWay)

    def deadline_ms(self, msg: Any, default_ms: float, envelope: Envelope | None = None
                    ) -> float:
        """How long the sender of ``msg`` waits for its reply: the deadline its core set
        on the ``envelope``, else its ``Rpc``'s own, else ``default_ms`` (the driver's)."""
        if envelope is not None and envelope.deadline_ms:
            return envelope.deadline_ms
        kind = self.kind_of(msg)
        if isinstance(kind, Rpc) and kind.deadline_ms:
            return kind.deadline_ms
        return default_ms


class Deferred:
    """What ``on_message`` returns for an ``Rpc`` it will answer later.

    The core keeps this object and answers with ``Reply(deferred, msg)`` in a later
    ``Ready``; the driver matches it to the waiting request by identity. A deferred reply
    that never comes, or comes after the requester's deadline, is a lost reply: the
    requester hears ``on_send_failed``.
    """

    __slots__ = ("label",)

    def __init__(self, label: str = "") -> None:
        self.label = label  # for traces only

    def __repr__(self) -> str:
        return f"Deferred({self.label!r})"


# ====================================================================== the outbox
@dataclass(frozen=True, slots=True)
class Envelope:
    """A message for peer ``dst``: a request (``Rpc``) or a one-way message.

    ``ahead_of_persist``: the core vouches that this message may leave *while* this
    Ready's persist is still being written (Raft thesis §10.2.1: a leader may send
    AppendEntries in parallel with writing the same entries to its own disk). The core
    must then not rely on that write until the driver reports it with ``on_persisted()``.

    ``address``: where ``dst`` listens, when the core knows better than the driver's
    address book (a membership protocol learns members' addresses from gossip, and a
    joiner knows its seeds only by address: it then names the seed by its address). The
    driver adds or replaces ``dst``'s entry in its book with it; "" leaves the book as it
    is. A message for a ``dst`` the book does not hold is lost (the sender hears
    ``on_send_failed``, as for any lost request).

    ``deadline_ms``: how long the sender waits for this request's reply, when it depends
    on the core's options (SWIM: a Ping's ack counts until the end of its protocol
    period); 0 takes its ``Rpc``'s declared deadline, else the driver's default.
    """

    dst: NodeId
    msg: Any
    ahead_of_persist: bool = False
    address: str = ""
    deadline_ms: int = 0


@dataclass(frozen=True, slots=True)
class Reply:
    """The late reply to the request for which ``on_message`` returned ``to``."""

    to: Deferred
    msg: Any


@dataclass(frozen=True, slots=True)
class Answer:
    """The outcome of a client command submitted with ``submit(request_id, ...)``.
    ``error`` is None on success, else a ``ProtocolError`` (NotLeader, Unavailable ...)."""

    request_id: Any
    result: Any = None
    error: Exception | None = None


@dataclass(slots=True)
class Ready:
    """Everything a core wants done, in the order it must be done (etcd's ``Ready``)."""

    persist: list[Any] = field(default_factory=list)  # 1. made durable (fsync) first
    messages: list[Envelope] = field(default_factory=list)  # 2. then sent
    replies: list[Reply] = field(default_factory=list)  # 2. deferred replies, sent too
    applied: list[Any] = field(default_factory=list)  # 3. applied to the state machine
    answers: list[Answer] = field(default_factory=list)  # 4. client outcomes
    trace: list[str] = field(default_factory=list)


# ====================================================================== status
@dataclass(slots=True)
class NodeStatus:
    """What a node says about itself, in its protocol's words: ``role`` ("leader",
    "follower", "acceptor", "alive" ...), ``epoch`` (Raft's term, Paxos' ballot round,
    SWIM's incarnation), who it believes leads (if the protocol has a leader), and
    anything else by name in ``details`` (shown by ``cluster status``).

    ``leading`` says whether this node leads, in one typed field every driver, runner and
    test reads the same way: ``role`` is the protocol's word, for display, and is never
    matched. Leaderless protocols (SWIM, causal broadcast, the versioned KV) leave it
    False."""

    role: str = ""
    epoch: int = 0
    leader_id: str = ""
    details: dict[str, str] = field(default_factory=dict)
    leading: bool = False


# ====================================================================== core and storage
class Core:
    """A sans-IO protocol state machine. Subclass it; the optional hooks have defaults.

    No ``asyncio``, ``grpc``, ``time``, ``os``, sockets, files or global ``random`` in a
    core: time is ``tick()``, randomness the ``random.Random`` its factory was given.
    """

    node_id: NodeId

    def tick(self) -> None:
        raise NotImplementedError

    def on_message(self, src: NodeId, msg: Any) -> Any:
        """A peer's message: return its reply, a ``Deferred``, or None (see the module)."""
        raise NotImplementedError

    def on_reply(self, src: NodeId, request: Any, reply: Any) -> None:
        """``src`` answered our ``request`` with ``reply``."""
        raise AssertionError(f"{type(self).__name__} sent a request but handles no replies")

    def on_send_failed(self, dst: NodeId, request: Any) -> None:
        """Our ``request`` to ``dst`` got no reply (timeout, drop, refused). Optional."""

    def submit(self, request_id: Any, command: Any) -> None:
        raise NotImplementedError

    def ready(self) -> Ready:
        """Drain and return everything the core wants done since the last call."""
        raise NotImplementedError

    def on_persisted(self) -> None:
        """Optional: the ``persist`` of the oldest drained, unsaved Ready is durable."""

    def status(self) -> NodeStatus:
        raise NotImplementedError

    def on_peers_changed(self, peers: tuple[NodeId, ...], roles: Mapping[NodeId, str]
                         ) -> None:
        """Optional: a node joined or left the cluster while it ran (``World.add_node`` /
        ``remove_node``, ``LocalCluster.add_node`` / ``remove_node``): ``peers`` are the
        configured peers now, ``roles`` every member's configured role. The driver's
        address book already reaches the newcomer. Default: ignore it. A protocol with a
        configuration of its own changes it through its own path (Raft's membership
        change); one that joins by address (SWIM) needs nothing; one that keeps a fixed
        peer list (the toy's primary) adopts it here."""


class Storage:
    """A protocol's durable state, written through a ``FileSystem``."""

    def save(self, records: Sequence[Any]) -> None:
        """Make ``records`` (from ``Ready.persist``) durable: return only after fsync."""
        raise NotImplementedError

    def close(self) -> None:
        """Release files; a node closes its storage once, when it stops."""


class NoStorage(Storage):
    """For protocols with no durable state (gossip membership): persisting is a bug."""

    def save(self, records: Sequence[Any]) -> None:
        if records:
            raise AssertionError(f"this protocol declared no storage but asked to persist "
                                 f"{records[:3]!r}")


@dataclass(frozen=True, slots=True)
class NodeContext:
    """What ``ProtocolSpec.create_node`` gets to build one node.

    ``rng`` is the node's only source of randomness (seeded per node and incarnation).
    ``tick_s`` is the real time one tick stands for.
    ``clock`` returns monotonic seconds (the host: ``time.monotonic``; the simulator: its
    simulated time, which keeps running while a node is paused). A core counts timeouts
    in ticks; it reads ``clock`` only where a rule must hold in real time even when ticks
    are skipped (a leader lease), and must not assume it advances between two inputs.
    ``address`` is where peers reach this node (what a membership protocol advertises in
    its gossip), and ``addresses`` the configured address of each peer in ``peers``: the
    driver's address book as it starts (``Envelope.address`` grows it).
    """

    node_id: NodeId
    peers: tuple[NodeId, ...]
    fs: FileSystem
    data_dir: str
    rng: random.Random
    clock: Callable[[], float]
    options: Mapping[str, Any] = field(default_factory=dict)
    tick_s: float = 0.01  # the driver calls tick() at most this often (ticks may be skipped)
    address: str = ""
    addresses: Mapping[NodeId, str] = field(default_factory=dict)
    role: str = ""  # this node's configured role ("": none); see ProtocolSpec.roles
    roles: Mapping[NodeId, str] = field(default_factory=dict)  # every member's, if any


def node_options(options: Mapping[str, Any], own: Mapping[str, Any] | None) -> dict[str, Any]:
    """A node's options: the cluster's, overlaid with the node's own (``nodes.<id>.options``
    of a cluster file, ``World(node_options=...)``): what ``NodeContext.options`` holds."""
    return {**options, **(own or {})}


def check_assignment(spec: ProtocolSpec, members: Sequence[str], options: Mapping[str, Any],
                     roles: Mapping[Any, str] | None = None,
                     per_node: Mapping[Any, Mapping[str, Any]] | None = None) -> None:
    """Check a cluster's roles and per-node options before any node starts: every role
    and every per-node entry names a member, ``spec.check_roles`` accepts the roles, and
    each node's overlaid options pass ``spec.check_options``. ConfigError naming the node
    otherwise (the runner, ``cluster up`` and the simulator all call this)."""
    for what, table in (("role", roles or {}), ("options", per_node or {})):
        for node in sorted(table):
            if node not in members:
                raise ConfigError(f"{what} given for {node!r}, which is not a node of the "
                                  f"cluster ({', '.join(sorted(members))})")
    for node, table in sorted((per_node or {}).items()):
        if not isinstance(table, Mapping):
            raise ConfigError(f"node {node}: its options must be an object, got {table!r}")
    spec.check_roles({n: r for n, r in (roles or {}).items() if r != ""})
    for node in sorted(members):
        own = (per_node or {}).get(node)
        try:
            spec.check_options(node_options(options, own), len(members))
        except ConfigError as e:
            if not own:
                raise
            raise ConfigError(f"node {node}: {e}") from None


@dataclass(slots=True)
class NodeParts:
    """What ``ProtocolSpec.create_node`` returns: a core recovered from storage, and it."""

    core: Core
    storage: Storage


class ProtocolSpec:
    """How a protocol plugs into the shell, the simulator and the runner.

    Required: ``name``, ``messages`` and ``create_node``. Every optional hook has a
    default here, so drivers call them without asking whether they exist.
    """

    name: str = ""
    messages: MessageTable = MessageTable(())
    open_membership: bool = False
    """True: a node takes messages from senders outside its configured peers (a member
    joins a group by contacting a seed it knows only by address; its id comes with its
    messages). False: such messages are refused (UnknownNode)."""

    def create_node(self, ctx: NodeContext) -> NodeParts:
        """Build a node, recovering its state from ``ctx.data_dir`` on ``ctx.fs``."""
        raise NotImplementedError

    options_class: type[Options] | None = None
    """The protocol's options, a dataclass of ``protocols.common.options.Options``: the
    default ``check_options`` parses them; ``create_node`` reads them with
    ``options_class.from_mapping(ctx.options, members)``. None: it takes no options."""

    def check_options(self, options: Mapping[str, Any], nodes: int) -> None:
        """Raise ``ConfigError`` naming what is wrong with ``options`` for a cluster of
        ``nodes`` (the runner calls this before it starts any process; quorum sizes
        depend on the cluster's size). Default: ``options_class`` parses them, or, without
        one, the protocol takes no options."""
        if self.options_class is not None:
            self.options_class.from_mapping(options, nodes)
            return
        if options:
            raise ConfigError(f"protocol {self.name!r} takes no options, got "
                              f"{', '.join(sorted(options))}")

    roles: tuple[str, ...] = ()
    """The roles a node of this protocol may be given (a 2PC "coordinator", a "witness"):
    ``NodeContext.role``. Empty: it takes none, and any role is a ConfigError."""

    def check_roles(self, roles: Mapping[str, str]) -> None:
        """Raise ``ConfigError`` naming the node whose role is not one of ``roles`` (called
        with every member given one, before any process starts). Override it to add rules
        across nodes ("exactly one coordinator"), calling this first."""
        for node, role in sorted(roles.items()):
            if not isinstance(role, str) or role not in self.roles:
                known = (f"it knows {', '.join(self.roles)}" if self.roles
                         else "it takes no roles")
                raise ConfigError(f"node {node}: protocol {self.name!r} has no role "
                                  f"{role!r} ({known})")

    records: tuple[type[Any], ...] = ()
    """The types of the records its core puts in ``Ready.persist`` (Raft's ``HardState``,
    ``AppendEntry`` ...): the random nemesis arms ``after_persist:<Record>`` crash points
    from them (``protocols.common.crashpoints``). Empty: it arms only ``before_send``
    points, at the messages of ``messages``."""

    def message_size(self, msg: Any) -> int:
        """Bytes ``msg`` would take on the wire, for the simulator's counters (estimate)."""
        return len(repr(msg))

    def bench_command(self, i: int, payload: str) -> Any | None:
        """The ``i``-th command of ``Admin.Load``'s closed-loop benchmark; None: the
        protocol takes no commands, and ``Admin.Load`` answers UNIMPLEMENTED."""
        return None


# ====================================================================== the pump
@dataclass(slots=True)
class Write:
    """A persist the driver must make durable, then report with ``Pump.write_done()``."""

    records: list[Any]
    ready: Ready
    covered: int  # the inputs whose output this write completes


@dataclass(slots=True)
class PumpActions:
    """What a driver does for the pump: the IO, in whatever form it has (the host sends
    over gRPC, the simulator schedules events, a test harness appends to a queue)."""

    send: Callable[[Envelope], None]
    reply: Callable[[Reply], None]
    apply: Callable[[Any], None] = lambda entry: None
    answer: Callable[[Answer], None] = lambda answer: None
    trace: Callable[[str], None] = lambda line: None


class Pump:
    """Acts on a core's outbox in the only safe order, written once for every driver.

    persist -> send -> apply -> answer. One persist is in flight at a time: inputs that
    arrive while it is being written go into the next one (group commit). Messages the
    core marked ``ahead_of_persist`` leave at once; everything else waits for the write.
    An immediate reply to a peer is held (``after_durable``) until the input that
    produced it is durable. Sans-IO: the driver performs the write (on a thread, as a
    simulated disk event, or inline with ``run_sync``) and calls ``write_done()``.

    Drivers: call ``note_input()`` after every call into the core, then ``step()`` while
    ``needs_step``; a ``Write`` returned by ``step()`` must be made durable and reported
    with ``write_done()`` before the next ``step()``.
    """

    def __init__(self, core: Core, actions: PumpActions) -> None:
        self.core = core
        self.actions = actions
        self.inputs = 0  # inputs the core has taken
        self.durable = 0  # inputs whose output is persisted and acted on
        self.writing: Write | None = None
        self._held: deque[tuple[int, Callable[[], None]]] = deque()

    def note_input(self) -> int:
        """The core took an input; returns its sequence number."""
        self.inputs += 1
        return self.inputs

    @property
    def needs_step(self) -> bool:
        return self.writing is None and self.inputs > self.durable

    def after_durable(self, seq: int, release: Callable[[], None]) -> None:
        """Call ``release`` once the output of input ``seq`` is durable (now, if it is)."""
        if self.durable >= seq:
            release()
        else:
            self._held.append((seq, release))

    def step(self) -> Write | None:
        """Drain the core once. Returns the write to perform, or None if the Ready had
        nothing to persist (then it was acted on entirely)."""
        if self.writing is not None:
            raise AssertionError("Pump.step() while a write is in flight")
        covered = self.inputs
        ready = self.core.ready()
        if not ready.persist:
            self._act(ready, covered, sent_ahead=False)
            return None
        for envelope in ready.messages:
            if envelope.ahead_of_persist:
                self.actions.send(envelope)
        self.writing = Write(ready.persist, ready, covered)
        return self.writing

    def write_done(self) -> None:
        """The write returned by ``step()`` is durable: act on the rest of its Ready."""
        write, self.writing = self.writing, None
        if write is None:
            raise AssertionError("Pump.write_done() with no write in flight")
        self.core.on_persisted()
        self.note_input()  # what on_persisted produced is drained by the next step
        self._act(write.ready, write.covered, sent_ahead=True)

    def run_sync(self, save: Callable[[Sequence[Any]], None]) -> None:
        """Drain until idle, writing inline (the simulator's instant disk, harnesses)."""
        while self.needs_step:
            write = self.step()
            if write is not None:
                save(write.records)
                self.write_done()

    def _act(self, ready: Ready, covered: int, sent_ahead: bool) -> None:
        a = self.actions
        for envelope in ready.messages:
            if not (sent_ahead and envelope.ahead_of_persist):
                a.send(envelope)
        for reply in ready.replies:
            a.reply(reply)
        for entry in ready.applied:
            a.apply(entry)
        for answer in ready.answers:
            a.answer(answer)
        for line in ready.trace:
            a.trace(line)
        self.durable = max(self.durable, covered)
        while self._held and self._held[0][0] <= self.durable:
            self._held.popleft()[1]()


# ====================================================================== the inbox
class Arrival(enum.Enum):
    """What became of a peer's message on arrival (``Inbox.receive``)."""

    ONE_WAY = "one-way"  # taken; nothing goes back, not even a failure
    DROPPED = "dropped"  # the core dropped it: its sender hears silence until its deadline
    REPLY = "reply"  # the reply leaves through ``respond`` once its cause is durable


class Inbox:
    """The receiving side of peer messages, written once for every driver.

    What a one-way message, a dropped request, a deferred reply and an immediate reply
    mean on arrival, and the table of deferred replies waiting to be released, are
    decided here; the host's peer stream, its unary path and the simulator supply only
    their IO: ``respond`` (how a reply reaches this request's sender) and a timer that
    calls ``expire`` at the request's deadline when ``receive`` returns a ``Deferred``.

    An immediate reply is held by the pump until the input that produced it is durable
    (persist before you speak); a deferred reply leaves when the core emits
    ``Reply(deferred, msg)`` — the pump calls ``release`` in its send step, after the
    persist of that Ready — or never, if its requester's deadline passed first.
    """

    def __init__(self, messages: MessageTable) -> None:
        self.messages = messages
        self._waiting: dict[Deferred, Callable[[Any], None]] = {}

    def receive(self, pump: Pump, src: NodeId, msg: Any,
                respond: Callable[[Any], None]) -> Arrival | Deferred:
        """Give ``msg`` from ``src`` to the pump's core; what became of it, or the
        ``Deferred`` the core will answer (the driver arms ``expire(deferred)`` at the
        request's deadline). ``InvalidRequest`` propagates
        (the core refused it and changed nothing: the driver tells the sender); any
        other exception is a bug in the core (the driver stops the node)."""
        try:
            reply = pump.core.on_message(src, msg)
        except InvalidRequest:
            pump.note_input()
            raise
        seq = pump.note_input()
        if isinstance(self.messages.kind_of(msg), OneWay):
            if reply is not None:
                raise AssertionError(f"{type(pump.core).__name__} replied to the one-way "
                                     f"{type(msg).__name__}")
            return Arrival.ONE_WAY
        if reply is None:
            return Arrival.DROPPED
        if isinstance(reply, Deferred):
            self._waiting[reply] = respond
            return reply
        pump.after_durable(seq, functools.partial(respond, reply))  # copyable (explorer)
        return Arrival.REPLY

    def release(self, reply: Reply) -> None:
        """The pump's ``reply`` action: send a deferred reply to whoever still waits."""
        respond = self._waiting.pop(reply.to, None)
        if respond is not None:  # else its requester stopped waiting: the reply is lost
            respond(reply.msg)

    def expire(self, deferred: Deferred) -> None:
        """The requester's deadline passed: a reply the core emits later is lost."""
        self._waiting.pop(deferred, None)

    @property
    def waiting(self) -> int:
        """Deferred replies still owed."""
        return len(self._waiting)
