"""The housing example end to end (examples/housing/pipeline.py), tracked vs untracked, one fresh process per run.

Untracked is `python pipeline.py ...`; tracked is `python -m openlineage_pandas run pipeline.py ...` (the README way),
twice: with the default shared event server, warm as for every run after the first (the warm-up starts it), and
with a private event process (`OPENLINEAGE_PANDAS_EVENT_WORKER=process`), which is what a first run also pays.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import REPO_ROOT, clean_env, interleaved, log, median, remove_tree, scratch_dir

TRACKED = "openlineage-pandas"
PRIVATE = "openlineage-pandas-private-process"

HOUSING = REPO_ROOT / "examples" / "housing"
PIPELINE = HOUSING / "pipeline.py"
MAKE_DATA = HOUSING / "make_data.py"
OUT_OPTIONS = ("--out-dir", "--output-dir", "--out", "--output", "--outdir")


def _help(python: str, script: Path) -> str | None:
    try:
        proc = subprocess.run([python, str(script), "--help"], capture_output=True, text=True, timeout=120,
                              cwd=REPO_ROOT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None
    return proc.stdout + proc.stderr if proc.returncode == 0 else None


def _option(text: str, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if re.search(re.escape(n) + r"(?![\w-])", text)), None)


def pipeline_options(python: str) -> tuple[dict[str, str] | None, str]:
    """How to give the pipeline a row count and an output dir, read from --help; or (None, why not).

    Preferred: the pipeline's --data FILE fed by make_data.py --rows N (data generation stays untimed);
    otherwise the pipeline's own --rows N.
    """
    if not PIPELINE.exists():
        return None, "examples/housing/pipeline.py does not exist yet"
    text = _help(python, PIPELINE)
    if text is None:
        return None, "examples/housing/pipeline.py --help failed"
    opts: dict[str, str] = {}
    out = _option(text, OUT_OPTIONS)
    if out:
        opts["out"] = out
    data = _option(text, ("--data", "--input", "--csv"))
    make_help = _help(python, MAKE_DATA) if MAKE_DATA.exists() else None
    if data and make_help and _option(make_help, ("--rows",)) and _option(make_help, ("--out",)):
        opts["data"] = data
        opts["make_data"] = "--rows"
    elif _option(text, ("--rows",)):
        opts["rows"] = "--rows"
    else:
        return None, "neither pipeline.py --rows nor make_data.py --rows + pipeline.py --data is available"
    return opts, ""


def _timed(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float) -> tuple[float | None, str]:
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f}s"
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return None, f"exit {proc.returncode}: " + " | ".join(tail)
    return seconds, ""


def run_section(rows_list: list[int], trials: int, runner: Any, names: list[str], warmup: bool = True
                ) -> dict[str, Any]:
    """Time the pipeline at each row count: one untimed warm-up (optional), then `trials` interleaved pairs."""
    if "openlineage-pandas" not in names:
        return {"ran": False, "reason": "openlineage-pandas is unavailable"}
    python = runner.conditions["untracked"].python
    pythonpath = runner.conditions["untracked"].pythonpath
    opts, why = pipeline_options(python)
    if opts is None:
        log(f"housing: not run: {why}")
        return {"ran": False, "reason": why}
    raw: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    commands: dict[str, str] = {}
    runtime = Path(tempfile.mkdtemp(prefix="olp-bench-"))  # this section's own event server, stopped at the end
    try:
        for rows in rows_list:
            _run_rows(rows, trials, warmup, runner, opts, python, pythonpath, runtime, raw, summary, commands)
    finally:
        stop_servers(runtime)
        remove_tree(runtime)
    return {"ran": bool(summary), "reason": "" if summary else "every run failed", "commands": commands,
            "command": " / ".join(commands.values()), "options": opts, "raw": raw, "summary": summary}


def _run_rows(rows: int, trials: int, warmup: bool, runner: Any, opts: dict[str, str], python: str,
              pythonpath: Any, runtime: Path, raw: list[dict[str, Any]], summary: dict[str, Any],
              commands: dict[str, str]) -> None:
    pipe_args: list[str] = []
    shown: list[str] = []
    if "make_data" in opts:
        data = runner.cache / "housing-data" / f"housing_{rows}.csv"
        if not data.exists():
            data.parent.mkdir(parents=True, exist_ok=True)
            log(f"housing: generating {rows:,} rows with make_data.py")
            seconds, err = _timed([python, str(MAKE_DATA), "--rows", str(rows), "--out", str(data)],
                                  clean_env(), REPO_ROOT, runner.timeout)
            if seconds is None:
                runner.errors.append(f"housing make_data {rows}: {err}")
                return
        pipe_args += [opts["data"], str(data)]
        shown += [opts["data"], f"housing_{rows}.csv"]
    else:
        pipe_args += [opts["rows"], str(rows)]
        shown += [opts["rows"], str(rows)]
    conditions = ["untracked", "control", TRACKED, PRIVATE]  # control: untracked again, the A/A noise floor
    log(f"housing: {rows:,} rows, {'warm-up + ' if warmup else ''}{trials} trials x {len(conditions)} conditions")
    # The warm-up always starts the event server (a tracked run), so the trials measure the steady state.
    schedule = [(-1, "untracked")] * warmup + [(-1, TRACKED)] + interleaved(trials, conditions)
    for trial, condition in schedule:
        scratch = scratch_dir(runner.cache, f"housing-{condition}")
        args = list(pipe_args)
        if "out" in opts:
            args += [opts["out"], str(scratch / "out")]
        if condition in ("untracked", "control"):
            cmd = [python, str(PIPELINE), *args]
        else:
            cmd = [python, "-m", "openlineage_pandas", "run", str(PIPELINE), *args]
        extra = {"OPENLINEAGE_PANDAS_DIR": str(scratch / "store"), "XDG_RUNTIME_DIR": str(runtime)}
        if condition == PRIVATE:
            extra["OPENLINEAGE_PANDAS_EVENT_WORKER"] = "process"
        seconds, err = _timed(cmd, clean_env(extra, pythonpath), scratch, runner.timeout)
        events = scratch / "store" / "events.jsonl"
        n_events = sum(1 for _ in events.open()) if events.exists() else 0
        remove_tree(scratch)
        if seconds is None:
            runner.errors.append(f"housing {rows} {condition}: {err}")
            log(f"ERROR housing {rows} {condition}: {err}")
            continue
        if trial >= 0:
            raw.append({"rows": rows, "trial": trial, "condition": condition, "wall_s": seconds, "events": n_events})
    base = " ".join(shown) + (f" {opts['out']} OUT" if "out" in opts else "")
    commands["untracked"] = f"python examples/housing/pipeline.py {base}"
    commands[TRACKED] = f"python -m openlineage_pandas run examples/housing/pipeline.py {base}"
    commands[PRIVATE] = f"OPENLINEAGE_PANDAS_EVENT_WORKER=process {commands[TRACKED]}"
    rr = [r for r in raw if r["rows"] == rows]

    def paired(condition: str) -> float | None:
        pairs = []
        for t in range(trials):
            u = next((r["wall_s"] for r in rr if r["trial"] == t and r["condition"] == "untracked"), None)
            k = next((r["wall_s"] for r in rr if r["trial"] == t and r["condition"] == condition), None)
            if u and k:
                pairs.append(k / u)
        return median(pairs)

    summary[str(rows)] = {
        "untracked_s": median(r["wall_s"] for r in rr if r["condition"] == "untracked"),
        "tracked_s": median(r["wall_s"] for r in rr if r["condition"] == TRACKED),
        "ratio": paired(TRACKED),
        "private_process_s": median(r["wall_s"] for r in rr if r["condition"] == PRIVATE),
        "private_process_ratio": paired(PRIVATE),
        "control_ratio": paired("control"),
        "events": median(r["events"] for r in rr if r["condition"] == TRACKED),
        "n": sum(1 for r in rr if r["condition"] == TRACKED),
    }


def stop_servers(runtime: Path) -> None:
    for lock in (runtime / "openlineage-pandas").glob("*.lock"):
        try:
            os.kill(int(lock.read_text().strip()), signal.SIGTERM)
        except (OSError, ValueError):
            pass
