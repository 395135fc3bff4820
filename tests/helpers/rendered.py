"""Reading the built HTML book as a reader sees it: the pages of the table of contents, the text a page shows
(prose and cell outputs, not code), and a layout probe that loads a page in headless Chromium at a given width.

Used by the rendered-page checks in tests/book/rendered (run after `make book` with `--book-html _build/html`).
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
]
#: A laptop screen and a phone, in CSS pixels.
WIDTHS = (1366, 390)

#: The Summary page and the Results pages (_toc.yml parts "Summary" and "Results").
SUMMARY_PAGE = "executed/paper_vs_ours"
#: The outcome labels a Summary judgement may carry (the first words of an outcome cell).
OUTCOME_LABELS = ("not tested here", "holds", "direction only", "does not hold", "not supported by the spread",
                  "no full-size analogue")


def toc_pages() -> dict[str, list[str]]:
    """Every page of the book by part caption ("" for the root page), as paths without suffix."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    parts = {"": [toc["root"]]}
    for part in toc["parts"]:
        parts[part["caption"]] = [c["file"] for c in part["chapters"]]
    return parts


def all_pages() -> list[str]:
    return [page for pages in toc_pages().values() for page in pages]


def exercise_pages() -> list[str]:
    """The pages with exercises: the Learn chapters and "Test your own rule"."""
    return [*toc_pages()["Learn"], "executed/your_own_rule"]


def layout_pages() -> list[str]:
    """The pages laid out in Chromium: the Summary, every Results page, one Learn page, the pages whose wide
    tables or figures are this book's own (Beyond the paper: the robustness benchmark and Test your own rule;
    Speed: Performance), and the API reference (long signatures)."""
    parts = toc_pages()
    return [*parts["Summary"], *parts["Results"], parts["Learn"][0], *parts["Beyond the paper"],
            *parts["Speed"], "book/api"]


def main_of(page_html: str):
    """The page's article (BeautifulSoup), without scripts and styles."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(page_html, "html.parser")
    main = soup.select_one("article.bd-article") or soup.find("main") or soup
    for element in main.select("script, style"):
        element.decompose()
    return main


def reader_text(main) -> str:
    """What a page says in words: its prose, headings, captions, tables and cell outputs, without its code
    (code cells, code blocks, inline code, API signatures and doctests), whitespace collapsed."""
    import copy

    main = copy.copy(main)
    for element in main.select("div.cell_input, div.highlight, pre.literal-block, code, dt.sig, div.doctest"):
        if not element.find_parent("div", class_="cell_output"):
            element.decompose()
    return re.sub(r"\s+", " ", main.get_text(" "))


def output_text(main) -> str:
    """The text of every cell output of the page (stdout, tables, Markdown displayed by the code)."""
    return re.sub(r"\s+", " ", " ".join(o.get_text(" ") for o in main.select("div.cell_output")))


#: Artefacts a reader must never see: (what it is, pattern in the page's words).
ARTEFACTS = [
    ("a Path repr", r"PosixPath\(|WindowsPath\("),
    ("a machine path", r"(?<![\w.~])/(?:home|root|work|tmp|Users)/\w"),
    ("a citation of the internal spec", r"spec §|ndss21-spec|paper-results\.md|pilot-impacts|design\.md|/shared/"),
    ("a list or tuple repr of strings", r"[\[(]'[^']*'(?:, |\]|\))"),
    ("a dict repr", r"\{'[^']*': "),
    ("a quoted 'ok' string", r"'ok\b"),
    ("a tensor or array repr", r"\btensor\(\[|\barray\(\["),
    ("an object repr", r"<[\w.]+ (?:object )?at 0x[0-9a-f]+>|<[\w.]+ object>"),
    ("a note that missing results are computed", r"missing results are computed"),
]
#: What a table cell or a printed output must not show for a missing value.
MISSING = re.compile(r"(?<![\w-])(?:NaN|nan|None|<NA>|NaT)(?![\w-])")
#: The same in prose (a Markdown output), where "None of the runs …" is English, not a missing value.
MISSING_IN_PROSE = re.compile(r"(?<![\w-])(?:NaN|nan|<NA>|NaT)(?![\w-])|(?<![\w-])None(?![\w-])(?! of\b)")


def artefacts(main) -> list[str]:
    """Every artefact of :data:`ARTEFACTS` in the page's words, and every missing value printed as NaN/None in
    a table cell or a cell output, each with a little context."""
    text = reader_text(main)
    found = [f"{what}: …{text[max(0, m.start() - 50):m.end() + 50]}…"
             for what, pattern in ARTEFACTS for m in re.finditer(pattern, text)]
    for cell in main.select("td, th"):
        if cell.find("code") and cell.find("code").get_text(strip=True) == cell.get_text(strip=True):
            continue  # a literal written as code, e.g. a parameter whose default is None
        if MISSING.fullmatch(cell.get_text(strip=True)):
            row = re.sub(r"\s+", " ", cell.find_parent("tr").get_text(" ", strip=True))
            found.append(f"a missing value printed as {cell.get_text(strip=True)} in the row: {row[:120]}")
    for output in main.select("div.cell_output"):
        if output.find("table"):
            continue  # tables are checked cell by cell above
        text = re.sub(r"\s+", " ", output.get_text(" "))
        pattern = MISSING if output.find("pre") else MISSING_IN_PROSE
        found += [f"a missing value printed as {m.group()} in an output: …{text[max(0, m.start() - 60):m.end() + 40]}…"
                  for m in pattern.finditer(text)]
    return found


# ---------------------------------------------------------------------------------------------------------
# Layout, measured in Chromium

_AUDIT = r"""
function audit(frame) {
  const doc = frame.contentDocument, win = frame.contentWindow;
  const root = doc.documentElement;
  const article = doc.querySelector("article.bd-article") || doc.querySelector("main") || doc.body;
  const box = article.getBoundingClientRect();
  const name = (el) => {
    const r = el.getBoundingClientRect();
    const text = (el.textContent || el.getAttribute("src") || "").replace(/\s+/g, " ").trim().slice(0, 80);
    const where = `${Math.round(r.left)}..${Math.round(r.right)}`;
    return `<${el.tagName.toLowerCase()} class="${el.className}"> at x ${where}: ${text}`;
  };
  const isMath = (el) => el.closest(".math, mjx-container, .MathJax");
  const out = {width: win.innerWidth, page_overflow: root.scrollWidth - root.clientWidth, sticking_out: [],
               cut_off: [], wide_tables: [], broken_numbers: []};
  const seen = new Set();
  for (const el of article.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || isMath(el)) continue;
    let clip = null;
    for (let a = el.parentElement; a && a !== article; a = a.parentElement) {
      if (win.getComputedStyle(a).overflowX !== "visible") { clip = a; break; }
    }
    if (!clip) {
      if (r.right > box.right + 1 || r.left < box.left - 1) out.sticking_out.push(name(el));
      continue;
    }
    if (seen.has(clip) || clip.scrollWidth <= clip.clientWidth + 1) continue;
    seen.add(clip);
    const ox = win.getComputedStyle(clip).overflowX;
    if (ox === "hidden" || ox === "clip") out.cut_off.push(name(clip));
    else if (clip.querySelector("table")) {
      out.wide_tables.push(`${clip.scrollWidth - clip.clientWidth} px too wide: ` + name(clip));
    }
  }
  const wordless = (t) => !/[A-Za-z]/.test(t.replace(/\(n ?= ?\d+\)|\bpp\b/g, ""));
  for (const cell of article.querySelectorAll("td")) {
    const text = cell.textContent.trim();
    if (!text || !wordless(text) || cell.getBoundingClientRect().width === 0) continue;
    // the lines of the cell's text itself (a <p> around it, as in docstring tables, is a box, not a line)
    const lines = new Set();
    const walker = doc.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const range = doc.createRange();
      range.selectNodeContents(node);
      for (const q of range.getClientRects()) if (q.width > 0) lines.add(Math.round(q.bottom));
    }
    if (lines.size > 1) out.broken_numbers.push(`"${text}" over ${lines.size} lines`);
  }
  return out;
}
"""

_PROBE = """<!DOCTYPE html><html><body style="margin:0">{frames}
<script>{audit}
const frames = [...document.querySelectorAll("iframe")];
let loaded = 0;
frames.forEach(f => f.addEventListener("load", () => {{
  if (++loaded < frames.length) return;
  setTimeout(() => {{
    const pre = document.createElement("pre");
    pre.id = "probe";
    try {{ pre.textContent = JSON.stringify(frames.map(audit)); }}
    catch (e) {{ pre.textContent = JSON.stringify({{error: String(e)}}); }}
    document.body.appendChild(pre);
  }}, 1500);
}}));
</script></body></html>"""


def layout(chromium: str, page: Path, widths=WIDTHS, height: int = 900) -> list[dict]:
    """Load ``page`` at each width (one iframe per width, in one headless Chromium) and measure, per width:
    ``page_overflow`` (how far the page body scrolls sideways, px), ``sticking_out`` (elements wider than the
    article column outside any scrolling box), ``cut_off`` (boxes that hide part of their content),
    ``wide_tables`` (tables that need their box scrolled sideways) and ``broken_numbers`` (table cells without
    words, such as "2.1 ± 1.0", laid out over several lines)."""
    frames = "".join(f'<iframe src="{page.resolve().as_uri()}" width="{w}" height="{height}" '
                     'style="border:0;display:block"></iframe>' for w in widths)
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.html"
        probe.write_text(_PROBE.format(frames=frames, audit=_AUDIT), encoding="utf-8")
        cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp}/profile", "--allow-file-access-from-files",
               f"--window-size={max(widths)},{height * len(widths)}", "--virtual-time-budget=10000", "--dump-dom",
               probe.as_uri()]
        dom = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=180).stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    if not found:
        raise AssertionError(f"the layout probe measured nothing for {page.name} (no result in the dumped DOM)")
    result = json.loads(html.unescape(found.group(1)))
    if isinstance(result, dict):
        raise AssertionError(f"the layout probe failed on {page.name}: {result['error']}")
    return result


def screenshot(chromium: str, page: Path, width: int, out: Path, height: int = 2400) -> Path:
    """A screenshot of the top ``height`` pixels of ``page`` at ``width`` CSS pixels."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp}/profile", f"--screenshot={out}",
               f"--window-size={width},{height}", "--virtual-time-budget=5000", page.resolve().as_uri()]
        subprocess.run(cmd, check=True, capture_output=True, timeout=180)
    if not out.exists():
        raise AssertionError(f"Chromium wrote no screenshot of {page.name} at {width} px")
    return out
