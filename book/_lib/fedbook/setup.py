"""The FL-setup table (paper §V layout) and every sentence that describes a profile, generated from fedlib's
profiles — nothing typed by hand.

Example:
    >>> from fedbook.setup import setup_table, stand_in
    >>> setup_table(["quick"]).loc[0, "clients"]
    '20 (all every round)'
    >>> stand_in("main").startswith("the paper's MNIST client layout (100 clients × 600 samples")
    True
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch

from fedlib.report.labels import DATASET_LABELS, MODEL_LABELS

from .paper import RELEASED_SETUP

PROFILE_ORDER = ("quick", "scale", "full")


def _parameters(model: str, model_options: dict, dataset: str) -> int:
    from fedlib import models
    from fedlib.data import input_shape

    n_classes = {"femnist": 62, "purchase100": 100}.get(dataset, 10)
    kwargs = dict(model_options)
    if model in ("mnist_fc", "purchase_fc"):
        shape = input_shape(dataset)
        kwargs["in_features"] = int(torch.tensor(shape).prod())
    net = models.build(model, n_classes=n_classes, generator=torch.Generator().manual_seed(0), **kwargs)
    return models.count_parameters(net)


def _samples_per_client(exp) -> str:
    if exp.samples_per_client is not None:
        return f"{exp.samples_per_client:,}"
    if exp.partition == "writer":
        return "one writer's data"
    try:  # the embedded dataset is always here: count its training pool
        from fedlib.data import load

        ds = load(exp.dataset, split_seed=exp.split_seed, n_clients=exp.n_clients)
        sizes = ds.client_sizes()
        return f"{min(sizes):,}" if min(sizes) == max(sizes) else f"{min(sizes):,}–{max(sizes):,}"
    except Exception:  # a dataset that is not on disk: say how it is split instead of guessing a number
        return f"training pool ÷ {exp.n_clients}"


def _optimiser(exp) -> str:
    text = f"{'SGD' if exp.optimiser == 'sgd' else 'Adam'}, lr {exp.lr:g}"
    if exp.lr_decay_rounds:
        rounds = exp.lr_decay_rounds
        text += f", ×{exp.lr_decay_factor:g} at round{'s' if len(rounds) > 1 else ''} {', '.join(map(str, rounds))}"
    return text


def setup_table(profiles: Sequence[str] = PROFILE_ORDER) -> pd.DataFrame:
    """One row per (profile, dataset): data, clients, samples per client, model and parameter count,
    batch, server optimiser, rounds, malicious clients — read from :func:`fedlib.experiments.experiment_for`."""
    from fedlib.experiments import experiment_for, profile_table
    from fedlib.experiments.grids import DATASETS

    table = profile_table()
    rows = []
    for profile in profiles:
        # The book's (dataset, model) pairs first (CIFAR10 has two models), then any other profile dataset.
        pairs = list(DATASETS.get(profile, [])) + [(d, None) for d in table[profile]
                                                   if d not in {p[0] for p in DATASETS.get(profile, [])}]
        for dataset, model in pairs:
            exp = experiment_for(profile, dataset, **({} if model is None else {"model": model}))
            per_round = (f"{exp.clients_per_round} per round, {exp.sampling.replace('_', ' ')}"
                         if exp.sampling != "all" else "all every round")
            rows.append({
                "profile": profile,
                "dataset": DATASET_LABELS.get(dataset, dataset),
                "clients": f"{exp.n_clients:,} ({per_round})",
                "malicious": f"{exp.n_malicious:,} ({100 * exp.n_malicious / exp.n_clients:.0f} %)",
                "samples per client": _samples_per_client(exp),
                "partition": exp.partition,
                "model": f"{MODEL_LABELS.get(exp.model, exp.model)} ({exp.model})",
                "parameters": f"{_parameters(exp.model, exp.model_options, dataset):,}",
                "batch": "whole local data" if exp.batch_size is None else str(exp.batch_size),
                "server optimiser": _optimiser(exp),
                "rounds": f"{exp.rounds:,}",
            })
    return pd.DataFrame(rows)


def released_setup_table() -> pd.DataFrame:
    """The setting of the authors' released notebooks (read from their code; not the paper's own table)."""
    rows = [{"dataset": DATASET_LABELS[d], **v} for d, v in RELEASED_SETUP.items()]
    return pd.DataFrame(rows)


#: Experiment fields that make up a client layout (who holds what, who is malicious, what a client sends).
LAYOUT = ("n_clients", "samples_per_client", "n_malicious", "batch_size", "sampling", "clients_per_round", "partition")


def _differences(ours, paper) -> list[str]:
    from fedlib.experiments import setting_words

    mine, theirs = setting_words(ours), setting_words(paper)
    return [f"{mine[k]} instead of {theirs[k].removeprefix('server ')}" for k in ("network", "optimiser", "rounds")
            if mine[k] != theirs[k]]


def stand_in(block: str = "main", *, short: bool = False) -> str:
    """What the scale profile's ``block`` stands in for, from the profiles themselves: the cross-silo blocks are
    the paper's MNIST client layout (our ``full`` MNIST profile) on Fashion-MNIST with what differs (network,
    optimiser, rounds); ``cross_device`` is a Fashion-MNIST Dirichlet analogue of the paper's FEMNIST experiment.
    ``short``: the phrase a caption uses."""
    from fedlib.experiments import experiment_for, grids, setting_words

    if short:
        words = setting_words(experiment_for("scale"))
        if block == "cross_device":
            return "a Fashion-MNIST Dirichlet analogue of the paper's FEMNIST experiment"
        network = words["network"].removeprefix("a ").removesuffix(" network")
        return (f"the paper's MNIST client layout on Fashion-MNIST with a smaller network ({network}, "
                f"{words['optimiser'].removeprefix('server ')}, {words['rounds']})")
    if block == "cross_device":
        exp = grids.scale_grid("cross_device", [0])[0].experiment
        femnist = experiment_for("full", "femnist")
        words = setting_words(exp)
        return (f"a Fashion-MNIST Dirichlet analogue of the paper's FEMNIST experiment: {words['clients']} (the "
                f"paper: {femnist.n_clients:,} FEMNIST writers, {femnist.clients_per_round} per round), "
                f"{words['batch']}; " + ", ".join(words[k] for k in ("network", "optimiser", "rounds")))
    scale, mnist = experiment_for("scale"), experiment_for("full", "mnist")
    if any(getattr(scale, k) != getattr(mnist, k) for k in LAYOUT):
        raise ValueError("the scale profile no longer has the client layout of the paper's MNIST setting; "
                         "update fedbook.setup.stand_in's wording")
    words = setting_words(scale)
    clients = words["clients"]
    if block == "malicious_fraction":  # the block varies the share that the layout fixes
        clients = clients.replace(f", {scale.n_malicious:,} malicious", ", a varied share of them malicious")
    return (f"the paper's MNIST client layout ({clients}, {words['batch']}) on Fashion-MNIST with a "
            f"smaller network and shorter training: " + "; ".join(_differences(scale, mnist)))


def profile_line(profile: str) -> str:
    """One line per profile for a page that lists them: what it runs (:func:`fedlib.experiments.describe_profile`)."""
    from fedlib.experiments import describe_profile
    from fedlib.experiments.grids import DATASETS

    if profile == "full":
        return "the paper's settings: " + "; ".join(
            describe_profile("full", d, model=m) for d, m in DATASETS["full"])
    return describe_profile(profile)
