"""`openlineage-pandas summary [RUN_ID]`: print the latest run (or the named one) from the local store.

Reads `<store>/events.jsonl` (OPENLINEAGE_PANDAS_DIR, default ./.openlineage) or the file given with --events.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from openlineage_pandas.cli import settings_or_none
from openlineage_pandas.queries.store import child_runs, find_run, load_runs
from openlineage_pandas.queries.summary import render_summary


def register(sub: Any) -> None:
    parser = sub.add_parser("summary", help="summarise the latest (or a given) run from the local store")
    parser.add_argument("run_id", nargs="?", help="run id, or a unique prefix of one (default: latest run)")
    parser.add_argument("--events", type=Path, help="events file (default: <store>/events.jsonl)")
    parser.set_defaults(handler=summary_command)


def summary_command(args: argparse.Namespace) -> int:
    settings = None if args.events else settings_or_none("summary")
    if settings is None and not args.events:
        return 2
    path = args.events or settings.events_path  # type: ignore[union-attr]
    runs = load_runs(path)
    if not runs:
        print(f"No events in {path}. Run a script with `openlineage-pandas run script.py` first.",
              file=sys.stderr)
        return 1
    run = find_run(runs, args.run_id)
    if run is None:
        print(f"No run matching {args.run_id!r} in {path} (give more characters of the run id).",
              file=sys.stderr)
        return 1
    print(render_summary(run, child_runs(runs, run.run_id)))
    return 0
