"""The web console's speed: the JavaScript (gzip) of its initial load, how long the first
page takes to become interactive, and how long a 300-node flow takes to open in the
editor, in Debian's headless chromium against a running `convoflow serve`.

    .venv/bin/python bench/console.py                      # sizes only (needs `make console`)
    .venv/bin/python bench/console.py --url http://127.0.0.1:8000 --api-key KEY [--nodes 300]
"""

from __future__ import annotations

import argparse
import gzip
import re
import statistics
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

# The browser and its flags, as the console's browser tests launch it.
from tests.console.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

DIST = ROOT / "src" / "convoflow" / "console_dist"


def initial_load_sizes() -> dict[str, tuple[int, int]]:
    """Files index.html loads before any lazy chunk: {name: (bytes, gzip -9 bytes)}."""
    index = (DIST / "index.html").read_text()
    names = re.findall(r'(?:src|href)="/assets/([^"]+)"', index)
    sizes = {}
    for name in names:
        raw = (DIST / "assets" / name).read_bytes()
        sizes[name] = (len(raw), len(gzip.compress(raw, 9)))
    return sizes


def big_flow(nodes: int) -> dict[str, object]:
    """start → (send_text)* in a chain: `nodes` nodes, no positions (the editor lays it out)."""
    items = [{"id": "start", "data": {"node_type": "start", "config": {}}}]
    edges = []
    for i in range(1, nodes):
        items.append(
            {
                "id": f"t{i}",
                "data": {"node_type": "send_text", "config": {"message": f"message {i}"}},
            }
        )
        edges.append({"source": items[-2]["id"], "target": f"t{i}"})
    return {"nodes": items, "edges": edges}


def browser_figures(url: str, api_key: str, nodes: int, runs: int) -> None:
    from playwright.sync_api import sync_playwright

    headers = {"X-API-Key": api_key}
    created = httpx.post(
        f"{url}/platform/v1/workflows",
        headers=headers,
        timeout=60,
        json={
            "workflow": {
                "name": f"bench {nodes} nodes {time.time()}",
                "definition": big_flow(nodes),
            }
        },
    )
    created.raise_for_status()
    workflow_id = created.json()["data"]["id"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        interactive, opened = [], []
        for _ in range(runs):
            page = browser.new_context().new_page()
            started = time.perf_counter()
            page.goto(f"{url}/")
            page.get_by_label("API key").wait_for()
            interactive.append(time.perf_counter() - started)
            page.get_by_label("API key").fill(api_key)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("heading", name="Flows").wait_for()
            started = time.perf_counter()
            page.goto(f"{url}/console/flows/{workflow_id}")
            page.get_by_test_id(f"node-t{nodes - 1}").wait_for(state="attached", timeout=30_000)
            opened.append(time.perf_counter() - started)
            page.context.close()
        browser.close()
    print(
        f"first page interactive (sign-in form usable), median of {runs}: "
        f"{statistics.median(interactive) * 1000:.0f} ms"
    )
    print(
        f"{nodes}-node flow opened in the editor (last node rendered), median of {runs}: "
        f"{statistics.median(opened) * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url")
    parser.add_argument("--api-key")
    parser.add_argument("--nodes", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    sizes = initial_load_sizes()
    for name, (raw, packed) in sizes.items():
        print(f"{name}: {raw / 1024:.1f} KiB, gzip {packed / 1024:.1f} KiB")
    js = sum(packed for name, (_, packed) in sizes.items() if name.endswith(".js"))
    print(f"initial load JavaScript, gzip: {js / 1024:.1f} KiB")
    if args.url and args.api_key:
        browser_figures(args.url.rstrip("/"), args.api_key, args.nodes, args.runs)


if __name__ == "__main__":
    main()
