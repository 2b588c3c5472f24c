"""Start-up of the housing example: untracked vs `openlineage-pandas run`, tracking off and on.

Companion to `run.py`, not part of `make bench`. Each trial runs `examples/housing/pipeline.py --help`: the
script's own imports (pandas, scikit-learn, joblib) and argparse, then exit, so start-up is measured without the
pipeline's work, in a fresh process per condition, interleaved. Reported per condition (medians): wall time, user and system CPU and minor
page faults (from `wait4`), and, when strace is installed, how many 16 KB anonymous mappings the process made:
CPython 3.11-3.13's frame-stack chunks, which a call sitting on a chunk boundary maps and unmaps on every call.

    .venv/bin/python benchmarks/startup.py --trials 21
    .venv/bin/python benchmarks/startup.py --source /tmp/old   # another checkout (its extension built in place)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import REPO_ROOT, clean_env
from housing import stop_servers

PIPELINE = REPO_ROOT / "examples" / "housing" / "pipeline.py"
CONDITIONS = {
    "untracked": ([], {}),
    "run, tracking off": (["-m", "openlineage_pandas", "run"], {"OPENLINEAGE_DISABLED": "true"}),
    "run, tracking on": (["-m", "openlineage_pandas", "run"], {}),
}


def _measure(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, float, int]:
    start = time.perf_counter()
    # cwd: never the repository, whose openlineage_pandas/ would shadow --source for `python -m`
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"{cmd} exited with status {status}")
    return wall, usage.ru_utime, usage.ru_stime, usage.ru_minflt


def _chunk_maps(cmd: list[str], env: dict[str, str], scratch: Path) -> int | None:
    strace = shutil.which("strace")
    if strace is None:
        return None
    trace = scratch / "mmap.trace"
    subprocess.run([strace, "-f", "-e", "trace=mmap", "-o", str(trace), *cmd], env=env, check=True, cwd=scratch,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return sum("mmap(NULL, 16384," in line for line in trace.read_text().splitlines())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=21)
    parser.add_argument("--source", type=Path, help="run openlineage_pandas from this checkout instead")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="olp-startup-"))
    runtime = scratch / "runtime"  # this run's own event server, stopped at the end
    runtime.mkdir(mode=0o700)
    env = clean_env({"OPENLINEAGE_PANDAS_DIR": str(scratch / "store"), "XDG_RUNTIME_DIR": str(runtime),
                     "OPENBLAS_NUM_THREADS": "1"}, [args.source] if args.source else ())
    commands = {name: ([sys.executable, *prefix, str(PIPELINE), "--help"], {**env, **extra})
                for name, (prefix, extra) in CONDITIONS.items()}
    results: dict[str, list[tuple[float, float, float, int]]] = {name: [] for name in commands}
    try:
        _measure(*commands["run, tracking on"], scratch)  # starts the event server: trials see the warm steady state
        names = list(commands)
        for trial in range(args.trials):
            for name in names[trial % len(names):] + names[:trial % len(names)]:
                results[name].append(_measure(*commands[name], scratch))
        maps = {name: _chunk_maps(*commands[name], scratch) for name in commands}
    finally:
        stop_servers(runtime)
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"{args.trials} interleaved trials, medians; python {sys.version.split()[0]}; "
          f"openlineage_pandas from {args.source or REPO_ROOT}")
    print(f"{'condition':<20} {'wall ms':>8} {'user ms':>8} {'sys ms':>7} {'minor faults':>13} {'16 KB maps':>11}")
    for name, rows in results.items():
        wall, user, system, faults = (statistics.median(column) for column in zip(*rows, strict=True))
        chunk_maps = maps[name]
        print(f"{name:<20} {wall * 1e3:8.0f} {user * 1e3:8.0f} {system * 1e3:7.0f} {faults:13.0f} "
              f"{'-' if chunk_maps is None else chunk_maps:>11}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
