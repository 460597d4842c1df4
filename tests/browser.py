"""Pages checked in headless Chromium at a laptop's width, with screenshots kept.

``look(page, name)`` loads an HTML file at 1280x800, reads back from the rendered page its
width, its images and its errors, and keeps two screenshots in ``test-artifacts/pages/``
(ignored by git, left behind by CI): ``NAME.png``, the laptop's first screen, and for a
page longer than that ``NAME.full.png``, the whole page.

Usage: ``seen = browser.look(path, "summary"); assert seen.scroll_width <= seen.width``
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image, ImageStat

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
needs_browser = pytest.mark.skipif(
    BROWSER is None, reason="needs Chromium (Debian's chromium package): apt-get install chromium"
)
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "pages"
WIDTH, HEIGHT = 1280, 800  # a laptop's screen, less the browser's own bars
TALLEST = 8000  # pixels of a whole-page screenshot
# Appended to a copy of a page: once it has loaded, records what the rendered page measures
# and every error it raised, where --dump-dom shows them.
PROBE = """<script>
const errors = [];
window.addEventListener("error", (event) => errors.push(String(event.message || event.type)), true);
window.addEventListener("load", () => {
  const root = document.documentElement;
  document.body.dataset.seen = JSON.stringify({
    width: window.innerWidth,
    scroll_width: root.scrollWidth,
    height: root.scrollHeight,
    images: Array.from(document.images, (image) => image.naturalWidth),
    errors: errors,
  });
});
</script>"""


@dataclass(frozen=True)
class Seen:
    """What Chromium measured of a page, and where its screenshots are."""

    width: int  # of the window
    scroll_width: int  # of the page: wider than the window means a sideways scroll
    height: int
    images: list[int]  # each image's width once loaded; 0 for one that failed
    errors: list[str]
    screenshot: Path  # the first screen; NAME.full.png beside it holds a longer page whole


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert BROWSER is not None
    options = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    return subprocess.run(
        [BROWSER, *options, *args], capture_output=True, text=True, timeout=120, check=False
    )


def look(page: Path, name: str) -> Seen:
    """Render ``page`` at a laptop's size; keep its screenshots as ``name``."""
    probe = page.with_name(f".probe-{page.name}")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"))
    try:
        dom = chromium(f"--window-size={WIDTH},{HEIGHT}", "--dump-dom", probe.as_uri())
    finally:
        probe.unlink()
    found = re.search(r'data-seen="([^"]*)"', dom.stdout)
    assert found is not None, dom.stderr[-2000:]
    measured = json.loads(html.unescape(found[1]))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot, full = ARTIFACTS / f"{name}.png", ARTIFACTS / f"{name}.full.png"
    shots = [(screenshot, HEIGHT)]
    full.unlink(missing_ok=True)
    if measured["height"] > HEIGHT:  # else the first screen is the whole page
        shots.append((full, min(measured["height"], TALLEST)))
    for path, height in shots:
        path.unlink(missing_ok=True)
        chromium(f"--window-size={WIDTH},{height}", f"--screenshot={path}", page.as_uri())
        assert path.is_file(), f"Chromium took no screenshot of {page}"
    return Seen(**measured, screenshot=screenshot)


def is_blank(screenshot: Path) -> bool:
    """A screenshot of one colour, or nearly: a page that drew nothing."""
    with Image.open(screenshot) as picture:
        return ImageStat.Stat(picture.convert("L")).stddev[0] < 20


def size(screenshot: Path) -> tuple[int, int]:
    with Image.open(screenshot) as picture:
        return picture.size
