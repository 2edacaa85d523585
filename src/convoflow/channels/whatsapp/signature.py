"""Meta webhook authentication: the `X-Hub-Signature-256` HMAC and the GET handshake.

The HMAC is computed over the raw request bytes, never over re-serialised JSON: Meta
signs the payload exactly as sent (escaped unicode), so any re-encoding breaks the MAC.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from enum import StrEnum

SIGNATURE_HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="


class SignatureCheck(StrEnum):
    """Outcome of a signature check. The route answers 401 for `MISSING` (the caller did
    not authenticate at all) and 403 for `MISMATCH` (it tried, with the wrong key)."""

    VALID = "valid"
    MISSING = "missing"
    MISMATCH = "mismatch"


def sign(app_secret: str, body: bytes) -> str:
    """The header value Meta would send for `body`: `sha256=<lowercase hex>`."""
    digest = hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def check_signature(
    body: bytes, header: str | None, app_secrets: str | Iterable[str]
) -> SignatureCheck:
    """Check `header` against `body` with one app secret or several.

    Several secrets exist when one webhook URL serves numbers of different Meta apps:
    the route can pass the secrets of every number the body mentions. An empty secret
    never matches, so a number without a configured secret cannot be spoofed.
    """
    if header is None or not header.strip():
        return SignatureCheck.MISSING
    value = header.strip()
    if not value.lower().startswith(_PREFIX):
        return SignatureCheck.MISMATCH
    received = value[len(_PREFIX) :].strip().lower()
    secrets = [app_secrets] if isinstance(app_secrets, str) else list(app_secrets)
    matched = False
    for secret in secrets:
        if not secret:
            continue
        expected = sign(secret, body)[len(_PREFIX) :]
        # Compare against every secret (no early exit) so timing does not reveal which
        # of several secrets was closest.
        matched |= hmac.compare_digest(expected.encode(), received.encode())
    return SignatureCheck.VALID if matched else SignatureCheck.MISMATCH


def check_signature_of_each(
    body: bytes, header: str | None, app_secrets: Iterable[str]
) -> SignatureCheck:
    """VALID only when `header` verifies with every one of `app_secrets` (there is at
    least one). A body that names numbers of several projects must be signed with the
    app secret of each: one tenant's secret must never vouch for messages to another
    tenant's number. In practice one HMAC matches one secret, so such a body passes only
    when the numbers share their Meta app."""
    secrets = set(app_secrets)
    if not secrets:
        return SignatureCheck.MISMATCH
    checks = {check_signature(body, header, secret) for secret in sorted(secrets)}
    return checks.pop() if len(checks) == 1 else SignatureCheck.MISMATCH


def verify_subscription(
    params: Mapping[str, str], verify_tokens: str | Iterable[str] | None
) -> str | None:
    """The GET handshake: the `hub.challenge` to echo (as plain text, status 200) when
    `hub.mode` is `subscribe` and `hub.verify_token` matches a configured token; None
    (the route answers 403) otherwise, including when no token is configured."""
    if params.get("hub.mode") != "subscribe":
        return None
    challenge = params.get("hub.challenge")
    token = params.get("hub.verify_token")
    if challenge is None or not token:
        return None
    if verify_tokens is None:
        return None
    tokens = [verify_tokens] if isinstance(verify_tokens, str) else list(verify_tokens)
    matched = False
    for expected in tokens:
        if expected:
            matched |= hmac.compare_digest(expected.encode("utf-8"), token.encode("utf-8"))
    return challenge if matched else None
