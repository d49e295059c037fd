"""The experiment digest: what a run measured apart from its seed. It moves with the profile's numbers and the
claims' criteria at that profile, and with nothing else, so that a committed sweep of an earlier experiment is
told from a current one."""

from __future__ import annotations

import dataclasses
import json

import pytest

from replications import ROOT
from replications.experiment_digest import current_digest, experiment_digest
from replications.runner.chapters import available_chapters
from scorelib.claims import Claim
from scorelib.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Config:
    steps: int = 100
    lr: float = 1e-3
    widths: tuple[int, ...] = (32, 64)


CLAIMS = [Claim("w", "Paper, §1", "a weight", 0.5, "abs", 0.2, 0.1, control="U = 1"),
          Claim("err", "Paper, §2", "an error", None, "max", 0.3, 0.05, control="none")]


def test_the_digest_moves_with_numbers_and_criteria_only():
    base = experiment_digest(Config(), CLAIMS, "full")
    assert len(base) == 16 and base == experiment_digest(Config(), CLAIMS[::-1], "full")  # order of claims: no
    assert base == experiment_digest({**dataclasses.asdict(Config()), "seed": 7}, CLAIMS, "full")  # the seed: no
    reworded = [dataclasses.replace(CLAIMS[0], source="Paper, §1.2", quantity="w", control="U = 2"), CLAIMS[1]]
    assert base == experiment_digest(Config(), reworded, "full")  # wording: no
    assert base == experiment_digest(Config(), [dataclasses.replace(CLAIMS[0], tolerance_quick=0.3), CLAIMS[1]],
                                     "full")  # the other profile's tolerance: no
    moved = [
        experiment_digest(Config(steps=200), CLAIMS, "full"),  # a training budget
        experiment_digest(Config(widths=(32, 128)), CLAIMS, "full"),
        experiment_digest(Config(), [dataclasses.replace(CLAIMS[0], tolerance_full=0.2), CLAIMS[1]], "full"),
        experiment_digest(Config(), [dataclasses.replace(CLAIMS[0], paper=0.6), CLAIMS[1]], "full"),
        experiment_digest(Config(), [dataclasses.replace(CLAIMS[1], min_pass_rate=0.8), CLAIMS[0]], "full"),
        experiment_digest(Config(), CLAIMS[:1], "full"),  # a claim dropped
        experiment_digest(Config(), CLAIMS, "quick"),
    ]
    assert base not in moved and len(set(moved)) == len(moved)


@pytest.mark.parametrize("chapter", available_chapters())
def test_each_chapter_has_a_digest_per_profile_and_its_committed_results_were_evaluated_at_it(chapter):
    digests = {profile: current_digest(chapter, profile) for profile in ("quick", "full")}
    assert digests["quick"] != digests["full"]
    committed = json.loads((ROOT / chapter / "artifacts" / "metrics.json").read_text(encoding="utf-8"))
    assert committed["experiment_digest"] == digests["full"], (
        f"{chapter}: the committed expected results were evaluated on another version of the experiment: "
        f"python -m replications refresh {chapter}")


def test_an_unknown_profile_is_a_clear_error():
    with pytest.raises(ConfigError, match="no profile 'huge'.*'full', 'quick'"):
        current_digest("score_matching", "huge")
