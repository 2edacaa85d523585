"""What the fake Graph API holds (its configuration, numbers, programmed errors) and what
its HTTP routes (`routes.py`) may do with it (`FakeGraphState`), which `server.py:
FakeGraph` implements. Apart so that the routes and the server do not import each other.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

DEFAULT_PHONE_NUMBER_ID = "100000000000001"
# code -> (HTTP status, Meta's message): what a forced error looks like on the wire.
KNOWN_ERRORS: dict[int, tuple[int, str]] = {
    131047: (400, "Re-engagement message"),
    130429: (429, "Rate limit hit"),
    131056: (400, "(Business Account, Consumer Account) pair rate limit hit"),
    131026: (400, "Message Undeliverable"),
    131000: (500, "Something went wrong"),
    131008: (400, "Required parameter is missing"),
    100: (400, "Invalid parameter"),
    190: (401, "Invalid OAuth access token - Cannot parse access token"),
    130472: (400, "User's number is part of an experiment"),
}


@dataclass
class ForcedError:
    code: int
    remaining: int
    http_status: int
    message: str
    details: str | None = None
    mode: str = "sync"  # sync: the send answers the error; async: a `failed` status later


@dataclass
class FakeNumber:
    """A number the fake knows: the lookup answers it only with its own token."""

    access_token: str = field(repr=False)
    display_phone_number: str | None = None
    verified_name: str = "Fake Business"
    quality_rating: str = "GREEN"


@dataclass
class FakeConfig:
    webhook_url: str | None = None
    app_secret: str | None = field(default=None, repr=False)
    statuses: list[str] = field(default_factory=lambda: ["sent", "delivered", "read"])
    status_delay_seconds: float = 0.02
    # Meta redelivers a webhook the receiver did not take (unreachable, 5xx) for days;
    # > 0: the fake does too, for this long (0: one try, what most tests want).
    redeliver_seconds: float = 0.0
    default_phone_number_id: str = DEFAULT_PHONE_NUMBER_ID
    display_phone_number: str | None = None
    # False: any number answers the lookup with any token (tests, the demo); True: only
    # the numbers registered with `register_number`, with their own token.
    known_numbers_only: bool = False

    def public(self) -> dict[str, Any]:
        shown = asdict(self)
        shown["app_secret"] = None
        shown["app_secret_set"] = bool(self.app_secret)
        return shown


class FakeGraphState(Protocol):
    """What the HTTP routes use of the fake (`server.py: FakeGraph`)."""

    config: FakeConfig
    sent: list[dict[str, Any]]
    webhooks: list[dict[str, Any]]
    forced: dict[str, deque[ForcedError]]

    def configure(self, changes: dict[str, Any]) -> None: ...

    def force_error(
        self,
        code: int,
        *,
        to: str = "*",
        count: int = 1,
        http_status: int | None = None,
        message: str | None = None,
        details: str | None = None,
        mode: str = "sync",
    ) -> ForcedError: ...

    def register_number(self, phone_number_id: str, access_token: str, **details: str) -> None: ...

    def handle_lookup(
        self, phone_number_id: str, token: str | None
    ) -> tuple[int, dict[str, Any]]: ...

    def handle_send(
        self, version: str, phone_number_id: str, body: Any, token: str | None
    ) -> tuple[int, dict[str, Any]]: ...

    def records(self, **filters: Any) -> list[dict[str, Any]]: ...

    async def simulate_inbound(self, request: dict[str, Any]) -> dict[str, Any]: ...
