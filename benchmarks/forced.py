"""What deferred lineage costs when it is needed: each operation timed with and without evaluating its result's
lineage right away (`lineage_table.get`), in one tracked process, alternating rounds, fastest batch of each.

    .venv/bin/python benchmarks/forced.py [--rows 1000] [--columns 0] [--rounds 9]

`--columns N` runs the wide-frame operations on N float columns instead of the 13 standard ones. The per-op table
of `run.py` measures the first column (results nobody writes); a result that is written pays the second.
In-process and sequential, so treat it as a companion to run.py's fresh-process numbers, not a replacement.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--columns", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--cache", default=str(BENCH_DIR / ".cache"))
    args = parser.parse_args(argv)

    import os

    os.environ.setdefault("OPENLINEAGE_PANDAS_DIR", tempfile.mkdtemp(prefix="olp-forced-"))
    import ops

    import openlineage_pandas
    from openlineage_pandas.provenance.registry import lineage_table

    openlineage_pandas.enable()
    if args.columns:
        files, table = ops.write_wide(Path(args.cache), args.rows, args.columns), ops.WIDE_OPS
    else:
        files, table = ops.write_data(Path(args.cache), args.rows), ops.OPS
    frames = ops.load(files)

    def batch(fn: Any, force: bool, n: int) -> float:
        get = lineage_table.get
        t0 = time.perf_counter()
        for _ in range(n):
            result = fn(frames)
            if force:
                get(result)
        return (time.perf_counter() - t0) / n * 1e6

    print(f"rows={args.rows} columns={args.columns or 'standard'} rounds={args.rounds}")
    print("| operation | op only µs | op + lineage evaluated µs | evaluation µs |")
    print("|---|---|---|---|")
    added = []
    for name, fn in table.items():
        batch(fn, True, 3)  # warm-up
        n = max(3, int(0.02 / max(batch(fn, True, 1) * 1e-6, 1e-6)))
        lazy_runs, forced_runs = [], []
        for _ in range(args.rounds):  # alternating, so drift hits both alike
            lazy_runs.append(batch(fn, False, n))
            forced_runs.append(batch(fn, True, n))
        lazy, forced = min(lazy_runs), min(forced_runs)
        added.append(forced - lazy)
        print(f"| {name} | {lazy:.1f} | {forced:.1f} | {forced - lazy:.1f} |")
    print(f"\nmedian evaluation cost: {statistics.median(added):.1f} µs per result")
    openlineage_pandas.disable()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
