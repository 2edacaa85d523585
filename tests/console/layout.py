"""Layout checks shared by the browser tests: a screen of panes fills the window, a long
pane scrolls inside itself, and the graph beside it stays in view (issue 10)."""

from __future__ import annotations

from typing import Any

# The pane's and the page's scroll figures, after scrolling the pane to its end.
_SCROLL_TO_END = """(pane) => {
  const before = pane.scrollHeight > pane.clientHeight;
  pane.scrollTop = pane.scrollHeight;
  const root = document.scrollingElement;
  return {
    paneOverflows: before,
    paneAtEnd: Math.abs(pane.scrollTop + pane.clientHeight - pane.scrollHeight) <= 1,
    paneScrolled: pane.scrollTop,
    pageOverflows: root.scrollHeight > window.innerHeight,
    pageScrolled: window.scrollY,
  };
}"""


def scroll_pane_to_end(page: Any, pane: Any) -> dict[str, Any]:
    figures: dict[str, Any] = pane.evaluate(_SCROLL_TO_END)
    return figures


def assert_within_viewport(page: Any, element: Any) -> None:
    box = element.bounding_box()
    assert box is not None, "not rendered"
    size = page.viewport_size
    assert box["height"] > 100, box  # an actual graph, not a sliver
    assert box["y"] >= 0 and box["y"] + box["height"] <= size["height"] + 0.5, (box, size)
    assert box["x"] >= 0 and box["x"] + box["width"] <= size["width"] + 0.5, (box, size)


def assert_pane_scrolls_alone(page: Any, pane: Any, keep: Any) -> None:
    """`pane` is longer than the window: it scrolls inside, the page does not, and `keep`
    (the graph, the message thread) stays wholly in the viewport once the pane is at its end."""
    figures = scroll_pane_to_end(page, pane)
    assert figures["paneOverflows"], f"the pane does not scroll on its own: {figures}"
    assert figures["paneAtEnd"] and figures["paneScrolled"] > 0, figures
    assert not figures["pageOverflows"], f"the page scrolls: {figures}"
    assert figures["pageScrolled"] == 0, figures
    assert_within_viewport(page, keep)


# A laptop window and a short one (1366x768 less the browser's own bars): fixed minimum
# heights or caps in vh that fit the first can still make the second scroll as a page.
WINDOWS = ({"width": 1440, "height": 900}, {"width": 1366, "height": 650})


def assert_panes_scroll_alone_in_windows(page: Any, pane: Any, keep: Any) -> None:
    """`assert_pane_scrolls_alone` in each of WINDOWS; leaves the first window's size."""
    for size in reversed(WINDOWS):
        page.set_viewport_size(size)
        pane.evaluate("(pane) => { pane.scrollTop = 0; }")
        assert_pane_scrolls_alone(page, pane, keep)


def assert_stacked_panes_bounded(page: Any, pane: Any, graph: Any) -> None:
    """Phone width: the panes stack, the long one still scrolls inside, and the graph is no
    taller than the screen (so it can be seen whole once scrolled to)."""
    figures = scroll_pane_to_end(page, pane)
    assert figures["paneOverflows"] and figures["paneScrolled"] > 0, figures
    graph.scroll_into_view_if_needed()
    assert_within_viewport(page, graph)
