"""``python -m fedlib list``: datasets, models (with parameter counts), AGRs, attacks and profiles."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_list_parser(subparsers) -> argparse.ArgumentParser:
    """``list``: datasets, models (with parameter counts), AGRs, attacks and profiles."""
    p = subparsers.add_parser("list", help="list datasets, models, aggregators, attacks and profiles")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=_cmd_list)
    return p


def catalogue() -> dict[str, Any]:
    from .. import aggregators, attacks, data, models
    from ..experiments import PROFILE_NAMES

    return {
        "datasets": data.names(),
        "models": {name: models.count_parameters(models.build(name, seed=0)) for name in models.names()},
        "aggregators": aggregators.names(),
        "attacks": attacks.names(),
        "profiles": list(PROFILE_NAMES),
    }


def _cmd_list(args: argparse.Namespace) -> int:
    items = catalogue()
    if args.json:
        print(json.dumps(items, indent=1))
        return 0
    print("datasets:    " + ", ".join(items["datasets"]))
    print("models:      " + ", ".join(f"{k} ({v:,} parameters)" for k, v in items["models"].items()))
    print("aggregators: " + ", ".join(items["aggregators"]))
    print("attacks:     " + ", ".join(items["attacks"]))
    print("profiles:    " + ", ".join(items["profiles"]))
    return 0
