"""Compute curves: a claim measured at several training budgets, and whether its value has stopped moving.

A verdict on a trained network measures the training budget as much as the method. A :class:`ComputeCurve` is
that claim measured at log-spaced budgets ending at the profile's own (:func:`doubling_budgets`: B/8, B/4, B/2, B),
each by the chapter's own code and criterion. It is *converged* when the last doubling of the budget moved the
value by less than two standard errors of that difference, ``|v_B - v_{B/2}| < 2·√(se_B² + se_{B/2}²)``, or, for
values without a standard error, by less than a tolerance the chapter states before the run. A claim that is not
replicated on a curve that has not converged reads "not replicated · still improving at our budget"
(:mod:`scorelib.claims`).

Points come from separate runs (each with its own learning-rate schedule: the book's cosine decay depends on the
total length, so checkpoints of one run would not be the runs a smaller budget makes) unless a chapter says
otherwise: :func:`measure_over_budgets` trains and measures once per budget. A chapter whose training is stored with
its artifacts trains its smaller budgets with :func:`fit_over_budgets` (stored as ``<prefix>.<steps>.<key>``) and
measures each from :func:`at_budget` at evaluation time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from torch import Tensor

from scorelib.errors import ConfigError

#: The fewest budgets a compute curve has.
MIN_POINTS = 4


@dataclass(frozen=True)
class CurvePoint:
    """A claim's value (and standard error, when it has one) after ``steps`` training steps."""

    steps: int
    measured: float
    se: float | None = None

    def as_dict(self) -> dict:
        return {"steps": self.steps, "measured": self.measured, "se": self.se}


@dataclass(frozen=True)
class ComputeCurve:
    """A claim measured at ≥ :data:`MIN_POINTS` increasing budgets whose last one doubles the one before.

    ``tolerance``: the change over the last doubling below which the value counts as converged, for values
    without a standard error (stated by the chapter before the run); with standard errors it may be left None.
    """

    points: tuple[CurvePoint, ...]
    tolerance: float | None = None

    def __post_init__(self) -> None:
        points = tuple(self.points)
        object.__setattr__(self, "points", points)
        if len(points) < MIN_POINTS:
            raise ConfigError(f"a compute curve has at least {MIN_POINTS} budgets, got {len(points)}")
        steps = [p.steps for p in points]
        if any(b <= a for a, b in zip(steps, steps[1:])) or steps[0] < 1:
            raise ConfigError(f"a compute curve's budgets must increase from ≥ 1, got {steps}")
        if steps[-1] != 2 * steps[-2]:
            raise ConfigError(f"a compute curve's last budget doubles the one before (convergence is judged over "
                              f"that doubling), got {steps[-2]} then {steps[-1]}")
        if self.tolerance is not None and not self.tolerance > 0:
            raise ConfigError(f"a convergence tolerance must be positive, got {self.tolerance!r}")
        if self.tolerance is None and (points[-1].se is None or points[-2].se is None):
            raise ConfigError("a compute curve whose last two values carry no standard error needs a tolerance, "
                              "stated before the run (ComputeCurve(points, tolerance=...))")

    @property
    def steps(self) -> list[int]:
        return [p.steps for p in self.points]

    @property
    def last_change(self) -> float:
        """v_B - v_{B/2}: what the last doubling of the budget did."""
        return self.points[-1].measured - self.points[-2].measured

    @property
    def change_bound(self) -> float:
        """The change below which the value counts as converged: the stated tolerance, else two standard errors
        of the difference of the last two (independent) values."""
        if self.tolerance is not None:
            return self.tolerance
        a, b = self.points[-2].se, self.points[-1].se
        return 2 * math.sqrt(a**2 + b**2)

    @property
    def converged(self) -> bool:
        """|v_B - v_{B/2}| < :attr:`change_bound` (a non-finite value never converges)."""
        change = self.last_change
        return math.isfinite(change) and abs(change) < self.change_bound

    def as_dicts(self) -> list[dict]:
        """metrics.json's ``"curve"``: ``[{"steps", "measured", "se"}, …]``."""
        return [p.as_dict() for p in self.points]

    @classmethod
    def from_dicts(cls, entries: Sequence[Mapping], tolerance: float | None = None) -> ComputeCurve:
        return cls(tuple(CurvePoint(int(e["steps"]), float(e["measured"]), e.get("se")) for e in entries), tolerance)


def doubling_budgets(final: int, points: int = MIN_POINTS) -> tuple[int, ...]:
    """``(final / 2^(points-1), …, final / 2, final)``: log-spaced budgets ending at the profile's ``final``."""
    if points < MIN_POINTS:
        raise ConfigError(f"a compute curve has at least {MIN_POINTS} budgets, got points={points}")
    if not isinstance(final, int) or final < 2 ** (points - 1) or final % 2 ** (points - 1):
        raise ConfigError(f"the final budget {final!r} must be a positive multiple of {2 ** (points - 1)} to halve "
                          f"{points - 1} times; choose a step count such as {2 ** (points - 1) * 100}")
    return tuple(final // 2**k for k in range(points - 1, -1, -1))


#: A measurement on a compute curve: a value, or ``(value, standard error)``.
Value = float | tuple[float, float]


def measure_over_budgets(budgets: Sequence[int], measure: Callable[[int], Mapping[str, Value]],
                         tolerances: Mapping[str, float] | None = None) -> dict[str, ComputeCurve]:
    """One curve per claim id: ``measure(steps)`` trains a model from scratch for ``steps`` and returns
    ``{claim id: value or (value, se)}``; the same ids at every budget."""
    tolerances = dict(tolerances or {})
    series: dict[str, list[CurvePoint]] = {}
    for steps in budgets:
        values = measure(steps)
        if series and set(values) != set(series):
            raise ConfigError(f"measure({steps}) returned claims {sorted(values)}, the earlier budgets "
                              f"{sorted(series)}")
        for claim_id, value in values.items():
            v, se = value if isinstance(value, tuple) else (value, None)
            series.setdefault(claim_id, []).append(CurvePoint(steps, float(v), None if se is None else float(se)))
    return {i: ComputeCurve(tuple(p), tolerances.get(i)) for i, p in series.items()}


C = TypeVar("C")


def budget_config(cfg: C, train_field: str, steps: int) -> C:
    """``cfg`` (a frozen dataclass) with its :class:`~scorelib.training.TrainConfig` ``train_field`` cut to ``steps``."""
    train = getattr(cfg, train_field, None)
    if train is None or not hasattr(train, "steps"):
        raise ConfigError(f"{type(cfg).__name__} has no training configuration {train_field!r}")
    return replace(cfg, **{train_field: replace(train, steps=steps)})


def fit_over_budgets(cfg: C, train_field: str, fit: Callable[[C], Mapping[str, Any]],
                     prefix: str) -> dict[str, Tensor]:
    """The smaller budgets of a compute curve, trained from scratch: ``fit(cfg at budget)`` for each of
    ``doubling_budgets(cfg.<train_field>.steps)`` but the last (the profile's own run), its tensors stored as
    ``<prefix>.<steps>.<key>``. Each run is a separate one, with its own learning-rate schedule."""
    out: dict[str, Tensor] = {}
    for steps in doubling_budgets(getattr(cfg, train_field).steps)[:-1]:
        out |= {f"{prefix}.{steps}.{key}": value
                for key, value in fit(budget_config(cfg, train_field, steps)).items() if isinstance(value, Tensor)}
    return out


def at_budget(state: Mapping[str, Tensor], prefix: str, steps: int) -> dict[str, Tensor]:
    """The tensors :func:`fit_over_budgets` stored for ``steps``, under their own keys; a clear error if none."""
    head = f"{prefix}.{steps}."
    found = {key[len(head):]: value for key, value in state.items() if key.startswith(head)}
    if not found:
        raise ConfigError(f"no stored run at {steps} steps under {prefix!r}: the artifacts predate the compute curve; "
                          "retrain the chapter (python -m replications run CHAPTER --profile full --retrain)")
    return found
