"""`openlineage-pandas replay`: deliver the events spooled while the lineage backend was unreachable.

Exit status: 0 spool empty afterwards, 1 events remain (backend failing or not configured), 2 bad configuration.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TextIO

from openlineage_pandas.cli import settings_or_none
from openlineage_pandas.config import Settings
from openlineage_pandas.delivery.replay import ReplayReport, replay


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="re-send spooled events (kept when the lineage backend was unreachable)",
        description="Re-send the events in <store>/spool.jsonl through the configured OpenLineage transport, "
                    "in the order they were emitted. Each event leaves the spool once the backend acknowledged "
                    "it; events the backend refuses (HTTP 4xx) move to <store>/rejected.jsonl. Safe to stop "
                    "and run again.",
    )
    parser.add_argument("--dry-run", action="store_true",
                        help="show what would be sent and where; send nothing and change no file")
    parser.set_defaults(handler=run)


class ProgressBar:
    """A plain-text bar on stderr: redrawn in place on a terminal, a line per second otherwise."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.tty = stream.isatty()
        self._last = 0.0

    def __call__(self, done: int, total: int, report: ReplayReport) -> None:
        now = time.monotonic()
        final = done >= total
        if not final and now - self._last < (0.1 if self.tty else 1.0):
            return
        self._last = now
        filled = self.width * done // max(total, 1)
        line = (f"replay [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total}  "
                f"delivered {report.delivered}  rejected {report.rejected}")
        self.stream.write(("\r" + line + ("\n" if final else "")) if self.tty else line + "\n")
        self.stream.flush()


def _print_plan(report: ReplayReport, out: TextIO) -> None:
    print(f"{report.total} event(s) of {report.runs} run(s) in the spool"
          + (f", emitted {report.oldest} .. {report.newest}" if report.oldest else ""), file=out)
    for name, count in sorted(report.planned.items()):
        where = report.plan.get(name)
        print(f"  {count} for '{name}' -> {where or 'NOT CONFIGURED (left in the spool)'}", file=out)
    if report.unreadable:
        print(f"  {report.unreadable} unreadable line(s) -> moved to the rejected file", file=out)


def run(args: argparse.Namespace) -> int:
    settings = settings_or_none("replay")
    if settings is None:
        return 2
    if args.dry_run:
        report = replay(settings, dry_run=True)
    else:
        try:
            report = replay(settings, progress=ProgressBar(sys.stderr))
        except KeyboardInterrupt:
            print("\nreplay interrupted; acknowledged events were removed from the spool, "
                  "run `openlineage-pandas replay` again to continue", file=sys.stderr)
            return 130
    return _report(settings, report)


def _report(settings: Settings, report: ReplayReport) -> int:
    out = sys.stdout
    if report.busy:
        print("another `openlineage-pandas replay` is running on this store; try again when it ends",
              file=sys.stderr)
        return 1
    if report.total == 0:
        print(f"nothing to replay: the spool {settings.spool_path} is empty", file=out)
        return 0
    _print_plan(report, out)
    if report.dry_run:
        print("dry run: nothing sent, no file changed", file=out)
        return 0 if not report.unmatched_destinations() else 1
    print(f"delivered {report.delivered}, rejected {report.rejected}, still in the spool {report.remaining}",
          file=out)
    for name, reason in report.stopped.items():
        print(f"  '{name}' stopped at its first failure: {reason}", file=out)
    for name, count in report.unmatched.items():
        print(f"  {count} event(s) for '{name}' kept: no such destination in the current OpenLineage "
              "configuration (set OPENLINEAGE_URL or openlineage.yml as the pipeline had it)", file=out)
    if report.rejected:
        print(f"  refused events are in {settings.rejected_path} with the backend's answer", file=out)
    return 0 if report.remaining == 0 else 1
