"""Artifacts: round trip, refusal of corrupt, stale and missing folders, atomic replacement."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import scorelib.artifacts as artifacts
from scorelib.artifacts import load_artifacts, read_config, save_artifacts, verify_manifest, write_metrics
from scorelib.errors import (
    ConfigError,
    CorruptArtifactError,
    MissingArtifactError,
    StaleArtifactError,
)
from scorelib.training import train_or_load

HINT = "python -m replications run toy --profile full --retrain"
CONFIG = {"steps": 100, "hidden": (16, 16), "name": "toy", "lr": 1e-3}


def tensors(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "w": torch.randn(4, 3, generator=g, dtype=torch.float64),
        "b": torch.randn(3, generator=g),
        "count": torch.arange(5),
    }


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def leftovers(directory: Path) -> list[str]:
    parent = directory.parent
    return sorted(p.name for p in parent.glob(f".{directory.name}.new-*")) + sorted(
        p.name for p in parent.glob(f".{directory.name}.old-*")
    )


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    directory = tmp_path / "artifacts"
    save_artifacts(directory, tensors(), CONFIG)
    return directory


def test_round_trip(saved: Path):
    loaded = load_artifacts(saved, CONFIG)
    expected = tensors()
    assert loaded.keys() == expected.keys()
    for key in expected:
        assert loaded[key].dtype == expected[key].dtype and torch.equal(loaded[key], expected[key])
    assert sorted(p.name for p in saved.iterdir()) == ["MANIFEST.json", "config.json", "weights.pt"]
    assert leftovers(saved) == []


def test_config_is_normalised_tuples_equal_lists(saved: Path):
    stored = read_config(saved)
    assert stored["config"]["hidden"] == [16, 16]
    assert stored["format"] == artifacts.FORMAT and "torch" in stored["versions"]
    assert stored["threads"] == torch.get_num_threads()  # the training's summation order moves the weights' last bits
    # the JSON form is compared, so a list where the code now has a tuple is the same config
    load_artifacts(saved, CONFIG | {"hidden": [16, 16]})


def test_a_corrupt_byte_in_the_weights_is_refused_with_the_retrain_hint(saved: Path):
    weights = saved / "weights.pt"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(CorruptArtifactError, match="weights.pt does not match its sha256") as info:
        load_artifacts(saved, CONFIG, retrain_hint=HINT)
    assert f"To rebuild it: {HINT}" in str(info.value)


def test_a_config_edited_by_hand_fails_the_manifest(saved: Path):
    path = saved / "config.json"
    stored = json.loads(path.read_text())
    stored["config"]["steps"] = 200
    path.write_text(json.dumps(stored))
    with pytest.raises(CorruptArtifactError, match=r"config.json does not match its sha256 in MANIFEST.json"):
        load_artifacts(saved, CONFIG | {"steps": 200}, retrain_hint=HINT)


def test_a_file_listed_in_the_manifest_but_missing_is_corrupt(saved: Path):
    (saved / "weights.pt").unlink()
    with pytest.raises(CorruptArtifactError, match="listed in MANIFEST.json but missing"):
        load_artifacts(saved, CONFIG)


def test_a_different_config_is_stale_and_names_the_changed_key(saved: Path):
    with pytest.raises(StaleArtifactError, match=r"steps: stored 100 vs now 300") as info:
        load_artifacts(saved, CONFIG | {"steps": 300}, retrain_hint=HINT)
    message = str(info.value)
    assert "hidden" not in message and "lr" not in message  # only what changed
    assert HINT in message
    with pytest.raises(StaleArtifactError, match=r"extra: stored None vs now 1"):
        load_artifacts(saved, CONFIG | {"extra": 1})


@pytest.mark.parametrize("make", [lambda p: p.mkdir(), lambda p: None], ids=["empty-folder", "no-folder"])
def test_no_artifacts_is_missing(tmp_path: Path, make):
    directory = tmp_path / "artifacts"
    make(directory)
    with pytest.raises(MissingArtifactError, match="no artifacts in .*MANIFEST.json is missing") as info:
        load_artifacts(directory, CONFIG, retrain_hint=HINT)
    assert HINT in str(info.value)


def test_write_metrics_refreshes_the_manifest(saved: Path):
    write_metrics(saved, {"claims": [{"id": "c", "passed": True}], "wall_time_s": 1.5})
    verify_manifest(saved)
    manifest = json.loads((saved / "MANIFEST.json").read_text())["files"]
    assert set(manifest) == {"config.json", "metrics.json", "weights.pt"}
    assert json.loads((saved / "metrics.json").read_text())["wall_time_s"] == 1.5
    assert not list(saved.glob(".*"))  # no temporary file left
    (saved / "metrics.json").write_text("{}")  # and the refreshed manifest does guard it
    with pytest.raises(CorruptArtifactError, match="metrics.json"):
        verify_manifest(saved)


def test_a_new_save_replaces_the_folder_and_drops_old_metrics(saved: Path):
    write_metrics(saved, {"x": 1})
    save_artifacts(saved, tensors(seed=1), CONFIG)
    assert not (saved / "metrics.json").exists()
    assert torch.equal(load_artifacts(saved, CONFIG)["w"], tensors(seed=1)["w"])
    assert leftovers(saved) == []


# --- train_or_load -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    steps: int = 100
    hidden: tuple[int, ...] = (16, 16)


def test_an_interrupted_retrain_leaves_the_previous_artifacts_intact(tmp_path: Path):
    directory = tmp_path / "artifacts"
    train_or_load(lambda: tensors(seed=0), config=Profile(), artifact_dir=directory, retrain=True)
    write_metrics(directory, {"claims": []})
    before = snapshot(directory)

    def interrupted_fit():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_or_load(interrupted_fit, config=Profile(steps=5), artifact_dir=directory, retrain=True)
    assert snapshot(directory) == before
    assert leftovers(directory) == []
    verify_manifest(directory)


def test_an_interrupt_while_saving_leaves_the_previous_artifacts_intact(tmp_path: Path, monkeypatch):
    directory = tmp_path / "artifacts"
    save_artifacts(directory, tensors(seed=0), CONFIG)
    before = snapshot(directory)
    real_write_manifest = artifacts._write_manifest

    def interrupted(target: Path) -> None:
        real_write_manifest(target)
        raise KeyboardInterrupt  # after every new file is written, before the swap

    monkeypatch.setattr(artifacts, "_write_manifest", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_or_load(lambda: tensors(seed=1), config=CONFIG, artifact_dir=directory, retrain=True)
    assert snapshot(directory) == before
    assert leftovers(directory) == []


def test_train_or_load_loads_what_a_previous_retrain_saved(tmp_path: Path):
    directory = tmp_path / "artifacts"
    fitted = train_or_load(lambda: tensors(seed=3), config=Profile(), artifact_dir=directory, retrain=True)

    def must_not_run():
        raise AssertionError("fit() was called although retrain=False")

    loaded = train_or_load(must_not_run, config=Profile(), artifact_dir=directory, retrain=False)
    assert loaded.keys() == fitted.keys() and all(torch.equal(loaded[k], fitted[k]) for k in fitted)
    with pytest.raises(StaleArtifactError, match="steps: stored 100 vs now 7"):
        train_or_load(must_not_run, config=Profile(steps=7), artifact_dir=directory, retrain=False)


def test_train_or_load_without_a_folder():
    assert set(train_or_load(tensors, config=CONFIG, artifact_dir=None, retrain=True)) == {"w", "b", "count"}
    with pytest.raises(ConfigError, match="retrain=False needs an artifact folder"):
        train_or_load(tensors, config=CONFIG, artifact_dir=None, retrain=False)
