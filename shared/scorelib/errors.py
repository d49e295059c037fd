"""User-facing errors: each says what is wrong and how to fix it.

The runner prints a :class:`ScorelibError` as one line (no traceback): these are mistakes in the
input or the environment, not bugs. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class ScorelibError(Exception):
    """Base class of every error a user can cause and fix."""


class ConfigError(ScorelibError, ValueError):
    """An unknown profile, an unknown option, or a parameter of the wrong type or range."""


class DeviceUnavailableError(ScorelibError, RuntimeError):
    """A device was asked for explicitly but is not available (never a silent fallback)."""


class MissingDataError(ScorelibError, FileNotFoundError):
    """A data set that must be provided locally is absent (nothing is downloaded)."""


class NonFiniteLossError(ScorelibError, FloatingPointError):
    """Training produced a NaN or infinite loss; carries the step and the value."""

    def __init__(self, step: int, loss: float, hint: str = "") -> None:
        self.step = step
        self.loss = loss
        message = f"training loss became {loss} at step {step}"
        if hint:
            message += f"; {hint}"
        super().__init__(message)


class ArtifactError(ScorelibError):
    """Base class of the artifact problems; the message always says how to retrain."""


class MissingArtifactError(ArtifactError, FileNotFoundError):
    """No committed artifact where one is expected."""


class CorruptArtifactError(ArtifactError):
    """A file does not match the sha256 in MANIFEST.json, or cannot be read."""


class StaleArtifactError(ArtifactError):
    """The artifact was made with a different configuration than the code's current one."""


class ResultsMovedError(ScorelibError):
    """A re-evaluation from the committed artifacts gave a verdict or a stable number other than the
    committed ``metrics.json``: a regression, or an intended change that has not been recorded."""
