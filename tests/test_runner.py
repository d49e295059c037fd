"""The command line: bad input is one clear line and exit code 2, never a traceback."""

from __future__ import annotations

import re

import pytest
import torch

from replications.runner import report
from replications.runner.chapters import check_request
from replications.runner.cli import main
from replications.runner.notebook import execute
from replications import ROOT
from replications.parameters import check_parameters
from scorelib.errors import ConfigError, CorruptArtifactError


def _run_cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_list(capsys):
    code, out = _run_cli(capsys, "list")
    assert code == 0 and "score_matching" in out


def test_unknown_chapter(capsys):
    code, out = _run_cli(capsys, "run", "no_such_chapter")
    assert code == 2
    assert "unknown chapter(s) no_such_chapter" in out and "score_matching" in out and "Traceback" not in out


@pytest.mark.parametrize("workers", ["0", "-1", "oversubscribe"])
def test_a_bad_worker_count_is_one_clear_error_before_anything_runs(capsys, workers):
    from replications.runner.cluster import cores
    count = str(cores() + 1) if workers == "oversubscribe" else workers
    code, out = _run_cli(capsys, "run", "score_matching", "--workers", count)
    assert code == 2 and "Traceback" not in out
    assert ("oversubscribe" in out) if workers == "oversubscribe" else ("--workers must be a positive int" in out)


def test_the_main_job_runs_a_chapter_per_core_by_default():
    """``run`` without ``--workers``: one chapter per core, never more workers than chapters, one after another in
    this process on one core."""
    from replications.runner.cli import _parser
    from replications.runner.run import default_workers
    assert _parser().parse_args(["run"]).workers is None
    assert [default_workers(7, available) for available in (1, 2, 16)] == [1, 2, 7]
    assert default_workers(1, 16) == 1


def test_quick_profile_needs_retrain(capsys):
    code, out = _run_cli(capsys, "run", "score_matching", "--profile", "quick")
    assert code == 2 and "--retrain" in out


def test_unknown_profile_is_rejected_by_argparse(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "--profile", "medium"])
    assert exc.value.code == 2
    assert "invalid choice: 'medium'" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_absent_cuda_is_an_error_not_a_fallback(capsys):
    code, out = _run_cli(capsys, "run", "score_matching", "--device", "cuda")
    assert code == 2 and "torch.cuda.is_available() is False" in out


def test_report_without_runs(capsys, tmp_path):
    code, out = _run_cli(capsys, "report", "--output", str(tmp_path))
    assert code == 1 and "no metrics.json found" in out


def test_report_committed(capsys):
    code, out = _run_cli(capsys, "report", "--committed")
    assert code == 0 and "score_matching" in out


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"profile": "medium"}, "unknown profile 'medium'; choose one of quick, full"),
        ({"retrain": "yes"}, "retrain must be True or False, got 'yes' (str)"),
        ({"seed": -1}, "seed must be a non-negative int, got -1"),
        ({"seed": True}, "seed must be a non-negative int, got True (bool)"),
        ({"device": "tpu"}, "unknown device 'tpu'; choose one of auto, cpu, cuda, mps"),
        ({"output_dir": 3}, "output_dir must be a path or None"),
        ({"profile": "quick"}, "run it with retrain=True (runner: --profile quick --retrain)"),
    ],
)
def test_one_parameter_check_for_the_notebooks_and_the_runner(parameters, message):
    """parameters.check_parameters is what a notebook's set-up cell and the runner's check_request both run."""
    base = {"profile": "full", "retrain": False, "seed": 0, "device": "cpu", "output_dir": None}
    args = {**base, **parameters}
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_parameters(**args)
    if "output_dir" not in parameters:
        with pytest.raises(ConfigError, match=re.escape(message)):
            check_request([], args["profile"], args["retrain"], args["device"], args["seed"])
    check_parameters(**base)
    check_parameters(**{**base, "profile": "quick", "retrain": True, "output_dir": "runs"})


def test_a_chapter_checks_against_its_own_profile_names():
    with pytest.raises(ConfigError, match="choose one of full$"):
        check_parameters("quick", True, 0, "cpu", None, profiles={"full": None})


def test_an_unreadable_metrics_file_is_one_line_that_says_how_to_rewrite_it(tmp_path, capsys):
    bad = tmp_path / "full" / "score_matching" / "metrics.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(CorruptArtifactError, match="run its chapter again"):
        report.read(bad)
    bad.write_text('{"claims": []}', encoding="utf-8")  # no chapter id
    with pytest.raises(CorruptArtifactError, match="cannot read"):
        report.load([bad])
    code, out = _run_cli(capsys, "report", "--output", str(tmp_path))
    assert code == 2 and "cannot read" in out and "Traceback" not in out


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="needs a machine without MPS")
def test_every_device_choice_reaches_the_device_check(capsys):
    code, out = _run_cli(capsys, "run", "score_matching", "--device", "mps")
    assert code == 2 and "device 'mps' was requested but is not available" in out


@pytest.mark.slow
@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"seed": "zero"}, "ConfigError: seed must be a non-negative int, got 'zero'"),
        ({"profile": "medium"}, "ConfigError: unknown profile 'medium'; choose one of quick, full"),
        ({"retrain": "yes"}, "ConfigError: retrain must be True or False"),
    ],
)
def test_bad_notebook_parameter_fails_in_the_setup_cell(tmp_path, parameters, message):
    """A parameter of the wrong type, passed straight to the notebook, stops it with one line."""
    base = {"profile": "full", "retrain": False, "seed": 0, "device": "cpu"}
    notebook = ROOT / "score_matching" / "score_matching.ipynb"
    outcome = execute("score_matching", notebook, tmp_path, progress=False, **{**base, **parameters})
    assert outcome.error is not None and outcome.error.startswith(message), outcome.error
    assert "traceback in" not in outcome.error  # a user error, not a bug
    assert not outcome.ok
