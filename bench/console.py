"""The web console's speed: the JavaScript (gzip) of its initial load, how long the first
page takes to become interactive, and how long a 300-node flow takes to open in the
editor, in Debian's headless chromium against a running `convoflow serve`.

    .venv/bin/python bench/console.py                      # sizes only (needs `make console`)
    .venv/bin/python bench/console.py --url http://127.0.0.1:8000 --api-key KEY [--nodes 300]
    # before/after in one run: a second server serving the other build, measured in turn
    .venv/bin/python bench/console.py --url U --api-key K --compare-url U2 --compare-api-key K2
    # the same for test-chat replies (N chats on each server, in turn)
    .venv/bin/python bench/console.py --url U --api-key K --compare-url U2 \
        --compare-api-key K2 --chats 20
"""

from __future__ import annotations

import argparse
import gzip
import itertools
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
from tests.support import example  # noqa: E402

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


def served_sizes(url: str) -> dict[str, tuple[str, int]]:
    """What the server sends for each file index.html loads, to a browser that accepts
    gzip: {name: (Content-Encoding, bytes on the wire)}."""
    index = httpx.get(f"{url}/").text
    sent = {}
    for name in re.findall(r'(?:src|href)="/assets/([^"]+)"', index):
        with httpx.stream("GET", f"{url}/assets/{name}", headers={"Accept-Encoding": "gzip"}) as r:
            wire = b"".join(r.iter_raw())
            sent[name] = (r.headers.get("content-encoding", "identity"), len(wire))
    return sent


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


# Counts animation frames into window.__panStamps until window.__stopPan is set (returns
# at once: awaiting a promise here would block the drag it measures).
PAN_SCRIPT = """() => {
  window.__panStamps = [];
  window.__stopPan = false;
  const tick = (t) => {
    window.__panStamps.push(t);
    if (!window.__stopPan) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""


def pan_fps(page: object, seconds: float = 2.0) -> tuple[float, float]:
    """Drag the canvas for `seconds` while counting animation frames: (frames/s, p95 ms)."""
    box = page.locator(".react-flow__pane").bounding_box()  # type: ignore[attr-defined]
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.evaluate(PAN_SCRIPT)  # type: ignore[attr-defined]
    page.mouse.move(x, y)  # type: ignore[attr-defined]
    page.mouse.down()  # type: ignore[attr-defined]
    started = time.perf_counter()
    step = 0
    while time.perf_counter() - started < seconds:
        step += 1
        page.mouse.move(x + 150 * ((step % 40) / 40 - 0.5), y + 60 * ((step % 20) / 20 - 0.5))  # type: ignore[attr-defined]
    page.mouse.up()  # type: ignore[attr-defined]
    page.evaluate("() => { window.__stopPan = true; }")  # type: ignore[attr-defined]
    stamps = page.evaluate("() => window.__panStamps")  # type: ignore[attr-defined]
    gaps = sorted(b - a for a, b in itertools.pairwise(stamps))
    fps = (len(stamps) - 1) / ((stamps[-1] - stamps[0]) / 1000)
    return fps, gaps[int(len(gaps) * 0.95)]


def chat_page(page: object, url: str, api_key: str) -> None:
    """Open the test chat of a new active copy of examples/menu.json (signed in)."""
    headers = {"X-API-Key": api_key}
    body = {"workflow": {"name": f"bench chat {time.time()}", "definition": example("menu")}}
    workflow = httpx.post(f"{url}/platform/v1/workflows", headers=headers, json=body).json()
    workflow_id = workflow["data"]["id"]
    httpx.post(
        f"{url}/platform/v1/workflows/{workflow_id}/triggers",
        headers=headers,
        json={"trigger": {"trigger_type": "api_call"}},
    ).raise_for_status()
    httpx.patch(
        f"{url}/platform/v1/workflows/{workflow_id}",
        headers=headers,
        json={"workflow": {"status": "active"}},
    ).raise_for_status()
    page.goto(f"{url}/")  # type: ignore[attr-defined]
    page.evaluate("k => sessionStorage.setItem('convoflow.apiKey', k)", api_key)  # type: ignore[attr-defined]
    page.goto(f"{url}/console/flows/{workflow_id}/chat")  # type: ignore[attr-defined]


def one_reply(page: object, first: bool) -> float:
    """Seconds from a reply-button click to the bot's answer on screen, in a new chat
    ("Opening hours" is answered at once)."""
    page.get_by_role("button", name="Start chat" if first else "Restart").click()  # type: ignore[attr-defined]
    bubbles = page.get_by_test_id("bot-bubble")  # type: ignore[attr-defined]
    bubbles.first.get_by_role("button", name="Opening hours").wait_for()
    started = time.perf_counter()
    bubbles.first.get_by_role("button", name="Opening hours").click()
    bubbles.nth(1).wait_for()
    return time.perf_counter() - started


def chat_replies(page: object, url: str, api_key: str, runs: int) -> list[float]:
    """One reply time per chat (examples/menu.json)."""
    chat_page(page, url, api_key)
    return [one_reply(page, run == 0) for run in range(runs)]


def compare_chats(servers: list[tuple[str, str]], chats: int) -> None:
    """Test-chat reply times on two servers (two builds), one chat on each in turn in one
    browser, so that both see the same load: medians and their ratio."""
    from playwright.sync_api import sync_playwright

    times: list[list[float]] = [[], []]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pages = [browser.new_context().new_page() for _ in servers]
        for page, (url, key) in zip(pages, servers, strict=True):
            chat_page(page, url, key)
        for run in range(chats):
            for i, page in enumerate(pages):
                times[i].append(one_reply(page, run == 0))
        browser.close()
    medians = [statistics.median(t) * 1000 for t in times]
    for (url, _), median, raw in zip(servers, medians, times, strict=True):
        print(
            f"test chat, button click -> bot answer on screen, {url}: p50 {median:.0f} ms, "
            f"max {max(raw) * 1000:.0f} ms ({len(raw)} chats)"
        )
    print(f"ratio {servers[0][0]} / {servers[1][0]}: {medians[0] / medians[1]:.2f}")


def create_big_flow(url: str, api_key: str, nodes: int) -> str:
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
    workflow_id: str = created.json()["data"]["id"]
    return workflow_id


def open_flow(browser: object, url: str, api_key: str, workflow_id: str, nodes: int) -> float:
    """Seconds from navigating to the editor's deep link to the last card in the DOM, in a
    new signed-in tab."""
    page = browser.new_context().new_page()  # type: ignore[attr-defined]
    page.goto(f"{url}/")
    page.get_by_label("API key").fill(api_key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Flows").wait_for()
    started = time.perf_counter()
    page.goto(f"{url}/console/flows/{workflow_id}")
    page.get_by_test_id(f"node-t{nodes - 1}").wait_for(state="attached", timeout=30_000)
    seconds = time.perf_counter() - started
    page.context.close()
    return seconds


def compare_open(servers: list[tuple[str, str]], nodes: int, runs: int) -> None:
    """The big flow's opening time on two servers (two builds of the console), measured in
    turn in one browser so that both see the same load: medians and their ratio."""
    from playwright.sync_api import sync_playwright

    flows = [create_big_flow(url, key, nodes) for url, key in servers]
    times: list[list[float]] = [[], []]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(runs):
            for i, (url, key) in enumerate(servers):
                times[i].append(open_flow(browser, url, key, flows[i], nodes))
        browser.close()
    medians = [statistics.median(t) * 1000 for t in times]
    for (url, _), median, raw in zip(servers, medians, times, strict=True):
        runs_ms = ", ".join(f"{t * 1000:.0f}" for t in raw)
        print(f"{nodes}-node flow opened, {url}: median {median:.0f} ms ({runs_ms})")
    print(f"ratio {servers[0][0]} / {servers[1][0]}: {medians[0] / medians[1]:.2f}")


def browser_figures(url: str, api_key: str, nodes: int, runs: int) -> None:
    from playwright.sync_api import sync_playwright

    workflow_id = create_big_flow(url, api_key, nodes)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        interactive: list[float] = []
        opened: list[float] = []
        fps, p95, replies = 0.0, 0.0, [0.0]
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
            if len(opened) == runs:
                fps, p95 = pan_fps(page)
                replies = chat_replies(page, url, api_key, 10)
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
    print(f"panning the {nodes}-node flow for 2 s: {fps:.0f} frames/s, p95 frame {p95:.0f} ms")
    print(
        f"test chat, button click -> bot answer on screen, {len(replies)} chats: "
        f"p50 {statistics.median(replies) * 1000:.0f} ms, max {max(replies) * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url")
    parser.add_argument("--api-key")
    parser.add_argument("--nodes", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--compare-url", help="a second server: compare the big flow's opening")
    parser.add_argument("--compare-api-key")
    parser.add_argument(
        "--chats", type=int, default=0, help="with --compare-url: compare N test-chat replies"
    )
    args = parser.parse_args()
    if args.url and args.compare_url:
        servers = [
            (args.url.rstrip("/"), args.api_key),
            (args.compare_url.rstrip("/"), args.compare_api_key),
        ]
        if args.chats:
            compare_chats(servers, args.chats)
        else:
            compare_open(servers, args.nodes, args.runs)
        return
    sizes = initial_load_sizes()
    for name, (raw, packed) in sizes.items():
        print(f"{name}: {raw / 1024:.1f} KiB, gzip {packed / 1024:.1f} KiB")
    js = sum(packed for name, (_, packed) in sizes.items() if name.endswith(".js"))
    print(f"initial load JavaScript, gzip: {js / 1024:.1f} KiB")
    if args.url:
        for name, (encoding, size) in served_sizes(args.url.rstrip("/")).items():
            print(f"{name}: served {encoding}, {size / 1024:.1f} KiB on the wire")
    if args.url and args.api_key:
        browser_figures(args.url.rstrip("/"), args.api_key, args.nodes, args.runs)


if __name__ == "__main__":
    main()
