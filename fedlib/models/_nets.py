"""Model definitions and their seeded initialisation (the networks of the paper's §V)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from .._checks import check_choice, check_int, reject_options
from ..errors import ConfigError, InputTypeError


def _default_init(module: nn.Module, generator: torch.Generator) -> None:
    r"""PyTorch's default Linear/Conv initialisation, drawn from ``generator``.

    Weights and biases :math:`\sim U(-1/\sqrt{\text{fan\_in}}, 1/\sqrt{\text{fan\_in}})` (what
    ``kaiming_uniform_(a=√5)`` and the default bias init give).
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            fan_in = layer.weight[0].numel()
            bound = 1.0 / math.sqrt(fan_in)
            nn.init.uniform_(layer.weight, -bound, bound, generator=generator)
            if layer.bias is not None:
                nn.init.uniform_(layer.bias, -bound, bound, generator=generator)


class AlexnetCifar(nn.Module):
    """The CIFAR10 variant of Alexnet used by the released code, d = 2,472,266.

    Conv(3→64, k11, s4, p5) ReLU MaxPool2 → Conv(64→192, k5, p2) ReLU MaxPool2 → Conv(192→384, k3, p1) ReLU →
    Conv(384→256, k3, p1) ReLU → Conv(256→256, k3, p1) ReLU MaxPool2 → Linear(256→10). Biases everywhere, no
    batch norm or dropout; PyTorch's default initialisation.
    """

    def __init__(self, n_classes: int = 10, *, generator: torch.Generator):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=5),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
        )
        self.classifier = nn.Linear(256, n_classes)
        _default_init(self, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


_VGG11 = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


class VGG11Cifar(nn.Module):
    """VGG11 (configuration "A", no batch norm) for 32×32 inputs (paper §V), d = 9,225,610.

    3×3 convolutions (padding 1) with channels 64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M (M = MaxPool
    2×2), ReLU after each, then Linear(512→10). Init: conv weights N(0, √(2/(k·k·out_channels))), conv biases 0, linear
    weights N(0, 0.01), linear bias 0 (the initialisation of the `models/cifar` package the released code uses).
    """

    def __init__(self, n_classes: int = 10, *, generator: torch.Generator):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in _VGG11:
            if isinstance(item, str):  # "M", the only string in the configuration
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, item, kernel_size=3, padding=1), nn.ReLU()]
                channels = item
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(512, n_classes)
        for layer in self.modules():
            if isinstance(layer, nn.Conv2d):
                fan_out = layer.kernel_size[0] * layer.kernel_size[1] * layer.out_channels
                nn.init.normal_(layer.weight, 0.0, math.sqrt(2.0 / fan_out), generator=generator)
                assert layer.bias is not None  # every convolution above is built with a bias
                nn.init.zeros_(layer.bias)
        nn.init.normal_(self.classifier.weight, 0.0, 0.01, generator=generator)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


class FemnistCNN(nn.Module):
    """The released code's FEMNIST CNN ("mnist_conv"), d = 848,382 with 62 classes.

    Conv(1→16, k5, p2) ReLU MaxPool2 → Conv(16→32, k5, p2) ReLU MaxPool2 → Linear(1568→512) ReLU →
    Linear(512→62). Xavier-uniform weights, PyTorch-default biases.
    """

    def __init__(self, n_classes: int = 62, *, generator: torch.Generator):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Linear(32 * 7 * 7, 512), nn.ReLU(), nn.Linear(512, n_classes))
        _default_init(self, generator)  # default biases
        for layer in self.modules():
            if isinstance(layer, (nn.Linear, nn.Conv2d)):
                nn.init.xavier_uniform_(layer.weight, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x.reshape(-1, 1, 28, 28)), 1))


class FullyConnected(nn.Module):
    """A fully-connected net ``in → hidden… → n_classes`` with one activation after each hidden layer.

    Inputs of any shape are flattened. PyTorch's default initialisation.
    """

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int],
        n_classes: int,
        *,
        activation: str = "relu",
        generator: torch.Generator,
    ):
        super().__init__()
        act = {"relu": nn.ReLU, "tanh": nn.Tanh}[check_choice(activation, ("relu", "tanh"), "activation")]
        widths = [in_features, *hidden]
        layers = []
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(a, b), act()]
        layers.append(nn.Linear(widths[-1], n_classes))
        self.net = nn.Sequential(*layers)
        _default_init(self, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(torch.flatten(x, 1))


def _hidden(value: object) -> tuple[int, ...]:
    widths = (value,) if isinstance(value, int) else tuple(value)  # type: ignore[arg-type]
    if not widths:
        raise ConfigError("hidden must name at least one hidden layer width; found an empty list.")
    return tuple(check_int(w, "hidden width", minimum=1) for w in widths)


def _mnist_fc(n_classes: int, generator: torch.Generator, *, hidden=100, in_features: int = 784):
    """MNIST fully-connected net 784 → 100 → ReLU → 10 (79,510 parameters).

    The paper's MNIST net is not in the released code (our reading of the paper's §V: 784→512→10, i.e.
    ``hidden=512``, 407,050 parameters); the default width 100 keeps the quick profile fast (our pilot runs on
    mnist5k used it).
    """
    return FullyConnected(in_features, _hidden(hidden), n_classes, activation="relu", generator=generator)


def _purchase_fc(n_classes: int, generator: torch.Generator, *, hidden=1024, in_features: int = 600):
    """Purchase100 fully-connected net 600 → 1024 → Tanh → 100 (717,924 parameters).

    Not in the released code: our reading of the paper's §V, a fully-connected network with hidden width 1024 and
    Tanh, as in the authors' related work.
    """
    return FullyConnected(in_features, _hidden(hidden), n_classes, activation="tanh", generator=generator)


_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "alexnet_cifar": lambda n_classes, generator: AlexnetCifar(n_classes, generator=generator),
    "vgg11_cifar": lambda n_classes, generator: VGG11Cifar(n_classes, generator=generator),
    "femnist_cnn": lambda n_classes, generator: FemnistCNN(n_classes, generator=generator),
    "mnist_fc": _mnist_fc,
    "purchase_fc": _purchase_fc,
}

# What each model needs as input (a dataset's `input_shape` must have this many elements / this shape).
_INPUTS: dict[str, tuple[int, ...]] = {
    "alexnet_cifar": (3, 32, 32),
    "vgg11_cifar": (3, 32, 32),
    "femnist_cnn": (1, 28, 28),
    "mnist_fc": (784,),
    "purchase_fc": (600,),
}
_DEFAULT_CLASSES = {"alexnet_cifar": 10, "vgg11_cifar": 10, "femnist_cnn": 62, "mnist_fc": 10, "purchase_fc": 100}
#: The fully-connected nets: they take flattened inputs, and the dataset decides their width (``in_features``).
_SIZED_BY_DATA = ("mnist_fc", "purchase_fc")
_OPTIONS = {name: ("hidden", "in_features") for name in _SIZED_BY_DATA}


def names() -> list[str]:
    """Names accepted by :func:`build`."""
    return list(_BUILDERS)


def sized_by_data(name: str) -> bool:
    """Whether model ``name`` takes flattened inputs whose width (its ``in_features`` option) is the number of
    values of the dataset's input: the engine sets it from the dataset, so an experiment never does.

    Example:
        >>> from fedlib.models import sized_by_data
        >>> sized_by_data("mnist_fc"), sized_by_data("femnist_cnn")
        (True, False)
    """
    check_choice(name, _BUILDERS, "model")
    return name in _SIZED_BY_DATA


def input_shape(name: str) -> tuple[int, ...]:
    """The input shape the model expects (fully-connected nets: the flattened feature count)."""
    check_choice(name, _BUILDERS, "model")
    return _INPUTS[name]


def build(
    name: str,
    *,
    n_classes: int | None = None,
    generator: torch.Generator | None = None,
    seed: int | None = None,
    **options,
) -> nn.Module:
    """Build model ``name`` with its initialisation (the table of :mod:`fedlib.models`) drawn from ``generator``
    (or ``seed``).

    Args:
        name: one of :func:`names`.
        n_classes: output classes (default: the model's paper dataset, e.g. 62 for ``femnist_cnn``).
        generator / seed: source of the initial weights; exactly one must be given.
        **options: ``hidden`` (int or list of widths) and ``in_features`` for ``mnist_fc`` / ``purchase_fc``;
            nothing else.

    Example:
        >>> from fedlib.models import build, count_parameters
        >>> count_parameters(build("mnist_fc", seed=0, hidden=512))
        407050
    """
    check_choice(name, _BUILDERS, "model")
    reject_options(options, f"model {name!r}", _OPTIONS.get(name, ()))
    if (generator is None) == (seed is None):
        raise ConfigError("build() needs exactly one of generator= or seed= (initialisation must be seeded).")
    if generator is None:
        generator = torch.Generator().manual_seed(check_int(seed, "seed", minimum=0))
    elif not isinstance(generator, torch.Generator):
        raise InputTypeError(f"generator must be a torch.Generator; found {type(generator).__name__}.")
    classes = _DEFAULT_CLASSES[name] if n_classes is None else check_int(n_classes, "n_classes", minimum=2)
    return _BUILDERS[name](classes, generator, **options)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalars d (the length of a flattened gradient)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
