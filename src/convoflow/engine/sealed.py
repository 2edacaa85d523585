"""Headers journaled sealed: the rendered headers of an outbound call (an MCP server's, a
webhook node's or an agent webhook tool's, which may hold `${ENV:X}` project secrets) go
into the action journal as one Fernet token under the database's key, are opened only by
the worker that makes the call, and are re-encrypted by `convoflow secrets rotate`. An MCP
server's url whose template names a project secret is journaled the same way
(`url_sealed`, with the unrendered template as `url` for reading)."""

from __future__ import annotations

import json
from typing import Any

from convoflow.store.cipher import SecretCipher, SecretKeyError

# The journaled action kinds whose requests may hold sealed headers.
SEALED_KINDS = ("mcp", "webhook")
# The fields of a journaled request (or of each of its listed servers) holding a token.
SEALED_FIELDS = ("headers_sealed", "url_sealed")


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


def seal_url(cipher: SecretCipher | None, template: str, url: str) -> dict[str, str]:
    """The journal's url fields: the rendered url, or, when its template names a project
    secret (`${ENV:X}`), the template and the rendered url sealed. Raises SecretKeyError
    when there is such a secret and no cipher."""
    if "${ENV:" not in template:
        return {"url": url}
    if cipher is None:
        raise SecretKeyError("no secret key: a url holding a project secret cannot be journaled")
    return {"url": template, "url_sealed": cipher.encrypt(url)}


def open_url(cipher: SecretCipher | None, holder: dict[str, Any]) -> str:
    sealed = holder.get("url_sealed")
    if not sealed:
        return str(holder["url"])
    if cipher is None:
        raise SecretKeyError("no secret key to open the journaled url")
    return cipher.decrypt(str(sealed))


def reseal_request(cipher: SecretCipher, request: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """A journaled request with its sealed headers (a call's, each listed server's)
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
