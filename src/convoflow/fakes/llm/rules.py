"""Scripted replies of the fake LLM: an ordered list of rules, the first one that matches
the last user message answers. A rule without `contains`/`regex` matches anything (put
it last: it is the default). A rule with `times` answers that many times, then is
skipped (how "429 once, then answer" is written).

```yaml
rules:
  - contains: refund            # case-insensitive substring of the last user message
    reply: billing
  - regex: "^(hi|hello)\\b"     # Python regex, case-insensitive, searched
    tool_call: {name: save_variable, arguments: {name: greeted, value: true}}
  - contains: flaky
    status: 429                 # answer an HTTP error instead (429, 500, ...)
    times: 1
  - contains: slow
    delay: 5                    # seconds before answering
    reply: late
  - reply: I did not understand # the default
```
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_REPLY = "OK"


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    arguments: dict[str, Any] = {}


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contains: str | None = None
    regex: str | None = None
    model: str | None = None  # only requests for this model name
    reply: str | None = None
    tool_call: ToolCall | None = None
    status: int | None = Field(default=None, ge=400, le=599)
    retry_after: float | None = None  # Retry-After header sent with `status`
    delay: float = Field(default=0.0, ge=0, le=600)
    times: int | None = Field(default=None, ge=1)

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"regex {value!r} does not compile: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_answer(self) -> Rule:
        given = [self.reply is not None, self.tool_call is not None, self.status is not None]
        if sum(given) > 1:
            raise ValueError("a rule answers with one of reply, tool_call or status")
        return self

    def matches(self, text: str, model: str) -> bool:
        if self.model is not None and self.model != model:
            return False
        if self.contains is not None and self.contains.lower() not in text.lower():
            return False
        return self.regex is None or re.search(self.regex, text, re.IGNORECASE) is not None


class Script:
    """The rules plus how often each has answered (for `times`)."""

    def __init__(self, rules: list[Rule] | None = None) -> None:
        self.rules: list[Rule] = list(rules or [])
        self._used: dict[int, int] = {}

    @classmethod
    def from_data(cls, data: Any) -> Script:
        """`{"rules": [...]}` or a bare list of rules."""
        items = data.get("rules", []) if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise ValueError("a script is a list of rules, or a mapping with `rules:`")
        return cls([Rule.model_validate(item) for item in items])

    @classmethod
    def from_file(cls, path: str | Path) -> Script:
        return cls.from_data(yaml.safe_load(Path(path).read_text(encoding="utf-8")) or [])

    def replace(self, rules: list[Rule]) -> None:
        self.rules = list(rules)
        self._used.clear()

    def answer(self, last_user_text: str, model: str) -> Rule:
        """The first live matching rule (and count it); none: reply DEFAULT_REPLY."""
        for index, rule in enumerate(self.rules):
            used = self._used.get(index, 0)
            if rule.times is not None and used >= rule.times:
                continue
            if rule.matches(last_user_text, model):
                self._used[index] = used + 1
                return rule
        return Rule(reply=DEFAULT_REPLY)
