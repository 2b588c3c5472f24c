"""Instruction counts under valgrind's callgrind: what a tracked operation adds, without the machine's timing noise.

Wall-clock figures on a shared 2-vCPU host move by 5-30% between runs; instruction counts do not depend on what
else the machine is doing. Companion to `run.py`, not part of `make bench` (callgrind runs ~50x slower):

    .venv/bin/python benchmarks/instructions.py ops --ops rename,filter_mask,concat
    .venv/bin/python benchmarks/instructions.py ops --ops rename --source /tmp/old   # another checkout
    .venv/bin/python benchmarks/instructions.py housing --rows 1000000

`ops`: per condition, a process fills the run's operation log (210 column selections, past its bound, as in any
run past its first 200 operations), does 250 warm-up calls (`--warmup`), joins
the tool's helper threads, then 200 measured calls between two markers: callgrind zeroes its counters on entering
`os.getppid` and dumps them on entering `os.getegid`, so only the measured calls on the user's thread are counted
(start-up varies between processes with thread timing; the marked span does not), and every process runs with
`PYTHONHASHSEED=0`, so string hashing repeats (object addresses do not: one op's count still moves by up to ~6k
between runs). `housing`: whole-process counts of the example, untracked vs
`openlineage-pandas run`, with the
event worker in a thread, in a private helper process, or in one forked by the event server (callgrind follows
only the measured process, so the helper's own work is not counted: that is the point of it). OpenBLAS runs single-threaded so its spinning
threads do not add noise.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WARMUP = 250
CALLS = 200
LOG_FILL = 210  # past the operation log's default bound (OPENLINEAGE_PANDAS_OPLOG_MAX_ENTRIES=200)


def _inner(condition: str, op: str, count: int, rows: int, warmup: int) -> None:
    """The measured process (under valgrind)."""
    sys.path.insert(0, str(HERE))
    import ops  # type: ignore[import-not-found]
    import worker  # type: ignore[import-not-found]

    files = ops.write_data(Path(os.environ["BENCH_CACHE"]), rows)
    source = os.environ.get("INSTRUCTIONS_SOURCE")
    if source:  # another checkout (e.g. a git worktree of an older commit) instead of the installed package
        sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
        sys.path.insert(0, source)
    if condition == "openlineage-pandas":
        import openlineage_pandas

        openlineage_pandas.enable()
    frames = ops.load(files)
    fn = ops.OPS[op]
    for _ in range(LOG_FILL):  # a cheap operation fills the run's operation log, as in any run past its start
        frames["df"][["id"]]
    for _ in range(warmup):
        fn(frames)
    worker.settle(600)
    os.getppid()  # marker: callgrind zeroes its counters here (--zero-before=os_getppid)
    for _ in range(count):
        fn(frames)
    os.getegid()  # marker: and dumps them here (--dump-before=os_getegid)
    sys.stdout.flush()
    os._exit(0)


def _callgrind(command: list[str], env: dict[str, str], cwd: Path, marked: bool = False) -> int:
    """Instructions of the whole process, or with `marked` of the span between the markers (see `_inner`)."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "callgrind.out"
        # the user's thread only (`-01` files): helper threads (the event worker importing openlineage-python in
        # thread mode) are not the per-op cost, and callgrind cannot zero them at the marker
        markers = ["--zero-before=os_getppid", "--dump-before=os_getegid", "--separate-threads=yes"] if marked else []
        proc = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *markers, *command],
                              env=env, cwd=cwd, capture_output=True, text=True, timeout=3600)
        if marked:  # the main thread's last dump is the marked span (other code may call getegid earlier too)
            dumps = sorted(Path(scratch).glob("callgrind.out.*-01"), key=lambda p: int(p.name.split(".")[-1][:-3]))
            found = re.search(r"^summary: (\d+)", dumps[-1].read_text(errors="replace"), re.M) if dumps else None
        else:
            found = re.search(r"Collected : (\d+)", proc.stderr)
        if proc.returncode != 0 or not found:
            raise RuntimeError(f"{command}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
        return int(found.group(1))


def _env(store: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENLINEAGE", "PYTHONDONTWRITEBYTECODE"))}
    # a fixed hash seed: string-keyed set and dict layouts repeat from one process to the next
    env.update({"OPENBLAS_NUM_THREADS": "1", "PYTHONHASHSEED": "0", "OPENLINEAGE_PANDAS_DIR": str(store), **extra})
    return env


def cmd_ops(args: argparse.Namespace) -> None:
    source = Path(args.source) if args.source else REPO
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(source / "openlineage_pandas")], check=True)
    cache = Path(args.cache)
    print(f"{'operation':16s} {'untracked':>14s} {'tracked':>14s} {'added':>10s} {'ratio':>9s}  (instructions per op)")
    ratios: list[float] = []
    for op in args.ops.split(","):
        per_op = {}
        for condition in ("untracked", "openlineage-pandas"):
            with tempfile.TemporaryDirectory() as scratch:
                env = _env(Path(scratch) / "store", BENCH_CACHE=str(cache),
                           OPENLINEAGE_PANDAS_EVENT_WORKER=args.event_worker,
                           OPENLINEAGE_PANDAS_SPEEDUPS="false" if args.pure_python else "true",
                           INSTRUCTIONS_SOURCE=args.source or "")
                count = _callgrind([sys.executable, __file__, "_inner", condition, op, str(args.calls), str(args.rows),
                                    str(args.warmup)], env, Path(scratch), marked=True)
            per_op[condition] = count / args.calls
        added = per_op["openlineage-pandas"] - per_op["untracked"]
        ratios.append(per_op["openlineage-pandas"] / per_op["untracked"])
        print(f"{op:16s} {per_op['untracked']:14,.0f} {per_op['openlineage-pandas']:14,.0f} {added:10,.0f} "
              f"{ratios[-1]:8.5f}x", flush=True)
    print(f"{'geo-mean':16s} {'':14s} {'':14s} {'':10s} {statistics.geometric_mean(ratios):8.5f}x")


def cmd_housing(args: argparse.Namespace) -> None:
    data = Path(args.cache) / "housing-data" / f"housing_{args.rows}.csv"
    if not data.exists():
        data.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(REPO / "examples" / "housing" / "make_data.py"), "--rows",
                        str(args.rows), "--out", str(data)], check=True)
    pipeline = str(REPO / "examples" / "housing" / "pipeline.py")
    runs = {
        "untracked": ([sys.executable, pipeline], {}),
        "openlineage-pandas, events in a thread": (
            [sys.executable, "-m", "openlineage_pandas", "run", pipeline], {"OPENLINEAGE_PANDAS_EVENT_WORKER": "thread"}),
        "openlineage-pandas, private event process": (
            [sys.executable, "-m", "openlineage_pandas", "run", pipeline], {"OPENLINEAGE_PANDAS_EVENT_WORKER": "process"}),
        "openlineage-pandas, event server (default)": (
            [sys.executable, "-m", "openlineage_pandas", "run", pipeline], {}),
    }
    base = None
    for label, (command, extra) in runs.items():
        with tempfile.TemporaryDirectory() as scratch:
            count = _callgrind([*command, "--data", str(data), "--out", str(Path(scratch) / "out")],
                               _env(Path(scratch) / "store", **extra), REPO)
        base = base or count
        print(f"{label:45s} {count:16,d} instructions  {count / base:.4f}x", flush=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_inner":
        _inner(argv[1], argv[2], int(argv[3]), int(argv[4]), int(argv[5]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", default=str(HERE / ".cache"), help="as run.py's: data/ and housing-data/ inside")
    sub = parser.add_subparsers(dest="command", required=True)
    ops_parser = sub.add_parser("ops", help="instructions added per operation")
    ops_parser.add_argument("--ops", default="rename,filter_mask,concat,select_columns,dropna")
    ops_parser.add_argument("--rows", type=int, default=1000)
    ops_parser.add_argument("--warmup", type=int, default=WARMUP, help="calls before the marked span (default: past "
                            "the operation log's bound, as in a long run)")
    ops_parser.add_argument("--calls", type=int, default=CALLS, help="calls in the marked span")
    ops_parser.add_argument("--event-worker", default="thread", choices=("thread", "process", "server"),
                            help="the per-op path is the same either way; thread keeps the count deterministic")
    ops_parser.add_argument("--pure-python", action="store_true",
                            help="the pure-Python hot path (OPENLINEAGE_PANDAS_SPEEDUPS=false) instead of the compiled one")
    ops_parser.add_argument("--source", default="", help="measure the package in this checkout instead "
                            "(e.g. `git worktree add /tmp/old <commit>`, then --source /tmp/old)")
    ops_parser.set_defaults(run=cmd_ops)
    housing_parser = sub.add_parser("housing", help="whole-process instructions of the housing example")
    housing_parser.add_argument("--rows", type=int, default=1_000_000)
    housing_parser.set_defaults(run=cmd_housing)
    args = parser.parse_args(argv)
    args.run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
