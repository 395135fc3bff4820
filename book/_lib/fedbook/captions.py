"""A page's numbered captions: tables and figures numbered in the order the page shows them.

A page makes one :class:`Captions` and asks it for every caption it shows. A table that a profile leaves out is
never asked for, so it takes no number and leaves no hole ("Table 4, Table 6"); prose that points at a table
asks for its name by label (:meth:`Captions.ref`) instead of writing a number that a profile could shift.
"""

from __future__ import annotations

from IPython.display import Markdown

KINDS = ("Table", "Figure")


class Captions:
    """Numbers one page's tables and figures, each kind from 1, in the order the captions are made.

    Example:
        >>> page = Captions()
        >>> page.table("Impact (pp), full knowledge.", label="full").data
        '**Table 1.** Impact (pp), full knowledge.'
        >>> page.figure("The same as a heat map.").data
        '**Figure 1.** The same as a heat map.'
        >>> page.table("Impact (pp), partial knowledge.", label="partial").data
        '**Table 2.** Impact (pp), partial knowledge.'
        >>> page.ref("full", "partial")
        'Tables 1 and 2'
    """

    def __init__(self) -> None:
        self._shown = dict.fromkeys(KINDS, 0)
        self._names: dict[str, tuple[str, int]] = {}

    def table(self, text: str, *, label: str | None = None) -> Markdown:
        """The next table's caption, ``**Table n.** text``; ``label`` lets later prose :meth:`ref` it."""
        return self._caption("Table", text, label)

    def figure(self, text: str, *, label: str | None = None) -> Markdown:
        """The next figure's caption, ``**Figure n.** text``; ``label`` lets later prose :meth:`ref` it."""
        return self._caption("Figure", text, label)

    def ref(self, *labels: str) -> str:
        """How prose names captions already shown: ``"Table 3"``, ``"Tables 5 and 6"`` (one kind at a time)."""
        if not labels:
            raise ValueError("ref() needs at least one label")
        unknown = [label for label in labels if label not in self._names]
        if unknown:
            raise KeyError(f"no caption labelled {unknown} has been shown on this page yet; shown: "
                           f"{sorted(self._names)} (a caption must come before the text that refers to it)")
        kinds = {self._names[label][0] for label in labels}
        if len(kinds) != 1:
            raise ValueError(f"ref() names one kind at a time; {labels} are {sorted(kinds)}")
        kind = kinds.pop()
        numbers = [str(self._names[label][1]) for label in labels]
        if len(numbers) == 1:
            return f"{kind} {numbers[0]}"
        return f"{kind}s {', '.join(numbers[:-1])} and {numbers[-1]}"

    def _caption(self, kind: str, text: str, label: str | None) -> Markdown:
        if label is not None and label in self._names:
            raise ValueError(f"caption label {label!r} is already {self.ref(label)} on this page")
        self._shown[kind] += 1
        if label is not None:
            self._names[label] = (kind, self._shown[kind])
        return Markdown(f"**{kind} {self._shown[kind]}.** {text}")
