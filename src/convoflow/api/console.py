"""The web console (web/, built by Vite into `convoflow/console_dist/`) served by the API
process: `/` and every `/console/...` deep link answer index.html (the browser app routes
them, so a reload keeps the page), `/assets/...` the hashed bundles. Everything else stays
the API's, so an unknown API path still gets the JSON 404.

When the console was not built (a checkout without Node), `/` says how to build it rather
than failing: the API works without it.

The bundles go out gzip-compressed to a browser that accepts it (the editor's chunk is
~235 KB raw, ~77 KB gzip), compressed once per file and kept in memory: there are a
dozen files and they change only with a build. Only these routes compress; API responses
are left alone (they are small, or streamed)."""

from __future__ import annotations

import gzip
import mimetypes
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

DIST = Path(__file__).resolve().parent.parent / "console_dist"
NOT_BUILT = (
    "The web console is not built: run `make run` (or `npm ci && npm run build` in web/); "
    "the API itself is at /platform/v1 (see /docs)"
)
# index.html names hashed bundles: it must be re-read after every build, the bundles never
# (a new build gives a changed file a new name).
INDEX_HEADERS = {"Cache-Control": "no-cache"}
ASSET_HEADERS = {"Cache-Control": "public, max-age=31536000, immutable", "Vary": "Accept-Encoding"}
# Types worth compressing (fonts and images are compressed formats already).
COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml")


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header allows gzip (RFC 9110 12.5.3): an explicit `gzip`
    item decides whatever its place (`*;q=0, gzip` allows it); else `*` does; `q=0`
    refuses; an unreadable q-value counts as a refusal."""
    qualities: dict[str, float] = {}
    for item in accept_encoding.split(","):
        name, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0
        qualities.setdefault(name.lower(), quality)
    return qualities.get("gzip", qualities.get("*", 0.0)) > 0


class ConsoleAssets:
    """The built bundles under `folder`, with their gzip form made once per file version
    (size and modification time) and kept."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._gzipped: dict[Path, tuple[tuple[int, int], bytes]] = {}

    def find(self, name: str) -> Path | None:
        """The file `name` names inside the folder, or None (missing, or outside it)."""
        root = self.folder.resolve()
        path = (root / name).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return None
        return path

    def gzipped(self, path: Path) -> bytes | None:
        """The file gzip-compressed, or None when that would not make it smaller."""
        stat = path.stat()
        version = (stat.st_size, stat.st_mtime_ns)
        cached = self._gzipped.get(path)
        if cached is None or cached[0] != version:
            raw = path.read_bytes()
            # mtime=0: the same bytes for the same file, whichever process compresses it.
            cached = (version, gzip.compress(raw, compresslevel=9, mtime=0))
            self._gzipped[path] = cached
        return cached[1] if len(cached[1]) < stat.st_size else None

    async def response(self, name: str, request: Request) -> Response:
        path = self.find(name)
        if path is None:
            return JSONResponse({"error": f"No console file /assets/{name}"}, status_code=404)
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if media_type.startswith(COMPRESSIBLE) and accepts_gzip(
            request.headers.get("accept-encoding", "")
        ):
            body = await run_in_threadpool(self.gzipped, path)
            if body is not None:
                headers = {**ASSET_HEADERS, "Content-Encoding": "gzip"}
                return Response(body, media_type=media_type, headers=headers)
        return FileResponse(path, media_type=media_type, headers=ASSET_HEADERS)


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
    # The folder may not exist yet: the app starts before (or without) a build, and a
    # missing file is a 404.
    assets = ConsoleAssets(dist / "assets")

    async def console_asset(name: str, request: Request) -> Response:
        return await assets.response(name, request)

    app.add_api_route(
        "/assets/{name:path}", console_asset, methods=["GET", "HEAD"], include_in_schema=False
    )
