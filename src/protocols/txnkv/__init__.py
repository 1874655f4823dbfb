"""A CockroachDB-style transactional store (issue #36), built from the storage up.

Ranges are Raft groups, every transaction has a hybrid-logical-clock timestamp
(``protocols.clocks.hlc``), values are multi-versioned, writes are provisional *intents*
until their transaction record says otherwise, and a commit is one consensus round
(parallel commits). Course chapter: transactions. Read in order:

* ``mvcc.py``: one range's multi-version store: committed versions by HLC timestamp,
  write intents, the uncertainty interval, intent resolution, GC; and the transaction's
  header every intent carries (``TxnMeta``); an intent is resolved by its record's
  ``TxnStatus``, which ``record.py`` defines (the one import between the two);
* ``tscache.py``: the timestamp cache: the highest read per key and span, and the rule
  that pushes a write above a served read (why serializable reads take no locks);
* ``record.py``: transaction records and parallel-commit status resolution.

These modules are libraries, pure and sans-IO like a core: timestamps are passed in.
``docs/txnkv.md`` says what exists and what comes next.
"""
