"""Checks on the built HTML book, in headless Chromium: pages render and figures are real images.

Run after `make book`: `pytest tests/book --book-html _build/html` (skipped when no book was built).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers.figures import FIGURES

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
]

# Pages whose figures must be present (notebook stem -> minimum number of figure images).
FIGURE_PAGES = FIGURES


@pytest.fixture(scope="module")
def html_dir(request) -> Path:
    opt = request.config.getoption("--book-html")
    if not opt:
        pytest.skip("pass --book-html _build/html (after make book) to check the rendered book")
    path = Path(opt)
    if not (path / "index.html").exists():
        pytest.fail(f"--book-html {path}: no index.html there; did `make book` succeed?")
    return path


@pytest.fixture(scope="module")
def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("headless Chromium is required for the rendered-book checks (apt-get install chromium)")
    return exe


def screenshot(chromium: str, url: str, out: Path, tmp: Path) -> np.ndarray:
    cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'profile'}", f"--screenshot={out}",
           "--window-size=1280,1600", "--virtual-time-budget=3000", url]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    assert out.exists(), f"Chromium wrote no screenshot for {url}"
    return np.asarray(Image.open(out).convert("L"), dtype=np.float64)


def assert_not_blank(pixels: np.ndarray, what: str) -> None:
    # A blank page or image is (nearly) one colour: require visible variation and many grey levels.
    assert pixels.std() > 5.0, f"{what} looks blank (pixel std {pixels.std():.2f})"
    assert len(np.unique(pixels.round())) > 10, f"{what} has too few distinct grey levels"


def test_start_page_renders(html_dir, chromium, tmp_path):
    # index.html is a redirect to the first page; the virtual-time budget lets Chromium follow it.
    pixels = screenshot(chromium, (html_dir / "index.html").resolve().as_uri(), tmp_path / "index.png", tmp_path)
    assert_not_blank(pixels, "start page screenshot")


@pytest.mark.parametrize("stem,min_figures", sorted(FIGURE_PAGES.items()))
def test_figure_page_renders_with_images(html_dir, chromium, tmp_path, stem, min_figures):
    page = html_dir / "executed" / f"{stem}.html"
    assert page.exists(), f"page {page} was not built"
    html = page.read_text(encoding="utf-8")
    srcs = re.findall(r'<img[^>]+src="([^"]+\.png)"', html)
    assert len(srcs) >= min_figures, f"{page.name}: expected >= {min_figures} figure image(s), found {len(srcs)}"
    for src in srcs:
        img = (page.parent / src).resolve()
        assert img.exists(), f"{page.name}: image {src} is missing"
        assert_not_blank(np.asarray(Image.open(img).convert("L"), dtype=np.float64), f"{page.name}: {src}")
    pixels = screenshot(chromium, page.resolve().as_uri(), tmp_path / f"{stem}.png", tmp_path)
    assert_not_blank(pixels, f"{page.name} screenshot")
