"""Every chapter, generically: its notebook follows the conventions, its committed artifacts match
its FULL config and manifest, and a quick retrain through the runner passes every claim."""

from __future__ import annotations

import importlib
import json
import subprocess
from pathlib import Path

import nbformat
import pytest

from replications import ROOT
from replications.experiment_digest import current_digest
from replications.runner.chapters import available_chapters, notebook_path
from replications.runner.cluster import cores
from replications.runner.executor import CellResult
from replications.runner.run import default_workers, run
from replications.chapter import resolved_config
from replications.sweep_summary import SE_FRACTION, committed_seed_claims
from scorelib.artifacts import load_artifacts
from scorelib.claims import compare_results, verdict_of

CHAPTERS = available_chapters()
PARAMETERS = {"profile": "full", "retrain": False, "seed": 0, "device": "auto", "output_dir": None}


def test_at_least_one_chapter():
    assert "score_matching" in CHAPTERS


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_notebook_conventions(chapter):
    nb = nbformat.read(notebook_path(chapter), as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0] is code[0], "the first code cell, and only it, is tagged parameters"
    namespace: dict = {}
    exec(tagged[0].source, namespace)  # noqa: S102 - our own notebook's parameter cell
    assert {k: namespace[k] for k in PARAMETERS} == PARAMETERS
    assert any("# NBVAL_CHECK_OUTPUT" in c.source for c in code), "the claims table must be checked by nbval"
    assert any(c.outputs for c in code), "the notebook must be committed with the outputs of its defaults"
    assert "os.environ" not in "".join(c.source for c in code) and "chdir" not in "".join(c.source for c in code)
    # verdicts first: the box under the title is glued from the claims cell, and links to the claims section
    assert nb.cells[0].source.startswith("# ") and "{glue:md} verdicts" in nb.cells[0].source
    assert any(c.cell_type == "markdown" and c.source.startswith(f"({chapter}-claims)=\n## Claims") for c in nb.cells)
    glued = [o for c in code for o in c.outputs if o.get("metadata", {}).get("scrapbook", {}).get("name") == "verdicts"]
    assert len(glued) == 1, "the claims cell glues the verdict box exactly once (re-execute: python -m replications refresh)"
    # the rendered page hides its plumbing (nbval still runs every cell): parameters folded, set-up and bookkeeping
    # input hidden (the provenance line and the claims table stay visible), the nbval-only text table removed
    tags = {i: set(c.metadata.get("tags", [])) for i, c in enumerate(code)}
    assert "hide-cell" in tags[0]
    assert "hide-input" in tags[1] and "run = start(" in code[1].source, "the set-up cell shows only its provenance line"
    for i, c in enumerate(code):
        if c.source.startswith("# NBVAL_CHECK_OUTPUT"):
            assert "remove-cell" in tags[i]
        if "run.train_or_load(" in c.source or "run.finish(" in c.source:
            assert "hide-input" in tags[i]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_committed_artifacts_match_full_config(chapter):
    experiment = importlib.import_module(f"replications.{chapter}.experiment")
    directory = ROOT / chapter / "artifacts"
    tensors = load_artifacts(directory, resolved_config(experiment.PROFILES["full"], 0))  # raises if stale/corrupt
    assert tensors
    metrics = json.loads((directory / "metrics.json").read_text())
    assert metrics["profile"] == "full" and metrics["seed"] == 0
    assert {c["id"] for c in metrics["claims"]} == {c.id for c in experiment.CLAIMS}


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_committed_results_name_a_clean_commit_of_this_history(chapter):
    """Provenance: the weights were trained, and the expected results evaluated, by committed code (no
    ``-dirty``), and the commits they name are in this repository's history."""
    directory = ROOT / chapter / "artifacts"
    full_history = subprocess.run(["git", "rev-parse", "--is-shallow-repository"], cwd=ROOT, capture_output=True,
                                  text=True).stdout.strip() != "true"
    for name in ("config.json", "metrics.json"):
        commit = json.loads((directory / name).read_text())["git_commit"]
        assert commit and not commit.endswith("-dirty"), f"{chapter}/artifacts/{name} records {commit!r}"
        if full_history:
            known = subprocess.run(["git", "merge-base", "--is-ancestor", commit, "HEAD"], cwd=ROOT).returncode
            assert known == 0, f"{chapter}/artifacts/{name}: {commit} is not an ancestor of HEAD"


def _committed_claims(chapter: str) -> list[dict]:
    return json.loads((ROOT / chapter / "artifacts" / "metrics.json").read_text())["claims"]


#: Chapters whose claims do not all name a control yet.
CONTROLS_PENDING: frozenset[str] = frozenset()
#: Controls that the criterion does not reject with confidence: measured ± 2 se straddles the boundary. The claim
#: is then inconclusive too. None left: the Matérn-5/2 TLL-gap control was one at 16 and 64 test functions, and is
#: rejected at 256 (issue 13).
CONTROL_INCONCLUSIVE: frozenset[tuple[str, str]] = frozenset()


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_counted_claim_has_a_control_and_the_control_fails(chapter):
    """A claim whose control passes cannot tell the model from the wrong one: a defect of the claim."""
    if chapter in CONTROLS_PENDING:
        pytest.xfail(f"{chapter}: negative controls not yet added")
    claims = [c for c in _committed_claims(chapter) if not c.get("check")]
    assert claims
    without = [c["id"] for c in claims if c.get("control") is None]
    assert not without, f"claims without a control: {without}"
    passing = [c["id"] for c in claims if c.get("control_verdict") != "not replicated"
               and not (c.get("control_verdict") == "inconclusive" and (chapter, c["id"]) in CONTROL_INCONCLUSIVE)]
    assert not passing, f"controls that the criterion does not reject: {passing}"


#: Claims replicated at the full profile that the quick profile's budget cannot reach, with the reason. Their compute
#: curves (metrics.json "curve") show the value falling with the budget; the quick run still measures them by the same
#: code and criterion, with their controls rejected and their real-data floors passing.
QUICK_BUDGET_BOUND: dict[tuple[str, str], str] = {
    ("ddpm", "digits_kid"): "the quick digits U-Net trains 200 steps (full: 12,000); its KID curve falls with them",
    ("ncsn", "digits_kid"): "the quick digits NCSN trains 320 steps (full: 8,000); its KID curve falls with them",
    ("ndp_step_function", "ndp_weight_x025"): "seed-fragile at quick: inconclusive at seeds 0, 1, 3, 4 of the committed "
    "quick sweep of dcd1bce (0.61-0.70 against 0.75 ± 0.1, se ≈ 0.03), replicated at seed 2 (0.754)",
}


QUICK_RETRAIN_TEST = "test_quick_retrain_runs_and_agrees_with_the_committed_verdicts"


@pytest.fixture(scope="module")
def quick_retrains(request, tmp_path_factory) -> tuple[Path, dict[str, CellResult]]:
    """One quick retrain of every chapter this session selected, one per core at a time (at most two) on one torch
    thread each, as ``python -m replications run --profile quick --retrain`` runs them on 2 cores: two one-thread
    chapters finish sooner than one two-thread chapter after another (431 s against 732 s on 2026-11-30)."""
    chapters = [c for c in CHAPTERS if any(getattr(item, "originalname", None) == QUICK_RETRAIN_TEST
                                           and item.callspec.params.get("chapter") == c
                                           for item in request.session.items)]
    output = tmp_path_factory.mktemp("quick-retrains")
    workers = default_workers(len(chapters), min(2, cores()))
    outcomes = run(chapters, profile="quick", retrain=True, seed=0, device="cpu", output=output, progress=False,
                   workers=workers)
    return output, {r.chapter: r for r in outcomes}


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_quick_retrain_runs_and_agrees_with_the_committed_verdicts(chapter, quick_retrains):
    """A quick retrain through the runner finishes, writes its figures and artifacts (never over the
    committed ones), no control passes its claim, and every claim replicated at the full profile is
    replicated at the quick one (with the quick criterion)."""
    tmp_path, outcomes = quick_retrains
    outcome = outcomes[chapter]
    assert outcome.error is None, outcome.error
    metrics = json.loads((tmp_path / "quick" / chapter / "metrics.json").read_text())
    assert metrics["profile"] == "quick" and metrics["retrain"] is True and metrics["device"] == "cpu"
    assert metrics["experiment_digest"] == current_digest(chapter, "quick")
    quick = {c["id"]: c for c in metrics["claims"]}
    full_replicated = [c["id"] for c in _committed_claims(chapter) if verdict_of(c) == "replicated"]
    lost = [i for i in full_replicated if verdict_of(quick[i]) != "replicated" and (chapter, i) not in QUICK_BUDGET_BOUND]
    assert not lost, f"replicated at full, not at quick: {[(i, quick[i]['measured']) for i in lost]}"
    assert not [i for i, c in quick.items() if c.get("control_verdict") == "replicated"]
    assert not [i for i, c in quick.items() if c.get("floor_verdict") not in (None, "replicated")]
    assert (tmp_path / "quick" / chapter / "figures").is_dir()
    # seed 0, as the committed quick sweep's seed 0 (one thread: what CI's two workers give each chapter; a session
    # that selects one chapter runs it on every core, another summation order, hence the tolerance)
    # (today's retrain is the reference: a flag or floor that the sweep lacks then counts, as for the full guard)
    moved = compare_results(committed_seed_claims(chapter, "quick"), metrics["claims"], se_fraction=SE_FRACTION)
    assert not moved, (f"the committed quick sweep's seed 0 differs from today's quick retrain (retrain → sweep): "
                       f"{moved}; rerun it: "
                       f"python -m replications sweep {chapter} --seeds 0-4 --profile quick --force, then report "
                       f"--sweep --profile quick --write")
    # quick retrains never write over the committed artifacts
    assert (tmp_path / "quick" / chapter / "artifacts" / "MANIFEST.json").exists()
