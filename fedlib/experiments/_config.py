"""The `Experiment` dataclass: every knob of one federated run, validated, JSON-serialisable, content-hashed."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeGuard

from .. import data as _data
from .. import models as _models
from .._checks import did_you_mean
from ..errors import ConfigError, UnknownNameError
from ..vocabulary import (
    CUSTOM_PROFILE,
    DTYPES,
    F_POLICIES,
    GRAD_METHODS,
    KNOWLEDGE,
    LEGACY_F_POLICIES,
    NONFINITE_POLICIES,
    OPTIMISERS,
    PROFILES,
    SAMPLING,
    VARIANTS,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..fl import Setting

#: The config hash keeps the pre-rename spelling of server_f (:data:`fedlib.vocabulary.LEGACY_F_POLICIES`), so
#: results cached before the rename (e.g. results/scale/*.json) keep their file names.
_HASHED_F_SPELLING = {new: old for old, new in LEGACY_F_POLICIES.items()}
# Fields that do not change the result and are left out of the hash.
UNHASHED = ("device", "data_root")


def _fail(name: str, allowed: object, found: object) -> ConfigError:
    return ConfigError(f"Experiment.{name}: expected {allowed}; found {found!r}.")


def _jsonable(value: Any) -> Any:
    """Canonical JSON form: tuples → lists, dict keys must be str, only JSON scalars."""
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise ConfigError(f"option dicts need string keys; found {list(value)!r}.")
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ConfigError(
        f"settings must be JSON values (str, int, float, bool, None, list, dict); found "
        f"{type(value).__name__} {value!r}."
    )


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True, eq=True)
class Experiment:
    """One cell of the paper's grid: dataset × model × AGR × attack × knowledge × seeds.

    Every field is a JSON value; :meth:`to_dict` / :meth:`from_dict` round-trip, and :attr:`config_hash` is the
    sha256 of the canonical JSON (sorted keys) without ``device`` and ``data_root`` (they do not change the
    result). Construction validates everything and raises :class:`~fedlib.errors.ConfigError` naming the
    field, the allowed values and the value found.

    Threat model (paper §III): clients ``0..n_malicious-1`` are malicious; their rows come first. With
    ``attack="none"`` every client is honest but the AGR still assumes ``f`` malicious inputs.

    Client sampling (cross-silo and cross-device FL, paper §II-A): ``sampling="all"`` (cross-silo, every client every
    round) or ``with_replacement`` / ``without_replacement`` drawing ``clients_per_round`` of ``n_clients``
    (cross-device). ``attack_target``: the AGR an AGR-aware attack (Fang, tailored) optimises against; None = the
    server's own (the paper's AGR-tailored setting); e.g. ``"trimmed_mean"`` to run Fang-TrMean against DnC or the mean.
    ``server_f``: the f the AGR assumes each round (see :func:`fedlib.fl.round_f`): ``"actual"`` (the number of
    malicious clients drawn, m_t, as the released code; ``"true"`` is its old spelling and still loads), an int (fixed),
    ``"capped"`` (m_t, but never more than the rule accepts on the round's rows), or ``"ndss21_femnist"`` (the released
    FEMNIST code: Krum and Multi-krum f = max(2, m_t), Bulyan f = min(14, max(2, m_t)), with f crafted copies injected
    and surplus attackers honest; other rules f = m_t; capped like "capped").

    Example:
        >>> from fedlib.experiments import Experiment
        >>> e = Experiment(dataset="mnist5k", model="mnist_fc", n_clients=20, n_malicious=4, rounds=5)
        >>> Experiment.from_dict(e.to_dict()) == e, len(e.config_hash)
        (True, 64)
    """

    # data and model
    dataset: str = "mnist5k"
    dataset_options: dict[str, Any] = field(default_factory=dict)
    data_root: str | None = None
    model: str = "mnist_fc"
    model_options: dict[str, Any] = field(default_factory=dict)
    partition: str = "iid"
    partition_alpha: float | None = None
    n_clients: int | None = 20
    samples_per_client: int | None = None
    # threat model
    n_malicious: int = 4
    clients_per_round: int | None = None
    sampling: str = "all"
    server_f: str | int = "actual"
    aggregator: str = "mean"
    aggregator_options: dict[str, Any] = field(default_factory=dict)
    attack: str = "none"
    attack_options: dict[str, Any] = field(default_factory=dict)
    attack_target: str | None = None
    knowledge: str = "full"
    perturbation: str = "std"
    search: str = "halving"
    gamma_init: float | None = None
    variant: str = "textbook"
    nonfinite: str = "raise"
    fang_val_samples: int = 500
    # training
    rounds: int = 120
    batch_size: int | None = 50
    optimiser: str = "sgd"
    lr: float = 0.5
    lr_decay_rounds: tuple[int, ...] = ()
    lr_decay_factor: float = 1.0
    eval_every: int = 10
    grad_method: str = "auto"
    dtype: str = "float32"
    device: str = "auto"
    # seeds
    split_seed: int = 0
    init_seed: int = 0
    sample_seed: int = 0
    attack_seed: int = 0
    profile: str = CUSTOM_PROFILE

    # ------------------------------------------------------------------ construction and validation
    def __post_init__(self) -> None:
        for name in ("dataset_options", "model_options", "aggregator_options", "attack_options"):
            value = getattr(self, name)
            if not isinstance(value, Mapping):
                raise _fail(name, "a dict of options", value)
            object.__setattr__(self, name, _jsonable(dict(value)))
        rounds = self.lr_decay_rounds
        if not isinstance(rounds, (list, tuple)) or not all(_is_int(r) and r >= 0 for r in rounds):
            raise _fail("lr_decay_rounds", "a list of round numbers >= 0", rounds)
        object.__setattr__(self, "lr_decay_rounds", tuple(rounds))
        if isinstance(self.server_f, str):
            object.__setattr__(self, "server_f", LEGACY_F_POLICIES.get(self.server_f, self.server_f))
        for name in ("lr", "lr_decay_factor", "gamma_init", "partition_alpha"):  # 1 and 1.0 hash alike
            value = getattr(self, name)
            if _is_number(value):
                object.__setattr__(self, name, float(value))
        self._validate()

    def _choice(self, name: str, allowed) -> None:
        value = getattr(self, name)
        if value not in allowed:
            hint = did_you_mean(value, allowed)
            raise UnknownNameError(f"Experiment.{name}: expected one of {list(allowed)}; found {value!r}.{hint}")

    def _int(self, name: str, minimum: int, *, optional: bool = False) -> None:
        value = getattr(self, name)
        if optional and value is None:
            return
        if not _is_int(value) or value < minimum:
            raise _fail(name, f"an int >= {minimum}" + (" or None" if optional else ""), value)

    def _validate(self) -> None:
        from .. import aggregators, attacks  # late: the registries fill as rule modules import

        self._choice("dataset", _data.names())
        self._choice("model", _models.names())
        self._choice("partition", _data.partitions(self.dataset))
        for name, allowed in (
            ("sampling", SAMPLING),
            ("knowledge", KNOWLEDGE),
            ("variant", VARIANTS),
            ("nonfinite", NONFINITE_POLICIES),
            ("optimiser", OPTIMISERS),
            ("grad_method", GRAD_METHODS),
            ("dtype", DTYPES),
            ("profile", (*PROFILES, CUSTOM_PROFILE)),
            ("aggregator", aggregators.names()),
            ("attack", attacks.names()),
        ):
            self._choice(name, allowed)
        for name, minimum in (
            ("n_malicious", 0),
            ("rounds", 1),
            ("eval_every", 1),
            ("fang_val_samples", 1),
            ("split_seed", 0),
            ("init_seed", 0),
            ("sample_seed", 0),
            ("attack_seed", 0),
        ):
            self._int(name, minimum)
        for name in ("n_clients", "samples_per_client", "clients_per_round", "batch_size"):
            self._int(name, 1, optional=True)
        if self.attack_target is not None and self.attack_target not in aggregators.names():
            raise _fail("attack_target", f"None (the server's AGR) or one of {aggregators.names()}", self.attack_target)
        aimed_at = self.attack_target or self.aggregator
        if not attacks.can_target(self.attack, aimed_at):
            field = "attack_target" if self.attack_target is not None else "aggregator"
            raise _fail(
                field,
                f"a rule attack {self.attack!r} has a form for ({list(attacks.targets(self.attack) or ())}; "
                "set attack_target to aim it at one of them)",
                aimed_at,
            )
        if self.data_root is not None and not isinstance(self.data_root, str):
            raise _fail("data_root", "a path string or None", self.data_root)
        if not isinstance(self.device, str) or not (
            self.device in ("auto", "cpu", "cuda", "mps") or self.device.startswith("cuda:")
        ):
            raise _fail("device", "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'", self.device)
        if not (_is_number(self.lr) and self.lr > 0):
            raise _fail("lr", "a number > 0", self.lr)
        if not (_is_number(self.lr_decay_factor) and self.lr_decay_factor > 0):
            raise _fail("lr_decay_factor", "a number > 0", self.lr_decay_factor)
        if self.gamma_init is not None and not (_is_number(self.gamma_init) and self.gamma_init > 0):
            raise _fail("gamma_init", "a number > 0 or None (the attack's default)", self.gamma_init)
        if not (self.server_f in F_POLICIES or (_is_int(self.server_f) and self.server_f >= 0)):
            raise _fail("server_f", f"one of {list(F_POLICIES)} or an int >= 0", self.server_f)
        if self.partition == "dirichlet":
            if not (_is_number(self.partition_alpha) and self.partition_alpha > 0):
                raise _fail("partition_alpha", "a number > 0 with partition='dirichlet'", self.partition_alpha)
        elif self.partition_alpha is not None:
            raise _fail("partition_alpha", f"None with partition={self.partition!r}", self.partition_alpha)
        if self.n_clients is None and self.partition != "writer":
            raise _fail("n_clients", f"an int >= 1 with partition={self.partition!r}", None)
        self._validate_threat_model()
        self._validate_model_fits_data()

    def _validate_threat_model(self) -> None:
        total = self.n_clients
        if total is not None and self.n_malicious >= total:
            raise _fail("n_malicious", f"an int in [0, n_clients - 1 = {total - 1}]", self.n_malicious)
        if self.attack != "none" and self.n_malicious == 0:
            raise _fail("n_malicious", f">= 1 with attack={self.attack!r}", self.n_malicious)
        if self.sampling == "all":
            if self.clients_per_round is not None and self.clients_per_round != total:
                raise _fail(
                    "clients_per_round", f"None or n_clients={total} with sampling='all'", self.clients_per_round
                )
        else:
            if self.clients_per_round is None:
                raise _fail("clients_per_round", f"an int >= 1 with sampling={self.sampling!r}", None)
            if self.sampling == "without_replacement" and total is not None and self.clients_per_round > total:
                raise _fail("clients_per_round", f"<= n_clients={total} without replacement", self.clients_per_round)
        if self.server_f == "ndss21_femnist" and self.sampling == "all":
            raise _fail(
                "server_f",
                "'actual', 'capped' or an int in cross-silo runs ('ndss21_femnist' is cross-device)",
                self.server_f,
            )
        if self.sampling == "all" and total is not None:
            self._validate_rule_fits(total)

    def _validate_rule_fits(self, n: int) -> None:
        """Cross-silo: every round has the same n inputs and f, so a rule that cannot run on them is an
        impossible config, caught here rather than in round 0 (and retried by sweeps)."""
        from .. import aggregators

        if self.server_f == "capped":
            return
        f = self.n_malicious if self.server_f == "actual" else self.server_f
        assert isinstance(f, int)  # the other string, 'ndss21_femnist', is rejected with sampling='all'
        need = aggregators.min_inputs(self.aggregator, f, variant=self.variant, **self.aggregator_options)
        if n < need:
            from ..fl._policy import rule_says

            says = rule_says(self.aggregator, n, f, variant=self.variant, options=self.aggregator_options)
            raise _fail(
                "n_malicious",
                f"a count the server's rule can handle: {self.aggregator} with f={f} needs "
                f"n_clients >= {need} (fedlib.aggregators.min_inputs), n_clients is {n}; the rule says: {says}",
                self.n_malicious,
            )

    def _validate_model_fits_data(self) -> None:
        need = _models.input_shape(self.model)
        have = _data.input_shape(self.dataset)
        fits = need == have or (len(need) == 1 and need[0] == _prod(have))
        if _models.sized_by_data(self.model) and "in_features" in self.model_options:
            raise _fail("model_options", "no 'in_features' (it comes from the dataset)", self.model_options)
        if not fits:
            raise ConfigError(
                f"Experiment.model: {self.model!r} takes inputs of shape {need} but dataset {self.dataset!r} gives "
                f"{have}; choose a model whose input matches."
            )

    # ------------------------------------------------------------------ serialisation and hashing
    def to_dict(self) -> dict[str, Any]:
        """All fields as JSON values (tuples become lists)."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Experiment:
        """Build from a dict; unknown keys raise ConfigError listing the known ones."""
        if not isinstance(values, Mapping):
            raise ConfigError(f"an experiment config must be a dict; found {type(values).__name__}.")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"unknown Experiment field(s) {unknown}; known fields: {known}.")
        values = dict(values)
        if "lr_decay_rounds" in values and isinstance(values["lr_decay_rounds"], list):
            values["lr_decay_rounds"] = tuple(values["lr_decay_rounds"])
        return cls(**values)

    def replace(self, **changes: Any) -> Experiment:
        """A copy with ``changes`` applied (validated); unknown names raise ConfigError."""
        return Experiment.from_dict({**self.to_dict(), **changes})

    def with_seed(self, seed: int) -> Experiment:
        """A copy whose four seeds (split, init, sample, attack) all equal ``seed`` (:func:`seed_fields`)."""
        return self.replace(**seed_fields(seed))

    def canonical_json(self) -> str:
        hashed = {k: v for k, v in self.to_dict().items() if k not in UNHASHED}
        if isinstance(hashed["server_f"], str):  # the hash keeps the pre-rename spelling ("true")
            hashed["server_f"] = _HASHED_F_SPELLING.get(hashed["server_f"], hashed["server_f"])
        return json.dumps(hashed, sort_keys=True, separators=(",", ":"), allow_nan=False)

    @property
    def config_hash(self) -> str:
        """sha256 hex digest of the canonical JSON (sorted keys, no ``device``/``data_root``)."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    def __hash__(self) -> int:
        return hash(self.config_hash)

    # ------------------------------------------------------------------ the engine's inputs
    @property
    def setting(self) -> Setting:
        """The engine's inputs (:class:`fedlib.fl.Setting`), composed from this experiment's fields; every field
        but ``profile`` belongs to exactly one part (the seeds without their ``_seed`` suffix).

        Example:
            >>> from fedlib.experiments import Experiment
            >>> s = Experiment(aggregator="median", attack="lie", n_malicious=4).setting
            >>> s.defense.aggregator, s.threat.attack, s.threat.n_malicious, s.seeds.sample
            ('median', 'lie', 4, 0)
        """
        from ..fl import _inputs

        def part(cls: type, suffix: str = "") -> Any:
            return cls(**{f.name: getattr(self, f.name + suffix) for f in dataclasses.fields(cls)})

        parts = {name: part(cls, "_seed" if cls is _inputs.Seeds else "") for name, cls in _inputs.PARTS.items()}
        return _inputs.Setting(**parts)


#: The four seeds of a run: dataset split, model init, client sampling, attack randomness.
SEED_FIELDS = ("split_seed", "init_seed", "sample_seed", "attack_seed")


def seed_fields(seed: int) -> dict[str, int]:
    """The one place a single seed fans out to the four seeds of a run (:data:`SEED_FIELDS`).

    Example:
        >>> from fedlib.experiments._config import seed_fields
        >>> seed_fields(3)
        {'split_seed': 3, 'init_seed': 3, 'sample_seed': 3, 'attack_seed': 3}
    """
    return {name: seed for name in SEED_FIELDS}


def _prod(shape) -> int:
    out = 1
    for s in shape:
        out *= s
    return out
