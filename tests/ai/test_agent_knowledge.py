"""The agent's knowledge-base search: paragraphs ranked by query words, rare words first."""

from __future__ import annotations

from convoflow.engine.steps._agent_knowledge import search

FAQ = """Shipping takes 3 to 5 days. Shipping is free over 50 euros.

Refunds are paid within 14 days to the card used. Ask for a refund by writing REFUND.

Our shop opens at 9 and closes at 18, Monday to Saturday.

Returns: send the product back within 30 days for a refund or an exchange."""


def test_best_paragraph_first() -> None:
    found = search(FAQ, "how long do refunds take?")
    assert found[0].startswith("Refunds are paid")
    assert any(p.startswith("Returns:") for p in found)  # "refund" again, and "take(s)"
    assert search(FAQ, "when do you open")[0].startswith("Our shop opens")


def test_nothing_matches() -> None:
    assert search(FAQ, "bitcoin") == []
    assert search("", "refund") == []
    assert search(FAQ, "  ?? ") == []
    assert len(search(FAQ, "the a to for", limit=2)) == 2
