"""Shared plumbing for the orchestrator: paths, the clean worker environment, subprocess runs and statistics.

Runs in the project's venv only; the measured processes never import it.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_CACHE = BENCH_DIR / ".cache"
DEFAULT_RESULTS = BENCH_DIR / "results"
WORKER = BENCH_DIR / "worker.py"


def log(msg: str) -> None:
    """Progress line on stderr (stdout stays free for the final summary)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def clean_env(extra: dict[str, str] | None = None, pythonpath: Sequence[Path] = ()) -> dict[str, str]:
    """The environment every measured process gets: ours minus any OpenLineage/AutoLineage configuration.

    PYTHONDONTWRITEBYTECODE is dropped too: installed packages (pandas, AutoLineage, ...) carry compiled
    bytecode from pip, and `precompile()` gives this editable checkout the same, so no condition pays for
    compiling its source in every measured process.

    OPENLINEAGE_* and AUTOLINEAGE_* variables are dropped so a developer's own settings cannot send benchmark
    events anywhere; OPENBLAS_* is kept as the machine set it.  `extra` is applied last.
    """
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENLINEAGE", "AUTOLINEAGE", "PYTHONPATH", "PYTHONSTARTUP", "VIRTUAL_ENV",
                                "PYTHONDONTWRITEBYTECODE"))}
    env["PYTHONHASHSEED"] = "0"
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
    env.update(extra or {})
    return env


def precompile(python: str) -> None:
    """Compile openlineage_pandas to bytecode, as `pip install` does for a wheel (the checkout is editable)."""
    subprocess.run([python, "-m", "compileall", "-q", str(REPO_ROOT / "openlineage_pandas")], check=False,
                   env=clean_env(), stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)


@dataclass
class WorkerResult:
    """What one measured process returned: its JSON (or None) and, on failure, why."""

    ok: bool
    data: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    seconds: float = 0.0


def run_json(cmd: Sequence[str], out_file: Path, env: dict[str, str], cwd: Path,
             timeout: float) -> WorkerResult:
    """Run `cmd`, which writes JSON to `out_file`; return it, or the tail of stderr on failure."""
    out_file.parent.mkdir(parents=True, exist_ok=True)
    if out_file.exists():
        out_file.unlink()
    cwd.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(list(cmd), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return WorkerResult(False, error=f"timed out after {timeout:.0f}s: {' '.join(cmd[:4])} ...",
                            seconds=time.perf_counter() - t0)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0 or not out_file.exists():
        tail = "\n".join((proc.stderr or proc.stdout or "").strip().splitlines()[-12:])
        return WorkerResult(False, error=f"exit {proc.returncode}: {tail}", seconds=seconds)
    try:
        data = json.loads(out_file.read_text())
    except ValueError as exc:
        return WorkerResult(False, error=f"bad JSON from worker: {exc}", seconds=seconds)
    data["stderr_tail"] = "\n".join(proc.stderr.strip().splitlines()[-5:])
    return WorkerResult(True, data=data, seconds=seconds)


def scratch_dir(cache: Path, label: str) -> Path:
    """A fresh, empty per-process directory (cwd and lineage store) under the cache."""
    path = cache / "scratch" / f"{label}-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def remove_tree(path: Path) -> None:
    """Delete a scratch directory, ignoring errors."""
    shutil.rmtree(path, ignore_errors=True)


def interleaved(trials: int, conditions: Sequence[str]) -> list[tuple[int, str]]:
    """Trial-major schedule, the condition order rotated each trial: A B C, B C A, C A B, ..."""
    out: list[tuple[int, str]] = []
    n = len(conditions)
    for t in range(trials):
        for i in range(n):
            out.append((t, conditions[(i + t) % n]))
    return out


# --------------------------------------------------------------------------------------------------------
# Statistics.
# --------------------------------------------------------------------------------------------------------

def median(values: Iterable[float]) -> float | None:
    """Median of the finite values, or None when there are none."""
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.median(vals) if vals else None


def geomean(values: Iterable[float]) -> float | None:
    """Geometric mean of positive values, or None when there are none."""
    vals = [v for v in values if v is not None and v > 0 and math.isfinite(v)]
    if not vals:
        return None
    return math.exp(sum(math.log(v) for v in vals) / len(vals))


def spread(values: Iterable[float]) -> float | None:
    """Half the interquartile range of the values (None for fewer than two)."""
    vals = sorted(v for v in values if v is not None and math.isfinite(v))
    if len(vals) < 2:
        return None
    q = statistics.quantiles(vals, n=4, method="inclusive")
    return (q[2] - q[0]) / 2


def machine_info() -> dict[str, Any]:
    """What the results were measured on."""
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": sys.platform,
        "cpus": os.cpu_count(),
        "loadavg_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
    }
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo", encoding="utf-8") as fh:
            info["mem_total_kb"] = int(fh.readline().split()[1])
    except OSError:
        pass
    return info
