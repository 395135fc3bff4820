"""``python -m fedbook.reproduce``: the paper's full grids (or the scale campaign's blocks) computed by fedlib,
then the book's pages that read them executed against the results and the book built.

It takes ``python -m fedlib reproduce``'s arguments (plan, sweep: :mod:`fedlib.cli.reproduce`) and two of its own:
``--book DIR`` (the book's sources; default: the current folder when it holds them) and ``--no-book``. The book
knows which of its notebooks read which grid (:data:`NOTEBOOK_GRIDS`, :data:`SCALE_NOTEBOOK_BLOCKS`); the library
does not. The notebooks read a full reproduction's manifest (:class:`fedbook.context.Context`): they keep only its
datasets, apply its changes to every cell and label a pipeline check as such. The Results pages read the scale
campaign from the book's ``results/scale``: a scale reproduction builds the book only when its results go there
(``python -m fedbook.reproduce --profile scale --only dnc --workers 2 --results-dir results/scale``, in a clone,
computes the block's missing cells, resumably, and rebuilds the pages that show it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from fedlib.cli.reproduce import reproduction_of
from fedlib.errors import ConfigError
from fedlib.experiments import grids
from fedlib.experiments.reproduce import FULL_SEEDS, Reproduction

from .repository import is_book

#: The notebooks (``notebooks/<name>.py`` in the book's sources) and the full grids each one reads.
NOTEBOOK_GRIDS: dict[str, tuple[str, ...]] = {
    "main_table": ("main",),
    "afa_fang_defense": ("afa_fang",),
    "cross_device": ("cross_device",),
    "perturbations": ("perturbations",),
    "malicious_fraction": ("malicious_fraction",),
    "dnc_table": ("main", "dnc"),
    "paper_vs_ours": ("main", "dnc"),
}
#: The notebooks that show each scale block (:func:`fedlib.experiments.grids.scale_grid`): the full grids' pages,
#: the AFA page also with the main block (its Trimmed-mean comparison), the summary also with the cross-device
#: block, and the newer rules' chapter. A page shows whatever part of its blocks is committed, so a scale
#: reproduction re-executes every page that reads any of its blocks.
SCALE_NOTEBOOK_BLOCKS: dict[str, tuple[str, ...]] = {
    **NOTEBOOK_GRIDS,
    "afa_fang_defense": ("afa_fang", "main"),
    "paper_vs_ours": ("main", "dnc", "cross_device"),
    "your_own_rule": ("newer_rules", "benchmark"),
    "robustness_benchmark": ("benchmark",),
}
#: The notebooks that judge our numbers against the paper's (reproduced / not reproduced).
VERDICT_NOTEBOOKS = ("paper_vs_ours",)


def notebooks(rep: Reproduction) -> list[str]:
    """The notebooks to execute on ``rep``'s results. Full profile: those whose every grid is part of the
    reproduction and has cells; never the verdicts page (:data:`VERDICT_NOTEBOOKS`) for a pipeline check, whose
    numbers must not be judged against the paper's. Scale: every page that shows one of its blocks
    (:data:`SCALE_NOTEBOOK_BLOCKS`).

    Example:
        >>> from fedlib.experiments.reproduce import Reproduction
        >>> notebooks(Reproduction(grids=("main",), datasets=("mnist",), seeds=(0,), rounds=2, stand_in_model=True))
        ['main_table']
        >>> notebooks(Reproduction(profile="scale", grids=("dnc",)))
        ['dnc_table', 'paper_vs_ours']
    """
    if rep.profile == "scale":
        return [nb for nb, blocks in SCALE_NOTEBOOK_BLOCKS.items() if set(blocks) & set(rep.grids or ())]
    full = {g for g in rep.grids or () if grids.full_grid(g, [0], datasets=rep.datasets)}
    return [
        nb
        for nb, needs in NOTEBOOK_GRIDS.items()
        if set(needs) <= full and (rep.paper_setting or nb not in VERDICT_NOTEBOOKS)
    ]


def readers(rep: Reproduction, grid: str) -> list[str]:
    """The notebooks of :func:`notebooks` that read ``grid``."""
    reads = SCALE_NOTEBOOK_BLOCKS if rep.profile == "scale" else NOTEBOOK_GRIDS
    return [nb for nb in notebooks(rep) if grid in reads[nb]]


def find_book(book: os.PathLike | str | None = None) -> Path | None:
    """The book's sources: ``book`` (which must hold them), else the current folder if it does, else None
    (:func:`fedbook.repository.is_book`)."""
    if book is not None:
        folder = Path(book).expanduser().resolve()
        if not is_book(folder):
            raise ConfigError(
                f"--book {book}: expected the book's sources (_toc.yml and notebooks/); "
                f"found {'no such folder' if not folder.is_dir() else 'a folder without them'}."
            )
        return folder
    here = Path.cwd()
    return here if is_book(here) else None


def book_commands(book: Path, rep: Reproduction, results_dir: os.PathLike | str, device: str) -> list[list[str]]:
    """The book's runner, three times: execute the notebooks that read ``rep``'s grids, execute the other notebooks
    as ``make notebooks`` does (quick profile, skipped when up to date), build the HTML book.

    Full profile: ``rep``'s notebooks run in that profile against ``results_dir`` (committed results only, never
    recomputed). Scale: the pages that show its blocks are re-executed as ``make book`` runs them (quick profile;
    each reads the committed scale results of the book's ``results/scale``)."""
    sources = sorted((book / "notebooks").glob("*.py"))
    ours = [p for p in sources if p.stem in notebooks(rep)]
    others = [p for p in sources if p not in ours]
    runner = [sys.executable, "-m", "fedbook.notebooks"]
    commands = []
    if ours and rep.profile == "scale":
        commands.append([*runner, "execute", "--only", *map(str, ours)])
    elif ours:
        params = ["results_dir", str(Path(results_dir).resolve()), "run_missing", "false", "device", device]
        params += ["seeds", json.dumps(list(rep.seeds or FULL_SEEDS))]
        pairs = [x for name, value in zip(params[::2], params[1::2], strict=True) for x in ("-p", name, value)]
        commands.append([*runner, "execute", "--profile", rep.profile, "--only", *map(str, ours), "--", *pairs])
    if others:
        commands.append([*runner, "execute", "--skip-fresh", "--only", *map(str, others)])
    return [*commands, [*runner, "build"]]


def book_results(book: Path | None) -> Path | None:
    """Where the book's Results pages read the scale campaign: ``<book>/results/scale``."""
    return None if book is None else book / "results" / "scale"


def run_book(book: Path, commands: Sequence[Sequence[str]]) -> int:
    """Run ``commands`` in ``book`` with its ``book/_lib`` first on PYTHONPATH; stop at the first failure."""
    env = dict(os.environ)
    paths = [str(book / "book" / "_lib"), *(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p)]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    for command in commands:
        print("reproduce: " + " ".join(command[1:]), flush=True)
        code = subprocess.call(list(command), cwd=book, env=env)
        if code:
            return code
    return 0


def book_step(args: argparse.Namespace, rep: Reproduction, results_dir: Path) -> int:
    """Execute the notebooks that read ``rep``'s results and build the book (when the book's sources are at
    hand and, for the scale campaign, the results are the book's ``results/scale``); the exit code."""
    book = None if args.no_book else find_book(args.book)
    read = book_results(book) if rep.profile == "scale" else None
    if read is not None and read.resolve() != results_dir.resolve():
        print(
            f"reproduce: results in {results_dir}. No book built: its pages read the scale campaign from {read}; "
            "run again with --results-dir there (the cells already computed are loaded, not re-run).",
            flush=True,
        )
        return 0
    if book is None:
        print(
            f"reproduce: results in {results_dir}. No book built: "
            + (
                "--no-book."
                if args.no_book
                else "this folder holds no book sources (_toc.yml and notebooks/); pass --book DIR (a clone of "
                "the repository)."
            )
            + f" Notebooks that read them: {', '.join(notebooks(rep)) or 'none'}.",
            flush=True,
        )
        return 0
    code = run_book(book, book_commands(book, rep, results_dir, args.device))
    if code == 0:
        print(f"reproduce: book built: {book / '_build' / 'html' / 'index.html'}", flush=True)
    return 1 if code else 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m fedbook.reproduce``: fedlib's reproduction (plan and sweep), then the book step."""
    from fedlib.cli.reproduce import add_arguments, reproduce
    from fedlib.errors import FedlibError

    parser = argparse.ArgumentParser(prog="python -m fedbook.reproduce",
                                     description=" ".join(__doc__.split("\n\n")[0].split()).replace("``", ""))
    add_arguments(parser)
    parser.add_argument("--book", default=None, metavar="DIR", help="the book's sources (default: this folder if "
                        "it is one)")  # fmt: skip
    parser.add_argument("--no-book", action="store_true", help="run the sweep only")
    args = parser.parse_args(argv)
    try:
        rep = reproduction_of(args)
        outcome = reproduce(args, readers=lambda grid: readers(rep, grid))
        if not outcome.swept or outcome.code:
            return outcome.code
        return book_step(args, outcome.reproduction, outcome.results_dir)
    except FedlibError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
