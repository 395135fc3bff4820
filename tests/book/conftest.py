"""The book's own package (book/_lib/fedbook): these tests import this checkout's copy, not an installed one.

The rendered-page checks need a built book (``--book-html _build/html``, after ``make book``) and headless
Chromium; without ``--book-html`` they are skipped.
"""

import shutil
import sys
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[2] / "book" / "_lib"
if str(LIB) not in sys.path:
    sys.path.insert(0, str(LIB))


@pytest.fixture(scope="session")
def html_dir(request) -> Path:
    opt = request.config.getoption("--book-html")
    if not opt:
        pytest.skip("pass --book-html _build/html (after make book) to check the rendered book")
    path = Path(opt)
    if not (path / "index.html").exists():
        pytest.fail(f"--book-html {path}: no index.html there; did `make book` succeed?")
    return path


@pytest.fixture(scope="session")
def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("headless Chromium is required for the rendered-book checks (apt-get install chromium)")
    return exe
