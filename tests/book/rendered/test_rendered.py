"""Checks on the built HTML book, in headless Chromium: pages render and figures are real images.

Run after `make book`: `pytest tests/book/rendered --book-html _build/html` (skipped when no book was built).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers.figures import FIGURES, READER_PAGES
from PIL import Image

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
]

# Pages whose figures must be present (notebook stem -> minimum number of figure images).
FIGURE_PAGES = FIGURES


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


# What the first screen of a page holds, measured in Chromium: the page is loaded into a 1280 × 900 frame
# of a local probe page, which counts the tables and images and the shown code-cell inputs (not those
# behind a closed toggle) whose box starts above the fold (file:// frames are readable with
# --allow-file-access-from-files).
FOLD_PX = 900
PROBE = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="page" src="{url}" width="1280" height="{fold}" style="border:0"></iframe>
<script>
document.getElementById("page").addEventListener("load", () => setTimeout(() => {{
  const doc = document.getElementById("page").contentDocument;
  const main = doc.querySelector("main") || doc.body;
  const onFirstScreen = (el) => {{
    // Content of a closed <details> (a hide-input toggle) is laid out but not shown.
    if (el.closest("details:not([open])") || (el.checkVisibility && !el.checkVisibility())) return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && r.top < {fold} && r.bottom > 0;
  }};
  const count = (sel) => [...main.querySelectorAll(sel)].filter(onFirstScreen).length;
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({{tables: count("table, img"), code: count("div.cell_input")}});
  document.body.appendChild(out);
}}, 300));
</script></body></html>"""


def first_screen(chromium: str, page: Path, tmp: Path) -> dict:
    import json

    probe = tmp / "probe.html"
    probe.write_text(PROBE.format(url=page.resolve().as_uri(), fold=FOLD_PX), encoding="utf-8")
    cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'profile'}", "--allow-file-access-from-files",
           "--window-size=1280,900", "--virtual-time-budget=5000", "--dump-dom", probe.resolve().as_uri()]
    dom = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120).stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, f"the probe page did not measure {page.name} (no result in the dumped DOM)"
    return json.loads(found.group(1).replace("&quot;", '"'))


@pytest.mark.parametrize("stem", READER_PAGES)
def test_reader_page_first_screen_shows_results_not_code(html_dir, chromium, tmp_path, stem):
    page = html_dir / "executed" / f"{stem}.html"
    assert page.exists(), f"page {page} was not built"
    seen = first_screen(chromium, page, tmp_path)
    assert seen["tables"] >= 1, f"{page.name}: no table or figure on the first screen ({seen})"
    assert seen["code"] == 0, f"{page.name}: code on the first screen ({seen})"


@pytest.mark.parametrize("stem", READER_PAGES)
def test_reader_page_has_no_machine_path_and_no_parameters(html_dir, stem):
    html = (html_dir / "executed" / f"{stem}.html").read_text(encoding="utf-8")
    root = str(Path(__file__).resolve().parents[3])
    assert root not in html, f"{stem}.html shows the build machine's path {root}"
    assert "injected-parameters" not in html and 'run_missing = None' not in html, f"{stem}.html shows parameters"


def _learn_pages() -> list[str]:
    import yaml

    toc = yaml.safe_load((Path(__file__).resolve().parents[3] / "_toc.yml").read_text(encoding="utf-8"))
    learn = next(p for p in toc["parts"] if p["caption"] == "Learn")
    return [Path(c["file"]).name for c in learn["chapters"]]


@pytest.mark.parametrize("stem", _learn_pages())
def test_learn_page_has_exercises_with_solutions_hidden_by_default(html_dir, stem):
    # No browser needed: sphinx-togglebutton's script collapses every admonition with the class "dropdown"
    # when the page loads, so a hidden solution is a div.solution.dropdown on a page that loads that script.
    from bs4 import BeautifulSoup

    page = html_dir / "executed" / f"{stem}.html"
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    main = soup.find("main") or soup
    exercises = main.select("div.exercise")
    solutions = main.select("div.solution")
    assert len(exercises) >= 3, f"{page.name}: {len(exercises)} exercise(s); a Learn page needs at least 3"
    assert len(solutions) >= len(exercises), f"{page.name}: {len(exercises)} exercises, {len(solutions)} solutions"
    for solution in solutions:
        title = solution.select_one("p.admonition-title").get_text(" ", strip=True)
        assert "dropdown" in solution["class"], f"{page.name}: '{title}' is not hidden (no dropdown class)"
        assert solution.select("div.cell_input"), f"{page.name}: '{title}' holds no solution code cell"
    shown = [c for c in main.select("div.cell_input") if not c.find_parent("div", class_="solution")]
    assert any("check_" in c.get_text() for c in shown), f"{page.name}: no visible check cell"
    scripts = [s.get("src", "") for s in soup.select("script")]
    assert any("togglebutton" in s for s in scripts), f"{page.name}: sphinx-togglebutton's script is not loaded"


#: The Results pages (fl_setup is a settings page): each leads with its full-size (scale) section.
RESULTS_PAGES = ("main_table", "afa_fang_defense", "cross_device", "perturbations", "malicious_fraction", "dnc_table")


@pytest.mark.parametrize("stem", RESULTS_PAGES)
def test_results_page_shows_full_size_before_the_quick_version(html_dir, stem):
    html = (html_dir / "executed" / f"{stem}.html").read_text(encoding="utf-8")
    full, quick = html.find('<section id="full-size'), html.find('<section id="quick-profile')
    assert -1 < full < quick, f"{stem}.html: the full-size section must come first (positions {full}, {quick})"
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html[full:quick]))
    assert "Profile scale, dataset Fashion-MNIST" in text, f"{stem}.html: no scale caption in its full-size section"
    assert "<table" in html[full:quick] or "<img" in html[full:quick], f"{stem}.html: no scale table or figure"
