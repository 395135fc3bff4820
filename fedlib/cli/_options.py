"""Argument helpers the subcommands share."""

from __future__ import annotations

import argparse
import json


def _key_value(text: str) -> tuple:
    """Parse ``KEY=VALUE``; VALUE is read as JSON when it parses (numbers, true, null, lists), else a string."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE; found {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


def _add_key_value_option(p: argparse.ArgumentParser, flag: str, dest: str, what: str, metavar: str = "KEY=VALUE"):
    """A repeatable ``flag KEY=VALUE`` collected as a list of pairs in ``dest``."""
    p.add_argument(
        flag,
        dest=dest,
        action="append",
        type=_key_value,
        default=[],
        metavar=metavar,
        help=f"{what} (repeatable; VALUE parsed as JSON if possible)",
    )


def pd_options():
    """Print whole tables (no column wrapping or truncation)."""
    import pandas as pd

    return pd.option_context("display.width", 250, "display.max_columns", 50, "display.max_colwidth", 70)
