"""fedlib.models: parameter counts of spec §5, seeded initialisation, shapes."""

from __future__ import annotations

import math

import pytest
import torch

from fedlib.errors import ConfigError, UnknownNameError
from fedlib.models import build, count_parameters, input_shape, names

COUNTS = {
    "alexnet_cifar": 2_472_266,
    "vgg11_cifar": 9_225_610,
    "femnist_cnn": 848_382,
    "mnist_fc": 79_510,  # 784·100+100 + 100·10+10
    "purchase_fc": 717_924,  # 600·1024+1024 + 1024·100+100
}


@pytest.mark.parametrize("name", list(COUNTS))
def test_parameter_counts(name):
    model = build(name, seed=0)
    assert count_parameters(model) == COUNTS[name]
    shape = input_shape(name)
    x = torch.zeros(2, *shape) if len(shape) == 3 else torch.zeros(2, shape[0])
    assert model(x).shape == (2, {"femnist_cnn": 62, "purchase_fc": 100}.get(name, 10))


def test_names_and_options():
    assert names() == list(COUNTS)
    assert count_parameters(build("mnist_fc", seed=0, hidden=512)) == 407_050
    assert count_parameters(build("mnist_fc", seed=0, hidden=[64, 32])) == 784 * 64 + 64 + 64 * 32 + 32 + 32 * 10 + 10
    assert count_parameters(build("femnist_cnn", seed=0, n_classes=10)) == 848_382 - 52 * 513
    with pytest.raises(ConfigError, match="hidden"):
        build("alexnet_cifar", seed=0, hidden=3)
    with pytest.raises(UnknownNameError):
        build("resnet", seed=0)
    with pytest.raises(ConfigError, match="exactly one"):
        build("mnist_fc")


def test_init_is_seeded_and_independent_of_global_rng():
    torch.manual_seed(123)
    a = torch.cat([p.flatten() for p in build("femnist_cnn", seed=7).parameters()])
    torch.manual_seed(999)
    b = torch.cat([p.flatten() for p in build("femnist_cnn", generator=torch.Generator().manual_seed(7)).parameters()])
    c = torch.cat([p.flatten() for p in build("femnist_cnn", seed=8).parameters()])
    assert torch.equal(a, b) and not torch.equal(a, c)


@torch.no_grad()
def test_initialisation_distributions():
    # PyTorch default (Alexnet, FC): U(±1/sqrt(fan_in)) for weights and biases
    fc = build("mnist_fc", seed=0)
    w = fc.net[0].weight
    bound = 1 / math.sqrt(784)
    assert float(w.abs().max()) <= bound and float(w.abs().max()) > 0.99 * bound
    assert abs(float(w.std()) - bound / math.sqrt(3)) < 0.02 * bound
    # VGG11: conv N(0, sqrt(2/(k·k·out))), zero biases; linear N(0, 0.01), bias 0
    vgg = build("vgg11_cifar", seed=0)
    conv = vgg.features[-3]  # last conv 512→512
    assert abs(float(conv.weight.std()) - math.sqrt(2 / (9 * 512))) < 1e-3
    assert float(conv.bias.abs().max()) == 0.0
    assert abs(float(vgg.classifier.weight.std()) - 0.01) < 1e-3 and float(vgg.classifier.bias.abs().max()) == 0.0
    # FEMNIST: Xavier-uniform weights: bound sqrt(6/(fan_in+fan_out))
    cnn = build("femnist_cnn", seed=0)
    lin = cnn.classifier[0]
    xb = math.sqrt(6 / (1568 + 512))
    assert float(lin.weight.abs().max()) <= xb and float(lin.weight.abs().max()) > 0.99 * xb
    # Alexnet: default init on the classifier
    alex = build("alexnet_cifar", seed=0)
    assert float(alex.classifier.weight.abs().max()) <= 1 / math.sqrt(256)
