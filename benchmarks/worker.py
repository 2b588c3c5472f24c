"""The measured process: one condition (untracked, openlineage-pandas or AutoLineage), one job, then exit.

Started by run.py under the condition's own interpreter; imports only the stdlib until the job starts, writes JSON.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CONDITIONS = ("untracked", "control", "openlineage-pandas", "autolineage")


# --------------------------------------------------------------------------------------------------------
# Switching a condition on, and asking its tracker how much it holds.
# --------------------------------------------------------------------------------------------------------

class Tracker:
    """What a condition's `enable` leaves behind: its name, version and a function counting tracker objects."""

    def __init__(self, condition: str, version: str | None, counts: Callable[[], dict[str, int]]) -> None:
        self.condition = condition
        self.version = version
        self.counts = counts


def _olp_counts() -> dict[str, int]:
    """Sizes openlineage_pandas reports about its own side tables (any zero-argument size/count/stats function).

    The library is young; this looks in `openlineage_pandas.provenance` (and its submodules) for public
    functions whose names say they report a size, calls them and keeps integer answers.
    """
    import importlib
    import inspect
    import pkgutil

    found: dict[str, int] = {}
    try:
        package = importlib.import_module("openlineage_pandas.provenance")
    except Exception:
        return found
    modules = [package]
    for info in pkgutil.iter_modules(getattr(package, "__path__", []), package.__name__ + "."):
        mod = sys.modules.get(info.name)
        if mod is not None:
            modules.append(mod)
    seen: set[int] = set()
    for mod in modules:
        for name, fn in vars(mod).items():
            if name.startswith("_") or not callable(fn) or id(fn) in seen:
                continue
            lowered = name.lower()
            if not any(word in lowered for word in ("size", "count", "stats", "len")):
                continue
            if any(word in lowered for word in ("clear", "reset", "set_", "record", "register")):
                continue
            if getattr(fn, "__module__", "") != mod.__name__ or not inspect.isfunction(fn):
                continue
            try:
                if any(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                       for p in inspect.signature(fn).parameters.values()):
                    continue
                seen.add(id(fn))
                value = fn()
            except Exception:
                continue
            key = f"{mod.__name__.rsplit('.', 1)[-1]}.{name}"
            if isinstance(value, bool):
                continue
            if isinstance(value, int):
                found[key] = value
            elif isinstance(value, dict):
                for sub, v in value.items():
                    if isinstance(v, int) and not isinstance(v, bool):
                        found[f"{key}.{sub}"] = v
    return found


def enable(condition: str) -> Tracker:
    """Switch `condition` on, exactly as a user would, and return its Tracker."""
    if condition in ("untracked", "control"):  # control: untracked again, the A/A noise reference
        return Tracker(condition, None, dict)
    if condition == "openlineage-pandas":
        import openlineage_pandas

        openlineage_pandas.enable()
        return Tracker(condition, getattr(openlineage_pandas, "__version__", None), _olp_counts)
    if condition == "autolineage":
        # AutoLineage's documented switch: importing autolineage.auto installs every hook (start_tracking()).
        import autolineage
        import autolineage.auto as al

        def counts() -> dict[str, int]:
            tracker = al.get_tracker()
            if tracker is None:
                return {}
            return {
                "records": len(tracker.records),
                "nodes": len(tracker.nodes),
                "id_to_lid": len(tracker._id_to_lid),
                "lid_to_obj": len(tracker._lid_to_obj),
            }

        return Tracker(condition, getattr(autolineage, "__version__", None), counts)
    raise SystemExit(f"unknown condition {condition!r}")


# --------------------------------------------------------------------------------------------------------
# Process introspection.
# --------------------------------------------------------------------------------------------------------

def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _malloc_trim() -> None:
    """Give freed heap pages back to the OS so RSS reflects what is still held (glibc only)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except Exception:
        pass


def memory_snapshot(tracker: Tracker) -> dict[str, Any]:
    """RSS, Python allocator blocks, gc-tracked objects and the tracker's own counts, after a full collection."""
    for _ in range(3):
        gc.collect()
    _malloc_trim()
    snapshot = {
        "rss_bytes": rss_bytes(),
        "allocated_blocks": sys.getallocatedblocks(),
        "gc_objects": len(gc.get_objects()),
        "tracker": tracker.counts(),
    }
    pyarrow = sys.modules.get("pyarrow")
    if pyarrow is not None:  # Arrow's own memory pool sits outside Python's allocator: RSS alone cannot tell
        snapshot["arrow_pool_bytes"] = int(pyarrow.total_allocated_bytes())
        snapshot["arrow_pool_backend"] = str(pyarrow.default_memory_pool().backend_name)
    return snapshot


# --------------------------------------------------------------------------------------------------------
# Timing.
# --------------------------------------------------------------------------------------------------------

def time_op(fn: Callable[[Any], Any], frames: Any, min_batch_s: float, repeat: int) -> dict[str, Any]:
    """Per-call seconds of `fn(frames)`: timeit-style batches of `number` calls, `repeat` batches.

    `number` is the smallest of 1, 2, 5, 10, 20, ... whose batch lasts at least `min_batch_s`.  The
    figure used downstream is the fastest batch (`min_s`, as timeit advises: slower batches measure other
    processes on the machine, not the code); the median batch is kept too.  The garbage collector stays
    on: a tracker's allocations, and the collections they cause, are part of its cost.
    """
    fn(frames)
    fn(frames)
    perf = time.perf_counter
    number = 1
    steps = (1, 2, 5)
    i = 0
    while True:
        number = steps[i % 3] * 10 ** (i // 3)
        t0 = perf()
        for _ in range(number):
            fn(frames)
        if perf() - t0 >= min_batch_s or number >= 100_000:
            break
        i += 1
    samples = []
    for _ in range(repeat):
        t0 = perf()
        for _ in range(number):
            fn(frames)
        samples.append((perf() - t0) / number)
    return {"median_s": statistics.median(samples), "min_s": min(samples), "number": number, "samples": samples}


# --------------------------------------------------------------------------------------------------------
# Jobs.
# --------------------------------------------------------------------------------------------------------

def _files(args: argparse.Namespace) -> dict[str, Path]:
    import ops

    cache = Path(args.cache)
    if args.suite == "wide":
        return ops.wide_files(cache, args.rows, args.columns)
    return ops.data_files(cache, args.rows)


def job_ops(args: argparse.Namespace) -> dict[str, Any]:
    """Time every operation of the suite on frames read from parquet in this process."""
    import ops

    tracker = enable(args.condition)
    files = _files(args)
    t0 = time.perf_counter()
    frames = ops.load(files)
    load_s = time.perf_counter() - t0
    settle_s = settle()
    table = ops.WIDE_OPS if args.suite == "wide" else ops.OPS
    names = [n for n in table if not args.ops or n in args.ops.split(",")]
    random.Random(args.seed).shuffle(names)
    results = {name: time_op(table[name], frames, args.min_batch, args.repeat) for name in names}
    return {"load_s": load_s, "settle_s": settle_s, "ops": results, "order": names, "tracker": tracker.counts(),
            "version": tracker.version}


def settle(timeout: float = 30.0) -> float:
    """Wait for the helper threads a tool started at switch-on (openlineage-pandas builds its START event on
    one, importing openlineage-python), so one-time start-up work running in the background is not charged to
    whichever operation happens to be timed first. Same call for every condition; start-up is measured by the
    `import` and `housing` sections. Returns the seconds waited."""
    import threading

    t0 = time.perf_counter()
    for th in [t for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive()]:
        th.join(timeout=timeout)
    return time.perf_counter() - t0


def job_import(args: argparse.Namespace) -> dict[str, Any]:
    """Import + enable cost in a fresh process, plus what it leaves for later.

    Times `import pandas`, then the tool's import and switch-on (what `enable()` costs the caller), then the
    first real work (read a 1k-row parquet file and `dropna()` it), then waits for any helper threads the tool
    started (openlineage-pandas builds its START event on one) so work moved off the caller is counted too.
    """
    import threading

    perf = time.perf_counter
    t0 = perf()
    import pandas as pd

    t1 = perf()
    tracker = enable(args.condition)
    t2 = perf()
    first = None
    if args.first_work:
        pd.read_parquet(args.first_work).dropna()
        first = perf() - t2
    t3 = perf()
    helpers = [th for th in threading.enumerate() if th is not threading.main_thread() and th.is_alive()]
    for th in helpers:
        th.join(timeout=30)
    t4 = perf()
    return {"pandas_import_s": t1 - t0, "enable_s": t2 - t1, "total_s": t2 - t0, "first_work_s": first,
            "helper_wait_s": t4 - t3, "helper_threads": [th.name for th in helpers],
            "settled_s": (t2 - t1) + (t4 - t3), "version": tracker.version, "modules": len(sys.modules)}


def job_memory(args: argparse.Namespace) -> dict[str, Any]:
    """Memory retained after N operations, measured with every frame released and garbage collected."""
    import ops

    tracker = enable(args.condition)
    files = _files(args)
    table = list(ops.OPS.values())

    def phase(count: int) -> None:
        frames = ops.load(files)
        for i in range(count):
            table[i % len(table)](frames)
        del frames

    phase(3 * len(table))
    baseline = memory_snapshot(tracker)
    checkpoints = sorted(int(x) for x in args.checkpoints.split(","))
    done = 0
    out = []
    t0 = time.perf_counter()
    for cp in checkpoints:
        phase(cp - done)
        done = cp
        snap = memory_snapshot(tracker)
        snap["ops"] = cp
        snap["elapsed_s"] = time.perf_counter() - t0
        out.append(snap)
    return {"baseline": baseline, "checkpoints": out, "version": tracker.version}


def job_profile(args: argparse.Namespace) -> dict[str, Any]:
    """cProfile each operation (a fixed number of calls) with the condition switched on; writes .pstats files."""
    import cProfile

    import ops

    tracker = enable(args.condition)
    frames = ops.load(_files(args))
    settle()
    out_dir = Path(args.profile_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = ops.WIDE_OPS if args.suite == "wide" else ops.OPS
    calls: dict[str, int] = {}
    for name, fn in table.items():
        fn(frames)
        prof = cProfile.Profile()  # one profiler at a time: cProfile cannot nest two active profilers
        prof.enable()
        for _ in range(args.calls):
            fn(frames)
        prof.disable()
        prof.dump_stats(str(out_dir / f"{name}.pstats"))
        calls[name] = args.calls
    return {"calls": calls, "dir": str(out_dir), "version": tracker.version}


JOBS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "ops": job_ops,
    "import": job_import,
    "memory": job_memory,
    "profile": job_profile,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("job", choices=sorted(JOBS))
    parser.add_argument("--condition", choices=CONDITIONS, required=True)
    parser.add_argument("--out", required=True, help="JSON result file")
    parser.add_argument("--cache", default=str(Path(__file__).resolve().parent / ".cache"))
    parser.add_argument("--suite", choices=("orders", "wide"), default="orders")
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--columns", type=int, default=10)
    parser.add_argument("--ops", default="", help="comma-separated subset of operations")
    parser.add_argument("--seed", type=int, default=0, help="shuffles the operation order")
    parser.add_argument("--min-batch", type=float, default=0.02, help="seconds a timing batch lasts at least")
    parser.add_argument("--repeat", type=int, default=7, help="timing batches per operation")
    parser.add_argument("--checkpoints", default="10000,100000", help="memory job: operation counts")
    parser.add_argument("--first-work", default="", help="import job: parquet file read + dropna after enable")
    parser.add_argument("--calls", type=int, default=500, help="profile job: calls per operation")
    parser.add_argument("--profile-dir", default="", help="profile job: where .pstats files go")
    args = parser.parse_args(argv)
    started = time.time()
    result = JOBS[args.job](args)
    result.update({
        "job": args.job,
        "condition": args.condition,
        "pid": os.getpid(),
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "wall_s": time.time() - started,
    })
    pandas = sys.modules.get("pandas")
    if pandas is not None:
        result["pandas"] = pandas.__version__
    Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
