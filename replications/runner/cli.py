"""The command line, ``python -m replications list | run | sweep | report | refresh`` (see ``--help`` of each): each
command parses its flags and hands them to its module; bad input is one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scorelib.errors import ScorelibError


def _parser() -> argparse.ArgumentParser:
    from replications.runner import run as run_module
    from scorelib.claims import PROFILES
    from scorelib.runtime import DEVICE_CHOICES

    parser = argparse.ArgumentParser(
        prog="python -m replications",
        description="Re-evaluate or retrain the chapters of the score-based modelling replication book.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the chapters, their claims and whether artifacts are committed")
    run = sub.add_parser(
        "run",
        help="execute chapters with papermill and print the claims scoreboard",
        description="Execute chapter notebooks (all of them when none is named) into "
        "OUTPUT/<profile>/<chapter>/ and print one scoreboard. Exit code 1 if a claim fails or a cell "
        "errors, 2 for bad input. Default: the full profile evaluated from the committed artifacts.",
    )
    run.add_argument("chapters", nargs="*", metavar="CHAPTER", help="chapter ids (default: all)")
    run.add_argument("--profile", choices=PROFILES, default="full",
                     help="quick: CI scale (needs --retrain); full: the replication scale (default)")
    run.add_argument("--retrain", action="store_true",
                     help="train from scratch; with --profile full this rewrites the committed artifacts")
    run.add_argument("--device", choices=DEVICE_CHOICES, default="auto",
                     help="auto: CUDA if available, else MPS, else CPU (an absent GPU is an error, never a fallback)")
    run.add_argument("--seed", type=int, default=0, help="random seed (default 0; the artifacts use 0)")
    run.add_argument("--output", type=Path, default=run_module.DEFAULT_OUTPUT,
                     help="run folder root (default _build/runs)")
    run.add_argument("--no-progress", action="store_true", help="no papermill progress bars")
    run.add_argument("--workers", type=int,
                     help="chapters run at a time, on a local Dask cluster whose workers share the cores (default: "
                     "one per core, at most one per chapter; 1: one after another in this process, each with every "
                     "core)")
    sweep = sub.add_parser(
        "sweep",
        help="retrain chapters over seeds on Dask distributed",
        description="Retrain every (chapter, seed) cell through the same papermill path as `run`, on a Dask "
        "LocalCluster sized to this machine (workers × torch threads ≤ cores) or on an existing cluster "
        "(--scheduler), into OUTPUT/<profile>/<chapter>/seed-<s>/. A failed cell is retried once; finished cells "
        "are skipped unless --force. Exit code 1 if a cell finally failed, 2 for bad input, 130 on Ctrl-C.",
    )
    sweep.add_argument("chapters", nargs="*", metavar="CHAPTER", help="chapter ids (default: all)")
    sweep.add_argument("--seeds", default="0-4", help="a range 0-4, a list 0,2,5 or one seed 3 (default 0-4)")
    sweep.add_argument("--profile", choices=PROFILES, default="quick", help="the profile retrained (default quick)")
    sweep.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler, e.g. tcp://host:8786")
    sweep.add_argument("--workers", type=int, help="local cluster workers (default: cores ÷ threads)")
    sweep.add_argument("--threads", type=int, help="torch threads per cell (default: cores ÷ workers locally, "
                       "1 on an existing cluster)")
    sweep.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="as for run (default auto)")
    sweep.add_argument("--force", action="store_true", help="rerun the cells that finished earlier")
    sweep.add_argument("--output", type=Path, default=None, help="sweep folder root (default _build/sweeps)")
    sweep.add_argument("--no-progress", action="store_true", help="no progress bar")
    report = sub.add_parser("report", help="gather every metrics.json under OUTPUT into one scoreboard")
    report.add_argument("--output", type=Path, default=None,
                        help="run folder root (default _build/runs; with --sweep _build/sweeps)")
    report.add_argument("--committed", action="store_true",
                        help="the committed artifacts' metrics (with --sweep: the committed sweep summaries)")
    report.add_argument("--sweep", action="store_true", help="claims across seeds: mean ± sd, min, max, pass rate")
    report.add_argument("--profile", choices=PROFILES, help="with --sweep: only this profile")
    report.add_argument("--write", action="store_true",
                        help="with --sweep: commit each chapter's seeds and summary to replications/<chapter>/sweeps/")
    refresh = sub.add_parser("refresh", help="re-execute committed notebooks in place with their defaults")
    refresh.add_argument("chapters", nargs="*", metavar="CHAPTER", help="chapter ids")
    refresh.add_argument("--results", action="store_true", help="also the book's generated pages: results, claims, talk (run last)")
    return parser


def _refresh(chapters: list[str], results: bool) -> int:
    from replications.runner import refresh
    from replications.runner.chapters import check_request, notebook_path

    if chapters or not results:  # no chapter named and no --results: every chapter
        chapters = check_request(chapters, "full", False, "cpu", 0)
    for chapter in chapters:
        print(f"executing {notebook_path(chapter)} and recording artifacts/metrics.json", flush=True)
        print(refresh.refresh_chapter(chapter)["summary"], flush=True)
    if results:
        for page in refresh.BOOK_PAGES:
            print(f"executing {page}", flush=True)
            refresh.execute_in_place(page)
        from replications.runner import report, scoreboard_page

        if scoreboard_page.write_landing_summary(report.committed_metrics()):
            print(f"rewrote the scoreboard summary of {scoreboard_page.LANDING}", flush=True)
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from replications.runner import sweep
    from replications.runner.plan import parse_seeds

    results = sweep.sweep(args.chapters, parse_seeds(args.seeds), profile=args.profile, device=args.device,
                          output=args.output or sweep.DEFAULT_OUTPUT, force=args.force, scheduler=args.scheduler,
                          workers=args.workers, threads=args.threads, progress=not args.no_progress)
    return 0 if all(r.ok for r in results) else 1


def _report_sweep(output: Path | None, profile: str | None, committed: bool, write: bool) -> int:
    from replications import sweep_summary
    from replications.runner import across_seeds, sweep
    from replications.runner.task import LOG

    if committed:
        summaries = sweep_summary.committed_summaries(profile)
        for summary in summaries:
            print(sweep_summary.claims_table(summary), end="\n\n")
        return 0 if summaries else 1
    output = output or sweep.DEFAULT_OUTPUT
    found = across_seeds.run_sweeps(output, profile)
    if not found:
        print(f"no sweep found under {output}; run `python -m replications sweep` first")
        return 1
    for (prof, chapter), chapter_sweep in found.items():
        if chapter_sweep.records:
            print(sweep_summary.claims_table(across_seeds.summarise(chapter_sweep.records)))
        for folder in chapter_sweep.unfinished:
            print(f"{chapter} ({prof}): {folder.name} did not finish; log {folder / LOG}")
        if write:
            print(f"committed {across_seeds.commit(chapter_sweep)}")
        print()
    return 0 if all(not s.unfinished for s in found.values()) else 1


def _list() -> int:
    from replications import ROOT
    from replications.runner.chapters import available_chapters, notebook_path
    from scorelib.claims import text_table

    rows = []
    for chapter in available_chapters():
        artifacts = ROOT / chapter / "artifacts" / "MANIFEST.json"
        rows.append([chapter, "yes" if artifacts.exists() else "no", str(notebook_path(chapter).relative_to(ROOT.parent))])
    print(text_table(["chapter", "committed artifacts", "notebook"], rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            return _list()
        if args.command == "refresh":
            return _refresh(args.chapters, args.results)
        if args.command == "run":
            from replications.runner.run import run

            outcomes = run(args.chapters, profile=args.profile, retrain=args.retrain, seed=args.seed,
                                  device=args.device, output=args.output, progress=not args.no_progress,
                                  workers=args.workers)
            return 0 if all(o.ok for o in outcomes) else 1
        if args.command == "sweep":
            return _sweep(args)
        if args.sweep:
            return _report_sweep(args.output, args.profile, args.committed, args.write)
        from replications.runner import report
        from replications.runner.run import DEFAULT_OUTPUT

        output = args.output or DEFAULT_OUTPUT
        records = report.committed_metrics() if args.committed else report.run_metrics(output)
        if not records:
            print(f"no metrics.json found under {output}; run `python -m replications run` first")
            return 1
        print(report.scoreboard(records))
        return 0 if not any(r.control_defects for r in records) else 1  # a control that passes is a defect; "not replicated" is a result
    except ScorelibError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

