"""Paper claims as numbers: what the paper says, what we measured, the criterion, the verdict, and
the negative control that the same criterion must reject.

A :class:`Claim` fixes the criterion once; :meth:`ClaimTable.check` turns ``{id: measured}`` (and
``{id: control measured}``) into :class:`ClaimResults`, rendered as the chapter's claims table
(Markdown for the book, fixed-width text for nbval) and as the ``claims`` list of ``metrics.json``.

Criteria (``kind``), with ``tol`` the profile's tolerance:

- ``"abs"``: |measured - paper| ≤ tol
- ``"rel"``: |measured - paper| ≤ tol·|paper|
- ``"max"``: measured ≤ tol (an upper bound, e.g. an error)
- ``"min"``: measured ≥ tol (a lower bound, e.g. a speed-up)
- ``"range"``: tol = (lo, hi), lo ≤ measured ≤ hi

Verdicts. A claim is *replicated* when its measurement meets the criterion, *not replicated* when it
does not, and *inconclusive* when the measurement comes with a standard error and the interval
measured ± 2·se contains a boundary of the criterion. A NaN or infinite measurement is never
replicated.

Controls. Every counted claim names a *control*: a wrong model, trivial baseline or broken variant,
measured by the same code path, that the criterion must reject. A control that meets the criterion
means the claim cannot tell the right model from the wrong one: :attr:`ClaimResult.control_defect`.
What cannot have a control (an identity, a call count, a closed form against our own algebra) is a
*check* (``check=True``): shown in the table, never counted as a replicated claim.

Compute curves. A claim measured on a trained network may carry a :class:`~scorelib.curves.ComputeCurve`: the
same measurement at log-spaced training budgets ending at the profile's. When that curve has not converged, a
verdict other than *replicated* is shown as "not replicated · still improving at our budget" (or "inconclusive ·
still improving"): it measures our budget, not the paper. The verdict itself (what is counted) is unchanged.

Floors. A criterion on a sample statistic names a *floor*: the statistic of real held-out data, measured the same
way. The floor must meet the criterion; one that does not is a defect of the criterion
(:attr:`ClaimResult.floor_defect`), shown in the summary like a control that passes.

``reference`` says what the ``paper`` field holds: a number the paper publishes (``"paper"``), a
theoretical value (``"theory"``), or our own calculation (``"ours"``); only the first is shown in a
table's paper column.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from scorelib.curves import ComputeCurve
from scorelib.errors import ConfigError

Kind = Literal["abs", "rel", "max", "min", "range"]
Tolerance = float | tuple[float, float]
Reference = Literal["paper", "theory", "ours"]
Verdict = Literal["replicated", "not replicated", "inconclusive"]
VERDICTS: tuple[str, ...] = ("replicated", "not replicated", "inconclusive")
#: A measurement: a value, or ``(value, standard error)``.
Measured = float | tuple[float, float]
#: The profile names, defined here once: every chapter's ``PROFILES`` maps them to its configs, every claim has a
#: tolerance for each, and the runner and the notebooks' parameter check accept only these.
PROFILES: tuple[str, ...] = ("quick", "full")


def check_profile(profile: object, profiles: Iterable[str] = PROFILES) -> str:
    """``profile`` if it is one of ``profiles`` (default :data:`PROFILES`); a :class:`ConfigError` naming
    them otherwise."""
    profiles = tuple(profiles)
    if not isinstance(profile, str) or profile not in profiles:
        raise ConfigError(f"unknown profile {profile!r}; choose one of {', '.join(profiles)}")
    return profile


@dataclass(frozen=True)
class Claim:
    """One checkable statement of a paper.

    Attributes:
        id: short stable identifier, unique within a chapter.
        source: where the paper says it ("Hyvärinen 2005, §3.1").
        quantity: what is measured, in words or symbols.
        paper: the reference value (see ``reference``), or None for pure bounds.
        kind: the criterion (see module docstring).
        tolerance_quick, tolerance_full: the tolerance for each profile.
        digits: significant digits shown (and compared by nbval).
        stable: False for values that are not reproducible to ``digits`` across machines (round-off
            residuals near machine precision): the checked text table then shows the verdict only.
        control: the negative control, in words ("RePaint with U = 1"); required unless ``check``.
        reference: what ``paper`` holds: ``"paper"`` (published), ``"theory"`` or ``"ours"``.
        check: an identity, call count or self-consistency test: shown, not counted as a claim.
        min_pass_rate: the share of seeds of a sweep at which the claim must pass to count as replicated across
            seeds (``python -m replications sweep``), fixed with the claim before the sweep; 1.0: every seed.
    """

    id: str
    source: str
    quantity: str
    paper: float | None
    kind: Kind
    tolerance_quick: Tolerance
    tolerance_full: Tolerance
    digits: int = 3
    stable: bool = True
    control: str | None = None
    reference: Reference = "paper"
    check: bool = False
    min_pass_rate: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in ("abs", "rel", "max", "min", "range"):
            raise ConfigError(f"claim {self.id}: unknown kind {self.kind!r}")
        for tol in (self.tolerance_quick, self.tolerance_full):
            if self.kind == "range":
                if not (isinstance(tol, tuple) and len(tol) == 2 and tol[0] <= tol[1]):
                    raise ConfigError(f"claim {self.id}: a range tolerance is (lo, hi) with lo ≤ hi")
            elif not isinstance(tol, (int, float)):
                raise ConfigError(f"claim {self.id}: tolerance must be a number, got {tol!r}")
        if self.kind in ("abs", "rel") and self.paper is None:
            raise ConfigError(f"claim {self.id}: kind {self.kind!r} needs the paper's value")
        if self.reference not in ("paper", "theory", "ours"):
            raise ConfigError(f"claim {self.id}: reference must be 'paper', 'theory' or 'ours', got {self.reference!r}")
        if self.check and self.control is not None:
            raise ConfigError(f"claim {self.id}: a check has no control; make it a claim (check=False) or drop the control")
        if not (isinstance(self.min_pass_rate, (int, float)) and 0 < self.min_pass_rate <= 1):
            raise ConfigError(f"claim {self.id}: min_pass_rate is a share of seeds in (0, 1], "
                              f"got {self.min_pass_rate!r}")

    def tolerance(self, profile: str) -> Tolerance:
        check_profile(profile)
        return self.tolerance_quick if profile == "quick" else self.tolerance_full

    def passes(self, measured: float, profile: str) -> bool:
        tol = self.tolerance(profile)
        if measured is None or not math.isfinite(measured):
            return False
        if self.kind == "abs":
            return abs(measured - self.paper) <= tol
        if self.kind == "rel":
            return abs(measured - self.paper) <= tol * abs(self.paper)
        if self.kind == "max":
            return measured <= tol
        if self.kind == "min":
            return measured >= tol
        lo, hi = tol
        return lo <= measured <= hi

    def boundaries(self, profile: str) -> tuple[float, ...]:
        """The values at which the verdict flips."""
        tol = self.tolerance(profile)
        if self.kind == "abs":
            return (self.paper - tol, self.paper + tol)
        if self.kind == "rel":
            return (self.paper - tol * abs(self.paper), self.paper + tol * abs(self.paper))
        if self.kind in ("max", "min"):
            return (tol,)
        return tuple(tol)

    def verdict(self, measured: float, profile: str, se: float | None = None) -> Verdict:
        """*replicated* / *not replicated*, or *inconclusive* when measured ± 2·se contains a boundary."""
        if measured is None or not math.isfinite(measured):
            return "not replicated"
        if se is not None:
            if not math.isfinite(se) or se < 0:
                raise ConfigError(f"claim {self.id}: a standard error must be finite and ≥ 0, got {se!r}")
            lo, hi = measured - 2 * se, measured + 2 * se
            if any(lo <= b <= hi for b in self.boundaries(profile)) and se > 0:
                return "inconclusive"
        return "replicated" if self.passes(measured, profile) else "not replicated"

    def criterion(self, profile: str) -> str:
        """The criterion in words, e.g. ``'≤ 1e-06'`` or ``'-0.8 ± 2%'``."""
        tol = self.tolerance(profile)
        fmt = _fmt
        if self.kind == "abs":
            return f"{fmt(self.paper, self.digits)} ± {fmt(tol, 2)}"
        if self.kind == "rel":
            return f"{fmt(self.paper, self.digits)} ± {100 * tol:g}%"
        if self.kind == "max":
            return f"≤ {fmt(tol, 3)}"
        if self.kind == "min":
            return f"≥ {fmt(tol, 3)}"
        return f"in [{fmt(tol[0], 3)}, {fmt(tol[1], 3)}]"


def _fmt(value: float | None, digits: int) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.{digits}g}"


def _split(value: Measured) -> tuple[float, float | None]:
    if isinstance(value, tuple):
        if len(value) != 2:
            raise ConfigError(f"a measurement is a number or (value, standard error), got {value!r}")
        return float(value[0]), float(value[1])
    return float(value), None


@dataclass(frozen=True)
class ClaimResult:
    """A claim's measurement and verdict, with its control's."""

    claim: Claim
    measured: float
    profile: str
    verdict: Verdict
    se: float | None = None
    control_measured: float | None = None
    control_se: float | None = None
    control_verdict: Verdict | None = None
    curve: ComputeCurve | None = None
    floor_measured: float | None = None
    floor_se: float | None = None
    floor_verdict: Verdict | None = None

    @property
    def passed(self) -> bool:
        return self.verdict == "replicated"

    @property
    def converged(self) -> bool | None:
        """Whether the claim's compute curve has stopped moving; None without a curve."""
        return None if self.curve is None else self.curve.converged

    @property
    def still_improving(self) -> bool:
        """Not replicated (or inconclusive) on a compute curve that has not converged."""
        return self.converged is False and not self.passed

    @property
    def floor_defect(self) -> bool:
        """Real held-out data do not clearly meet the criterion: the statistic cannot judge a model."""
        return self.floor_verdict is not None and self.floor_verdict != "replicated"

    @property
    def control_defect(self) -> bool:
        """The control meets the criterion: the claim does not tell the model from the wrong one."""
        return self.control_verdict == "replicated"

    def as_dict(self) -> dict:
        """One entry of metrics.json's ``claims`` list."""
        tol = self.claim.tolerance(self.profile)
        c = self.claim
        return {
            "id": c.id,
            "source": c.source,
            "quantity": c.quantity,
            "paper": c.paper,
            "reference": c.reference,
            "check": c.check,
            "measured": self.measured,
            "se": self.se,
            "tolerance": list(tol) if isinstance(tol, tuple) else tol,
            "criterion": c.criterion(self.profile),
            "verdict": self.verdict,
            "passed": self.passed,
            "stable": c.stable,
            "digits": c.digits,
            "control": c.control,
            "control_measured": self.control_measured,
            "control_se": self.control_se,
            "control_verdict": self.control_verdict,
            "min_pass_rate": c.min_pass_rate,
        } | self._curve_and_floor()

    def _curve_and_floor(self) -> dict:
        """The keys of a claim with a compute curve or a floor (absent otherwise, so older entries keep their form)."""
        extra: dict = {}
        if self.curve is not None:
            extra |= {"curve": self.curve.as_dicts(), "converged": self.curve.converged}
        if self.floor_verdict is not None:
            extra |= {"floor_measured": self.floor_measured, "floor_se": self.floor_se,
                      "floor_verdict": self.floor_verdict}
        return extra


#: What a verdict on a compute curve that has not converged adds.
STILL_IMPROVING = {"not replicated": " · still improving at our budget", "inconclusive": " · still improving"}


def _show_verdict(r: ClaimResult) -> str:
    if r.claim.check:
        return "holds" if r.passed else "FAILS"
    shown = {"replicated": "replicated", "not replicated": "NOT replicated", "inconclusive": "inconclusive"}[r.verdict]
    return shown + (STILL_IMPROVING[r.verdict] if r.still_improving else "")


def verdict_label(entry: Mapping) -> str:
    """A metrics.json claim entry's verdict as the scoreboards show it: :func:`verdict_of`, with "· still improving
    at our budget" (or "· still improving") when the entry's compute curve has not converged."""
    verdict = verdict_of(entry)
    return verdict + (STILL_IMPROVING.get(verdict, "") if entry.get("converged") is False else "")


def show_value(value: float | None, se: float | None, digits: int) -> str:
    """A measured value as every table of the book shows it: ``digits`` significant digits, ``± se`` when known."""
    if value is None:
        return "—"
    return _fmt(value, digits) + (f" ± {_fmt(se, 2)}" if se is not None else "")


@dataclass
class ClaimResults:
    results: list[ClaimResult] = field(default_factory=list)

    @property
    def claims(self) -> list[ClaimResult]:
        """The counted claims (checks excluded)."""
        return [r for r in self.results if not r.claim.check]

    @property
    def checks(self) -> list[ClaimResult]:
        return [r for r in self.results if r.claim.check]

    def count(self, verdict: Verdict) -> int:
        return sum(r.verdict == verdict for r in self.claims)

    @property
    def n_passed(self) -> int:
        """Replicated claims (checks are not counted)."""
        return self.count("replicated")

    @property
    def all_passed(self) -> bool:
        """Every claim replicated and every check holds."""
        return all(r.passed for r in self.results)

    @property
    def control_defects(self) -> list[str]:
        """Claims whose control meets the criterion (a defect of the claim, never of the model)."""
        return [r.claim.id for r in self.claims if r.control_defect]

    @property
    def floor_defects(self) -> list[str]:
        """Claims whose real-data floor does not clearly meet the criterion (a defect of the criterion)."""
        return [r.claim.id for r in self.claims if r.floor_defect]

    @property
    def still_improving(self) -> list[str]:
        """Claims not replicated on a compute curve that has not converged."""
        return [r.claim.id for r in self.claims if r.still_improving]

    def summary(self) -> str:
        """'12/13 claims replicated · 1 not replicated · 0 inconclusive · checks 3/3 hold'."""
        n = len(self.claims)
        text = (f"{self.count('replicated')}/{n} claims replicated · {self.count('not replicated')} not replicated"
                f" · {self.count('inconclusive')} inconclusive")
        if self.still_improving:
            text += f" ({len(self.still_improving)} still improving at our budget)"
        if self.checks:
            text += f" · checks {sum(r.passed for r in self.checks)}/{len(self.checks)} hold"
        if self.control_defects:
            text += f" · CONTROL PASSES (claim defect): {', '.join(self.control_defects)}"
        if self.floor_defects:
            text += f" · REAL DATA FAIL THE CRITERION (criterion defect): {', '.join(self.floor_defects)}"
        return text

    def as_dicts(self) -> list[dict]:
        return [r.as_dict() for r in self.results]

    def to_json(self) -> str:
        return json.dumps(self.as_dicts(), indent=2, ensure_ascii=False)

    def _control(self, r: ClaimResult, show_unstable: bool) -> str:
        if r.claim.check:
            return "(check)"
        if r.claim.control is None or r.control_verdict is None:
            return "none"
        value = show_value(r.control_measured, r.control_se, r.claim.digits)
        if not (r.claim.stable or show_unstable):
            value = "(varies)"
        if r.control_defect:
            return f"{value}: PASSES (defect)"
        # a control the bar rejects only within its standard error is not shown as rejected
        shown = f"{value}: {'not rejected with confidence' if r.control_verdict == 'inconclusive' else 'rejected'}"
        return shown + self._floor(r, show_unstable)

    @staticmethod
    def _floor(r: ClaimResult, show_unstable: bool) -> str:
        """``'; real data 0.001 ± 0.02: pass'`` for a claim with a floor, else nothing."""
        if r.floor_verdict is None:
            return ""
        value = show_value(r.floor_measured, r.floor_se, r.claim.digits) if r.claim.stable or show_unstable else "(varies)"
        return f"; real data {value}: {'FAIL (defect)' if r.floor_defect else 'pass'}"

    HEADER = ["claim", "verdict", "ours", "paper", "criterion", "control"]

    def to_markdown(self) -> str:
        """The claims table for the book: verdict first, every measured value, the control beside it."""
        rows = []
        for r in self.results:
            c = r.claim
            paper = _fmt(c.paper, c.digits) if c.reference == "paper" else "—"
            target = "" if c.reference == "paper" or c.paper is None else f" ({c.reference}: {_fmt(c.paper, c.digits)})"
            control = self._control(r, True)
            if c.control is not None:
                control = f"{c.control} — {control}"
            rows.append([f"**{c.id}**<br>{c.quantity}<br>*{c.source}*", _show_verdict(r),
                         show_value(r.measured, r.se, c.digits), paper, c.criterion(r.profile) + target, control])
        return f"{markdown_table(self.HEADER, rows)}\n\n**{self.summary()}.**"

    def to_text(self) -> str:
        """A fixed-width table of the stable values, every verdict and every control: what nbval compares."""
        rows = []
        for r in self.results:
            c = r.claim
            ours = show_value(r.measured, r.se, c.digits) if c.stable else "(varies)"
            rows.append([c.id, _show_verdict(r), ours, c.criterion(r.profile), self._control(r, False)])
        table = text_table(["claim", "verdict", "ours", "criterion", "control"], rows, rule=False)
        return f"{table}\n{self.summary()}"

    def _repr_markdown_(self) -> str:
        return self.to_markdown()


class ClaimTable:
    """The claims of one chapter."""

    def __init__(self, claims: Sequence[Claim]) -> None:
        ids = [c.id for c in claims]
        duplicates = {i for i in ids if ids.count(i) > 1}
        if duplicates:
            raise ConfigError(f"duplicate claim ids: {sorted(duplicates)}")
        self.claims = list(claims)

    def __iter__(self) -> Iterable[Claim]:
        return iter(self.claims)

    def __len__(self) -> int:
        return len(self.claims)

    def __getitem__(self, claim_id: str) -> Claim:
        """The claim with id ``claim_id``; a :class:`ConfigError` lists the known ids otherwise."""
        for c in self.claims:
            if c.id == claim_id:
                return c
        raise ConfigError(f"unknown claim id {claim_id!r}; known: {', '.join(c.id for c in self.claims)}")

    def check(self, measured: Mapping[str, Measured], profile: str,
              controls: Mapping[str, Measured] | None = None, *,
              curves: Mapping[str, ComputeCurve] | None = None,
              floors: Mapping[str, Measured] | None = None) -> ClaimResults:
        """Verdicts for every claim and its control. Every claim needs a measurement, every claim that
        names a control needs the control's; an unknown id is an error. ``curves``: compute curves of some
        claims, each ending at the claim's own measurement; ``floors``: the real-data value of some claims'
        sample statistics, judged by the same criterion."""
        controls = dict(controls or {})
        curves, floors = dict(curves or {}), dict(floors or {})
        known_ids = {c.id for c in self.claims}
        for name, given in (("compute curves", curves), ("floors", floors)):
            if set(given) - known_ids:
                raise ConfigError(f"{name} for unknown claim ids: {sorted(set(given) - known_ids)}")
        known = {c.id for c in self.claims}
        with_control = {c.id for c in self.claims if c.control is not None}
        missing, unknown = known - set(measured), set(measured) - known
        if missing or unknown:
            raise ConfigError(f"claims not measured: {sorted(missing)}; unknown claim ids: {sorted(unknown)}")
        if set(controls) != with_control:
            raise ConfigError(f"controls not measured: {sorted(with_control - set(controls))}; measured for claims "
                              f"that name no control: {sorted(set(controls) - with_control)}")
        results = []
        for c in self.claims:
            value, se = _split(measured[c.id])
            row = {"measured": value, "se": se, "verdict": c.verdict(value, profile, se)}
            if c.id in controls:
                cv, cse = _split(controls[c.id])
                row.update(control_measured=cv, control_se=cse, control_verdict=c.verdict(cv, profile, cse))
            if c.id in curves:
                last = curves[c.id].points[-1]
                if last.measured != value or last.se != se:
                    raise ConfigError(f"claim {c.id}: its compute curve must end at the claim's own measurement "
                                      f"({value!r}, se {se!r}), got ({last.measured!r}, se {last.se!r})")
                row["curve"] = curves[c.id]
            if c.id in floors:
                fv, fse = _split(floors[c.id])
                row.update(floor_measured=fv, floor_se=fse, floor_verdict=c.verdict(fv, profile, fse))
            results.append(ClaimResult(c, profile=profile, **row))
        return ClaimResults(results)


def verdict_of(entry: Mapping) -> str:
    """The verdict of a metrics.json claim entry (older entries carry only ``passed``)."""
    return entry.get("verdict") or ("replicated" if entry.get("passed") else "not replicated")


def compare_results(new: Sequence[Mapping], expected: Sequence[Mapping], se_fraction: float = 0.0) -> list[str]:
    """How the ``claims`` list ``new`` of a metrics.json moved from ``expected``: claims added or
    removed, a verdict, control verdict, floor verdict or ``converged`` flag that changed, and a stable number that
    differs at its shown significant digits. With ``se_fraction`` > 0 a number that moved by at most that fraction of
    its standard error in ``expected`` does not count either (two trainings that differ in summation order only).
    An empty list means nothing moved."""
    old = {e["id"]: e for e in expected}
    now = {e["id"]: e for e in new}
    moves = [f"{i}: new claim" for i in now if i not in old] + [f"{i}: claim removed" for i in old if i not in now]
    for i in (i for i in now if i in old):
        a, b = old[i], now[i]
        if verdict_of(a) != verdict_of(b):
            moves.append(f"{i}: verdict {verdict_of(a)} → {verdict_of(b)}")
        for key in ("control_verdict", "floor_verdict", "converged"):
            if key in a and a.get(key) != b.get(key):
                moves.append(f"{i}: {key.replace('_', ' ')} {a.get(key)} → {b.get(key)}")
        digits = b.get("digits", 3)
        if b.get("stable", True) and a.get("stable", True):
            for key, se_key in (("measured", "se"), ("control_measured", "control_se"),
                                ("floor_measured", "floor_se")):
                if key not in a or _fmt(a[key], digits) == _fmt(b.get(key), digits):
                    continue
                se, x, y = a.get(se_key), a[key], b.get(key)
                both = se and x is not None and y is not None
                if both and abs(x - y) <= se_fraction * se:
                    continue
                gap = f" ({abs(x - y) / se:.2g} se)" if both and se_fraction else ""
                moves.append(f"{i}: {key.replace('_', ' ')} {_fmt(x, digits)} → {_fmt(y, digits)}{gap}")
    return moves


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table: one header row, ``|---|`` rules, then ``rows``.

    Cells are ``str()``-ed, with ``|`` escaped so a cell never splits a row.
    """
    def line(cells: Sequence[object]) -> str:
        return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"

    return "\n".join([line(header), "|" + "---|" * len(header)] + [line(row) for row in rows])


def text_table(header: Sequence[str], rows: Iterable[Sequence[object]], *, rule: bool = True) -> str:
    """A fixed-width text table: columns padded to their widest cell, two spaces apart, no trailing blanks;
    with ``rule`` a line of dashes under the header. The runner's scoreboards and the claims text of nbval."""
    rows = [[str(cell) for cell in row] for row in rows]
    header = [str(cell) for cell in header]
    widths = [max(len(cell) for cell in col) for col in zip(header, *rows)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(w) for cell, w in zip(cells, widths)).rstrip()

    lines = [line(header)] + ([line(["-" * w for w in widths])] if rule else []) + [line(row) for row in rows]
    return "\n".join(lines)
