"""The book's own package (book/_lib/fedbook): these tests import this checkout's copy, not an installed one."""

import sys
from pathlib import Path

LIB = Path(__file__).resolve().parents[2] / "book" / "_lib"
if str(LIB) not in sys.path:
    sys.path.insert(0, str(LIB))
