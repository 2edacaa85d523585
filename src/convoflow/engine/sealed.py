"""Secrets journaled sealed: the rendered headers of an outbound call (an MCP server's, a
webhook node's or an agent webhook tool's, which may hold `${ENV:X}` project secrets) go
into the action journal as one Fernet token under the database's key, are opened only by
the worker that makes the call, and are re-encrypted by `convoflow secrets rotate`. A
rendered url or body whose template names a project secret (an MCP server's url, a
webhook node's or webhook tool's url and body) is journaled the same way (`url_sealed`,
`body_sealed`), with the unrendered template as `url` / `body` for reading.

Only a template naming `${ENV:X}` is sealed: rendering is one pass (graph/templating.py),
so nothing else can bring a project secret into what a template renders, and a call
without one keeps a readable journal entry."""

from __future__ import annotations

import json
from typing import Any

from convoflow.store.cipher import SecretCipher, SecretKeyError

# The journaled action kinds whose requests may hold sealed tokens.
SEALED_KINDS = ("mcp", "webhook")
# The fields of a journaled request (or of each of its listed servers) holding a token.
SEALED_FIELDS = ("headers_sealed", "url_sealed", "body_sealed")


def seal_headers(cipher: SecretCipher | None, headers: dict[str, str]) -> str | None:
    """The headers as one Fernet token for the journal (None: no headers). Raises
    SecretKeyError when there are headers and no cipher to seal them with."""
    if not headers:
        return None
    if cipher is None:
        raise SecretKeyError("no secret key: headers cannot be journaled")
    return cipher.encrypt(json.dumps(headers))


def open_headers(cipher: SecretCipher | None, sealed: Any) -> dict[str, str]:
    if not sealed:
        return {}
    if cipher is None:
        raise SecretKeyError("no secret key to open the journaled headers")
    return {str(k): str(v) for k, v in json.loads(cipher.decrypt(str(sealed))).items()}


def names_secret(template: Any) -> bool:
    """Whether a template (text, or a JSON value holding text) names a project secret."""
    return "${ENV:" in (template if isinstance(template, str) else repr(template))


def seal_url(cipher: SecretCipher | None, template: str, url: str) -> dict[str, Any]:
    """The journal's url fields: the rendered url, or, when its template names a project
    secret (`${ENV:X}`), the template and the rendered url sealed. Raises SecretKeyError
    when there is such a secret and no cipher."""
    return _sealed(cipher, "url", template, url, url)


def seal_body(cipher: SecretCipher | None, template: Any, body: Any) -> dict[str, Any]:
    """The journal's body fields, as `seal_url`'s: the rendered body, or the template and
    one token of the rendered body's JSON."""
    return _sealed(cipher, "body", template, body, json.dumps(body))


def _sealed(
    cipher: SecretCipher | None, field: str, template: Any, value: Any, plaintext: str
) -> dict[str, Any]:
    if not names_secret(template):
        return {field: value}
    if cipher is None:
        raise SecretKeyError(
            f"no secret key: a {field} holding a project secret cannot be journaled"
        )
    return {field: template, f"{field}_sealed": cipher.encrypt(plaintext)}


def _opened(cipher: SecretCipher | None, holder: dict[str, Any], field: str) -> str | None:
    sealed = holder.get(f"{field}_sealed")
    if not sealed:
        return None
    if cipher is None:
        raise SecretKeyError(f"no secret key to open the journaled {field}")
    return cipher.decrypt(str(sealed))


def open_url(cipher: SecretCipher | None, holder: dict[str, Any]) -> str:
    opened = _opened(cipher, holder, "url")
    return str(holder["url"]) if opened is None else opened


def open_body(cipher: SecretCipher | None, holder: dict[str, Any]) -> Any:
    opened = _opened(cipher, holder, "body")
    return holder.get("body") if opened is None else json.loads(opened)


def shown_url(holder: dict[str, Any]) -> str | None:
    """What an error about the call names instead of its url: the journaled template when
    the url is sealed (None: the url is not secret, errors name it). Passed to the egress
    module, which quotes only this in what it writes, before anything is cut to size: an
    error quoting the opened url (or its host) would carry the secret into the journaled
    result, the events and the logs."""
    return str(holder["url"]) if holder.get("url_sealed") else None


def reseal_request(cipher: SecretCipher, request: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """A journaled request with its sealed tokens (a call's, each listed server's)
    re-encrypted under the newest key, for `convoflow secrets rotate`; and how many were
    rewritten. A token no listed key opens is left as it is: it could not be opened before
    either, and a pending action holding one answers the model so (docs/ai.md)."""
    rewritten = 0

    def rotated(holder: dict[str, Any]) -> dict[str, Any]:
        nonlocal rewritten
        for field in SEALED_FIELDS:
            sealed = holder.get(field)
            if not sealed:
                continue
            try:
                token = cipher.rotate(str(sealed))
            except SecretKeyError:
                continue
            if token is not None:
                rewritten += 1
                holder = {**holder, field: token}
        return holder

    resealed = rotated(request)
    servers = request.get("servers")
    if isinstance(servers, list):
        resealed = {**resealed, "servers": [rotated(dict(s)) for s in servers]}
    return resealed, rewritten
