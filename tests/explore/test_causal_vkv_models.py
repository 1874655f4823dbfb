"""The causal broadcast's and the versioned KV's models (#33): the explorer finds each
bug of issue #31 on the code as it was before its fix (the mutation planted in memory),
naming the property it breaks, and proves the fixed code safe within the same bounds,
every sometimes-property reached.

The default suite finds every bug (a few thousand states in all) and proves the made-up
context refused; the other proofs of the fixed code (tens of thousands of states each)
run with ``--run-slow``."""

from __future__ import annotations

import pytest

from protocols.explore.search import Explorer, Result
from tests.support.planted import planted


def explore(protocol: str, model: str, mutation: str | None = None) -> Result:
    """Model ``model`` of ``protocol`` at size "small", breadth-first, with ``mutation``
    planted if given; the first counterexample ends the search."""
    if mutation is None:
        from protocols.registry import load_models
        return Explorer(load_models(protocol)[model]("small")).run("bfs")
    with planted(mutation):
        from protocols.registry import load_models
        return Explorer(load_models(protocol)[model]("small")).run("bfs")


def broken(result: Result) -> list[str]:
    return [c.prop for c in result.counterexamples]


def test_a_sender_whose_write_was_torn_reuses_a_sequence_number() -> None:
    """#31 bug 1: n1's write of a keeps its OwnMessage, not the record; on restart it
    numbered b like a, which it still holds: two payloads under n1#1."""
    result = explore("causal", "torn-sender", "seq-from-own-messages")
    assert broken(result) == ["one payload per (origin, seq)"], result.verdicts()
    (found,) = result.counterexamples
    assert "n1#1" in found.why
    assert [m.kind for m in found.path].count("crash") == 1
    assert any(m.kind == "crash" and m.cut > 0 for m in found.path), "a torn write"


def test_a_context_claiming_writes_nobody_made_loses_an_acknowledged_one() -> None:
    """#31 bug 4: n2 took Mallory's context {n1: 1000} at its word, so it counts Bob's
    acknowledged write at n1 as replaced without ever holding it."""
    result = explore("vkv", "made-up-context", "context-claims")
    assert broken(result) == ["no acknowledged write is lost"], result.verdicts()
    assert "'bob' is gone" in result.counterexamples[0].why


def test_a_writes_answer_hiding_a_sibling_loses_it() -> None:
    """#31 bug 3: Alice's answer listed her value alone while its context covered Bob's;
    writing again with it, she replaced Bob's acknowledged write unseen."""
    result = explore("vkv", "write-again", "put-reply-siblings")
    assert broken(result) == ["no acknowledged write is lost"], result.verdicts()
    assert "'bob' is gone" in result.counterexamples[0].why


def test_a_torn_receivers_write_closed_by_the_next_record_is_found() -> None:
    """A receiver's write torn after its Delivery of a: without the rule, n2's next
    record closes it, and a restart would hand a up though no record counts it."""
    result = explore("causal", "torn-receiver", "torn-write-forgotten")
    assert broken(result) == ["a restart hands up only recorded deliveries"], \
        result.verdicts()
    assert "n1#1" in result.counterexamples[0].why


def test_a_write_that_ignores_its_context_keeps_what_its_client_read() -> None:
    """Dynamo §4.4: a write replaces what its context covers; without the rule, n1 holds
    Alice's second value beside the two she had read."""
    result = explore("vkv", "write-again", "context-discard")
    assert broken(result) == ["a write replaces what its client read"], result.verdicts()


def test_a_made_up_context_is_refused_in_every_state() -> None:
    result = explore("vkv", "made-up-context")
    assert result.complete and result.ok, result.verdicts()
    assert set(result.reached) == {"a made-up context is refused",
                                   "an acknowledged write reaches every replica"}


@pytest.mark.slow
@pytest.mark.parametrize(("protocol", "model"), [
    ("causal", "torn-sender"), ("causal", "torn-receiver"), ("vkv", "write-again")])
def test_the_fixed_code_is_safe_within_the_bounds(protocol: str, model: str) -> None:
    result = explore(protocol, model)
    assert result.complete and result.ok, result.verdicts()
    assert result.reached and all(p is not None for p in result.reached.values())
