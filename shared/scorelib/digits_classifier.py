"""The library's digits classifier: the feature map of our digits Fréchet distance
(:func:`scorelib.metrics.digits_frechet_distance`).

An MLP 64-256-64-10 trained on scikit-learn's 8×8 digits (training split) with the book's one training
loop, committed as a scorelib artifact folder under ``scorelib/assets/digits_classifier``
(:data:`DIGITS_CLASSIFIER_DIR`), checked against its sha256 manifest and :data:`DIGITS_CLASSIFIER_CONFIG`
on load, and retrained once (about 20 s on a CPU) if absent. Its penultimate layer (64 features) plays
the part of FID's Inception pool features (Heusel et al. 2017) for 8×8 images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

#: Where the committed classifier lives (a scorelib artifact folder: weights, config, manifest).
DIGITS_CLASSIFIER_DIR = Path(__file__).resolve().parent / "assets" / "digits_classifier"
#: Its architecture and training; stored with the weights and compared on load.
DIGITS_CLASSIFIER_CONFIG: dict[str, Any] = {
    "hidden": [256, 64],
    "activation": "relu",
    "steps": 3000,
    "batch_size": 128,
    "lr": 1e-3,
    "weight_decay": 1e-2,
    "seed": 0,
}


def _digits_classifier_net() -> torch.nn.Module:
    from scorelib.nets.mlp import MLP

    cfg = DIGITS_CLASSIFIER_CONFIG
    return MLP(64, 10, hidden=tuple(cfg["hidden"]), activation=cfg["activation"])


def train_digits_classifier(directory: str | Path | None = None, progress: bool = False) -> tuple[torch.nn.Module, float]:
    """Train the digits classifier (an MLP 64-256-64-10 on the training split, with the book's one
    training loop) and save it as an artifact folder in ``directory`` (default
    :data:`DIGITS_CLASSIFIER_DIR`). Returns ``(model, test accuracy)``; raises if accuracy < 0.95."""
    from scorelib.artifacts import save_artifacts
    from scorelib.datasets import digits
    from scorelib.runtime import seeded
    from scorelib.training import TrainConfig, train

    cfg = DIGITS_CLASSIFIER_CONFIG
    x, y = digits("train", dtype=torch.float32)
    data = torch.cat([x.flatten(1), y[:, None].float()], dim=1)  # [n, 65]: pixels, then the label

    def loss_fn(net: torch.nn.Module, batch: Tensor, generator: torch.Generator) -> Tensor:
        return torch.nn.functional.cross_entropy(net(batch[:, :64]), batch[:, 64].long())

    g = torch.Generator().manual_seed(cfg["seed"])
    with seeded(cfg["seed"]):  # the initial weights, without touching the global stream
        net = _digits_classifier_net()
    result = train(net, loss_fn, data, TrainConfig(steps=cfg["steps"], batch_size=cfg["batch_size"], lr=cfg["lr"],
                                                   weight_decay=cfg["weight_decay"], ema_decay=None),
                   g, progress=progress, description="digits classifier")
    model = result.model.eval()
    accuracy = digits_test_accuracy(model)
    if accuracy < 0.95:
        raise RuntimeError(f"the digits classifier reached only {accuracy:.3f} test accuracy (< 0.95)")
    save_artifacts(directory or DIGITS_CLASSIFIER_DIR, model.state_dict(), cfg)
    return model, accuracy


def digits_test_accuracy(model: torch.nn.Module) -> float:
    """Accuracy of ``model`` on the digits test split."""
    from scorelib.datasets import digits

    x, y = digits("test", dtype=torch.float32)
    with torch.no_grad():
        return float((model(x.flatten(1)).argmax(-1) == y).double().mean())


def digits_classifier(directory: str | Path | None = None, verbose: bool = True) -> torch.nn.Module:
    """The library's digits classifier, loaded from its committed artifact folder (checked against its
    sha256 manifest and :data:`DIGITS_CLASSIFIER_CONFIG`); trained once, with a message, if absent."""
    from scorelib.artifacts import load_artifacts
    from scorelib.errors import MissingArtifactError

    directory = directory or DIGITS_CLASSIFIER_DIR
    try:
        state = load_artifacts(directory, DIGITS_CLASSIFIER_CONFIG,
                               retrain_hint="delete the folder and call "
                                            "scorelib.digits_classifier.train_digits_classifier()")
    except MissingArtifactError:
        print(f"scorelib: no digits classifier in {directory}; training it once (about 20 s on a CPU)...")
        model, accuracy = train_digits_classifier(directory)
        print(f"scorelib: digits classifier saved, test accuracy {accuracy:.3f}")
        return model
    model = _digits_classifier_net()
    model.load_state_dict(state)
    model.eval()
    if verbose:
        print(f"digits classifier (MLP 64-256-64-10, scorelib asset): test accuracy {digits_test_accuracy(model):.3f}")
    return model


def digits_features(model: torch.nn.Module, images: Tensor) -> Tensor:
    """Penultimate-layer features ``[n, 64]`` of the digits classifier for ``images [n, 1, 8, 8]`` in [-1, 1]."""
    with torch.no_grad():
        return model.net[:-1](images.reshape(images.shape[0], 64).float().cpu())
