"""The book's chapters as the runner sees them: a notebook per chapter folder, and a request checked before any
notebook starts."""

from __future__ import annotations

from pathlib import Path

from replications import CHAPTER_ORDER, ROOT
from replications.parameters import check_parameters
from scorelib import runtime
from scorelib.errors import ConfigError


def notebook_path(chapter: str) -> Path:
    return ROOT / chapter / f"{chapter}.ipynb"


def available_chapters() -> list[str]:
    """Chapter ids in book order, for those whose folder and notebook exist."""
    return [c for c in CHAPTER_ORDER if notebook_path(c).exists()]


def check_chapters(chapters: list[str], known: list[str]) -> list[str]:
    """``chapters`` (all of ``known`` when empty); a :class:`ConfigError` naming the unknown ones otherwise."""
    unknown = [c for c in chapters if c not in known]
    if unknown:
        raise ConfigError(f"unknown chapter(s) {', '.join(unknown)}; available: {', '.join(known)}")
    return list(chapters) or list(known)


def check_request(chapters: list[str], profile: str, retrain: bool, device: str, seed: int,
                  known: list[str] | None = None) -> list[str]:
    """Validate everything before any notebook starts (the notebooks' own check, :func:`check_parameters`, and
    that the device exists); returns the chapters to run. ``known``: the chapters there are (default: the book's)."""
    chapters = check_chapters(chapters, available_chapters() if known is None else known)
    check_parameters(profile, retrain, seed, device)
    runtime.get_device(device)  # raises DeviceUnavailableError for an absent GPU
    return chapters
