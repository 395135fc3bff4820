"""Exceptions raised by fedlib.

Every error fedlib raises on bad input is a subclass of :class:`FedlibError`, so callers (and the fuzz
tests) can tell the library's own, deliberate failures from bugs. Each also subclasses the built-in
exception a Python user would expect (``ValueError``, ``TypeError``, ``FileNotFoundError``), so
``except ValueError`` keeps working.
"""

from __future__ import annotations


class FedlibError(Exception):
    """Base class of every error fedlib raises on purpose. ``exit_code``: the command line's exit status when it
    ends on this error (2: an invalid input or option)."""

    exit_code = 2


class InputError(FedlibError, ValueError):
    """A tensor argument has the wrong shape, dtype, device or content."""


class InputTypeError(FedlibError, TypeError):
    """An argument has the wrong Python type (e.g. an int tensor where a float one is needed)."""


class NonFiniteError(InputError):
    """A tensor holds NaN or Inf values where finite values are required."""


class ConfigError(FedlibError, ValueError):
    """A setting is unknown, out of range, or impossible for the chosen rule/attack/dataset."""


class UnknownNameError(ConfigError):
    """A rule, attack, dataset, model or option name is not registered."""


class AttackInfeasible(FedlibError, ValueError):
    """An attack cannot be crafted in *this round*: the round's sample leaves the adversary too little to work
    with (e.g. a single own row under partial knowledge, where a standard deviation needs two). The settings are
    valid — another round may be feasible — so the FL engine catches it and lets the attackers behave honestly
    that round (recorded). :func:`fedlib.attacks.feasible` tells the same without crafting."""


class DatasetNotFoundError(FedlibError, FileNotFoundError):
    """A dataset's files are not where fedlib looked; the message says where they go and how to get them."""


class ResultFileError(FedlibError, ValueError):
    """A results file is corrupt, truncated, or does not match the expected schema."""


class ClusterError(FedlibError, ConnectionError):
    """The Dask cluster a sweep was given cannot run it, or was lost while it ran: nothing answers at the address,
    something other than a Dask scheduler does, no worker can import this fedlib, or the scheduler went away.
    Finished results are saved; the command line ends with exit status 3."""

    exit_code = 3


class DivergedError(FedlibError, ArithmeticError):
    """Training produced a non-finite loss and the policy says to stop with an error."""


__all__ = [
    "FedlibError",
    "InputError",
    "InputTypeError",
    "NonFiniteError",
    "ConfigError",
    "UnknownNameError",
    "AttackInfeasible",
    "DatasetNotFoundError",
    "ResultFileError",
    "ClusterError",
    "DivergedError",
]
