"""The chapters of the replication book and their runner (``python -m replications``)."""

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
