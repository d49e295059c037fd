"""ARCHITECTURE.md matches the code: every library module is in its module map (and every module it
names exists), and the layering holds: scorelib never imports the chapters, and no chapter imports
another chapter."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from replications import CHAPTER_ORDER

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "shared" / "scorelib"
CHAPTERS = ROOT / "replications"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _library_modules() -> set[str]:
    files = {p.stem for p in LIBRARY.glob("*.py") if p.stem != "__init__"}
    packages = {p.parent.name for p in LIBRARY.glob("*/__init__.py")}
    return files | packages


def test_module_map_names_every_library_module_and_only_those():
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`scorelib\.(\w+)`", text))
    modules = _library_modules()
    assert modules - named == set(), f"library modules missing from ARCHITECTURE.md: {sorted(modules - named)}"
    assert named - modules == set(), f"ARCHITECTURE.md names modules that do not exist: {sorted(named - modules)}"


def test_the_package_docstring_lists_every_module():
    import scorelib

    listed = set(re.findall(r":mod:`scorelib\.(\w+)`", scorelib.__doc__))
    assert listed == _library_modules()


def test_scorelib_never_imports_the_chapters():
    offenders = [p.name for p in LIBRARY.rglob("*.py") if any(m.split(".")[0] == "replications" for m in _imports(p))]
    assert not offenders


@pytest.mark.parametrize("chapter", CHAPTER_ORDER)
def test_a_chapter_imports_no_other_chapter(chapter):
    others = {c for c in CHAPTER_ORDER if c != chapter}
    for path in (CHAPTERS / chapter).glob("*.py"):
        bad = {m for m in _imports(path) if m.startswith("replications.") and m.split(".")[1] in others}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_no_file_outside_the_repository_is_cited():
    """The starting specs lived outside this repository: nothing may point to them (the book has its own
    ARCHITECTURE.md and Claims page)."""
    suffixes = {".py", ".md", ".yml", ".ipynb"}
    skip = {"_build", ".venv", "venv", ".git"}
    offenders = []
    for path in ROOT.rglob("*"):
        if path.suffix in suffixes and not skip.intersection(path.relative_to(ROOT).parts) and path.is_file():
            if re.search(r"\b(DESIGN|CLAIMS)\.md\b", path.read_text(encoding="utf-8", errors="ignore")):
                offenders.append(str(path.relative_to(ROOT)))
    offenders = [o for o in offenders if o != "tests/test_architecture.py"]
    assert not offenders, f"cite ARCHITECTURE.md or the book's pages instead: {offenders}"
