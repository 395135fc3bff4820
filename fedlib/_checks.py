"""Shared argument checks. Messages always say what was expected and what was found."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

import numpy as np
import torch

from .errors import ConfigError, InputError, InputTypeError, NonFiniteError, UnknownNameError

#: Names that changed, old → new: Fang's defense was the aggregator "fang" (the name of Fang's attack too).
RENAMED = {"fang": "fang_defense"}


def did_you_mean(value: object, allowed: Iterable[object]) -> str:
    """`` Did you mean 'x'?`` for the closest of ``allowed`` to ``value`` (empty when none is close): the one
    suggestion every error message about an unknown name uses. A renamed name points to its new name.

    Example:
        >>> from fedlib._checks import did_you_mean
        >>> did_you_mean("krumm", ["krum", "median"])
        " Did you mean 'krum'?"
        >>> did_you_mean("fang", ["krum", "fang_defense"])
        " Did you mean 'fang_defense'? ('fang' was renamed 'fang_defense'.)"
    """
    names = [str(a) for a in allowed]
    renamed = RENAMED.get(str(value))
    if renamed in names:
        return f" Did you mean {renamed!r}? ({str(value)!r} was renamed {renamed!r}.)"
    close = difflib.get_close_matches(str(value), names, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def check_choice(value: object, allowed: Iterable[str], what: str) -> str:
    """Return ``value`` if it is one of ``allowed``; otherwise raise UnknownNameError with a suggestion."""
    allowed = list(allowed)
    if not isinstance(value, str) or value not in allowed:
        hint = did_you_mean(value, allowed)
        raise UnknownNameError(f"unknown {what} {value!r}; expected one of {allowed}.{hint}")
    return value


def reject_options(options: Mapping[str, object], rule: str, allowed: Iterable[str] = ()) -> None:
    """Raise if ``options`` holds keys that ``rule`` does not accept (nothing is silently ignored)."""
    extra = sorted(set(options) - set(allowed))
    if extra:
        raise ConfigError(f"{rule} got unknown option(s) {extra}; it accepts {sorted(allowed) or 'no extra options'}.")


def check_matrix(updates: object, what: str = "updates", *, min_rows: int = 1) -> torch.Tensor:
    """Check that ``updates`` is a float32/float64 2-D tensor with at least ``min_rows`` rows and >= 1 column."""
    if not isinstance(updates, torch.Tensor):
        raise InputTypeError(f"{what} must be a torch.Tensor of shape (n, d); found {type(updates).__name__}.")
    if updates.dim() != 2:
        raise InputError(f"{what} must be 2-D (n, d); found shape {tuple(updates.shape)}.")
    if updates.dtype not in (torch.float32, torch.float64):  # half types: CPU svd/cdist are unimplemented
        raise InputTypeError(f"{what} must have a floating dtype (float32 or float64); found {updates.dtype}.")
    n, d = updates.shape
    if n < min_rows:
        raise InputError(f"{what} must have at least {min_rows} row(s); found {n}.")
    if d < 1:
        raise InputError(f"{what} must have at least one column; found shape {tuple(updates.shape)}.")
    return updates


def all_finite(x: torch.Tensor) -> bool:
    """``bool(torch.isfinite(x).all())``: no entry of ``x`` is NaN or ±Inf.

    On the CPU, float32 / float64 go through numpy's test, the same answer ~10× faster (measured on an
    (80, 79,510) float32 matrix, one thread: 1.3 ms against torch's 14 ms) — the engine asks it of every
    round's gradients. Other devices and dtypes use torch's.

    Example:
        >>> import torch
        >>> from fedlib._checks import all_finite
        >>> all_finite(torch.tensor([1.0, -2.0])), all_finite(torch.tensor([1.0, float("nan")]))
        (True, False)
    """
    if x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64):
        return bool(np.isfinite(x.detach().numpy()).all())
    return bool(torch.isfinite(x).all())


def nonfinite_rows(updates: torch.Tensor) -> torch.Tensor:
    """Indices (LongTensor, ascending) of rows that hold any NaN or Inf."""
    # Fast path: NaN and Inf always propagate into a row sum, so finite row sums prove every entry is
    # finite with one pass and no (n, d) boolean temporary. A finite row whose sum overflows only sends
    # us to the exact per-entry check below, which then finds nothing.
    sums = updates.sum(dim=1)
    if all_finite(sums):
        return torch.zeros(0, dtype=torch.long, device=updates.device)
    return torch.nonzero(~torch.isfinite(updates).all(dim=1)).flatten()


def check_finite(updates: torch.Tensor, what: str = "updates") -> torch.Tensor:
    """Raise NonFiniteError naming the offending rows if any entry is NaN or Inf."""
    bad = nonfinite_rows(updates)
    if bad.numel():
        shown = bad[:10].tolist()
        more = "" if bad.numel() <= 10 else f" (and {bad.numel() - 10} more)"
        raise NonFiniteError(
            f"{what} must be finite; found NaN/Inf in row(s) {shown}{more}. "
            "Pass nonfinite='drop' to remove such rows explicitly."
        )
    return updates


def check_int(value: object, what: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Check that ``value`` is an int (bool excluded) within [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, torch.Tensor) and value.numel() == 1 and not torch.is_floating_point(value):
            value = int(value.item())
        else:
            raise InputTypeError(f"{what} must be an int; found {type(value).__name__} {value!r}.")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{what} must be >= {minimum}; found {value}.")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{what} must be <= {maximum}; found {value}.")
    return value


def check_f(f: object, n: int, rule: str, *, min_n: str | None = None, need: int | None = None) -> int:
    """Check the assumed number of malicious inputs ``f`` for ``rule`` with ``n`` inputs.

    ``need`` is the smallest ``n`` the rule accepts for this ``f`` and ``min_n`` its formula as text
    (e.g. ``"2f+3"``), used in the error message when given.
    """
    f = check_int(f, "f", minimum=0)
    if f >= n:
        raise ConfigError(f"{rule} needs f smaller than the number of inputs n; found n={n} with f={f}.")
    if need is not None and n < need:
        formula = f"{min_n} inputs" if min_n else f"{need} inputs for f={f} with these options"
        raise ConfigError(f"{rule} needs n >= {formula}; found n={n} with f={f} (needs n >= {need}).")
    return f
