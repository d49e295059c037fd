"""The chapters of the replication book and their runner (``python -m replications``).

One folder per chapter (its notebook, ``experiment.py``, ``figures.py``, committed artifacts and sweeps); the
chapters' side of the runner (:mod:`replications.chapter`, :mod:`replications.parameters`,
:mod:`replications.sweep_summary`); and the runner itself, above them, in :mod:`replications.runner`.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent
#: Chapter ids in book order (the talk's order). A chapter exists once its folder does.
CHAPTER_ORDER: tuple[str, ...] = (
    "score_matching",
    "ncsn",
    "ddpm",
    "score_sde",
    "ndp_step_function",
    "ndp_regression",
    "ndp_image_regression",
)
