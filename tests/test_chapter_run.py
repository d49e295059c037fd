"""ChapterRun.finish: an evaluation of the committed artifacts that moved from the committed metrics.json
is an error (after its metrics are written); an honest "not replicated" is not; refresh re-records."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch

from replications import chapter as chapter_module
from replications.chapter import RECORDING, ChapterRun
from scorelib.claims import Claim, ClaimTable
from scorelib.errors import ResultsMovedError

@dataclass(frozen=True)
class ToyConfig:
    steps: int = 10


TABLE = ClaimTable([Claim("w", "Paper 2022, §5", "a weight", 0.5, "abs", 0.1, 0.1, control="U = 1")])


def _run(tmp_path, monkeypatch, *, retrain: bool = False, profile: str = "full") -> ChapterRun:
    monkeypatch.setattr(chapter_module, "ROOT", tmp_path)
    (tmp_path / "toy" / "artifacts").mkdir(parents=True)
    return ChapterRun("toy", profile, retrain, 0, torch.device("cpu"), tmp_path / "run", config=ToyConfig())


def _commit(tmp_path, value: float, control: float) -> None:
    claims = TABLE.check({"w": value}, "full", controls={"w": control}).as_dicts()
    (tmp_path / "toy" / "artifacts" / "metrics.json").write_text(json.dumps({"chapter": "toy", "claims": claims}))


def test_an_unchanged_evaluation_passes_even_when_a_claim_does_not_replicate(tmp_path, monkeypatch):
    run = _run(tmp_path, monkeypatch)
    _commit(tmp_path, 0.7, 0.9)  # honestly not replicated
    metrics = run.finish(TABLE.check({"w": 0.7001}, "full", controls={"w": 0.9}))
    assert metrics["claims"][0]["verdict"] == "not replicated"
    assert metrics["summary"].startswith("0/1 claims replicated · 1 not replicated")


def test_a_moved_verdict_or_number_raises_after_writing_the_metrics(tmp_path, monkeypatch):
    run = _run(tmp_path, monkeypatch)
    _commit(tmp_path, 0.55, 0.9)
    with pytest.raises(ResultsMovedError, match=r"verdict replicated → not replicated.*python -m replications refresh toy"):
        run.finish(TABLE.check({"w": 0.7}, "full", controls={"w": 0.9}))
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["claims"][0]["measured"] == 0.7
    with pytest.raises(ResultsMovedError, match=r"measured 0.55 → 0.56"):
        run.finish(TABLE.check({"w": 0.56}, "full", controls={"w": 0.9}))


def test_quick_runs_and_re_recording_are_not_compared(tmp_path, monkeypatch):
    run = _run(tmp_path, monkeypatch, profile="quick", retrain=True)
    _commit(tmp_path, 0.55, 0.9)
    run.finish(TABLE.check({"w": 0.7}, "quick", controls={"w": 0.9}))  # no committed quick results
    full = ChapterRun("toy", "full", False, 0, torch.device("cpu"), None, config=ToyConfig())
    (tmp_path / "toy" / "artifacts" / RECORDING).touch()
    full.finish(TABLE.check({"w": 0.7}, "full", controls={"w": 0.9}))  # refresh is recording a new expectation
    recorded = json.loads((tmp_path / "toy" / "artifacts" / "metrics.json").read_text())
    assert recorded["claims"][0]["measured"] == 0.7
    assert "trained" not in recorded, "training provenance lives in config.json, written with the weights"
    manifest = json.loads((tmp_path / "toy" / "artifacts" / "MANIFEST.json").read_text())["files"]
    assert RECORDING not in manifest, "the refresh marker is not an artifact (it is gone after the refresh)"


def test_a_marked_run_folder_keeps_a_full_retrain_out_of_the_committed_artifacts(tmp_path, monkeypatch):
    """A sweep cell (its run folder holds RUN_ARTIFACTS) retrains the full profile into its own folder."""
    from dataclasses import dataclass

    from replications.chapter import RUN_ARTIFACTS

    @dataclass
    class Config:
        steps: int = 3

    monkeypatch.setattr(chapter_module, "ROOT", tmp_path)
    committed = tmp_path / "toy" / "artifacts"
    committed.mkdir(parents=True)
    run_dir = tmp_path / "sweeps" / "full" / "toy" / "seed-2"
    run_dir.mkdir(parents=True)
    unmarked = ChapterRun("toy", "full", True, 2, torch.device("cpu"), run_dir, config=Config())
    assert unmarked.artifact_dir == committed
    (run_dir / RUN_ARTIFACTS).touch()
    run = ChapterRun("toy", "full", True, 2, torch.device("cpu"), run_dir, config=Config())
    assert run.artifact_dir == run_dir / "artifacts"
    run.train_or_load(lambda: {"w": torch.ones(2)})
    run.finish(TABLE.check({"w": 0.5}, "full", controls={"w": 0.9}))
    assert list(committed.iterdir()) == []
    assert json.loads((run_dir / "artifacts" / "config.json").read_text())["config"]["seed"] == 2
    assert (run_dir / "artifacts" / "metrics.json").exists() and (run_dir / "metrics.json").exists()
