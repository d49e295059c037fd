"""scorelib: the shared library of the score-based modelling replication book.

One concept per module (see ``DESIGN.md``):

- :mod:`scorelib.runtime` — device, seed and precision policy.
- :mod:`scorelib.distributions` — Gaussian mixtures with closed-form perturbed scores.
- :mod:`scorelib.losses` — score-matching objectives (Hyvärinen, sliced, denoising).
- :mod:`scorelib.nets` — score networks.
- :mod:`scorelib.gp` — GP kernels, exact posteriors and likelihoods, the step process's moment-matched GP.
- :mod:`scorelib.training` — the one training loop, L-BFGS for convex fits, ``train_or_load``.
- :mod:`scorelib.artifacts` — committed weights with config, metrics and a sha256 manifest.
- :mod:`scorelib.metrics` — Amari index, MMD.
- :mod:`scorelib.claims` — paper claims, tolerances and verdicts.
- :mod:`scorelib.plotting` — one theme and ``savefig``.
"""

__version__ = "0.1.0"
