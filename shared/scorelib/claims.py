"""Paper claims as numbers: what the paper says, what we measured, the tolerance, the verdict.

A :class:`Claim` fixes the criterion once; :meth:`ClaimTable.check` turns a ``{id: measured}``
mapping into :class:`ClaimResults`, rendered as the chapter's claims table (Markdown for the book,
fixed-width text for nbval) and as the ``claims`` list of ``metrics.json``.

Criteria (``kind``), with ``tol`` the profile's tolerance:

- ``"abs"``: |measured - paper| ≤ tol
- ``"rel"``: |measured - paper| ≤ tol·|paper|
- ``"max"``: measured ≤ tol (an upper bound, e.g. an error)
- ``"min"``: measured ≥ tol (a lower bound, e.g. a speed-up)
- ``"range"``: tol = (lo, hi), lo ≤ measured ≤ hi

A NaN or infinite measurement always fails.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from scorelib.errors import ConfigError

Kind = Literal["abs", "rel", "max", "min", "range"]
Tolerance = float | tuple[float, float]
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
        paper: the paper's number or the analytic truth (None for pure bounds).
        kind: the criterion (see module docstring).
        tolerance_quick, tolerance_full: the tolerance for each profile.
        digits: significant digits shown (and compared by nbval).
        stable: False for values that are not reproducible to ``digits`` across machines (timings,
            round-off residuals near machine precision): the checked text table then shows the
            criterion and verdict only.
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

    def criterion(self, profile: str) -> str:
        """The pass criterion in words, e.g. ``'≤ 1e-06'`` or ``'-0.8 ± 2%'``."""
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


@dataclass(frozen=True)
class ClaimResult:
    claim: Claim
    measured: float
    profile: str
    passed: bool

    def as_dict(self) -> dict:
        """One entry of metrics.json's ``claims`` list."""
        tol = self.claim.tolerance(self.profile)
        return {
            "id": self.claim.id,
            "source": self.claim.source,
            "quantity": self.claim.quantity,
            "paper": self.claim.paper,
            "measured": self.measured,
            "tolerance": list(tol) if isinstance(tol, tuple) else tol,
            "criterion": self.claim.criterion(self.profile),
            "passed": self.passed,
        }


@dataclass
class ClaimResults:
    results: list[ClaimResult] = field(default_factory=list)

    @property
    def n_passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def all_passed(self) -> bool:
        return self.n_passed == len(self.results)

    def as_dicts(self) -> list[dict]:
        return [r.as_dict() for r in self.results]

    def to_json(self) -> str:
        return json.dumps(self.as_dicts(), indent=2, ensure_ascii=False)

    def _rows(self, show_unstable: bool) -> list[list[str]]:
        rows = []
        for r in self.results:
            c = r.claim
            measured = _fmt(r.measured, c.digits) if (c.stable or show_unstable) else "(varies)"
            rows.append(
                [c.id, c.source, c.quantity, _fmt(c.paper, c.digits), measured, c.criterion(r.profile),
                 "pass" if r.passed else "FAIL"]
            )
        return rows

    HEADER = ["claim", "source", "quantity", "paper", "measured", "criterion", "verdict"]

    def to_markdown(self) -> str:
        """The claims table for the book (every measured value shown)."""
        table = markdown_table(self.HEADER, self._rows(show_unstable=True))
        return f"{table}\n\n**{self.n_passed}/{len(self.results)} claims pass.**"

    def to_text(self) -> str:
        """A fixed-width table of the stable values and every verdict: what nbval compares."""
        rows = [[r[0], r[3], r[4], r[5], r[6]] for r in self._rows(show_unstable=False)]
        table = text_table(["claim", "paper", "measured", "criterion", "verdict"], rows, rule=False)
        return f"{table}\n{self.n_passed}/{len(self.results)} claims pass"

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

    def check(self, measured: Mapping[str, float], profile: str) -> ClaimResults:
        """Verdicts for every claim; a claim without a measurement, or an unknown id, is an error."""
        known = {c.id for c in self.claims}
        missing = known - set(measured)
        unknown = set(measured) - known
        if missing or unknown:
            raise ConfigError(f"claims not measured: {sorted(missing)}; unknown claim ids: {sorted(unknown)}")
        results = []
        for c in self.claims:
            value = float(measured[c.id])
            results.append(ClaimResult(c, value, profile, c.passes(value, profile)))
        return ClaimResults(results)


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
