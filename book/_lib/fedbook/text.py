"""Numbers and vectors as the book's pages write them: no Python reprs (brackets, quotes, ``tensor(...)``).

Example:
    >>> from fedbook.text import values_text, vector_text
    >>> vector_text([3.0, -1.5])
    '(3, −1.5)'
    >>> values_text([0.25, 12.0, -0.000123, 1.857e-05])
    '0.25, 12, −0.000123, 1.857×10⁻⁵'
"""

from __future__ import annotations

from collections.abc import Iterable

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def number_text(value: float, digits: int = 4) -> str:
    """A number with up to ``digits`` significant digits, a real minus sign, no trailing ``.0``, and a power of
    ten written 1.5×10⁻⁵ rather than 1.5e-05."""
    text = f"{float(value):.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}×10{str(int(exponent)).translate(_SUPERSCRIPT)}"
    return text.replace("-", "−")


def values_text(values: Iterable[float], digits: int = 4) -> str:
    """Numbers separated by commas (a list of values, without brackets)."""
    return ", ".join(number_text(v, digits) for v in values)


def vector_text(values: Iterable[float], digits: int = 4) -> str:
    """A vector in the notation of the chapters: (1, −2.5)."""
    return f"({values_text(values, digits)})"
