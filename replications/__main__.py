"""``python -m replications list | run | report`` — see ``--help`` of each."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scorelib.errors import ScorelibError


def _parser() -> argparse.ArgumentParser:
    from replications import runner
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
    run.add_argument("--output", type=Path, default=runner.DEFAULT_OUTPUT, help="run folder root (default _build/runs)")
    run.add_argument("--no-progress", action="store_true", help="no papermill progress bars")
    report = sub.add_parser("report", help="gather every metrics.json under OUTPUT into one scoreboard")
    report.add_argument("--output", type=Path, default=runner.DEFAULT_OUTPUT, help="run folder root (default _build/runs)")
    report.add_argument("--committed", action="store_true",
                        help="the committed artifacts' metrics instead of the run folders")
    refresh = sub.add_parser("refresh", help="re-execute committed notebooks in place with their defaults")
    refresh.add_argument("chapters", nargs="*", metavar="CHAPTER", help="chapter ids")
    refresh.add_argument("--results", action="store_true", help="also the book's generated pages: results, claims, talk (run last)")
    return parser


def _refresh(chapters: list[str], results: bool) -> int:
    from replications import refresh, runner

    if chapters or not results:  # no chapter named and no --results: every chapter
        chapters = runner.check_request(chapters, "full", False, "cpu", 0)
    for chapter in chapters:
        print(f"executing {runner.notebook_path(chapter)} and recording artifacts/metrics.json", flush=True)
        print(refresh.refresh_chapter(chapter)["summary"], flush=True)
    if results:
        for page in refresh.BOOK_PAGES:
            print(f"executing {page}", flush=True)
            refresh.execute_in_place(page)
        from replications import report, scoreboard_page

        if scoreboard_page.write_landing_summary(report.committed_metrics()):
            print(f"rewrote the scoreboard summary of {scoreboard_page.LANDING}", flush=True)
    return 0


def _list() -> int:
    from replications import ROOT, runner
    from scorelib.claims import text_table

    rows = []
    for chapter in runner.available_chapters():
        artifacts = ROOT / chapter / "artifacts" / "MANIFEST.json"
        rows.append([chapter, "yes" if artifacts.exists() else "no", str(runner.notebook_path(chapter).relative_to(ROOT.parent))])
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
            from replications import runner

            outcomes = runner.run(args.chapters, profile=args.profile, retrain=args.retrain, seed=args.seed,
                                  device=args.device, output=args.output, progress=not args.no_progress)
            return 0 if all(o.ok for o in outcomes) else 1
        from replications import report

        records = report.committed_metrics() if args.committed else report.run_metrics(args.output)
        if not records:
            print(f"no metrics.json found under {args.output}; run `python -m replications run` first")
            return 1
        print(report.scoreboard(records))
        return 0 if not any(r.control_defects for r in records) else 1  # a control that passes is a defect; "not replicated" is a result
    except ScorelibError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
