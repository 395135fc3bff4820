r"""``fedlib.evaluate``: the report card of one aggregation rule against the paper's attacks and newer ones.

For a rule (a registered name, a ``"module:function"`` string, or a callable) and a profile, one row per
attack (no attack, Fang, LIE, AGR-tailored, Min-Max, Min-Sum, IPM, Mimic by default) with

(a) **deviation** (seconds, no training): benign gradients are captured from a few real rounds of honest
    FedSGD with the mean in the profile's setting (rounds ``capture_rounds``; the same gradients for every rule,
    cached per profile and seed), each attack is crafted against the rule from them, and

    .. math:: \text{deviation} = \lVert \mathrm{AGR}(\text{crafted} \cup \text{benign}) - \mu \rVert_2 ,
              \qquad \text{relative\_deviation} = \text{deviation} / \lVert \mu \rVert_2

    with μ the mean of the benign rows (no attack: the attackers' honest rows instead of crafted ones),
    averaged over the captured rounds and the seeds;
(b) **FL impact**: the profile's experiment with the rule as the server's AGR, for no attack and each attack, over
    ``seeds``, through :func:`fedlib.experiments.run` and its results cache (Fang's attack, which has forms for the
    Krum family and Trimmed-mean / Median only, is aimed at Trimmed-mean against any other rule, as in the grids:
    :func:`fedlib.experiments.grids.attack_changes`); impact = no-attack accuracy − attacked accuracy, per seed
    (:func:`fedlib.report.tables.impacts`), mean ± sd over seeds (:func:`fedlib.report.tables.mean_and_sd`).

Columns (:data:`COLUMNS`): ``rule``, ``attack``, ``target`` (the rule a rule-specific attack was aimed at: the rule
itself, or Trimmed-mean for Fang's attack on a rule it has no form for; empty for the others), ``reason`` (empty
when the attack ran; else why it is not defined for the rule or could not be crafted — such attacks are rows, never
dropped), ``deviation``, ``relative_deviation``, ``gamma`` (mean γ of the crafted rows; NaN for attacks without
one), ``accuracy`` and ``accuracy_sd`` (test accuracy at the best-validation round, %, mean and sd over seeds),
``impact`` and ``impact_sd`` (percentage points; NaN for no attack), ``impact_text`` (``"mean ± sd"``), ``profile``,
``knowledge``, ``rounds``, ``seeds`` (how many).

``partition`` puts the rule on the robustness benchmark's board: ``"iid"`` or ``"dirichlet"``
(:data:`fedlib.experiments.grids.BENCHMARK_PARTITIONS`) with ``profile="scale"`` and the default attacks, seeds 0–2
and full knowledge gives exactly the benchmark block's cells (:func:`fedlib.experiments.grids.benchmark_grid`, same
config hashes), so a registered rule's committed cells are read, not trained. One partition and three seeds at the
scale size is 24 training runs of 300 rounds: hours on a CPU.

A callable (one that returns a tensor (d,), the form a PyTorch user writes first, or an Aggregate) is registered
for the call only (:func:`fedlib.aggregators.registered`, which wraps and probes it) under
``<function name>_<8 hex digits of its source's sha256>``: editing the function gives new cached runs, and
nothing stays registered after the call. The results cache is keyed by the experiment, which names the rule,
not its code: a rule you register yourself under a name is trusted to keep that name's meaning (pass
``results_dir=None`` to cache nothing). The runs are made in this process (a rule registered at run time
exists only here).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import math
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from . import aggregators, attacks
from .aggregators._base import registered_name
from .errors import AttackInfeasible, ConfigError, UnknownNameError

#: The attacks of a report card, in the paper's order, then the newer ones.
DEFAULT_ATTACKS = ("none", "fang", "lie", "tailored", "min_max", "min_sum", "ipm", "mimic")
COLUMNS = (
    "rule",
    "attack",
    "target",
    "reason",
    "deviation",
    "relative_deviation",
    "gamma",
    "accuracy",
    "accuracy_sd",
    "impact",
    "impact_sd",
    "impact_text",
    "profile",
    "knowledge",
    "rounds",
    "seeds",
)
_NOT_OPTIONS = ("aggregator", "attack", "attack_options", "attack_target", "knowledge", "rounds", "profile", "dataset")


# ---------------------------------------------------------------------------------------------- the rule
def _import_rule(text: str) -> Callable:
    module_name, _, attr = text.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"rule: expected a registered name or 'module:function'; found {text!r}.")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"rule {text!r}: cannot import it ({type(exc).__name__}: {exc}).") from exc
    if not callable(obj):
        raise ConfigError(f"rule {text!r}: expected a callable rule; found {type(obj).__name__}.")
    return obj


def _source_digest(fn: Callable) -> str | None:
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        return None
    return hashlib.sha256(source.encode()).hexdigest()[:8]


@contextmanager
def rule_name(rule: str | Callable) -> Iterator[tuple[str, bool]]:
    """(the registry name of ``rule``, whether its results may be cached) for the ``with`` block.

    A registered name is used as is; ``"module:function"`` is imported; a callable that is already registered
    keeps its name, any other is registered for the block only (see the module docstring).
    """
    if isinstance(rule, str) and ":" not in rule:
        aggregators.get(rule)  # raises UnknownNameError with the registered names
        yield rule, True
        return
    fn = _import_rule(rule) if isinstance(rule, str) else rule
    if not callable(fn):
        raise ConfigError(f"rule: expected a registered name, 'module:function' or a callable; found {fn!r}.")
    aggregators.names()  # loads the installed plugins: one of them may be this function
    known = registered_name(fn)
    if known is not None:
        yield known, True
        return
    digest = _source_digest(fn)
    base = getattr(fn, "__name__", "rule").strip("<>") or "rule"
    name = f"{base}_{digest or format(id(fn), 'x')[-8:]}"
    with aggregators.registered(name, fn):
        yield name, digest is not None


# ---------------------------------------------------------------------------------------------- captures
CAPTURES = "benign_gradients"  # the results store's folder of captured gradients


def _capture_name(exp, rounds: Sequence[int]) -> str:
    return f"{exp.config_hash}-r{'-'.join(str(r) for r in rounds)}"


_MEMORY: dict[tuple[str, tuple[int, ...]], list[dict]] = {}


def capture(exp, rounds: Sequence[int], results_dir: Path | None = None, dataset=None) -> list[dict]:
    """The honest gradients of rounds ``rounds`` of FedSGD with the mean and no attack in ``exp``'s setting:
    one dict per round with ``grads`` (every client of the round, malicious first) and ``m`` (attackers
    drawn). Cached in the results store of ``results_dir`` (``benign_gradients/``; an unreadable file there is moved
    aside and captured again) and in memory."""
    from .experiments import ResultsStore
    from .fl import FedSGD

    exp = exp.replace(aggregator="mean", aggregator_options={}, attack="none", rounds=max(rounds) + 1)
    key = (exp.config_hash, tuple(rounds))
    store = None if results_dir is None else ResultsStore(results_dir)
    stored = None if store is None else store.get_tensors(CAPTURES, _capture_name(exp, rounds))
    if stored is not None:
        _MEMORY[key] = stored
        return stored
    if key in _MEMORY:  # captured in this process for another folder (or none): the store gets its copy too
        if store is not None:
            store.put_tensors(CAPTURES, _capture_name(exp, rounds), _MEMORY[key])
        return _MEMORY[key]
    engine = FedSGD(exp, dataset=dataset)
    captured = []
    for t in range(exp.rounds):
        draw = engine.sample_clients(t)
        grads = engine.honest_gradients(draw)
        if grads is None:
            raise ConfigError(f"capturing benign gradients: honest training diverged at round {t}.")
        if t in rounds:
            captured.append({"round": t, "grads": grads.detach().cpu().clone(), "m": draw.m_t})
        engine.server_step(engine.aggregate(draw, grads).vector)
    if store is not None:
        store.put_tensors(CAPTURES, _capture_name(exp, rounds), captured)
    _MEMORY[key] = captured
    return captured


# ---------------------------------------------------------------------------------------------- (a) deviation
def _crafted(
    attack: str, rule: str, exp, round_: dict, generator, score_fn
) -> tuple[torch.Tensor, torch.Tensor, int, Any]:
    """(rows the server aggregates, benign rows, f, γ) of one captured round, as the FL engine builds them:
    ``inject`` crafted rows replace the acting attackers' (the surplus stay honest); the attack's inputs come
    from :class:`fedlib.attacks.AttackContext`, as in the engine."""
    from .fl import round_f

    grads, m = round_["grads"], round_["m"]
    f, inject = round_f(exp.server_f, rule, m, grads.shape[0], variant=exp.variant, options=exp.aggregator_options)
    acting = min(m, inject)
    benign = grads[acting:]
    if attack == "none" or acting == 0:
        return grads, grads[m:], f, None
    crafted = attacks.AttackContext.of(
        attack,
        benign=benign,
        own=grads[:m],
        n_crafted=inject,
        target=exp.attack_target or rule,
        f=f,
        variant=exp.variant,
        knowledge=exp.knowledge,
        perturbation=exp.perturbation,
        search=exp.search,
        gamma_init=exp.gamma_init,
        generator=generator,
        attack_options=exp.attack_options,
        server_rule=rule,
        rule_options=exp.aggregator_options,
        score_fn=score_fn,
    ).craft()
    return torch.cat([crafted.updates, benign]), benign, f, crafted.gamma


def server_scores(exp, rounds: Sequence[int], dataset=None) -> dict[int, Any]:
    """The server's scoring (the ``score_fn`` a rule such as Fang's defense is given) at each of ``rounds`` of the
    captures' honest training (FedSGD with the mean and no attack in ``exp``'s setting, as :func:`capture` trains):
    the training is replayed and the server optimiser's snapshot at each round rebuilt into a
    :class:`fedlib.fl.ServerScore` (CPU, the validation samples of ``dataset``, loaded when not given)."""
    from .fl import FedSGD, ServerScore

    honest = exp.replace(aggregator="mean", aggregator_options={}, attack="none", rounds=max(rounds) + 1)
    engine = FedSGD(honest, dataset=dataset)
    scores = {}
    for t in range(honest.rounds):
        if t in rounds:
            scores[t] = ServerScore.replay(honest, engine.dataset, engine.optimiser.snapshot())
        if not engine.run_round(t):
            raise ConfigError(f"replaying the honest training of the captures: it diverged at round {t}.")
    return scores


def deviation(attack: str, rule: str, exp, captured: Sequence[dict], scores: dict | None = None) -> dict[str, float]:
    """Mean ``deviation``, ``relative_deviation`` and ``gamma`` of ``attack`` against ``rule`` over the
    captured rounds (module docstring); μ is the mean of the benign rows.

    Each round's attack and rule draw from the generators the engine would give them in ``exp``'s first round
    (:meth:`fedlib.fl.Seeds.generators`). A rule that scores candidate models (Fang's defense) gets the server's
    scoring at the captured round, as the engine gives it (``scores``: :func:`server_scores` of the captured
    rounds, computed when not given)."""
    from .fl import Seeds

    needs = aggregators.needs(rule)
    if "score_fn" in needs and scores is None:
        scores = server_scores(exp, [round_["round"] for round_ in captured])
    cpu = torch.device("cpu")
    devs, rels, gammas = [], [], []
    for round_ in captured:
        _, attack_gen, server_gen = Seeds.of(exp).generators(cpu)
        score_fn = None if scores is None else scores[round_["round"]]
        rows, benign, f, gamma = _crafted(attack, rule, exp, round_, attack_gen, score_fn)
        supplied = {"generator": server_gen, "score_fn": score_fn}
        options = {**exp.aggregator_options, **{k: v for k, v in supplied.items() if k in needs}}
        out = aggregators.aggregate(rule, rows, f, variant=exp.variant, **options).vector
        mu = benign.mean(dim=0)
        devs.append(float(torch.linalg.vector_norm(out - mu)))
        rels.append(devs[-1] / float(torch.linalg.vector_norm(mu)))
        gammas.append(math.nan if gamma is None else float(gamma))
    return {
        "deviation": sum(devs) / len(devs),
        "relative_deviation": sum(rels) / len(rels),
        "gamma": sum(gammas) / len(gammas),
    }


# ---------------------------------------------------------------------------------------------- the card
def _not_defined(attack: str, rule: str) -> str:
    from .experiments.grids import attack_changes

    target = attack_changes(rule, attack).get("attack_target", rule)
    if attacks.can_target(attack, target):
        return ""
    forms = ", ".join(attacks.targets(attack) or ())
    return f"not defined for {rule}: attack {attack!r} has forms for {forms} only"


def _check_arguments(attack_list: Sequence[str], seeds: Sequence[int], options: dict) -> None:
    for attack in attack_list:
        if attack not in attacks.names():
            raise UnknownNameError(f"attacks: {attack!r} is not an attack; expected names from {attacks.names()}.")
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise ConfigError(f"seeds: expected a non-empty list of ints >= 0; found {seeds!r}.")
    clash = sorted(set(options) & set(_NOT_OPTIONS))
    if clash:
        raise ConfigError(f"evaluate(**options) sets Experiment fields; {clash} are set by evaluate itself.")


def _target(attack: str, rule: str) -> str:
    """The rule ``attack`` is aimed at when it has a form per rule (:func:`fedlib.attacks.targets`), else ""."""
    from .experiments.grids import attack_changes

    if attack == "none" or attacks.targets(attack) is None:
        return ""
    return attack_changes(rule, attack).get("attack_target", rule)


def _partition_fields(partition: str | None, options: dict) -> dict:
    """The Experiment fields of a benchmark partition (none for ``None``); refuses options that set them too."""
    from .experiments.grids import BENCHMARK_PARTITIONS

    if partition is None:
        return {}
    if partition not in BENCHMARK_PARTITIONS:
        raise ConfigError(f"partition: expected None or one of {list(BENCHMARK_PARTITIONS)}; found {partition!r}.")
    fields = BENCHMARK_PARTITIONS[partition]
    clash = sorted(set(options) & set(fields))
    if clash:
        raise ConfigError(f"partition={partition!r} sets {clash}; pass them as options or the partition, not both.")
    return dict(fields)


def _experiment(profile, dataset, rule, attack, seed, rounds, knowledge, options, attack_options):
    from .experiments import experiment_for
    from .experiments._config import seed_fields
    from .experiments.grids import attack_changes

    fields = {**options, **seed_fields(seed), **attack_changes(rule, attack)}
    if attack != "none":
        fields["knowledge"] = knowledge
        fields["attack_options"] = dict(attack_options.get(attack, {}))
    if rounds is not None:
        fields["rounds"] = rounds
    return experiment_for(profile, dataset, **fields)


def _train(experiments: dict, results_dir, progress: bool) -> pd.DataFrame:
    """Run (or load) every experiment; one row per (attack, seed) with its test accuracy."""
    from .experiments import run
    from .fl import load_dataset

    data = None
    rows = []
    for (attack, seed), exp in experiments.items():
        if data is None:
            data = load_dataset(exp)
        result = run(exp, results_dir, progress=progress, dataset=data, repair=True)
        rows.append(
            {
                "aggregator": exp.aggregator,
                "attack": attack,
                "seed": seed,
                "test_accuracy": result.test_accuracy_at_best,
            }
        )
    return pd.DataFrame(rows)


def _fl_columns(runs: pd.DataFrame, attack: str) -> dict[str, Any]:
    from .report.tables import impacts, mean_and_sd, mean_sd

    acc, acc_sd = mean_and_sd(runs[runs.attack == attack].test_accuracy)
    out: dict[str, Any] = {"accuracy": acc, "accuracy_sd": acc_sd}
    if attack == "none":
        return {**out, "impact": math.nan, "impact_sd": math.nan, "impact_text": "–"}
    per_seed = impacts(runs[runs.attack.isin(["none", attack])], by=["aggregator"]).impact
    mean, sd = mean_and_sd(per_seed)
    return {**out, "impact": mean, "impact_sd": sd, "impact_text": mean_sd(per_seed)}


def evaluate(
    rule: str | Callable,
    *,
    profile: str = "quick",
    attacks: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    rounds: int | None = None,
    dataset: str | None = None,
    knowledge: str = "full",
    partition: str | None = None,
    attack_options: dict[str, dict] | None = None,
    capture_rounds: Sequence[int] = (0, 10, 20),
    train: bool = True,
    results_dir: str | os.PathLike | None = "default",
    progress: bool = False,
    **options: Any,
) -> pd.DataFrame:
    """The report card of ``rule`` (module docstring for the columns): one row per attack.

    Args:
        rule: a registered name, ``"module:function"``, or a callable ``fn(updates, f, **options)`` that returns
            the aggregate as a tensor (d,) or an :class:`~fedlib.aggregators.Aggregate` (checked on a probe
            input before anything trains: :mod:`fedlib.aggregators._user_rule`).
        profile: ``"quick"``, ``"scale"`` or ``"full"`` (:func:`fedlib.experiments.experiment_for`).
        attacks: attack names (default :data:`DEFAULT_ATTACKS`; ``"none"`` is always added for the impacts).
        seeds: the seeds of the FL runs and of the captures (default ``[0]``).
        rounds: FL rounds (default: the profile's).
        dataset: the profile's dataset (default: its own).
        knowledge: the attacks' knowledge setting, ``"full"`` or ``"partial"``.
        partition: None (the profile's own client split), or a split of the robustness benchmark,
            ``"iid"`` or ``"dirichlet"`` (module docstring).
        attack_options: per attack, its options (``Experiment.attack_options``), e.g.
            ``{"tailored": {"generic_grid": 9, "generic_iters": 4}}`` for a cheaper generic search.
        capture_rounds: the honest rounds whose gradients the deviation is measured on.
        train: False skips (b): accuracy and impact are NaN (seconds instead of training runs).
        results_dir: the results cache (``"default"``: :func:`fedlib.experiments.default_results_dir`;
            None: no files).
        progress: progress bars of the training runs.
        **options: Experiment fields for every run (e.g. ``n_malicious=2``, ``aggregator_options={...}``).

    Example:
        >>> import fedlib
        >>> card = fedlib.evaluate("median", attacks=["lie", "min_max"], train=False, capture_rounds=(0,),
        ...                        results_dir=None)  # doctest: +SKIP
        >>> card[["attack", "relative_deviation"]]  # doctest: +SKIP
    """
    from .experiments import default_results_dir

    attack_list = list(dict.fromkeys(["none", *(DEFAULT_ATTACKS[1:] if attacks is None else attacks)]))
    seeds = [0] if seeds is None else list(seeds)
    _check_arguments(attack_list, seeds, options)
    options = {**options, **_partition_fields(partition, options)}
    attack_options = dict(attack_options or {})
    unknown = sorted(set(attack_options) - set(attack_list))
    if unknown:
        raise ConfigError(f"attack_options: {unknown} are not among the card's attacks {attack_list}.")
    folder = Path(default_results_dir()) if results_dir == "default" else results_dir
    with rule_name(rule) as (name, cacheable):
        folder = Path(folder) if (folder is not None and cacheable) else None
        return _card(name, attack_list, seeds, profile, dataset, rounds, knowledge, capture_rounds, train, folder,
                     progress, options, attack_options)  # fmt: skip


def _plan(name, attack_list, seeds, profile, dataset, rounds, knowledge, options, attack_options):
    """The experiments of the card, and why an attack has none (not defined for the rule, or not runnable)."""
    reasons = {a: _not_defined(a, name) for a in attack_list}
    experiments: dict[tuple[str, int], Any] = {}
    for attack in attack_list:
        for seed in seeds:
            if reasons[attack]:
                continue
            try:
                experiments[(attack, seed)] = _experiment(
                    profile, dataset, name, attack, seed, rounds, knowledge, options, attack_options
                )
            except ConfigError as exc:
                if attack == "none":
                    raise
                reasons[attack] = f"not runnable in this setting: {exc}"
    return experiments, reasons


def _deviations(name, attack_list, seeds, experiments, reasons, capture_rounds, folder):
    """(deviation rows per attack, notes): an attack whose deviation cannot be measured still trains."""
    devs: dict[str, list[dict]] = {a: [] for a in attack_list}
    notes = {a: "" for a in attack_list}
    scoring = "score_fn" in aggregators.needs(name)  # the rule scores candidate models on validation samples
    for seed in seeds:
        captured = capture(experiments[("none", seed)], capture_rounds, folder)
        scores = server_scores(experiments[("none", seed)], capture_rounds) if scoring else None
        for attack in attack_list:
            if reasons[attack] or notes[attack]:
                continue
            try:
                devs[attack].append(deviation(attack, name, experiments[(attack, seed)], captured, scores))
            except AttackInfeasible as exc:
                notes[attack] = f"deviation not measured, infeasible on the captured rounds: {exc}"
    return devs, notes


def _card(name, attack_list, seeds, profile, dataset, rounds, knowledge, capture_rounds, train, folder, progress,
          options, attack_options) -> pd.DataFrame:  # fmt: skip
    experiments, reasons = _plan(name, attack_list, seeds, profile, dataset, rounds, knowledge, options, attack_options)
    devs, notes = _deviations(name, attack_list, seeds, experiments, reasons, capture_rounds, folder)
    runs = _train(experiments, folder, progress) if train else None
    rows = []
    for attack in attack_list:
        row: dict[str, Any] = {"rule": name, "attack": attack, "target": _target(attack, name),
                               "reason": reasons[attack] or notes[attack]}  # fmt: skip
        for key in ("deviation", "relative_deviation", "gamma"):
            values = [d[key] for d in devs[attack]]
            row[key] = sum(values) / len(values) if values and not notes[attack] else math.nan
        if runs is not None and not reasons[attack]:
            row.update(_fl_columns(runs, attack))
        row.update(
            profile=profile, knowledge=knowledge, rounds=experiments[("none", seeds[0])].rounds, seeds=len(seeds)
        )
        rows.append(row)
    card = pd.DataFrame(rows)
    for column in COLUMNS:
        if column not in card:
            card[column] = math.nan
    card["impact_text"] = card["impact_text"].astype(object).where(card["impact_text"].notna(), "–")
    return card[list(COLUMNS)]


__all__ = ["evaluate", "capture", "server_scores", "deviation", "rule_name", "DEFAULT_ATTACKS", "COLUMNS"]
