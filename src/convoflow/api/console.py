"""The web console (web/, built by Vite into `convoflow/console_dist/`) served by the API
process: `/` and every `/console/...` deep link answer index.html (the browser app routes
them, so a reload keeps the page), `/assets/...` the hashed bundles. Everything else stays
the API's, so an unknown API path still gets the JSON 404.

When the console was not built (a checkout without Node), `/` says how to build it rather
than failing: the API works without it."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.staticfiles import StaticFiles

DIST = Path(__file__).resolve().parent.parent / "console_dist"
NOT_BUILT = (
    "The web console is not built: run `make run` (or `npm ci && npm run build` in web/); "
    "the API itself is at /platform/v1 (see /docs)"
)
# index.html names hashed bundles: it must be re-read after every build, the bundles never.
INDEX_HEADERS = {"Cache-Control": "no-cache"}


def install_console(app: FastAPI, dist: Path = DIST) -> None:
    index = dist / "index.html"

    async def console_page() -> Response:
        if not index.is_file():
            return JSONResponse({"error": NOT_BUILT}, status_code=404)
        return FileResponse(index, headers=INDEX_HEADERS)

    async def console_deep_link(path: str) -> Response:
        return await console_page()

    app.add_api_route("/", console_page, methods=["GET"], include_in_schema=False)
    app.add_api_route(
        "/console/{path:path}", console_deep_link, methods=["GET"], include_in_schema=False
    )
    assets = dist / "assets"
    # check_dir=False: the app starts before (or without) a build; a missing file is a 404.
    app.mount("/assets", StaticFiles(directory=assets, check_dir=False), name="console-assets")
