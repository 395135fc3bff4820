"""Part 3: one FedSGD round at paper size, per-client gradients by a loop against ``torch.func.vmap``.

A round = every client's gradient at the current model (``fedlib.fl.FlatModel.client_gradients``,
``method="loop"`` or ``"vmap"``), the FedSGD mean of the rows, and one server SGD step. Inputs are seeded
random images of the dataset's shape (the speed of a gradient does not depend on the pixel values).

- CIFAR10-Alexnet (d = 2,472,266): 50 clients × batch 250 of 3×32×32, 10 classes (spec §5.1).
- FEMNIST-CNN (d = 848,382): 60 clients per round (spec §5.2), each on its whole local set, here 200
  samples of 1×28×28 per client (a typical LEAF writer after the 90/10 split), 62 classes.
- MNIST-FC (d = 407,050): 100 clients × batch 100 of 784 features, FC 784-512-10 (spec §5.3).
- Purchase100-FC (d = 717,924): 80 clients × batch 500 of 600 features, FC 600-1024-100 (spec §5.4).

``method="auto"`` (what the engine runs by default) picks the faster of the two per model on CPU
(``FlatModel.auto_method``): these four cases are the measurements behind that choice.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ._harness import profile_call, time_call

CASES = {  # name -> (model, clients, batch per client, input shape, classes)
    "cifar10_alexnet": ("alexnet_cifar", 50, 250, (3, 32, 32), 10),
    "femnist_cnn": ("femnist_cnn", 60, 200, (1, 28, 28), 62),
    "mnist_fc": ("mnist_fc", 100, 100, (784,), 10),
    "purchase100_fc": ("purchase_fc", 80, 500, (600,), 100),
}
MODEL_OPTIONS = {"mnist_fc": {"hidden": 512, "in_features": 784}, "purchase_fc": {"in_features": 600}}
QUICK_SIZES = {"cifar10_alexnet": (2, 4), "femnist_cnn": (2, 4), "mnist_fc": (2, 4), "purchase100_fc": (2, 4)}


def _flat_model_class():
    try:
        from fedlib.fl import FlatModel
    except ImportError:  # fedlib.fl's package __init__ may not re-export it
        from fedlib.fl._grads import FlatModel
    return FlatModel


def _setup(case: str, clients: int, batch: int, device: torch.device, seed: int):
    from fedlib.models import build

    model_name, _, _, shape, classes = CASES[case]
    flat = _flat_model_class()(build(model_name, seed=seed, n_classes=classes, **MODEL_OPTIONS.get(model_name, {})),
                               device=device)
    gen = torch.Generator().manual_seed(seed)
    xs = torch.randn(clients, batch, *shape, generator=gen).to(device)
    ys = torch.randint(0, classes, (clients, batch), generator=gen).to(device)
    return flat, xs, ys


def round_call(flat, xs, ys, method: str, lr: float = 0.5) -> Callable[[], torch.Tensor]:
    from fedlib.aggregators import aggregate

    theta0 = flat.theta.clone()

    def one_round() -> torch.Tensor:
        grads, _ = flat.client_gradients(theta0, (xs, ys), method=method)
        step = aggregate("mean", grads, 0).vector
        return theta0 - lr * step, grads

    return one_round


def run_fedsgd(
    *, quick: bool, devices: list[torch.device], repeats: int, budget_s: float, seed: int,
    warmup_below_s: float, log: Callable[[str], None],
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for device in devices:
        for case, (model_name, clients, batch, _, _) in CASES.items():
            if quick:
                clients, batch = QUICK_SIZES[case]
            flat, xs, ys = _setup(case, clients, batch, device, seed)
            grads = {}
            for method in ("loop", "vmap"):
                fn = round_call(flat, xs, ys, method)

                def keep(fn=fn, method=method, grads=grads):
                    grads[method] = fn()[1]

                base = {"part": "fedsgd", "case": case, "model": model_name, "d": flat.d, "clients": clients,
                        "batch": batch, "device": device.type, "method": method,
                        "auto_method": flat.auto_method() if hasattr(flat, "auto_method") else None}
                try:
                    t = time_call(keep, device=device, repeats=repeats, budget_s=budget_s,
                                  warmup_below_s=warmup_below_s)
                except Exception as exc:
                    rows.append({**base, "error": f"{type(exc).__name__}: {exc}"})
                    log(f"fedsgd {case:<16} {method:<5} ERROR {type(exc).__name__}: {exc}")
                    continue
                row = {**base, **t.as_dict()}
                if method == "vmap" and "loop" in grads:
                    scale = float(grads["loop"].abs().max()) or 1.0
                    row["agrees_with_loop"] = bool(torch.allclose(grads["vmap"], grads["loop"], rtol=1e-3,
                                                                  atol=1e-5 * scale))
                rows.append(row)
                log(f"fedsgd {case:<16} {method:<5} {clients}x{batch} {t.median_s:9.4f} s")
            del flat, xs, ys, grads
    return rows


def profile_round(case: str, method: str, device: torch.device, *, quick: bool, seed: int):
    _, clients, batch, _, _ = CASES[case]
    if quick:
        clients, batch = QUICK_SIZES[case]
    fn = round_call(*_setup(case, clients, batch, device, seed), method)
    fn()
    return profile_call(fn, device=device)
