"""ARCHITECTURE.md matches the code: every library and runner module is in it (and every module it names exists),
and the layering holds: scorelib never imports the chapters, no chapter imports another chapter, the chapters' side
never imports the runner, and no module of the project (replications/, shared/, benchmarks/) takes part in an
import circle."""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from pathlib import Path

import pytest

from replications import CHAPTER_ORDER

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "shared" / "scorelib"
CHAPTERS = ROOT / "replications"
RUNNER = CHAPTERS / "runner"
#: The project's top-level packages and the folders they are in.
PACKAGES = {"replications": CHAPTERS, "scorelib": LIBRARY, "benchmarks": ROOT / "benchmarks"}
#: The modules on the chapters' side of the runner: what a chapter (its code or its notebook) imports.
CHAPTER_SIDE = ("chapter", "parameters", "sweep_summary")


def _imports(path: Path) -> set[str]:
    """The absolute module names ``path`` imports, anywhere in it (in a function too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _module_name(path: Path, package: str, folder: Path) -> str:
    parts = [package, *path.relative_to(folder).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(path: Path, module: str, is_package: bool) -> set[str]:
    """Every module name ``path`` may import: ``import a.b``; ``from a import b`` as ``a`` and ``a.b``; relative
    imports resolved against ``module``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, *([base] if base else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph(packages: Mapping[str, Path]) -> dict[str, set[str]]:
    """Module → the project modules it imports (each import to the longest project module it names)."""
    files = {_module_name(p, name, folder): p for name, folder in packages.items() for p in folder.rglob("*.py")
             if "_build" not in p.parts}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        targets = set()
        for name in _imported_modules(path, module, path.name == "__init__.py"):
            parts = name.split(".")
            prefixes = (".".join(parts[:n]) for n in range(len(parts), 0, -1))
            target = next((p for p in prefixes if p in files), None)
            if target is not None and target != module:
                targets.add(target)
        graph[module] = targets
    return graph


def find_cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """One import circle ``[a, b, …, a]`` of the graph, or None: a depth-first search for an import back to a
    module on the current path."""
    state: dict[str, str] = {}  # "open" while on the path, then "done"
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        path.append(module)
        for child in sorted(graph.get(module, ())):
            if state.get(child) == "open":
                return path[path.index(child):] + [child]
            if child not in state and (found := visit(child)):
                return found
        state[module] = "done"
        path.pop()
        return None

    return next((found for module in sorted(graph) if module not in state and (found := visit(module))), None)


def _library_modules() -> set[str]:
    files = {p.stem for p in LIBRARY.glob("*.py") if p.stem != "__init__"}
    packages = {p.parent.name for p in LIBRARY.glob("*/__init__.py")}
    return files | packages


def _runner_modules() -> set[str]:
    return {p.stem for p in RUNNER.glob("*.py") if p.stem != "__init__"}


def test_module_map_names_every_runner_module_and_only_those():
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`replications\.runner\.(\w+)`", text))
    modules = _runner_modules()
    assert modules - named == set(), f"runner modules missing from ARCHITECTURE.md: {sorted(modules - named)}"
    assert named - modules == set(), f"ARCHITECTURE.md names missing runner modules: {sorted(named - modules)}"


def test_the_runner_package_docstring_lists_every_module():
    import replications.runner

    assert set(re.findall(r":mod:`~replications\.runner\.(\w+)`", replications.runner.__doc__)) == _runner_modules()


def test_no_import_circle_in_the_project():
    """replications/, shared/ and benchmarks/: every import, at the top of a file or in a function, runs one way."""
    graph = import_graph(PACKAGES)
    assert {"replications.runner.cli", "scorelib.claims", "benchmarks.core"} <= set(graph)
    assert "replications.runner.report" in graph["replications.runner.notebook"]  # the edges are there to be checked
    cycle = find_cycle(graph)
    assert cycle is None, f"import circle: {' → '.join(cycle)}"


def test_the_circle_detector_finds_a_planted_circle(tmp_path):
    """A → B → C → A (through ``from pkg import module``, a relative import in a function and ``import pkg.a``),
    and a module beside them."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from . import c\n")
    (pkg / "sub" / "c.py").write_text("import pkg.a\nimport os\n")
    (pkg / "d.py").write_text("from pkg import a\n")
    graph = import_graph({"pkg": pkg})
    assert graph["pkg.sub.b"] == {"pkg.sub", "pkg.sub.c"} and graph["pkg.d"] == {"pkg", "pkg.a"}
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1] and set(cycle) == {"pkg.a", "pkg.sub.b", "pkg.sub.c"}
    (pkg / "sub" / "c.py").write_text("import os\n")
    assert find_cycle(import_graph({"pkg": pkg})) is None


def test_the_chapters_side_never_imports_the_runner():
    """The chapters' code and the modules they import (replications.chapter, .parameters, .sweep_summary) sit below
    the runner: none of them imports replications.runner."""
    paths = [CHAPTERS / f"{m}.py" for m in CHAPTER_SIDE]
    paths += [p for c in CHAPTER_ORDER for p in (CHAPTERS / c).glob("*.py")]
    offenders = {str(p.relative_to(ROOT)): sorted(m for m in _imports(p) if m.startswith("replications.runner"))
                 for p in paths}
    assert not {p: m for p, m in offenders.items() if m}


def test_the_runner_reaches_outside_its_package_only_to_the_chapters_side():
    allowed = {"replications", *(f"replications.{m}" for m in CHAPTER_SIDE)}
    for path in RUNNER.glob("*.py"):
        outside = {m for m in _imports(path)
                   if m.split(".")[0] == "replications" and not m.startswith("replications.runner")}
        assert outside <= allowed, f"{path.relative_to(ROOT)} imports {sorted(outside - allowed)}"


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
