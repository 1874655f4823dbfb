"""A CockroachDB-style transactional store (issue #36): ranges as Raft groups, hybrid
logical clock timestamps, MVCC with write intents, parallel commits and status recovery.

Ranges are Raft groups, every transaction has a hybrid-logical-clock timestamp
(``protocols.clocks.hlc``), values are multi-versioned, writes are provisional *intents*
until their transaction record says otherwise, and a commit is one consensus round
(parallel commits). Course chapter: transactions. Read in order:

* ``mvcc.py``: one range's multi-version store: committed versions by HLC timestamp,
  write intents, the uncertainty interval, intent resolution, GC; and the transaction's
  header every intent carries (``TxnMeta``);
* ``tscache.py``: the timestamp cache: the highest read per key and span, and the rule
  that pushes a write above a served read (why serializable reads take no locks);
* ``record.py``: transaction records and parallel-commit status resolution;
* ``ranges.py``: the static split of the keyspace, and each range's replicas;
* ``messages.py``: requests to a leaseholder, and what a range's Raft log carries;
* ``replica.py``: a range's replicated state (MVCC, records, the lease) and the
  leaseholder's evaluation (timestamp cache, latches, lease);
* ``coordinator.py``: a transaction from its reads to its commit, pushes and recovery;
* ``core.py``: a node: its ranges' Raft groups, the coordinator, the clock;
* ``storage.py``, ``spec.py`` (the ``ProtocolSpec``) and ``sim.py`` (the bank and
  list-append workloads, the TLA+ model's properties after every event).

``docs/txnkv.md`` says what exists and what comes next. This package's ``__init__`` loads
nothing: its libraries stay as pure as a core (``tests/contract/test_layers.py``).
"""


