"""SSRF guard for webhook and function calls.

A flow author must not be able to make the server call its own network (metadata
services, the database, admin ports). Targets that resolve to private, loopback,
link-local, multicast, reserved or unspecified addresses are refused unless the project
(or the process, CONVOFLOW_ALLOW_PRIVATE_NETWORK) allows them. The name is resolved here
and checked for every address it has; a DNS answer that changes between this check and
the connection (rebinding) is not covered — run behind an egress proxy if that matters.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


class EgressRefused(Exception):
    """The target is one the guard refuses: asking again will not change the answer."""


class EgressUnresolved(EgressRefused):
    """The host name did not resolve: DNS may answer later, so callers may retry."""


def _is_internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


async def check_url(url: str, *, allow_private: bool) -> None:
    """Raise EgressRefused with a message saying what was expected."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise EgressRefused(f"url {url!r} must start with http:// or https://")
    host = parts.hostname
    if not host:
        raise EgressRefused(f"url {url!r} has no host")
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host,
            parts.port or (443 if parts.scheme == "https" else 80),
            type=socket.SOCK_STREAM,
        )
    except socket.gaierror as exc:
        raise EgressUnresolved(f"cannot resolve host {host!r}: {exc.strerror}") from None
    for info in infos:
        address = str(info[4][0])
        if _is_internal(address):
            raise EgressRefused(
                f"url host {host!r} resolves to internal address {address}; calls to private, "
                "loopback and link-local networks are refused unless the project sets "
                "allow_private_network"
            )
