"""``python -m replications sweep`` on a 2-worker Dask LocalCluster, with stub chapters (tiny notebooks that write a
metrics.json like a chapter's): the grid runs end to end through papermill, a failing cell is reported with its log
and retried once without stopping the others, a rerun skips finished cells and ``force`` reruns them; bad input is
one clear error. The across-seed statistics are checked against a hand computation."""

from __future__ import annotations

import json
import math
import re
import statistics
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from replications import sweep_summary
from replications.runner import across_seeds, executor, plan, report, sweep
from replications.runner import cluster as cluster_module
from replications.runner.cli import main
from replications.runner.run import run
from replications.runner.task import LOG
from replications.chapter import RUN_ARTIFACTS
from scorelib.claims import Claim, ClaimTable
from scorelib.errors import ConfigError, MissingArtifactError

STUB = '''
import json, os
from pathlib import Path
from scorelib.claims import Claim, ClaimTable

out = Path(output_dir)
if BEHAVIOUR == "fails" and seed == 1:
    raise RuntimeError("stub failure at seed 1")
if BEHAVIOUR == "flaky" and seed == 0 and not (out / "tried").exists():
    (out / "tried").touch()
    raise RuntimeError("flaky stub: fails once")
table = ClaimTable([Claim("w", "Stub 2026", "a weight", 0.5, "abs", 0.1, 0.1, control="U = 1")])
results = table.check({"w": 0.5 + 0.05 * seed}, profile, controls={"w": 0.9})
print("stub threads", os.environ.get("OMP_NUM_THREADS"))
metrics = {"chapter": CHAPTER, "profile": profile, "retrain": retrain, "seed": seed, "device": device,
           "wall_time_s": 0.1, "git_commit": None, "summary": results.summary(), "claims": results.as_dicts(),
           "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
           "malloc_trim_threshold": os.environ.get("MALLOC_TRIM_THRESHOLD_"),
           "thp_mem_alloc": os.environ.get("THP_MEM_ALLOC_ENABLE")}
(out / "metrics.json").write_text(json.dumps(metrics))
'''


def _stub(folder: Path, chapter: str, behaviour: str) -> Path:
    """A notebook with a ``parameters`` cell and a cell that writes metrics.json as a chapter does."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(
        'profile = "full"\nretrain = False\nseed = 0\ndevice = "auto"\noutput_dir = None')
    params.metadata["tags"] = ["parameters"]
    body = f"CHAPTER = {chapter!r}\nBEHAVIOUR = {behaviour!r}\n" + STUB
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / chapter / f"{chapter}.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def cluster():
    opened = cluster_module.connect(workers=2, threads=1)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def stubs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stubs")
    return {"alpha": _stub(folder, "alpha", "ok"), "beta": _stub(folder, "beta", "fails")}


def _sweep(cluster, stubs, output: Path, **kwargs) -> dict[tuple[str, int], executor.CellResult]:
    results = sweep.sweep(["alpha", "beta"], [0, 1], profile="quick", output=output, notebooks=stubs,
                          cluster=cluster, progress=False, **kwargs)
    return {(r.cell.chapter, r.cell.seed): r for r in results}


def test_a_tiny_sweep_runs_end_to_end_and_a_failing_cell_is_retried_once_and_reported(cluster, stubs, tmp_path, capsys):
    out = tmp_path / "sweeps"
    results = _sweep(cluster, stubs, out)
    text = capsys.readouterr().out
    assert {k: r.status for k, r in results.items()} == {
        ("alpha", 0): "done", ("alpha", 1): "done", ("beta", 0): "done", ("beta", 1): "failed"}
    failed = results[("beta", 1)]
    assert failed.attempts == 2 and "stub failure at seed 1" in failed.error
    log = failed.log.read_text()
    assert "attempt 1/2" in log and "attempt 2/2" in log and "stub failure at seed 1" in log
    assert "FAILED: beta seed 1" in text and str(failed.log) in text
    assert not (failed.run_dir / "metrics.json").exists()  # a rerun will not take it for finished
    for (chapter, seed), r in results.items():
        assert r.run_dir == (out / "quick" / chapter / f"seed-{seed}").resolve()
        assert (r.run_dir / RUN_ARTIFACTS).exists() and (r.run_dir / f"{chapter}.ipynb").exists()
        if r.ok:
            metrics = json.loads((r.run_dir / "metrics.json").read_text())
            assert (metrics["chapter"], metrics["seed"], metrics["retrain"]) == (chapter, seed, True)
            assert metrics["omp_num_threads"] == "1"  # the kernel inherits the cell's thread count
            assert metrics["malloc_trim_threshold"] is None  # and not the Dask nanny's allocator setting,
            assert metrics["thp_mem_alloc"] is None  # the runner's defaults (scorelib.runtime.KERNEL_ENVIRONMENT)
            assert "stub threads 1" in r.log.read_text()
    assert results[("alpha", 1)].passed == 1 and results[("alpha", 1)].total == 1


def test_a_cell_that_fails_once_is_retried_and_succeeds(cluster, tmp_path):
    stubs = {"alpha": _stub(tmp_path, "alpha", "ok"), "beta": _stub(tmp_path, "beta", "flaky")}
    results = _sweep(cluster, stubs, tmp_path / "sweeps")
    assert results[("beta", 0)].status == "done" and results[("beta", 0)].attempts == 2
    assert "flaky stub: fails once" in results[("beta", 0)].log.read_text()
    assert all(r.ok for r in results.values())


def test_a_rerun_skips_finished_cells_and_force_reruns_them(cluster, stubs, tmp_path, capsys):
    out = tmp_path / "sweeps"
    _sweep(cluster, stubs, out)
    finished = out / "quick" / "alpha" / "seed-0" / "metrics.json"
    before = finished.stat().st_mtime_ns
    again = _sweep(cluster, stubs, out)
    assert {k: r.status for k, r in again.items() if k != ("beta", 1)} == dict.fromkeys(
        [("alpha", 0), ("alpha", 1), ("beta", 0)], "skipped")
    assert again[("beta", 1)].status == "failed"  # an unfinished cell runs again
    assert finished.stat().st_mtime_ns == before
    assert "3 finished earlier, 1 to run" in capsys.readouterr().out
    forced = _sweep(cluster, stubs, out, force=True)
    assert forced[("alpha", 0)].status == "done" and finished.stat().st_mtime_ns > before


def test_a_cell_of_another_profile_or_seed_is_not_finished(tmp_path):
    folder = tmp_path / "seed-1"
    folder.mkdir()
    claims = ClaimTable([Claim("w", "s", "q", 0.5, "abs", 0.1, 0.1, control="c")]).check(
        {"w": 0.5}, "quick", controls={"w": 0.9}).as_dicts()
    record = {"chapter": "alpha", "profile": "quick", "seed": 1, "retrain": True, "summary": "", "claims": claims}
    (folder / "metrics.json").write_text(json.dumps(record))
    assert report.finished(folder, "alpha", "quick", 1) is not None
    assert report.finished(folder, "alpha", "full", 1) is None
    assert report.finished(folder, "alpha", "quick", 2) is None
    assert report.finished(folder, "beta", "quick", 1) is None
    (folder / "metrics.json").write_text('{"chapter": "alpha", "claims": [')  # cut short
    assert report.finished(folder, "alpha", "quick", 1) is None


@pytest.mark.parametrize(("text", "seeds"), [("0-4", [0, 1, 2, 3, 4]), ("0,2,5", [0, 2, 5]), ("3", [3]),
                                             ("0-2, 7,1", [0, 1, 2, 7])])
def test_seeds_are_a_range_a_list_or_one(text, seeds):
    assert plan.parse_seeds(text) == seeds


@pytest.mark.parametrize(("text", "message"), [("4-2", "the range 4-2 is empty; write the low seed first (2-4)"),
                                               ("-1", "write non-negative seeds as a range 0-4"),
                                               ("a", "bad --seeds 'a'"), ("", "bad --seeds ''")])
def test_bad_seeds_say_how_to_write_them(text, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        plan.parse_seeds(text)


def test_the_local_layout_never_oversubscribes_the_cores():
    assert cluster_module.local_layout(None, None, 2) == (2, 1)
    assert cluster_module.local_layout(1, None, 2) == (1, 2)
    assert cluster_module.local_layout(None, 2, 4) == (2, 2)
    with pytest.raises(ConfigError, match="oversubscribe the 2 cores"):
        cluster_module.local_layout(3, None, 2)
    with pytest.raises(ConfigError, match="oversubscribe the 2 cores"):
        cluster_module.local_layout(None, 4, 2)


def _cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize(("argv", "message"), [
    (["sweep", "--seeds", "4-2"], "the range 4-2 is empty"),
    (["sweep", "no_such_chapter", "--seeds", "0"], "unknown chapter(s) no_such_chapter; available: score_matching"),
    (["sweep", "score_matching", "--seeds", "0", "--scheduler", "login-node:8786"], "write it as tcp://HOST:PORT"),
    (["sweep", "score_matching", "--seeds", "0", "--scheduler", "tcp://h:1", "--workers", "2"], "has its own workers"),
    (["sweep", "score_matching", "--seeds", "0", "--workers", "64"], "oversubscribe"),
])
def test_bad_sweep_input_is_one_line_and_exit_code_2(capsys, argv, message):
    code, out = _cli(capsys, *argv)
    assert code == 2 and message in out and "Traceback" not in out


def test_an_unreachable_scheduler_says_how_to_start_one():
    message = r"no Dask scheduler answered at tcp://127.0.0.1:1 within 1 s.*drop --scheduler"
    with pytest.raises(ConfigError, match=message):
        cluster_module.connect("tcp://127.0.0.1:1", timeout=1)


# -- the across-seed summary ---------------------------------------------------------------------------------

CLAIMS = ClaimTable([
    Claim("w", "Paper, §1", "a weight", 0.5, "abs", 0.1, 0.1, control="U = 1"),
    Claim("lenient", "Paper, §2", "a weight", 0.5, "abs", 0.1, 0.1, control="U = 1", min_pass_rate=0.6),
    Claim("lucky", "Paper, §3", "an error", None, "max", 0.1, 0.1, control="none"),
    Claim("never", "Paper, §4", "an error", None, "max", 0.1, 0.1, control="none"),
    Claim("noisy", "Paper, §5", "an error", None, "max", 0.1, 0.1, control="none"),
])
W = [0.50, 0.65, 0.55]  # seed 1 fails |w − 0.5| ≤ 0.1
LUCKY = [0.05, 0.2, 0.3]  # passes at seed 0 only


TOY_DIGEST = "d1gest0f70yc1a1m"


def _records(tmp_path: Path, digests: tuple[str | None, ...] = (TOY_DIGEST,) * 3) -> list[report.ChapterMetrics]:
    records = []
    for seed in (2, 0, 1):  # any order
        measured = {"w": W[seed], "lenient": W[seed], "lucky": LUCKY[seed], "never": 1.0, "noisy": (0.09, 0.02)}
        results = CLAIMS.check(measured, "quick", controls={c.id: 9.0 for c in CLAIMS})
        data = {"chapter": "toy", "profile": "quick", "retrain": True, "seed": seed, "git_commit": "abc",
                "experiment_digest": digests[seed], "summary": results.summary(), "claims": results.as_dicts()}
        path = tmp_path / "quick" / "toy" / f"seed-{seed}" / "metrics.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(data))
        records.append(report.read(path))
    return records


def test_the_summary_statistics_match_a_hand_computation(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep_summary, "current_digest", lambda chapter, profile: TOY_DIGEST)
    summary = across_seeds.summarise(_records(tmp_path))
    assert summary["experiment_digest"] == TOY_DIGEST
    claims = {c["id"]: c for c in summary["claims"]}
    w = claims["w"]
    mean = (0.50 + 0.65 + 0.55) / 3
    sd = math.sqrt(((0.50 - mean) ** 2 + (0.65 - mean) ** 2 + (0.55 - mean) ** 2) / 2)
    assert summary["seeds"] == [0, 1, 2] and w["measured"] == W
    assert w["mean"] == pytest.approx(mean) and w["sd"] == pytest.approx(sd)
    assert sd == pytest.approx(statistics.stdev(W))
    assert (w["min"], w["max"], w["n_passed"], w["pass_rate"]) == (0.50, 0.65, 2, pytest.approx(2 / 3))
    assert (w["required"], w["verdict"]) == (3, "seed-fragile")  # every seed, by default
    assert (claims["lenient"]["required"], claims["lenient"]["verdict"]) == (2, "replicated")  # ⌈0.6·3⌉ = 2
    assert claims["lucky"]["verdict"] == "seed 0 only" and claims["lucky"]["verdicts"][0] == "replicated"
    assert claims["never"]["verdict"] == "not replicated" and claims["never"]["sd"] == 0.0
    assert claims["noisy"]["verdict"] == "inconclusive"  # 0.09 ± 2·0.02 straddles 0.1 at every seed
    assert summary["summary"] == ("1/5 claims replicated across 3 seeds · 1 seed-fragile · 1 seed 0 only · "
                                  "1 inconclusive · 1 not replicated")
    text = sweep_summary.claims_table(summary)
    assert "seed 0 only" in text and "2/3 (needs 3)" in text and "0.567 ± 0.076" in text


def test_seeds_of_different_versions_of_the_experiment_are_not_summarised_together(tmp_path):
    with pytest.raises(ConfigError, match="different versions of the experiment.*--force"):
        across_seeds.summarise(_records(tmp_path, (TOY_DIGEST, "0" * 16, TOY_DIGEST)))


def test_a_committed_summary_is_read_back_as_the_chapter_and_book_tables(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sweep_summary, "ROOT", tmp_path / "replications")
    monkeypatch.setattr(sweep_summary, "CHAPTER_ORDER", ("toy",))
    monkeypatch.setattr(sweep_summary, "current_digest", lambda chapter, profile: TOY_DIGEST)
    assert "not yet swept over seeds" in sweep_summary.chapter_sweeps_markdown("toy")
    with pytest.raises(MissingArtifactError, match="python -m replications report --sweep --profile quick --write"):
        sweep_summary.read_committed("toy")
    _records(tmp_path / "runs")
    code, out = _cli(capsys, "report", "--sweep", "--profile", "quick", "--output", str(tmp_path / "runs"), "--write")
    target = tmp_path / "replications" / "toy" / "sweeps" / "quick"
    assert code == 0 and f"committed {target}" in out
    assert sorted(p.name for p in target.iterdir()) == ["seed-0.json", "seed-1.json", "seed-2.json", "summary.json"]
    assert json.loads((target / "seed-1.json").read_text())["claims"][0]["measured"] == W[1]
    code, out = _cli(capsys, "report", "--sweep", "--committed")
    assert code == 0 and out.startswith("toy · quick · seeds 0, 1, 2")
    table = sweep_summary.chapter_sweeps_markdown("toy")
    assert table.startswith("**Full profile:** not yet swept over seeds (`python -m replications sweep toy")
    assert "**Quick profile, seeds 0–2** (smaller models" in table and "\n\n| claim | across seeds |" in table
    assert "**lucky**" in table and "seed 0 only" in table
    book = sweep_summary.book_table(sweep_summary.committed_summaries("quick"))
    assert "| toy | quick | 3 | 1/5 | lucky | w | noisy | never |" in book
    # the chapter's experiment changes (another budget or criterion): its committed sweep becomes history
    monkeypatch.setattr(sweep_summary, "current_digest", lambda chapter, profile: "0" * 16)
    table = sweep_summary.chapter_sweeps_markdown("toy")
    assert ("**Quick profile, seeds 0–2** (an earlier version of this experiment, swept at `abc`, the profile's "
            "configuration or its claims' criteria have changed since: not the verdicts of today's claims; "
            "`python -m replications sweep toy --seeds 0-2 --profile quick` measures them)") in table
    assert "| toy | quick (an earlier version) | 3 |" in sweep_summary.book_table(sweep_summary.committed_summaries())
    code, out = _cli(capsys, "report", "--sweep", "--committed")
    assert code == 0 and "HISTORY: an earlier version of this experiment" in out


def test_unfinished_seeds_are_shown_and_never_committed(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sweep_summary, "ROOT", tmp_path / "replications")
    monkeypatch.setattr(sweep_summary, "current_digest", lambda chapter, profile: TOY_DIGEST)
    _records(tmp_path / "runs")
    broken = tmp_path / "runs" / "quick" / "toy" / "seed-3"
    broken.mkdir()
    found = across_seeds.run_sweeps(tmp_path / "runs")
    assert found[("quick", "toy")].unfinished == (broken,)
    with pytest.raises(ConfigError, match="unfinished seed folder"):
        across_seeds.commit(found[("quick", "toy")])
    code, out = _cli(capsys, "report", "--sweep", "--output", str(tmp_path / "runs"))
    assert code == 1 and "seed-3 did not finish" in out and "seed 0 only" in out


def test_cells_start_costliest_first_by_the_committed_sweeps_wall_times():
    """The book's chapters in grid order end with its two costliest (the NDP regressions): longest_first starts those
    first, keeps grid order within a chapter, and gives each cell a distinct Dask priority, highest first."""
    cells = [plan.Cell(c, s) for c in ("score_matching", "ndp_image_regression", "no_such_chapter") for s in (0, 1)]
    ordered = plan.longest_first(cells, "quick")
    assert plan.expected_seconds("ndp_image_regression", "quick") > plan.expected_seconds("score_matching", "quick") > 0
    assert plan.expected_seconds("no_such_chapter", "quick") == 0.0
    # an evaluation's cost is the committed artifacts' own evaluation time, not a retrain's
    assert 0 < plan.expected_seconds("ddpm", "full", retrain=False) < plan.expected_seconds("ddpm", "full")
    assert plan.expected_seconds("no_such_chapter", "full", retrain=False) == 0.0
    assert [c for c, _ in ordered] == [cells[2], cells[3], cells[0], cells[1], cells[4], cells[5]]
    assert [p for _, p in ordered] == [6, 5, 4, 3, 2, 1]


def test_every_cell_is_in_one_dask_task_group_so_the_scheduler_queues_them_by_priority():
    from dask.utils import key_split
    cells = [plan.Cell(c, s) for c in ("ncsn", "ndp_step_function", "score_sde") for s in (0, 4)]
    keys = [executor.task_key(cell, attempt) for cell in cells for attempt in (1, 2)]
    assert {key_split(k) for k in keys} == {"sweep-cell"} and len(set(keys)) == len(keys)
    assert "ndp_step_function-seed-4-attempt-2" in keys[7]


def test_run_with_workers_runs_chapters_side_by_side_each_into_its_own_folder(cluster, stubs, tmp_path, capsys):
    """``run --workers 2``: the chapters run at once on the cluster, each into the folder it gets when run alone
    (no sweep marker: a full retrain there writes the committed artifacts), with one thread each, its kernel's output
    in log.txt, one line when it finishes, no retry, and the outcomes in the order asked."""
    outcomes = run(["beta", "alpha"], profile="quick", retrain=True, seed=1, device="auto", output=tmp_path,
                   notebooks=stubs, cluster=cluster, progress=False)
    text = capsys.readouterr().out
    assert [o.chapter for o in outcomes] == ["beta", "alpha"]
    beta, alpha = outcomes
    assert alpha.ok and (alpha.passed, alpha.total) == (1, 1)
    assert alpha.run_dir == (tmp_path / "quick" / "alpha").resolve()
    assert not beta.ok and "stub failure at seed 1" in beta.error
    assert not (alpha.run_dir / RUN_ARTIFACTS).exists()
    metrics = json.loads((alpha.run_dir / "metrics.json").read_text())
    assert (metrics["seed"], metrics["retrain"], metrics["omp_num_threads"]) == (1, True, "1")
    log = (beta.run_dir / LOG).read_text()
    assert "beta, profile quick, retrain, attempt 1/1" in log and "attempt 2" not in log
    assert "alpha: 1/1 claims replicated in" in text
    assert "beta: FAILED (RuntimeError: stub failure at seed 1" in text and "on a local cluster: 2 workers" in text


def test_run_with_workers_evaluates_without_retraining(cluster, stubs, tmp_path):
    (alpha,) = run(["alpha"], profile="full", retrain=False, seed=0, device="auto", output=tmp_path, notebooks=stubs,
                   cluster=cluster, progress=False)
    metrics = json.loads((alpha.run_dir / "metrics.json").read_text())
    assert alpha.ok and (metrics["profile"], metrics["retrain"]) == ("full", False)


MAIN_JOB = '''
import sys
from pathlib import Path
from replications.runner.run import run

if __name__ == "__main__":
    folder = Path(sys.argv[1])
    notebooks = {c: folder / c / f"{c}.ipynb" for c in ("alpha", "beta")}
    run(["alpha", "beta"], profile="quick", retrain=True, seed=0, device="cpu", output=folder / "runs",
        notebooks=notebooks, workers=int(sys.argv[2]))
'''
#: One state of a progress bar, as tqdm draws it: "alpha:  33%|███▍      | 1/3 [00:00<00:01,  1.75cell/s]".
PROGRESS = re.compile(r"(alpha|beta|run quick): +\d+%\|[^|]*\| \d+/\d+ \[[^\]]*\]")


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_the_main_job_console_shows_no_warning_and_one_whole_line_per_chapter(tmp_path, workers):
    """``run`` as the command line runs it, in a process of its own so that every child's stderr is seen: stderr holds
    progress bars only (no kernel banner, no TCP warning, no Dask chatter); stdout a heading, one whole result line
    per chapter, and the final table."""
    for chapter in ("alpha", "beta"):
        _stub(tmp_path, chapter, "ok")
    script = tmp_path / "main_job.py"
    script.write_text(MAIN_JOB)
    done = subprocess.run([sys.executable, str(script), str(tmp_path), str(workers)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    leftover = [s for s in re.split(r"[\r\n]", PROGRESS.sub("", done.stderr)) if s.strip()]
    assert not leftover, f"stderr besides progress bars: {leftover}"
    lines = done.stdout.splitlines()
    for chapter in ("alpha", "beta"):
        results = [line for line in lines if line.startswith(f"{chapter}:")]
        assert len(results) == 1 and re.fullmatch(rf"{chapter}: 1/1 claims replicated in \d+ s", results[0]), lines
    assert "2/2 claims replicated in 2 chapter(s); all ok" in done.stdout
