"""The networks of the NDSS'21 experiments, built with explicit, seeded initialisation.

=================  ==========================  =====================  ============================
name               input                       parameters (d)         initialisation (paper §V)
=================  ==========================  =====================  ============================
``alexnet_cifar``  3×32×32, 10 classes         2,472,266              PyTorch default (§5.1)
``vgg11_cifar``    3×32×32, 10 classes         9,225,610              He-normal conv, N(0,0.01) fc
``femnist_cnn``    1×28×28, 62 classes         848,382                Xavier-uniform (§5.2)
``mnist_fc``       784 (1×28×28), 10 classes   79,510 (hidden 100)    PyTorch default
``purchase_fc``    600 binary, 100 classes     717,924 (hidden 1024)  PyTorch default
=================  ==========================  =====================  ============================

Every builder takes ``generator`` (a ``torch.Generator``) so that initialisation never touches the
global RNG, and ``n_classes`` / ``in_features`` where the dataset decides them.

Example:
    >>> import torch
    >>> from fedlib.models import build, count_parameters
    >>> count_parameters(build("femnist_cnn", generator=torch.Generator().manual_seed(0)))
    848382
"""

from ._nets import (
    AlexnetCifar,
    FemnistCNN,
    FullyConnected,
    VGG11Cifar,
    build,
    count_parameters,
    input_shape,
    names,
    sized_by_data,
)

__all__ = [
    "AlexnetCifar",
    "VGG11Cifar",
    "FemnistCNN",
    "FullyConnected",
    "build",
    "count_parameters",
    "input_shape",
    "names",
    "sized_by_data",
]
