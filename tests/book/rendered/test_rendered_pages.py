"""Every page of the built book, read as a reader reads it (after `make book`: `pytest tests/book/rendered --book-html
_build/html`; skipped without it).

- No artefact in any page's words: no machine path or Path repr, no citation of documents outside the repository,
  no Python repr (lists or tuples of strings, dicts, tensors, quoted 'ok'), no NaN/None for a missing value.
- Exercises: the check shown under each starting answer says it does not pass yet, with a hint; the only successes
  on an exercise page are inside the hidden solutions.
- Tables and figures are numbered 1, 2, … in reading order, without gaps.
- The Summary labels each judgement with an outcome, never "not reproduced".
- Layout, in headless Chromium at a laptop's 1366 px and a phone's 390 px: the page body never scrolls sideways and
  nothing sticks out of the text column; at 1366 px every table fits; at 390 px a table scrolls in its own box
  rather than breaking a number such as "2.1 ± 1.0" over lines. A screenshot of each page at each width is kept
  (in $BOOK_SCREENSHOTS when set) and must not be blank.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from helpers import rendered
from PIL import Image

PAGES = rendered.all_pages()
EXERCISE_PAGES = rendered.exercise_pages()
LAYOUT_PAGES = rendered.layout_pages()


def page_file(html_dir: Path, page: str) -> Path:
    path = html_dir / f"{page}.html"
    assert path.exists(), f"page {path} was not built"
    return path


def main_of(html_dir: Path, page: str):
    return rendered.main_of(page_file(html_dir, page).read_text(encoding="utf-8"))


@pytest.mark.parametrize("page", PAGES)
def test_page_shows_no_artefact(html_dir, page):
    found = rendered.artefacts(main_of(html_dir, page))
    root = str(rendered.ROOT)
    if root in page_file(html_dir, page).read_text(encoding="utf-8"):
        found.append(f"the build machine's path {root} in the HTML")
    assert not found, f"{page}: {len(found)} artefact(s):\n" + "\n".join(found[:15])


@pytest.mark.parametrize("page", PAGES)
def test_every_link_within_the_book_reaches_a_built_file(html_dir, page):
    # A link written in a notebook's *output* (Markdown displayed by code) is not rewritten by the build: one to
    # "main_table.ipynb" works in Jupyter and is a dead link in the book.
    here = page_file(html_dir, page).parent
    dead = [a["href"] for a in main_of(html_dir, page).select("a[href]")
            if not re.match(r"[a-z][a-z0-9+.-]*:|#", a["href"])
            and not (here / a["href"].split("#")[0].split("?")[0]).exists()]
    assert not dead, f"{page}: links to files the build does not have: {dead}"


@pytest.mark.parametrize("page", PAGES)
def test_tables_and_figures_are_numbered_in_reading_order_without_gaps(html_dir, page):
    # A page numbers only what it shows: a table a profile leaves out must not leave a hole ("Table 4, Table 6").
    main = main_of(html_dir, page)
    for kind in ("Table", "Figure"):
        numbers = [int(m.group(1)) for strong in main.select("strong")
                   if (m := re.fullmatch(rf"{kind} (\d+)\.", strong.get_text(strip=True)))]
        assert numbers == list(range(1, len(numbers) + 1)), f"{page}: {kind.lower()}s numbered {numbers}"


def captions_of(main, kind: str) -> list[str]:
    """The page's captions of ``kind`` as a reader sees them: "Table 3." or an unnumbered "Table."."""
    return [text for strong in main.select("strong")
            if re.fullmatch(rf"{kind}(?: \d+)?\.", text := strong.get_text(strip=True))]


@pytest.mark.parametrize("page", PAGES)
def test_a_page_numbers_all_its_captions_or_none(html_dir, page):
    # "Table 1 … Table 2 … Figure. … Table 3": a reader cannot cite the unnumbered one.
    main = main_of(html_dir, page)
    shown = captions_of(main, "Table") + captions_of(main, "Figure")
    unnumbered = [c for c in shown if c in ("Table.", "Figure.")]
    assert not unnumbered or len(unnumbered) == len(shown), f"{page}: captions {shown}"


@pytest.mark.parametrize("page", PAGES)
def test_prose_names_only_tables_and_figures_the_page_shows(html_dir, page):
    # A number written into prose drifts when a profile leaves a table out; the pages name captions through
    # fedbook.captions, and this reads what the reader gets.
    main = main_of(html_dir, page)
    text = rendered.reader_text(main)
    for kind in ("Table", "Figure"):
        shown = {int(c.split()[1].rstrip(".")) for c in captions_of(main, kind) if c != f"{kind}."}
        for mention in re.finditer(rf"\b{kind}s? (\d+(?:(?:, | and )\d+)*)\b(?!\.\s*[A-Z(])", text):
            named = {int(n) for n in re.findall(r"\d+", mention.group(1))}
            assert named <= shown, f"{page}: the prose names {mention.group(0)!r}; the page shows {sorted(shown)}"


@pytest.mark.parametrize("page", EXERCISE_PAGES)
def test_exercise_checks_show_the_starting_answer_failing_and_successes_only_inside_solutions(html_dir, page):
    main = main_of(html_dir, page)
    exercises = main.select("div.exercise")
    solutions = main.select("div.solution")
    assert len(exercises) >= 3 and len(solutions) == len(exercises), (
        f"{page}: {len(exercises)} exercises and {len(solutions)} solutions")
    outputs = [o for o in main.select("div.cell_output") if not o.find_parent("div", class_="solution")]
    shown = [o.get_text(" ", strip=True) for o in outputs]
    success = [t for t in shown if "✓" in t or re.search(r"(?<!Not )\bpassed\b", t)]
    assert not success, f"{page}: a success outside a solution: {success[0][:200]}"
    failing = [o for o, t in zip(outputs, shown, strict=True) if t.startswith("✗ Not passed yet:")]
    assert len(failing) == len(exercises), f"{page}: {len(failing)} failing checks shown for {len(exercises)} exercises"
    for output in failing:  # the hint, which may spell out the answer, sits behind a click like the solution
        hints = output.select("details.exercise-hint")
        assert len(hints) == 1 and not hints[0].has_attr("open"), f"{page}: a failing check without a closed hint"
        hints[0].extract()
        assert "Hint" not in output.get_text(" ", strip=True), f"{page}: a hint shown without a click"
    for solution in solutions:
        outputs = " ".join(o.get_text(" ", strip=True) for o in solution.select("div.cell_output"))
        assert "✓" in outputs and "✗" not in outputs, f"{page}: a solution whose check does not pass: {outputs[:200]}"


def test_summary_labels_every_judgement_with_an_outcome_and_never_not_reproduced(html_dir):
    main = main_of(html_dir, rendered.SUMMARY_PAGE)
    text = rendered.reader_text(main).lower()
    assert "not reproduced" not in text, "the Summary says 'not reproduced'; an untested claim is 'not tested here'"
    assert any(label in text for label in rendered.OUTCOME_LABELS), "the Summary shows no outcome label"
    for table in main.select("table"):
        headers = [th.get_text(" ", strip=True).lower() for th in table.select("thead th")]
        for column, header in enumerate(headers):
            if not re.search(r"outcome|judgement|verdict", header):
                continue
            for row in table.select("tbody tr"):
                cells = row.select("th, td")
                if column < len(cells):
                    value = cells[column].get_text(" ", strip=True).lower()
                    assert value.startswith(rendered.OUTCOME_LABELS), f"Summary: outcome {value!r} is not a label"


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    folder = os.environ.get("BOOK_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.mark.parametrize("page", LAYOUT_PAGES)
def test_page_fits_a_laptop_and_a_phone(html_dir, chromium, screenshots, page):
    problems = []
    for measured in rendered.layout(chromium, page_file(html_dir, page)):
        width = measured["width"]
        if measured["page_overflow"] > 1:
            problems.append(f"{width} px: the page scrolls sideways by {measured['page_overflow']} px")
        problems += [f"{width} px: sticks out of the text column: {e}" for e in measured["sticking_out"][:5]]
        problems += [f"{width} px: content cut off: {e}" for e in measured["cut_off"][:5]]
        if width >= 1366:
            problems += [f"{width} px: a table wider than the column: {e}" for e in measured["wide_tables"][:5]]
        problems += [f"{width} px: a number broken over lines: {e}" for e in measured["broken_numbers"][:5]]
    for width in rendered.WIDTHS:
        shot = rendered.screenshot(chromium, page_file(html_dir, page), width,
                                   screenshots / f"{page.replace('/', '_')}_{width}.png")
        pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
        assert pixels.shape[1] == width and pixels.std() > 5.0, f"{page}: the {width} px screenshot looks blank"
    assert not problems, f"{page}:\n" + "\n".join(problems)


def test_the_layout_probe_finds_a_number_broken_over_lines_and_only_that(html_dir, chromium, tmp_path):
    # The probe reads the lines of a cell's text: a number wrapped in a narrow cell is found, the same number in a
    # <p> (as docstring tables write it) on one line is not.
    page = tmp_path / "probe.html"
    page.write_text('<html><body><article class="bd-article"><table><tr><td style="width:2em">2.1 ± 1.0</td>'
                    "<td><p>2,472,266</p></td></tr></table></article></body></html>", encoding="utf-8")
    [measured] = rendered.layout(chromium, page, widths=(1366,))
    assert measured["broken_numbers"] == ['"2.1 ± 1.0" over 3 lines'], measured
