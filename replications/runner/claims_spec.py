"""The claims spec of the book, generated from the chapters' claim tables (``book/claims.ipynb``).

For every claim: its id, the paper's source, the quantity, the reference value and what it is (a
published number, a theoretical value, or our own calculation), the criterion of each profile, the
negative control, and the commit that last changed the claim's definition, read from git, so the
spec shows when each criterion was fixed.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
from pathlib import Path

from replications import CHAPTER_ORDER, ROOT
from scorelib.claims import Claim, markdown_table

REFERENCE_LABELS = {"paper": "published", "theory": "theory", "ours": "our calculation"}


def _claim_lines(path: Path) -> dict[str, tuple[int, int]]:
    """Line range of each ``Claim("<id>", ...)`` call in ``path``, keyed by a regex of its id (an f-string
    id such as ``f"gap_{kernel}"`` becomes ``gap_.+``)."""
    ranges = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Claim" and node.args):
            continue
        first = node.args[0]
        if isinstance(first, ast.Constant):
            pattern = re.escape(first.value)
        elif isinstance(first, ast.JoinedStr):
            pattern = "".join(re.escape(v.value) if isinstance(v, ast.Constant) else ".+" for v in first.values)
        else:
            continue
        ranges[pattern] = (node.lineno, node.end_lineno)
    return ranges


def _lines_of(claim_id: str, ranges: dict[str, tuple[int, int]]) -> tuple[int, int] | None:
    return next((r for pattern, r in ranges.items() if re.fullmatch(pattern, claim_id)), None)


def fixed_in(path: Path, lines: tuple[int, int]) -> str:
    """``<short commit> <date>`` of the last commit that changed these lines of ``path``; "uncommitted"
    when they differ from HEAD, "—" without git history."""
    try:
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", str(path)], cwd=ROOT, timeout=30).returncode
        if dirty:
            return "uncommitted"
        out = subprocess.run(["git", "log", "-1", "--format=%h %cs", "-L", f"{lines[0]},{lines[1]}:{path.relative_to(ROOT.parent)}",
                              "--no-patch"], cwd=ROOT.parent, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return "—"
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else "—"


def _reference(c: Claim) -> str:
    if c.paper is None:
        return "— (a bound)"
    return f"{c.paper:.{c.digits}g} ({REFERENCE_LABELS[c.reference]})"


def _across_seeds(c: Claim) -> str:
    """How many seeds of a sweep must pass, fixed with the definition (``Claim.min_pass_rate``)."""
    if c.min_pass_rate >= 1:
        return "seeds: every one must pass"
    return f"seeds: at least {100 * c.min_pass_rate:g}% must pass"


def chapter_spec(chapter: str) -> str:
    """The chapter's claims as one Markdown table."""
    experiment = importlib.import_module(f"replications.{chapter}.experiment")
    path = ROOT / chapter / "experiment.py"
    lines = _claim_lines(path)
    rows = []
    for c in experiment.CLAIMS:
        kind = "check" if c.check else "claim"
        rows.append([f"**{c.id}**<br>{kind}", c.source, c.quantity, _reference(c),
                     f"quick: {c.criterion('quick')}<br>full: {c.criterion('full')}<br>{_across_seeds(c)}",
                     c.control or ("— (a check)" if c.check else "**none yet**"),
                     fixed_in(path, span) if (span := _lines_of(c.id, lines)) else "—"])
    return markdown_table(["claim", "source", "quantity", "reference value", "criterion", "negative control",
                           "definition last changed"], rows)


def chapters() -> list[str]:
    return [c for c in CHAPTER_ORDER if (ROOT / c / "experiment.py").exists()]
