"""Sample-quality and estimation metrics with known reference values, and the digits Fréchet
distance (:func:`digits_frechet_distance`: our own metric, in the feature space of a small classifier
that the library trains and ships under ``scorelib/assets/digits_classifier``)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor


def amari_index(p: Tensor) -> Tensor:
    """Amari et al. (1996) performance index of P = Ŵ A, normalised to [0, 1].

    d(P) = 1/(2n(n-1)) [Σ_i (Σ_j |p_ij| / max_k |p_ik| - 1) + Σ_j (Σ_i |p_ij| / max_k |p_kj| - 1)];
    zero iff P is a scaled permutation matrix (perfect separation up to order and sign).
    """
    a = p.abs()
    n = a.shape[-1]
    rows = (a.sum(-1) / a.amax(-1) - 1).sum(-1)
    cols = (a.sum(-2) / a.amax(-2) - 1).sum(-1)
    return (rows + cols) / (2 * n * (n - 1))


def _rbf_gram(x: Tensor, y: Tensor, bandwidths: Tensor) -> Tensor:
    d2 = torch.cdist(x, y).pow(2)
    return torch.exp(-d2.unsqueeze(0) / (2 * bandwidths.view(-1, 1, 1) ** 2)).sum(0)


def mmd2(x: Tensor, y: Tensor, bandwidths: tuple[float, ...] | Tensor = (0.2, 0.5, 1.0, 2.0)) -> Tensor:
    """Unbiased MMD² (Gretton et al. 2012, eq. 3) with a sum of RBF kernels.

    ``x [n, D]``, ``y [m, D]``. Zero in expectation when x and y share a law (may be < 0).
    """
    bw = torch.as_tensor(bandwidths, dtype=x.dtype, device=x.device)
    n, m = x.shape[0], y.shape[0]
    kxx = _rbf_gram(x, x, bw)
    kyy = _rbf_gram(y, y, bw)
    kxy = _rbf_gram(x, y, bw)
    sxx = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    syy = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return sxx + syy - 2 * kxy.mean()


def relative_error(estimate: Tensor, truth: Tensor) -> Tensor:
    """‖estimate - truth‖_F / ‖truth‖_F."""
    return torch.linalg.norm(estimate - truth) / torch.linalg.norm(truth)


def loglog_slope(x: Tensor, y: Tensor) -> Tensor:
    """Least-squares slope of log y against log x (the rate of a power law y ∝ x^slope)."""
    lx, ly = torch.log(x.double()), torch.log(y.double())
    lx_c = lx - lx.mean()
    return (lx_c * (ly - ly.mean())).sum() / (lx_c**2).sum()


# --------------------------------------------------------------------------------------------
# Fréchet distance in the feature space of the library's digits classifier (ours, not FID)
# --------------------------------------------------------------------------------------------

#: Where the committed classifier lives (a scorelib artifact folder: weights, config, manifest).
DIGITS_CLASSIFIER_DIR = Path(__file__).resolve().parent / "assets" / "digits_classifier"
#: Its architecture and training; stored with the weights and compared on load.
DIGITS_CLASSIFIER_CONFIG: dict = {
    "hidden": [256, 64],
    "activation": "relu",
    "steps": 3000,
    "batch_size": 128,
    "lr": 1e-3,
    "weight_decay": 1e-2,
    "seed": 0,
}


def frechet_distance(features_a: Tensor, features_b: Tensor) -> Tensor:
    """Fréchet (2-Wasserstein) distance between Gaussians fitted to two feature sets ``[n, F]``, ``[m, F]``:

    d² = ‖μ_a - μ_b‖² + tr(Σ_a + Σ_b - 2(Σ_a^{1/2} Σ_b Σ_a^{1/2})^{1/2})   (Dowson & Landau 1982),

    the formula of FID (Heusel et al. 2017), computed in float64 with symmetric eigendecompositions.
    Returns d² (a 0-d float64 tensor), as FID does.
    """
    a, b = features_a.double(), features_b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    evals, evecs = torch.linalg.eigh(cov_a)
    sqrt_a = evecs @ torch.diag(evals.clamp_min(0).sqrt()) @ evecs.T
    middle = sqrt_a @ cov_b @ sqrt_a
    cross = torch.linalg.eigvalsh(0.5 * (middle + middle.T)).clamp_min(0).sqrt().sum()
    return (mu_a - mu_b).pow(2).sum() + torch.trace(cov_a) + torch.trace(cov_b) - 2 * cross


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
    from scorelib.training import TrainConfig, train

    cfg = DIGITS_CLASSIFIER_CONFIG
    x, y = digits("train", dtype=torch.float32)
    data = torch.cat([x.flatten(1), y[:, None].float()], dim=1)  # [n, 65]: pixels, then the label

    def loss_fn(net, batch, generator):
        return torch.nn.functional.cross_entropy(net(batch[:, :64]), batch[:, 64].long())

    g = torch.Generator().manual_seed(cfg["seed"])
    with torch.random.fork_rng(devices=[]):  # the initial weights, without touching the global stream
        torch.manual_seed(cfg["seed"])
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
                               retrain_hint="delete the folder and call scorelib.metrics.train_digits_classifier()")
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


def digits_frechet_distance(images_a: Tensor, images_b: Tensor, model: torch.nn.Module | None = None) -> float:
    """Our digits Fréchet distance: :func:`frechet_distance` between Gaussian fits of the classifier's
    penultimate-layer features of two image sets ``[n, 1, 8, 8]``. Not FID (no Inception network, 8×8
    images, 64 features): comparable only to itself, at equal sample sizes."""
    model = model if model is not None else digits_classifier(verbose=False)
    return float(frechet_distance(digits_features(model, images_a), digits_features(model, images_b)))
