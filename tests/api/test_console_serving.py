"""The console's pages are served at `/` and `/console/...` (deep links survive a reload)
while API paths keep their JSON 404; without a build, `/` says how to build it."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from convoflow.api.console import install_console


def console_app(dist: Path) -> FastAPI:
    app = FastAPI()
    install_console(app, dist)
    return app


async def get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.get(path)


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
    bundle = await get(app, "/assets/app-1234.js")
    assert bundle.status_code == 200 and bundle.text == "console.log(1)"
    assert (await get(app, "/assets/missing.js")).status_code == 404


async def test_not_built_says_how_to_build(tmp_path: Path):
    page = await get(console_app(tmp_path / "nothing"), "/console/flows")
    assert page.status_code == 404
    assert "make run" in page.json()["error"]


async def test_api_404s_stay_json(client):
    response = await client.get("/platform/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"].startswith("No route GET /platform/v1/nothing-here")
    assert (await client.get("/nothing")).json()["error"].startswith("No route GET /nothing")
