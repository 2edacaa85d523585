"""URLs a tenant gives (project webhook `url`, function `endpoint_url`, provider model
`base_url`) are absolute http(s) URLs as RFC 3986 writes them: anything else is a 422
naming the field, never stored. Kapso's responses declare these fields `format: uri`, so
a stored IRI or control character made our answers break the schema we serve; and a
bracket in the host (`http://]x`) reached `urlsplit`, which raised: a 500."""

from __future__ import annotations

import httpx
import pytest

P = "/platform/v1"
BAD = [
    "http://]x",  # urlsplit: "Invalid IPv6 URL"
    "https://exämple.com/hook",  # an IRI: punycode the host
    "https://example.com/ä",  # percent-encode the path
    "https://example.com/a b",
    "https://example.com/#a#b",
    "https://example.com/%zz",
    "ftp://example.com/",
]
GOOD = "https://example.com:8443/hooks/in?x=1&y=%2F#top"


def _bodies(url: str) -> list[tuple[str, dict[str, object], str]]:
    return [
        (
            f"{P}/whatsapp/webhooks",
            {"whatsapp_webhook": {"url": url, "events": ["project.event"]}},
            "whatsapp_webhook.url",
        ),
        (
            f"{P}/functions",
            {"function": {"name": "f", "function_type": "http", "endpoint_url": url}},
            "function.endpoint_url",
        ),
        (
            f"{P}/provider_models",
            {"provider_model": {"name": "m", "base_url": url}},
            "provider_model.base_url",
        ),
    ]


@pytest.mark.parametrize("url", BAD)
async def test_urls_that_are_not_rfc3986_are_refused(client: httpx.AsyncClient, url: str) -> None:
    for path, body, field in _bodies(url):
        response = await client.post(path, json=body)
        assert response.status_code == 422, (path, url, response.text)
        details = response.json().get("details") or []
        assert field in {d.get("field") for d in details}, (path, response.text)


async def test_an_rfc3986_url_is_accepted(client: httpx.AsyncClient) -> None:
    for path, body, _ in _bodies(GOOD):
        response = await client.post(path, json=body)
        assert response.status_code == 201, (path, response.text)
