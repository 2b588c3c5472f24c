#!/usr/bin/env python3
"""Benchmark orchestrator: untracked pandas vs openlineage-pandas vs AutoLineage, side by side in one run.

`--full` is `make bench`; `--smoke` is the CI check (tiny sizes, < 60 s, AutoLineage only with --with-autolineage).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import conditions as conds
import harness
import ops
import report
from harness import WORKER, WorkerResult, clean_env, interleaved, log, remove_tree, run_json, scratch_dir

SECTIONS = ("ops", "import", "memory", "wide", "emission", "housing", "profile")
ALL_CONDITIONS = ("untracked", "openlineage-pandas", "autolineage")
TRACKED = ("openlineage-pandas", "autolineage")


@dataclass
class SizePlan:
    """Timing settings for one row count: fresh-process trials per condition, batch length, batches per op."""

    rows: int
    trials: int
    min_batch: float
    repeat: int
    control: bool = False  # also run untracked a second time (A/A) to show the noise floor


@dataclass
class Plan:
    """Everything a mode decides: sizes, repetitions and the optional sections' parameters."""

    mode: str
    sizes: list[SizePlan]
    import_trials: int = 9
    memory_rows: int = 1000
    memory_checkpoints: list[int] = field(default_factory=lambda: [10_000, 50_000, 100_000])
    memory_trials: int = 1
    wide_columns: list[int] = field(default_factory=lambda: [10, 100, 1000])
    wide_rows: list[int] = field(default_factory=lambda: [1_000, 10_000])
    wide_trials: int = 3
    wide_min_batch: float = 0.02
    wide_repeat: int = 5
    emission_events: int = 2000
    emission_http_events: int = 500
    emission_trials: int = 3
    housing_rows: list[int] = field(default_factory=lambda: [20_000, 1_000_000])
    housing_trials: int = 5
    housing_warmup: bool = True
    profile_rows: int = 1000
    profile_calls: int = 300
    worker_timeout: float = 1800.0


def full_plan() -> Plan:
    """The `make bench` plan, sized to finish in roughly 20 minutes on 2 cores."""
    return Plan(
        mode="full",
        sizes=[
            SizePlan(1_000, trials=15, min_batch=0.015, repeat=5, control=True),
            SizePlan(10_000, trials=4, min_batch=0.02, repeat=5, control=True),
            SizePlan(100_000, trials=4, min_batch=0.03, repeat=3, control=True),
            SizePlan(1_000_000, trials=6, min_batch=0.05, repeat=3, control=True),
        ],
        import_trials=7,
        memory_rows=300,
        wide_trials=3,
        wide_min_batch=0.01,
        wide_repeat=3,
        emission_events=1000,
        emission_http_events=300,
        housing_trials=9,
    )


def smoke_plan() -> Plan:
    """The CI plan: every section once, on tiny data, in well under a minute."""
    return Plan(
        mode="smoke",
        sizes=[SizePlan(500, trials=1, min_batch=0.002, repeat=3)],
        import_trials=1,
        memory_rows=200,
        memory_checkpoints=[100, 300],
        wide_columns=[10, 100],
        wide_rows=[200],
        wide_trials=1,
        wide_min_batch=0.002,
        wide_repeat=3,
        emission_events=30,
        emission_http_events=20,
        emission_trials=1,
        housing_rows=[2_000],
        housing_trials=1,
        housing_warmup=False,
        profile_rows=500,
        profile_calls=5,
        worker_timeout=120.0,
    )


# --------------------------------------------------------------------------------------------------------
# Running workers.
# --------------------------------------------------------------------------------------------------------

class Runner:
    """Starts measured processes for a condition, each with its own scratch directory and lineage store."""

    def __init__(self, cache: Path, raw_dir: Path, conditions: dict[str, conds.Condition], timeout: float) -> None:
        self.cache = cache
        self.raw_dir = raw_dir
        self.conditions = conditions
        self.timeout = timeout
        self.errors: list[str] = []

    def worker(self, condition: str, job: str, label: str, args: list[str],
               extra_env: dict[str, str] | None = None) -> WorkerResult:
        """Run worker.py `job` under `condition`'s interpreter in a fresh process; keep its JSON in raw/."""
        cond = self.conditions[condition]
        scratch = scratch_dir(self.cache, f"{job}-{condition}")
        out = self.raw_dir / f"{job}-{label}-{condition}.json"
        env = clean_env({"OPENLINEAGE_PANDAS_DIR": str(scratch / "store"), **(extra_env or {})}, cond.pythonpath)
        cmd = [cond.python, str(WORKER), job, "--condition", condition, "--out", str(out),
               "--cache", str(self.cache), *args]
        res = run_json(cmd, out, env, scratch, self.timeout)
        remove_tree(scratch)
        if not res.ok:
            msg = f"{job} {label} {condition}: {res.error}"
            self.errors.append(msg)
            log("ERROR " + msg)
        return res


def available(conditions: dict[str, conds.Condition]) -> list[str]:
    return [n for n, c in conditions.items() if c.available]


# --------------------------------------------------------------------------------------------------------
# Sections.  Each returns a JSON-able dict with its raw per-process numbers and its summary.
# --------------------------------------------------------------------------------------------------------

def section_ops(plan: Plan, runner: Runner, names: list[str]) -> dict[str, Any]:
    """Per-operation time at each size: trials interleaved across conditions, each a fresh process."""
    out: dict[str, Any] = {"sizes": {}}
    for sp in plan.sizes:
        ops.write_data(runner.cache, sp.rows)
        raw: list[dict[str, Any]] = []
        here = [*names, "control"] if sp.control and "control" in runner.conditions else list(names)
        log(f"ops: {sp.rows:,} rows, {sp.trials} trials x {len(here)} conditions")
        for trial, condition in interleaved(sp.trials, here):
            res = runner.worker(condition, "ops", f"{sp.rows}-t{trial}", [
                "--rows", str(sp.rows), "--seed", str(trial), "--min-batch", str(sp.min_batch),
                "--repeat", str(sp.repeat)])
            if res.ok:
                raw.append({"trial": trial, "condition": condition, "seconds": res.seconds,
                            "load_s": res.data["load_s"], "tracker": res.data.get("tracker", {}),
                            "ops": {k: {"median_s": v["median_s"], "min_s": v["min_s"], "number": v["number"]}
                                    for k, v in res.data["ops"].items()}})
        out["sizes"][str(sp.rows)] = {"plan": asdict(sp), "raw": raw,
                                      "summary": report.summarise_ops(raw, list(ops.OPS), here)}
    return out


def section_import(plan: Plan, runner: Runner, names: list[str]) -> dict[str, Any]:
    """Import + enable cost, each trial a fresh process, interleaved."""
    raw = []
    first = ops.write_data(runner.cache, 1000)["df"]
    log(f"import: {plan.import_trials} trials x {len(names)} conditions")
    for trial, condition in interleaved(plan.import_trials, names):
        res = runner.worker(condition, "import", f"t{trial}", ["--first-work", str(first)])
        if res.ok:
            raw.append({"trial": trial, "condition": condition, **{k: res.data.get(k) for k in (
                "pandas_import_s", "enable_s", "total_s", "first_work_s", "helper_wait_s", "settled_s",
                "helper_threads", "modules")}})
    return {"raw": raw, "summary": report.summarise_import(raw, names)}


def section_memory(plan: Plan, runner: Runner, names: list[str]) -> dict[str, Any]:
    """Memory retained after N operations with the frames released (RSS, allocator blocks, objects, tracker)."""
    ops.write_data(runner.cache, plan.memory_rows)
    raw = []
    cps = ",".join(str(c) for c in plan.memory_checkpoints)
    log(f"memory: {plan.memory_rows:,}-row frames, checkpoints {cps} ops (conditions run side by side: "
        "memory, not time, is measured here)")
    schedule = interleaved(plan.memory_trials, names)
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        futures = [(trial, condition, pool.submit(runner.worker, condition, "memory", f"t{trial}", [
            "--rows", str(plan.memory_rows), "--checkpoints", cps])) for trial, condition in schedule]
        for trial, condition, future in futures:
            res = future.result()
            if res.ok:
                raw.append({"trial": trial, "condition": condition, "baseline": res.data["baseline"],
                            "checkpoints": res.data["checkpoints"], "seconds": res.seconds})
    return {"rows": plan.memory_rows, "raw": raw, "summary": report.summarise_memory(raw, names)}


def section_wide(plan: Plan, runner: Runner, names: list[str]) -> dict[str, Any]:
    """Lineage cost against the column count (and, at a fixed column count, against the row count)."""
    out: dict[str, Any] = {"cells": {}}
    for rows in plan.wide_rows:
        for cols in plan.wide_columns:
            ops.write_wide(runner.cache, rows, cols)
            raw = []
            log(f"wide: {rows:,} rows x {cols} columns")
            for trial, condition in interleaved(plan.wide_trials, names):
                res = runner.worker(condition, "ops", f"wide{rows}x{cols}-t{trial}", [
                    "--suite", "wide", "--rows", str(rows), "--columns", str(cols), "--seed", str(trial),
                    "--min-batch", str(plan.wide_min_batch), "--repeat", str(plan.wide_repeat)])
                if res.ok:
                    raw.append({"trial": trial, "condition": condition,
                                "ops": {k: {"median_s": v["median_s"], "min_s": v["min_s"]}
                                        for k, v in res.data["ops"].items()}})
            out["cells"][f"{rows}x{cols}"] = {"rows": rows, "columns": cols, "raw": raw,
                                              "summary": report.summarise_ops(raw, list(ops.WIDE_OPS), names)}
    return out


def section_emission(plan: Plan, runner: Runner, names: list[str]) -> dict[str, Any]:
    """Events/s through openlineage-python's file and http transports (the latter to the Marquez contract stub)."""
    cond = runner.conditions["untracked"]
    scratch = scratch_dir(runner.cache, "emission")
    out_file = runner.raw_dir / "emission.json"
    ops.write_data(runner.cache, 1000)
    cmd = [cond.python, str(harness.BENCH_DIR / "emission.py"), "--out", str(out_file), "--cache",
           str(runner.cache), "--events", str(plan.emission_events), "--http-events",
           str(plan.emission_http_events), "--trials", str(plan.emission_trials)]
    if "openlineage-pandas" in names:
        cmd.append("--library-events")
    log("emission: file and http transports")
    env = clean_env({"OPENLINEAGE_PANDAS_DIR": str(scratch / "store")}, cond.pythonpath)
    res = run_json(cmd, out_file, env, scratch, runner.timeout)
    remove_tree(scratch)
    if not res.ok:
        runner.errors.append(f"emission: {res.error}")
        log("ERROR emission: " + res.error)
        return {"error": res.error}
    return res.data


def section_housing(plan: Plan, runner: Runner, names: list[str]) -> dict[str, Any]:
    """The housing example end to end, tracked vs untracked, each run a fresh process."""
    import housing

    return housing.run_section(plan.housing_rows, plan.housing_trials, runner, names, plan.housing_warmup)


def section_profile(plan: Plan, runner: Runner, names: list[str]) -> dict[str, Any]:
    """cProfile of openlineage-pandas (and AutoLineage) per operation, summarised to hot spots in their code."""
    import profiles

    return profiles.run_section(plan.profile_rows, plan.profile_calls, runner, names)


SECTION_FUNCS = {
    "ops": section_ops,
    "import": section_import,
    "memory": section_memory,
    "wide": section_wide,
    "emission": section_emission,
    "housing": section_housing,
    "profile": section_profile,
}


# --------------------------------------------------------------------------------------------------------
# CLI.
# --------------------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group(required="--rerender" not in (argv if argv is not None else sys.argv))
    mode.add_argument("--full", action="store_true", help="the whole suite (make bench)")
    mode.add_argument("--smoke", action="store_true", help="tiny sizes, every section once, < 60 s (CI)")
    p.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {', '.join(SECTIONS)}")
    p.add_argument("--conditions", default=",".join(ALL_CONDITIONS), help="comma-separated subset of conditions")
    p.add_argument("--sizes", default="", help="override the row counts of the ops section, e.g. 1000,1000000")
    p.add_argument("--trials", type=int, default=0, help="override the trials per size of the ops section")
    p.add_argument("--housing-rows", default="", help="override the housing section's row counts, e.g. 1000000")
    p.add_argument("--housing-trials", type=int, default=0, help="override the housing section's trials")
    p.add_argument("--with-autolineage", action="store_true", help="smoke mode: include AutoLineage too")
    p.add_argument("--no-install", action="store_true", help="never pip-install AutoLineage (report unavailable)")
    p.add_argument("--out", default="", help="results directory (default benchmarks/results, smoke: results/raw/smoke)")
    p.add_argument("--cache", default=str(harness.DEFAULT_CACHE), help="data files, venvs, scratch")
    p.add_argument("--rerender", metavar="RESULTS_JSON", default="",
                   help="only recompute the target verdicts and results.md of an earlier run's results.json")
    return p.parse_args(argv)


def rerender(path: Path) -> int:
    """Recompute summaries and target verdicts from the raw numbers of an existing results.json, rewrite it and
    results.md next to it (no measuring)."""
    results = json.loads(path.read_text())
    order = [*ALL_CONDITIONS, "control"]

    def names_in(raw: list[dict[str, Any]]) -> list[str]:
        present = {r["condition"] for r in raw}
        return [c for c in order if c in present]

    sec = results.get("sections", {})
    for data in sec.get("ops", {}).get("sizes", {}).values():
        data["summary"] = report.summarise_ops(data["raw"], list(ops.OPS), names_in(data["raw"]))
    for cell in sec.get("wide", {}).get("cells", {}).values():
        cell["summary"] = report.summarise_ops(cell["raw"], list(ops.WIDE_OPS), names_in(cell["raw"]))
    if "raw" in sec.get("import", {}):
        sec["import"]["summary"] = report.summarise_import(sec["import"]["raw"], names_in(sec["import"]["raw"]))
    if "raw" in sec.get("memory", {}):
        sec["memory"]["summary"] = report.summarise_memory(sec["memory"]["raw"], names_in(sec["memory"]["raw"]))
    results["targets"] = report.evaluate_targets(results)
    path.write_text(json.dumps(results, indent=1, default=str))
    (path.parent / "results.md").write_text(report.markdown(results))
    print(report.short_summary(results))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.rerender:
        return rerender(Path(args.rerender))
    started = time.time()
    plan = smoke_plan() if args.smoke else full_plan()
    if args.sizes:
        by_rows = {sp.rows: sp for sp in plan.sizes}
        plan.sizes = [by_rows.get(int(r), SizePlan(int(r), plan.sizes[-1].trials, plan.sizes[-1].min_batch,
                                                   plan.sizes[-1].repeat)) for r in args.sizes.split(",")]
    if args.trials:
        for sp in plan.sizes:
            sp.trials = args.trials
    if args.housing_rows:
        plan.housing_rows = [int(r) for r in args.housing_rows.split(",")]
    if args.housing_trials:
        plan.housing_trials = args.housing_trials
    sections = [s for s in args.sections.split(",") if s]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown sections: {', '.join(sorted(unknown))}")
    wanted = [c for c in args.conditions.split(",") if c]
    if "untracked" not in wanted:
        wanted.insert(0, "untracked")
    if args.smoke and not args.with_autolineage and "autolineage" in wanted:
        wanted.remove("autolineage")

    cache = Path(args.cache).resolve()
    out_dir = Path(args.out).resolve() if args.out else (
        harness.DEFAULT_RESULTS / "raw" / "smoke" if args.smoke else harness.DEFAULT_RESULTS)
    raw_dir = out_dir / "raw" if not args.smoke or args.out else out_dir / "workers"
    raw_dir.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)

    log(f"mode {plan.mode}; sections {', '.join(sections)}; results -> {out_dir}")
    if any(sp.control for sp in plan.sizes) and "ops" in sections:
        wanted.append("control")
    conditions = conds.build_conditions(wanted, cache, install_autolineage=not args.no_install)
    harness.precompile(sys.executable)
    names = [n for n in available(conditions) if n != "control"]
    runner = Runner(cache, raw_dir, conditions, plan.worker_timeout)

    results: dict[str, Any] = {
        "meta": {
            "command": "python benchmarks/run.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
            "mode": plan.mode,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "machine": harness.machine_info(),
            "plan": asdict(plan),
            "git": _git_head(),
        },
        "conditions": {n: c.as_dict() for n, c in conditions.items()},
        "sections": {},
    }
    for section in sections:
        t0 = time.perf_counter()
        try:
            results["sections"][section] = SECTION_FUNCS[section](plan, runner, names)
        except Exception as exc:  # a harness bug in one section must not lose the others' numbers
            import traceback

            runner.errors.append(f"{section}: {type(exc).__name__}: {exc}")
            log(f"ERROR section {section}:\n{traceback.format_exc()}")
            results["sections"][section] = {"error": f"{type(exc).__name__}: {exc}"}
        results["sections"].setdefault(section, {})["seconds"] = time.perf_counter() - t0
        log(f"{section}: done in {time.perf_counter() - t0:.1f}s")

    results["meta"]["seconds"] = time.time() - started
    results["meta"]["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    results["errors"] = runner.errors
    results["targets"] = report.evaluate_targets(results)
    json_path = out_dir / "results.json"
    md_path = out_dir / "results.md"
    json_path.write_text(json.dumps(results, indent=1, default=str))
    md_path.write_text(report.markdown(results))
    log(f"wrote {json_path} and {md_path} in {results['meta']['seconds']:.0f}s")
    print(report.short_summary(results))
    return 1 if runner.errors else 0


def _git_head() -> str | None:
    """Short HEAD commit, with "+dirty" when openlineage_pandas/ has uncommitted changes."""
    import subprocess

    try:
        root = str(harness.REPO_ROOT)
        head = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--", "openlineage_pandas"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (head + ("+dirty" if dirty else "")) or None
    except Exception:
        return None


if __name__ == "__main__":
    sys.exit(main())
