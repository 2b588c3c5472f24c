"""The housing example end to end (examples/housing/pipeline.py), tracked vs untracked, one fresh process per run.

Untracked is `python pipeline.py ...`; tracked is `python -m openlineage_pandas run pipeline.py ...` (the README way).
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Any

from harness import REPO_ROOT, clean_env, interleaved, log, median, remove_tree, scratch_dir

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
    for rows in rows_list:
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
                    continue
            pipe_args += [opts["data"], str(data)]
            shown += [opts["data"], f"housing_{rows}.csv"]
        else:
            pipe_args += [opts["rows"], str(rows)]
            shown += [opts["rows"], str(rows)]
        log(f"housing: {rows:,} rows, {'warm-up + ' if warmup else ''}{trials} trials x 2 conditions")
        schedule = interleaved(trials, ["untracked", "openlineage-pandas"])
        for trial, condition in ([(-1, "untracked")] if warmup else []) + schedule:
            scratch = scratch_dir(runner.cache, f"housing-{condition}")
            args = list(pipe_args)
            if "out" in opts:
                args += [opts["out"], str(scratch / "out")]
            if condition == "untracked":
                cmd = [python, str(PIPELINE), *args]
            else:
                cmd = [python, "-m", "openlineage_pandas", "run", str(PIPELINE), *args]
            env = clean_env({"OPENLINEAGE_PANDAS_DIR": str(scratch / "store")}, pythonpath)
            seconds, err = _timed(cmd, env, scratch, runner.timeout)
            events = scratch / "store" / "events.jsonl"
            n_events = sum(1 for _ in events.open()) if events.exists() else 0
            remove_tree(scratch)
            if seconds is None:
                runner.errors.append(f"housing {rows} {condition}: {err}")
                log(f"ERROR housing {rows} {condition}: {err}")
                continue
            if trial >= 0:
                raw.append({"rows": rows, "trial": trial, "condition": condition, "wall_s": seconds,
                            "events": n_events})
        base = " ".join(shown) + (f" {opts['out']} OUT" if "out" in opts else "")
        commands["untracked"] = f"python examples/housing/pipeline.py {base}"
        commands["openlineage-pandas"] = f"python -m openlineage_pandas run examples/housing/pipeline.py {base}"
        pairs = []
        for t in range(trials):
            here = [r for r in raw if r["rows"] == rows and r["trial"] == t]
            u = next((r["wall_s"] for r in here if r["condition"] == "untracked"), None)
            k = next((r["wall_s"] for r in here if r["condition"] == "openlineage-pandas"), None)
            if u and k:
                pairs.append(k / u)
        rr = [r for r in raw if r["rows"] == rows]
        summary[str(rows)] = {
            "untracked_s": median(r["wall_s"] for r in rr if r["condition"] == "untracked"),
            "tracked_s": median(r["wall_s"] for r in rr if r["condition"] == "openlineage-pandas"),
            "ratio": median(pairs),
            "events": median(r["events"] for r in rr if r["condition"] == "openlineage-pandas"),
            "n": len(pairs),
        }
    return {"ran": bool(summary), "reason": "" if summary else "every run failed", "commands": commands,
            "command": " / ".join(commands.values()), "options": opts, "raw": raw, "summary": summary}
