"""The console's pages are served at `/` and `/console/...` (deep links survive a reload)
while API paths keep their JSON 404; without a build, `/` says how to build it."""

from __future__ import annotations

import gzip
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from convoflow.api.console import install_console


def console_app(dist: Path) -> FastAPI:
    app = FastAPI()
    install_console(app, dist)
    return app


async def get(app: FastAPI, path: str, **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.get(path, headers={k.replace("_", "-"): v for k, v in headers.items()})


async def test_index_for_root_and_deep_links_assets_as_files(tmp_path: Path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>convoflow</title>")
    (tmp_path / "assets" / "app-1234.js").write_text("console.log(1)")
    app = console_app(tmp_path)
    for path in ("/", "/console/flows", "/console/flows/abc/editor"):
        page = await get(app, path)
        assert page.status_code == 200, path
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-cache"
        assert "<title>convoflow</title>" in page.text
    bundle = await get(app, "/assets/app-1234.js", accept_encoding="identity")
    assert bundle.status_code == 200 and bundle.text == "console.log(1)"
    assert (await get(app, "/assets/missing.js")).status_code == 404


def built_console(folder: Path) -> bytes:
    (folder / "assets").mkdir()
    (folder / "index.html").write_text("<!doctype html><title>convoflow</title>")
    bundle = b"export function render(){return 'convoflow';}\n" * 400
    (folder / "assets" / "index-AbC123.js").write_bytes(bundle)
    (folder / "assets" / "logo-9f8e.png").write_bytes(b"\x89PNG" + bytes(range(256)) * 8)
    return bundle


async def test_bundles_go_out_gzipped_and_cached_for_good(tmp_path: Path):
    bundle = built_console(tmp_path)
    app = console_app(tmp_path)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        request = http.build_request(
            "GET", "/assets/index-AbC123.js", headers={"Accept-Encoding": "gzip, br"}
        )
        answer = await http.send(request, stream=True)
        packed = b"".join([chunk async for chunk in answer.aiter_raw()])
    assert answer.status_code == 200
    assert answer.headers["content-encoding"] == "gzip"
    assert answer.headers["content-type"].startswith("text/javascript")
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert answer.headers["vary"] == "Accept-Encoding"
    assert int(answer.headers["content-length"]) == len(packed) < len(bundle) / 10
    assert gzip.decompress(packed) == bundle

    # index.html names the bundles: always revalidated, never cached for good.
    page = await get(app, "/console/flows", accept_encoding="gzip")
    assert page.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(
    "accept",
    ["identity", "gzip;q=0, identity", "br", "", "gzip; q=0", "*;q=0.5, gzip;q=0", "gzip;q=x"],
)
async def test_bundles_go_out_plain_to_a_client_without_gzip(tmp_path: Path, accept: str):
    bundle = built_console(tmp_path)
    answer = await get(console_app(tmp_path), "/assets/index-AbC123.js", accept_encoding=accept)
    assert answer.status_code == 200
    assert "content-encoding" not in answer.headers
    assert answer.content == bundle
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"


@pytest.mark.parametrize("accept", ["*;q=0, gzip", "br;q=1, *", "GZIP;q=0.1", "br, gzip;level=1"])
async def test_an_explicit_gzip_or_a_wildcard_gets_gzip(tmp_path: Path, accept: str):
    """The explicit `gzip` item decides wherever it stands (review item 10: `*;q=0, gzip`
    was refused because the first matching item decided); else `*` does."""
    built_console(tmp_path)
    answer = await get(console_app(tmp_path), "/assets/index-AbC123.js", accept_encoding=accept)
    assert answer.headers.get("content-encoding") == "gzip", accept


async def test_images_are_not_gzipped_and_nothing_outside_the_folder_is_served(tmp_path: Path):
    built_console(tmp_path)
    (tmp_path / "secret.txt").write_text("not a bundle")
    app = console_app(tmp_path)
    image = await get(app, "/assets/logo-9f8e.png", accept_encoding="gzip")
    assert image.status_code == 200 and "content-encoding" not in image.headers
    for path in ("/assets/../secret.txt", "/assets/%2e%2e/secret.txt", "/assets/..%2fsecret.txt"):
        assert (await get(app, path)).status_code == 404, path


async def test_a_rebuilt_bundle_is_compressed_again(tmp_path: Path):
    built_console(tmp_path)
    app = console_app(tmp_path)
    first = await get(app, "/assets/index-AbC123.js", accept_encoding="gzip")
    (tmp_path / "assets" / "index-AbC123.js").write_text("console.log('rebuilt');" * 50)
    second = await get(app, "/assets/index-AbC123.js", accept_encoding="gzip")
    assert first.text.startswith("export function")
    assert second.text.startswith("console.log('rebuilt')")


async def test_not_built_says_how_to_build(tmp_path: Path):
    page = await get(console_app(tmp_path / "nothing"), "/console/flows")
    assert page.status_code == 404
    assert "make run" in page.json()["error"]


async def test_api_404s_stay_json(client):
    response = await client.get("/platform/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"].startswith("No route GET /platform/v1/nothing-here")
    assert (await client.get("/nothing")).json()["error"].startswith("No route GET /nothing")
