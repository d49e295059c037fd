"""scorelib: the shared library of the score-based modelling replication book.

One concept per module (the map, and how a chapter uses them: ``ARCHITECTURE.md``):

- :mod:`scorelib.runtime` — device, seed, thread and determinism policy; provenance.
- :mod:`scorelib.errors` — the user-facing errors (each says how to fix it).
- :mod:`scorelib.distributions` — Gaussian mixtures with closed-form perturbed densities and scores.
- :mod:`scorelib.datasets` — digits, GP and step-function datasets (``FunctionBatch``); nothing downloads.
- :mod:`scorelib.image_functions` — images as functions on a pixel grid in [-2, 2]², context masks, local MNIST.
- :mod:`scorelib.gp` — GP kernels, exact posteriors and likelihoods, the step process's moment-matched GP.
- :mod:`scorelib.sde` — VE, VP, sub-VP and OU SDEs: marginals, priors, reverse SDE and probability flow.
- :mod:`scorelib.schedules` — geometric σ's (NCSN), linear/cosine β's and the DDPM posterior (``DDPMSchedule``).
- :mod:`scorelib.parameterization` — ε ↔ x₀ ↔ μ̃ ↔ score conversions.
- :mod:`scorelib.losses` — score matching (Hyvärinen, sliced, denoising), NCSN, DDPM and SDE objectives.
- :mod:`scorelib.samplers` — one signature (``Sampler``) and a registry: Langevin, annealed Langevin, DDPM ancestral,
  reverse-SDE predictors and correctors, the probability-flow ODE, RePaint.
- :mod:`scorelib.likelihood` — the DDPM VLB in bits/dim; log-likelihood through the probability-flow ODE.
- :mod:`scorelib.ndp` — Neural Diffusion Processes: training on function batches, prior and RePaint-conditioned samples.
- :mod:`scorelib.nets` — MLP, σ-conditioning, U-Net, bi-dimensional attention (NDP), plain attention over points.
- :mod:`scorelib.training` — the one training loop, L-BFGS (+ Newton polish) for deterministic fits, ``train_or_load``.
- :mod:`scorelib.artifacts` — committed weights with config, metrics and a sha256 manifest; atomic swaps.
- :mod:`scorelib.metrics` — Amari index, MMD, relative errors, the digits-classifier Fréchet distance.
- :mod:`scorelib.kernel_distance` — the kernel distance (KID) with a jackknife standard error; our digits KID.
- :mod:`scorelib.digits_classifier` — the digits classifier behind our Fréchet and kernel distances.
- :mod:`scorelib.curves` — compute curves: a claim at doubling training budgets, and whether it has converged.
- :mod:`scorelib.claims` — paper claims, tolerances and verdicts, with compute curves and real-data floors.
- :mod:`scorelib.plotting` — one theme, fixed figure sizes and DPI, ``savefig``; image tiles, density contours, loss and
  compute curves.
"""

__version__ = "0.1.0"
