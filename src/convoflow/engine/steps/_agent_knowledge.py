"""The agent node's knowledge-base tools (`flow_agent_knowledge_bases`: `name`,
`description`, `knowledge_base_text`): one tool per base, answering a query with the base's
best-matching passages, ranked by term frequency weighted by rarity (a small BM25-like
score over paragraphs). Pure computation on the node's config: no I/O, nothing to journal."""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

MAX_PASSAGES = 3
_WORD = re.compile(r"\w+", re.UNICODE)
QUERY_SCHEMA = {
    "type": "object",
    "properties": {"query": {"type": "string", "description": "what to look up"}},
    "required": ["query"],
}


def _bases(config: Any) -> list[dict[str, Any]]:
    return [
        base
        for base in config.flow_agent_knowledge_bases
        if isinstance(base.get("name"), str) and base["name"].strip()
    ]


def knowledge_specs(config: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": base["name"],
            "description": base.get("description") or f"Search the {base['name']} knowledge base.",
            "parameters": QUERY_SCHEMA,
        }
        for base in _bases(config)
    ]


def knowledge_text(config: Any, name: str) -> str | None:
    """The text of the base named `name`, None when there is no such base."""
    base = next((b for b in _bases(config) if b["name"] == name), None)
    return None if base is None else str(base.get("knowledge_base_text") or "")


def _stem(word: str) -> str:
    # Plural and singular meet ("refunds" finds "refund"); nothing cleverer, by design:
    # no language is assumed.
    word = word.casefold()
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _words(text: str) -> list[str]:
    return [_stem(w) for w in _WORD.findall(text)]


def search(text: str, query: str, limit: int = MAX_PASSAGES) -> list[str]:
    """The paragraphs of `text` that best match `query`, best first (none: no query word
    occurs)."""
    passages = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    counted = [Counter(_words(p)) for p in passages]
    terms = set(_words(query))
    if not passages or not terms:
        return []
    rarity = {
        term: math.log(1 + len(passages) / (1 + sum(1 for c in counted if term in c)))
        for term in terms
    }
    scored = []
    for index, counts in enumerate(counted):
        length = sum(counts.values()) or 1
        score = sum(rarity[t] * counts[t] / (counts[t] + 0.5 + length / 50) for t in terms)
        if score > 0:
            scored.append((-score, index))
    return [passages[index] for _, index in sorted(scored)[:limit]]
