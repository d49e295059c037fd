"""What every chapter notebook does around its science: check the parameters, set the device and
seeds, train or load, save figures, and write ``metrics.json``.

A notebook's first code cell holds the papermill parameters; its set-up cell calls
:func:`start`, and its last cell :meth:`ChapterRun.finish`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from replications import ROOT
from replications.experiment_digest import experiment_digest
from replications.parameters import check_parameters
from scorelib import artifacts, runtime
from scorelib.claims import ClaimResults, compare_results
from scorelib.errors import ResultsMovedError
from scorelib.plotting import savefig, use_theme
from scorelib.training import train_or_load


#: Present in an artifact folder while ``python -m replications refresh`` records a new expected result.
RECORDING = ".recording"
#: Present in a run folder: the run keeps its artifacts in ``<run folder>/artifacts`` whatever the profile, so a
#: full retrain never replaces the committed ones (every cell of ``python -m replications sweep``).
RUN_ARTIFACTS = ".run-artifacts"


def resolved_config(config: Any, seed: int) -> dict:
    """The chapter config plus the seed: what artifacts are stored with and checked against."""
    return {**asdict(config), "seed": seed}


@dataclass
class ChapterRun:
    """The resolved parameters of one execution of a chapter."""

    chapter: str
    profile: str
    retrain: bool
    seed: int
    device: torch.device
    output_dir: Path | None
    config: Any
    started: float = field(default_factory=time.perf_counter)
    #: The checkout's commit when the run started (before a retrain rewrites tracked artifacts); ``-dirty`` when the
    #: code, or this chapter's own committed weights, differ from it (:func:`scorelib.runtime.git_commit`).
    commit: str | None = None

    def __post_init__(self) -> None:
        if self.commit is None:
            folder = ROOT / self.chapter
            self.commit = runtime.git_commit(folder if folder.is_dir() else ROOT)

    @property
    def resolved_config(self) -> dict:
        return resolved_config(self.config, self.seed)

    @property
    def artifact_dir(self) -> Path | None:
        """Full profile: the committed ``replications/<chapter>/artifacts``, unless the run folder holds the
        :data:`RUN_ARTIFACTS` marker. Other profiles, and marked runs, save into the run folder (never over the
        committed artifacts), or nowhere without one."""
        own = self.output_dir is not None and (self.output_dir / RUN_ARTIFACTS).exists()
        if self.profile == "full" and not own:
            return ROOT / self.chapter / "artifacts"
        return self.output_dir / "artifacts" if self.output_dir is not None else None

    @property
    def retrain_hint(self) -> str:
        return f"python -m replications run {self.chapter} --profile {self.profile} --retrain"

    def train_or_load(self, fit: Callable[[], Mapping[str, Tensor]]) -> dict[str, Tensor]:
        """``fit()`` when retraining (saved to :attr:`artifact_dir`), else the stored tensors."""
        return train_or_load(fit, config=self.resolved_config, artifact_dir=self.artifact_dir,
                             retrain=self.retrain, retrain_hint=self.retrain_hint, map_location=self.device)

    def savefig(self, fig, name: str) -> None:
        savefig(fig, name, self.output_dir)

    def finish(self, results: ClaimResults) -> dict:
        """Write ``metrics.json`` (schema in ARCHITECTURE.md) to the run folder, and to the artifacts after a
        full retrain, and return it.

        An evaluation of the committed full-profile artifacts (``profile="full"``, no retrain, seed 0)
        is then compared with the committed ``artifacts/metrics.json``: a verdict, a control's verdict or a
        stable number that moved raises :class:`ResultsMovedError` (after the run's metrics are written,
        so nothing is lost). A claim that honestly does not replicate is not an error; a change is.
        """
        metrics = {
            "chapter": self.chapter,
            "profile": self.profile,
            "retrain": self.retrain,
            "seed": self.seed,
            "device": str(self.device),
            "threads": torch.get_num_threads(),
            "wall_time_s": round(time.perf_counter() - self.started, 1),
            "git_commit": self.commit,
            "experiment_digest": experiment_digest(self.config, [r.claim for r in results.results], self.profile),
            "versions": runtime.versions(),
            "summary": results.summary(),
            "claims": results.as_dicts(),
        }
        if self.output_dir is not None:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            (self.output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
        if self.retrain and self.profile == "full":
            artifacts.write_metrics(self.artifact_dir, metrics)
        elif self.profile == "full" and self.seed == 0:
            if (self.artifact_dir / RECORDING).exists():
                self._record(metrics)
            else:
                self._compare_with_committed(metrics)
        _glue_verdicts(self.chapter, results)
        return metrics

    def _record(self, metrics: dict) -> None:
        """``python -m replications refresh``: this evaluation becomes the committed expected result (the
        training run's own provenance stays in ``artifacts/config.json``, written with the weights)."""
        artifacts.write_metrics(self.artifact_dir, metrics)

    def _compare_with_committed(self, metrics: dict) -> None:
        committed = self.artifact_dir / artifacts.METRICS
        if not committed.exists():  # nothing to compare with
            return
        moves = compare_results(metrics["claims"], json.loads(committed.read_text(encoding="utf-8"))["claims"])
        if moves:
            raise ResultsMovedError(
                f"{self.chapter}: the re-evaluation differs from the committed {committed.relative_to(ROOT.parent)}: "
                + "; ".join(moves) + f". If the change is intended, record it: python -m replications refresh "
                f"{self.chapter} (then commit the notebook and artifacts/metrics.json)")


def verdict_box(chapter: str, results: ClaimResults) -> str:
    """The line shown under a chapter's title: the verdict counts, linked to the claims section
    (labelled ``(<chapter>-claims)=`` in the notebook)."""
    return f"**{results.summary()}** · [the claims table](#{chapter}-claims)"


def _glue_verdicts(chapter: str, results: ClaimResults) -> None:
    """Glue the verdict box as ``verdicts`` for the notebook's ``{glue:md}`` under its title (myst-nb)."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown
        from myst_nb import glue
    except ImportError:  # outside a notebook toolchain: nothing to glue
        return
    if get_ipython() is None:  # not in a kernel
        return
    glue("verdicts", Markdown(verdict_box(chapter, results)), display=False)


def start(chapter: str, profiles: Mapping[str, Any], *, profile: Any, retrain: Any, seed: Any, device: Any,
          output_dir: Any) -> ChapterRun:
    """Validate the notebook's parameters, apply the device/seed/determinism policy and the plot
    theme, print the environment, and return the run. Raises :class:`~scorelib.errors.ConfigError` on bad
    input (:func:`~replications.parameters.check_parameters`)."""
    check_parameters(profile, retrain, seed, device, output_dir, profiles)
    resolved = runtime.get_device(device)
    runtime.seed_everything(seed)
    runtime.set_deterministic(True)
    use_theme()
    run = ChapterRun(chapter, profile, retrain, seed, resolved,
                     Path(output_dir) if output_dir is not None else None, profiles[profile])
    mode = "training from scratch" if retrain else "evaluating the committed full-profile artifacts"
    print(f"{chapter}: profile={profile}, seed={seed}, {mode}")
    print(runtime.describe(resolved))
    return run
