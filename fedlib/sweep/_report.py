"""What a sweep reports: its outcome (:class:`SweepReport`, :class:`Failure`, :class:`SweepFailedError`) and its
progress bar (:class:`Progress`), shared by the serial and the Dask paths."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import FedlibError

if TYPE_CHECKING:
    from ..experiments import Experiment


class SweepFailedError(FedlibError, RuntimeError):
    """Some runs of a sweep failed after all their retries (raised by :meth:`SweepReport.raise_for_failures`)."""


@dataclass(frozen=True)
class Failure:
    """One experiment that failed after ``attempts`` attempts; ``error`` is ``"Type: message"``."""

    index: int
    experiment: Experiment
    error: str
    traceback: str
    attempts: int


@dataclass
class SweepReport:
    """What :func:`run_experiments` did.

    Attributes:
        results: one entry per input experiment, in input order: its :class:`~fedlib.experiments.Result`, or
            None if it failed (duplicated configs share one result).
        failures: the failed experiments, with their errors.
        n_cached: distinct experiments whose valid result was already on disk.
        n_ran: distinct experiments run (successfully or not) by this call.
        attempts: config hash → number of attempts, for the experiments this call ran.
        corrupt: problems found in stored files (each moved aside to ``*.corrupt`` and run again).
        notes: what happened to the Dask cluster's workers (left, joined, another torch than this machine's).
        dashboard: the Dask dashboard address, or None (serial run, or nothing to run).
        seconds: wall-clock time of the call.
    """

    results: list[object | None]
    failures: list[Failure] = field(default_factory=list)
    n_cached: int = 0
    n_ran: int = 0
    attempts: dict[str, int] = field(default_factory=dict)
    corrupt: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    dashboard: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every experiment has a result."""
        return not self.failures

    def raise_for_failures(self) -> SweepReport:
        """Raise :class:`SweepFailedError` listing the failures, if any; otherwise return ``self``."""
        if self.failures:
            lines = [
                f"  #{f.index} {f.experiment.config_hash[:12]} after {f.attempts} attempt(s): {f.error}"
                for f in self.failures
            ]
            raise SweepFailedError(
                f"{len(self.failures)} of {len(self.results)} experiment(s) failed:\n" + "\n".join(lines)
            )
        return self

    def summary(self) -> str:
        done = sum(r is not None for r in self.results)
        return (
            f"{done}/{len(self.results)} results ({self.n_cached} cached, {self.n_ran} run, "
            f"{len(self.failures)} failed) in {self.seconds:.1f} s"
        )


class Progress:
    """A tqdm bar counting finished runs, with done / failed / remaining in its postfix."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.done, self.failed, self.retried = total, 0, 0, 0
        self.bar = None
        if enabled and total:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc="sweep", unit="run", file=sys.stdout, dynamic_ncols=True)
            self._post()

    def _post(self) -> None:
        if self.bar is not None:
            self.bar.set_postfix(
                done=self.done, failed=self.failed, remaining=self.total - self.done - self.failed, retried=self.retried
            )

    def finished(self, ok: bool) -> None:
        if ok:
            self.done += 1
        else:
            self.failed += 1
        if self.bar is not None:
            self.bar.update(1)
            self._post()

    def retry(self, message: str) -> None:
        self.retried += 1
        if self.bar is not None:
            self.bar.write(message, file=sys.stdout)
            self._post()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


__all__ = ["SweepFailedError", "Failure", "SweepReport", "Progress"]
