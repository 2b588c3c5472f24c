"""Profiles that explain the overhead: cProfile per operation and `python -X importtime` for import + enable.

Summarises where openlineage-pandas spends its time as file:function rows the library's authors can act on.
"""

from __future__ import annotations

import pstats
import re
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

PACKAGES = {"openlineage-pandas": "openlineage_pandas", "autolineage": "autolineage"}
# openlineage-pandas' call wrapper (hooks/_patching.make_wrapper, re-filed by pandas_ops._as_pandas_frame under
# a hidden file name): its cumulative time includes the user's own pandas call, so only its self time and its
# calls into the package count as overhead.
OLP_WRAPPER_NAMES = frozenset({"wrapper"})

Func = tuple[str, int, str]


def _short(func: Func) -> str:
    """`package/module.py:line:function` (paths trimmed to the last package or site-packages component)."""
    filename, line, name = func
    if filename == "~":
        return name
    path = filename.replace("\\", "/")
    for package in PACKAGES.values():
        if f"/{package}/" in path:
            path = package + "/" + path.rsplit(f"/{package}/", 1)[1]
            break
    else:
        if "/site-packages/" in path:
            path = path.rsplit("/site-packages/", 1)[1]
    return f"{path}:{line}:{name}"


def _in_pkg(func: Func, package: str) -> bool:
    return f"/{package}/" in func[0].replace("\\", "/")


def attribute(stats: pstats.Stats, package: str) -> dict[str, Any]:
    """Split profiled time into the tool's overhead and the user's operations.

    For openlineage-pandas, every hook goes through one wrapper: its overhead is the wrapper's own time plus
    everything it calls except the original (non-package) function.  For other tools (no single wrapper),
    overhead is approximated by the self time of the package's functions plus the time of outside functions
    they call directly.
    """
    raw: dict[Func, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())
    callees: dict[Func, dict[Func, float]] = defaultdict(dict)
    for func, (_cc, _nc, _tt, _ct, callers) in raw.items():
        for caller, edge in callers.items():
            callees[caller][func] = edge[3]
    wrappers = {f for f in raw if _in_pkg(f, package) and f[2] in OLP_WRAPPER_NAMES}
    overhead = 0.0
    external: dict[Func, float] = defaultdict(float)
    if wrappers:
        for w in wrappers:
            overhead += raw[w][2]
            for callee, ct in callees[w].items():
                # package code and generated dataclass __init__s ("<string>") are overhead; the rest is
                # the original call the wrapper exists to make (a nested wrapper is counted on its own).
                if callee not in wrappers and (_in_pkg(callee, package) or callee[0] == "<string>"):
                    overhead += ct
    else:
        for func, (_cc, _nc, tt, _ct, _callers) in raw.items():
            if _in_pkg(func, package):
                overhead += tt
                for callee, ct in callees[func].items():
                    if not _in_pkg(callee, package):
                        overhead += ct
    # Outside functions called directly by package code (excluding the wrapper calling the original).
    for func, (_cc, _nc, _tt, _ct, callers) in raw.items():
        if _in_pkg(func, package):
            continue
        for caller, edge in callers.items():
            if _in_pkg(caller, package) and caller not in wrappers:
                external[func] += edge[3]
    return {"total": total, "overhead": overhead, "external": external, "wrappers": wrappers, "raw": raw}


def hotspots(stats: pstats.Stats, package: str, top: int = 15) -> list[dict[str, Any]]:
    """The package's functions ranked by cumulative time (wrappers excluded), with self time and call counts."""
    info = attribute(stats, package)
    total = info["total"] or 1.0
    rows = []
    for func, (_cc, nc, tt, ct, _callers) in info["raw"].items():
        if not _in_pkg(func, package) or func in info["wrappers"]:
            continue
        rows.append({"function": _short(func), "tottime": tt, "cumtime": ct, "ncalls": nc,
                     "share": 100.0 * tt / total})
    rows.sort(key=lambda r: r["cumtime"], reverse=True)
    wrapped = [info["raw"][w] for w in info["wrappers"]]
    if wrapped:
        tt = sum(v[2] for v in wrapped)
        rows.insert(0, {"function": "(hook wrappers' own time: guard, HookedCall, fault point)", "tottime": tt,
                        "cumtime": tt, "ncalls": sum(v[1] for v in wrapped), "share": 100.0 * tt / total})
    ext = sorted(((f, ct) for f, ct in info["external"].items() if ct > 0), key=lambda kv: kv[1], reverse=True)
    # C builtins (isinstance, len, ...) and Python-level pandas/stdlib functions, a few of each
    chosen = [kv for kv in ext if kv[0][0] != "~"][:6] + [kv for kv in ext if kv[0][0] == "~"][:4]
    for func, ct in chosen:
        rows.append({"function": "(called from package) " + _short(func), "tottime": 0.0, "cumtime": ct,
                     "ncalls": info["raw"][func][1], "share": 100.0 * ct / total})
    own = [r for r in rows if not r["function"].startswith("(called")]
    return own[:top] + [r for r in rows if r["function"].startswith("(called")]


def per_op_table(profile_dir: Path, package: str, calls: int) -> dict[str, Any]:
    """Per operation: profiled overhead µs per call and the top three package functions by cumulative time."""
    out: dict[str, Any] = {}
    for path in sorted(profile_dir.glob("*.pstats")):
        st = pstats.Stats(str(path))
        info = attribute(st, package)
        top = [h["function"] for h in hotspots(st, package, top=3)[:3]]
        out[path.stem] = {"overhead_us_per_call": info["overhead"] / calls * 1e6,
                          "total_us_per_call": info["total"] / calls * 1e6, "top": top}
    return out


def importtime(python: str, statement: str, env: dict[str, str], cwd: Path, after: str = "pandas"
               ) -> list[dict[str, Any]]:
    """`python -X importtime -c statement`: the top-level imports done after `import <after>`, slowest first."""
    proc = subprocess.run([python, "-X", "importtime", "-c", statement], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)
    rows: list[dict[str, Any]] = []
    seen_after = False
    pattern = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")
    for line in proc.stderr.splitlines():
        m = pattern.match(line)
        if not m:
            continue
        self_us, cum_us, indent, name = int(m[1]), int(m[2]), len(m[3]), m[4]
        if not seen_after:
            if name == after and indent <= 1:
                seen_after = True
            continue
        rows.append({"module": name, "self_ms": self_us / 1000, "cumulative_ms": cum_us / 1000, "depth": indent})
    if not rows:
        return []
    top_depth = min(r["depth"] for r in rows)
    tops = [r for r in rows if r["depth"] == top_depth]
    tops.sort(key=lambda r: r["cumulative_ms"], reverse=True)
    return tops[:12]


def run_section(rows: int, calls: int, runner: Any, names: list[str]) -> dict[str, Any]:
    """Profile each tracked condition over every operation; summarise hot spots and import time."""
    import ops
    from harness import clean_env, log, remove_tree, scratch_dir

    ops.write_data(runner.cache, rows)
    out: dict[str, Any] = {"rows": rows, "calls_per_op": calls, "hotspots": {}, "per_op": {}, "overhead": {},
                           "importtime": {},
                           "note": f"cProfile, {calls} calls of each of the 13 operations on {rows:,} rows. "
                                   "'self %' is the function's own time as a share of all profiled time; "
                                   "cProfile inflates many-small-call code, so read shares, not absolute µs. "
                                   "openlineage-pandas runs its pure-Python hot path here "
                                   "(OPENLINEAGE_PANDAS_SPEEDUPS=false): cProfile cannot see into the compiled "
                                   "one, whose cost benchmarks/instructions.py counts."}
    for condition in names:
        package = PACKAGES.get(condition)
        if package is None or condition != "openlineage-pandas":  # AutoLineage: timings only
            continue
        pdir = runner.raw_dir / f"profile-{condition}"
        log(f"profile: {condition}")
        # cProfile sees Python frames only, and the compiled hot path has none: profile the pure-Python one,
        # whose frames show where the work is (instructions.py measures the compiled path)
        res = runner.worker(condition, "profile", "p", ["--rows", str(rows), "--calls", str(calls),
                                                        "--profile-dir", str(pdir)],
                            extra_env={"OPENLINEAGE_PANDAS_SPEEDUPS": "false"})
        if not res.ok:
            continue
        files = sorted(str(p) for p in pdir.glob("*.pstats"))
        if not files:
            continue
        st = pstats.Stats(*files)
        info = attribute(st, package)
        out["overhead"][condition] = {"profiled_total_s": info["total"], "profiled_overhead_s": info["overhead"],
                                      "overhead_share": info["overhead"] / info["total"] if info["total"] else None}
        out["hotspots"][condition] = hotspots(st, package)
        out["per_op"][condition] = per_op_table(pdir, package, calls)
        cond = runner.conditions[condition]
        statement = ("import pandas; import openlineage_pandas; openlineage_pandas.enable()"
                     if condition == "openlineage-pandas" else "import pandas; import autolineage.auto")
        scratch = scratch_dir(runner.cache, f"importtime-{condition}")
        try:
            out["importtime"][condition] = importtime(
                cond.python, statement, clean_env({"OPENLINEAGE_PANDAS_DIR": str(scratch / "store")},
                                                  cond.pythonpath), scratch)
        finally:
            remove_tree(scratch)
    return out
