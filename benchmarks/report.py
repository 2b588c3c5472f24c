"""Turns raw per-process measurements into summaries, target verdicts and the markdown results table.

Ratios and differences are paired per trial (tracked trial t vs untracked trial t), then the median is taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness import geomean, median, spread

TRACKED = ("control", "openlineage-pandas", "autolineage")
LABELS = {"untracked": "untracked", "control": "A/A control", "openlineage-pandas": "openlineage-pandas",
          "autolineage": "AutoLineage"}

RSS_NOISE_BYTES_PER_OP = 5.0  # floor for the RSS noise, in bytes per operation
TARGETS = {
    "added_us_1k": 5.0,
    "geomean_1k": 1.03,
    "geomean_1m": 1.005,
    "import_ms": 150.0,
    "retained_bytes_per_op": 0.0,
    "housing_1m_slowdown": 1.02,
}


# --------------------------------------------------------------------------------------------------------
# Summaries.
# --------------------------------------------------------------------------------------------------------

def summarise_ops(raw: list[dict[str, Any]], op_names: Sequence[str], conditions: Sequence[str],
                  stat: str = "min_s") -> dict[str, Any]:
    """Per operation and condition: median µs; for tracked conditions, paired added µs and ratio.

    `stat` picks each process's per-op figure (its fastest batch by default; see worker.time_op).

    Per condition: geometric mean of the per-op ratios, median over ops of the added µs, and the spread
    (half the IQR) of the per-trial geometric means as a noise indication.
    """
    by = {(r["condition"], r["trial"]): r["ops"] for r in raw}
    trials = sorted({r["trial"] for r in raw})
    per_op: dict[str, dict[str, Any]] = {}
    per_trial_ratios: dict[str, dict[int, list[float]]] = {c: {} for c in conditions}
    for op in op_names:
        row: dict[str, Any] = {}
        for cond in conditions:
            times = [by[(cond, t)][op][stat] for t in trials if (cond, t) in by and op in by[(cond, t)]]
            cell: dict[str, Any] = {"us": _us(median(times)), "n": len(times)}
            if cond != "untracked":
                added, ratios = [], []
                for t in trials:
                    a, b = by.get((cond, t), {}).get(op), by.get(("untracked", t), {}).get(op)
                    if a and b and b[stat] > 0:
                        added.append(a[stat] - b[stat])
                        ratios.append(a[stat] / b[stat])
                        per_trial_ratios[cond].setdefault(t, []).append(a[stat] / b[stat])
                cell["added_us"] = _us(median(added))
                cell["ratio"] = median(ratios)
            row[cond] = cell
        per_op[op] = row
    overall: dict[str, Any] = {}
    for cond in conditions:
        if cond == "untracked":
            continue
        ratios = [per_op[op][cond]["ratio"] for op in op_names if per_op[op][cond].get("ratio")]
        added = [per_op[op][cond]["added_us"] for op in op_names if per_op[op][cond].get("added_us") is not None]
        trial_geo = [geomean(v) for v in per_trial_ratios[cond].values() if len(v) == len(op_names)]
        overall[cond] = {
            "geomean_ratio": geomean(ratios),
            "median_added_us": median(added),
            "max_added_us": max(added) if added else None,
            "geomean_spread": spread([g for g in trial_geo if g]),
            "ops_measured": len(ratios),
        }
    return {"per_op": per_op, "overall": overall, "trials": len(trials)}


def summarise_import(raw: list[dict[str, Any]], conditions: Sequence[str]) -> dict[str, Any]:
    """Median milliseconds per condition for `import pandas`, the tool's import+enable, and both."""
    out: dict[str, Any] = {}
    for cond in conditions:
        rows = [r for r in raw if r["condition"] == cond]
        out[cond] = {
            "pandas_import_ms": _ms(median(r["pandas_import_s"] for r in rows)),
            "enable_ms": _ms(median(r["enable_s"] for r in rows)),
            "total_ms": _ms(median(r["total_s"] for r in rows)),
            "first_work_ms": _ms(median(r.get("first_work_s") for r in rows)),
            "helper_wait_ms": _ms(median(r.get("helper_wait_s") for r in rows)),
            "settled_ms": _ms(median(r.get("settled_s") for r in rows)),
            "helper_threads": sorted({t for r in rows for t in (r.get("helper_threads") or [])}),
            "modules": median(r["modules"] for r in rows),
            "n": len(rows),
        }
    return out


def summarise_memory(raw: list[dict[str, Any]], conditions: Sequence[str]) -> dict[str, Any]:
    """Per condition and checkpoint: growth over the warm baseline, and the per-op slope between checkpoints.

    The slope (growth between the first and last checkpoint divided by the operations in between) is the
    "retained per operation" figure: one-off caches filled before the first checkpoint do not count.  The
    RSS wander (max - min over the checkpoints, per op of the span) is kept as the measurement's noise.
    """
    out: dict[str, Any] = {}
    for cond in conditions:
        rows = [r for r in raw if r["condition"] == cond]
        if not rows:
            continue
        r = rows[0]  # one trial per condition is the default; later trials are kept in raw
        base = r["baseline"]
        cps = []
        for cp in r["checkpoints"]:
            cps.append({
                "ops": cp["ops"],
                "rss_delta_bytes": cp["rss_bytes"] - base["rss_bytes"],
                "blocks_delta": cp["allocated_blocks"] - base["allocated_blocks"],
                "gc_objects_delta": cp["gc_objects"] - base["gc_objects"],
                # Arrow's memory pool (outside Python's allocator), when the process had pyarrow loaded
                "arrow_pool_delta_bytes": (cp["arrow_pool_bytes"] - base["arrow_pool_bytes"]
                                           if "arrow_pool_bytes" in cp and "arrow_pool_bytes" in base else None),
                "tracker": cp["tracker"],
                "elapsed_s": cp["elapsed_s"],
            })
        slope: dict[str, float | None] = {"rss_bytes_per_op": None, "blocks_per_op": None,
                                          "gc_objects_per_op": None}
        if len(cps) >= 2:
            a, b = cps[0], cps[-1]
            n = b["ops"] - a["ops"]
            rss = [c["rss_delta_bytes"] for c in cps]
            slope = {
                "from_ops": a["ops"],
                "to_ops": b["ops"],
                "rss_bytes_per_op": (b["rss_delta_bytes"] - a["rss_delta_bytes"]) / n,
                "blocks_per_op": (b["blocks_delta"] - a["blocks_delta"]) / n,
                "gc_objects_per_op": (b["gc_objects_delta"] - a["gc_objects_delta"]) / n,
                # how far RSS wanders between checkpoints, per op of the span: the noise of this measurement
                "rss_wander_bytes_per_op": (max(rss) - min(rss)) / n,
            }
        out[cond] = {"checkpoints": cps, "slope": slope, "baseline_tracker": base["tracker"]}
    return out


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One verdict per target for openlineage-pandas: met / missed / not measured, with the number."""
    s = results.get("sections", {})
    cond = "openlineage-pandas"
    rows: list[dict[str, Any]] = []

    def ops_overall(rows_: str) -> dict[str, Any] | None:
        size = s.get("ops", {}).get("sizes", {}).get(rows_)
        return size["summary"]["overall"].get(cond) if size else None

    def control(rows_: str, key: str, fmt: str) -> str:
        size = s.get("ops", {}).get("sizes", {}).get(rows_)
        ctrl = size and size["summary"]["overall"].get("control")
        return f" (A/A control: {fmt.format(ctrl[key])})" if ctrl and ctrl.get(key) is not None else ""

    small = ops_overall("1000")
    big = ops_overall("1000000")
    rows.append(_verdict("Median added time per op at 1k rows", "≤ 5 µs",
                         small and small["median_added_us"], TARGETS["added_us_1k"], "{:.1f} µs",
                         control("1000", "median_added_us", "{:.1f} µs")))
    rows.append(_verdict("Geometric-mean slowdown at 1k rows", "≤ 1.03x",
                         small and small["geomean_ratio"], TARGETS["geomean_1k"], "{:.3f}x",
                         control("1000", "geomean_ratio", "{:.3f}x")))
    rows.append(_verdict("Geometric-mean slowdown at 1M rows", "≤ 1.005x",
                         big and big["geomean_ratio"], TARGETS["geomean_1m"], "{:.4f}x",
                         control("1000000", "geomean_ratio", "{:.4f}x")))
    imp = s.get("import", {}).get("summary", {}).get(cond)
    rows.append(_verdict("import openlineage_pandas + enable() (pandas already imported)", "≤ 150 ms",
                         imp and imp["enable_ms"], TARGETS["import_ms"], "{:.0f} ms"))
    mem = s.get("memory", {}).get("summary", {})
    retained, note = None, ""
    if cond in mem and mem[cond]["slope"]["rss_bytes_per_op"] is not None:
        ctl = mem.get("untracked", {}).get("slope", {})
        sl = mem[cond]["slope"]
        ctl_rss = ctl.get("rss_bytes_per_op") or 0.0
        rss = sl["rss_bytes_per_op"] - max(ctl_rss, 0.0)
        blocks = sl["blocks_per_op"] - (ctl.get("blocks_per_op") or 0.0)
        objs = sl["gc_objects_per_op"] - (ctl.get("gc_objects_per_op") or 0.0)
        tracked = sum(v for k, v in mem[cond]["checkpoints"][-1]["tracker"].items() if "tracked_object" in k)
        # 0 when the Python heap is flat (allocator blocks and gc objects do not grow with the op count, nothing
        # still tracked) and the RSS slope is within noise: the larger of 5 B/op and how far the untracked
        # process's RSS wandered between its checkpoints.
        noise = max(RSS_NOISE_BYTES_PER_OP, ctl.get("rss_wander_bytes_per_op") or 0.0)
        python_flat = blocks < 0.01 and objs < 0.001 and tracked == 0
        retained = 0.0 if python_flat and rss < noise else max(rss, 0.0)
        note = (f" (RSS slope {sl['rss_bytes_per_op']:+.1f} B/op, untracked {ctl_rss:+.1f} B/op with noise "
                f"±{noise:.1f} B/op; allocator blocks {blocks:+.3f}/op, gc objects {objs:+.4f}/op, tracked "
                f"objects left {tracked})")
    rows.append(_verdict("Retained memory per op, frames collected", "0 bytes", retained,
                         TARGETS["retained_bytes_per_op"], "{:.1f} B/op", note))
    hs = s.get("housing", {}).get("summary", {}).get("1000000", {})
    rows.append(_verdict("Housing pipeline at 1M rows, tracked vs untracked", "≤ 1.02x (2% slower)",
                         hs.get("ratio"), TARGETS["housing_1m_slowdown"], "{:.3f}x"))
    return rows


def _verdict(name: str, target: str, value: float | None, limit: float, fmt: str, note: str = ""
             ) -> dict[str, Any]:
    if value is None:
        return {"target": name, "goal": target, "value": None, "shown": "not measured", "status": "not measured"}
    return {"target": name, "goal": target, "value": value, "shown": fmt.format(value) + note,
            "status": "met" if value <= limit + 1e-12 else "missed"}


# --------------------------------------------------------------------------------------------------------
# Markdown.
# --------------------------------------------------------------------------------------------------------

def _us(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1e6


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1e3


def _f(value: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if value is None else fmt.format(value)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _present(results: dict[str, Any]) -> list[str]:
    return [c for c, v in results["conditions"].items() if v["available"]]


def markdown(results: dict[str, Any]) -> str:
    """The full results as markdown tables (written next to results.json)."""
    meta = results["meta"]
    conds = _present(results)
    tracked = [c for c in conds if c in TRACKED and c != "control"]
    lines = [f"# Benchmark results ({meta['mode']})", "",
             f"Command: `{meta['command']}`  ",
             f"Started {meta['started']}, took {meta.get('seconds', 0):.0f} s, git {meta.get('git') or '(no commit)'}.  ",
             f"Machine: {meta['machine'].get('cpu', '?')}, {meta['machine'].get('cpus')} CPUs, Python "
             f"{meta['machine']['python']}, load average at start {meta['machine'].get('loadavg_start')}, at end "
             f"{meta.get('loadavg_end')}.", ""]
    lines += ["## Conditions", ""]
    rows = []
    for name, c in results["conditions"].items():
        pk = ", ".join(f"{k} {v}" for k, v in sorted(c.get("packages", {}).items()))
        rows.append([LABELS.get(name, name), "yes" if c["available"] else f"**unavailable**: {c['reason']}",
                     str(c.get("version") or ""), pk])
    lines += [*_table(["condition", "available", "version", "packages"], rows), ""]

    targets = results.get("targets", [])
    if targets:
        lines += ["## Targets (openlineage-pandas)", ""]
        if meta["mode"] == "smoke":
            lines += ["Smoke run: tiny sizes and one trial, so these verdicts are indicative only.", ""]
        lines += [*_table(["target", "goal", "measured", "status"], [[t["target"], t["goal"], t["shown"], _status(t["status"])] for t in targets]), ""]

    sec = results["sections"]
    if "ops" in sec and "sizes" in sec["ops"]:
        lines += ["## Per-operation overhead", "",
                  "Per process, each operation's figure is its fastest timeit-style batch (per call); the table "
                  "shows the median over fresh-process trials. Added µs and ratio are paired with the untracked "
                  "process of the same trial, then the median is taken. Geo-mean = geometric mean of the 13 "
                  "per-op ratios; ± is half the IQR of the per-trial geometric means. The A/A control is "
                  "untracked pandas run again as if it were a tool: its numbers are the noise floor.", ""]
        rows = []
        for size, data in sec["ops"]["sizes"].items():
            ov = data["summary"]["overall"]
            for c in TRACKED:
                o = ov.get(c)
                if not o:
                    continue
                rows.append([f"{int(size):,}", LABELS[c], f"{_f(o['geomean_ratio'], '{:.4f}')}x ± "
                             f"{_f(o['geomean_spread'], '{:.4f}')}", _f(o["median_added_us"]),
                             _f(o["max_added_us"]), str(data["summary"]["trials"])])
        lines += [*_table(["rows", "condition", "geo-mean slowdown", "median added µs/op", "max added µs/op", "trials"], rows), ""]
        for size, data in sec["ops"]["sizes"].items():
            lines += [f"### {int(size):,} rows", ""]
            header = ["operation", "untracked µs"]
            here = [c for c in TRACKED if c in data["summary"]["overall"]]
            for c in here:
                header += [f"{LABELS[c]} µs", "added µs", "ratio"]
            rows = []
            for op, cells in data["summary"]["per_op"].items():
                r = [op, _f(cells.get("untracked", {}).get("us"))]
                for c in here:
                    cell = cells.get(c, {})
                    r += [_f(cell.get("us")), _f(cell.get("added_us")), _f(cell.get("ratio"), "{:.3f}")]
                rows.append(r)
            lines += [*_table(header, rows), ""]

    if "import" in sec and "summary" in sec["import"]:
        lines += ["## Import + enable", "",
                  "Fresh process each trial. *import+enable* = the tool's import and switch-on after `import pandas` "
                  "(openlineage-pandas: `import openlineage_pandas; openlineage_pandas.enable()`; AutoLineage: "
                  "`import autolineage.auto`), i.e. what the caller waits for. *first work* = reading a 1k-row "
                  "parquet file and `dropna()` right after. *helper wait* = joining the threads the tool left "
                  "running afterwards (work moved off the caller, still paid by the process).", ""]
        rows = []
        for c, v in sec["import"]["summary"].items():
            rows.append([LABELS.get(c, c), _f(v["pandas_import_ms"], "{:.0f}"), _f(v["enable_ms"], "{:.1f}"),
                         _f(v.get("first_work_ms"), "{:.1f}"), _f(v.get("helper_wait_ms"), "{:.1f}"),
                         ", ".join(v.get("helper_threads") or []) or "-",
                         _f(v["modules"], "{:.0f}"), str(v["n"])])
        lines += [*_table(["condition", "import pandas ms", "import+enable ms", "first work ms", "helper wait ms",
                           "helper threads", "modules loaded", "trials"], rows), ""]

    if "memory" in sec and "summary" in sec["memory"]:
        lines += ["## Memory retained", "",
                  f"Frames of {sec['memory'].get('rows', 0):,} rows re-read from parquet for each phase, the 13 "
                  "operations cycled, every frame then deleted and `gc.collect()` + `malloc_trim(0)` run before "
                  "measuring. Deltas are against a warm baseline taken the same way; the per-op slope is from the "
                  "first to the last checkpoint. RSS wanders by a few hundred KiB between checkpoints even "
                  "untracked: see the untracked row for this run's noise.", ""]
        rows = []
        for c, v in sec["memory"]["summary"].items():
            for cp in v["checkpoints"]:
                rows.append([LABELS.get(c, c), f"{cp['ops']:,}", f"{cp['rss_delta_bytes'] / 1024:.0f}",
                             f"{cp['blocks_delta']:,}", f"{cp['gc_objects_delta']:,}",
                             ", ".join(f"{k}={val:,}" for k, val in cp["tracker"].items()) or "-"])
        lines += [*_table(["condition", "ops", "RSS Δ KiB", "allocator blocks Δ", "gc objects Δ", "tracker counts"], rows), ""]
        rows = [[LABELS.get(c, c), f"{v['slope'].get('from_ops', 0):,} -> {v['slope'].get('to_ops', 0):,}",
                 _f(v["slope"]["rss_bytes_per_op"], "{:.2f}"), _f(v["slope"]["blocks_per_op"], "{:.3f}"),
                 _f(v["slope"]["gc_objects_per_op"], "{:.4f}")]
                for c, v in sec["memory"]["summary"].items()]
        lines += [*_table(["condition", "interval (ops)", "RSS bytes/op", "blocks/op", "gc objects/op"], rows), ""]
        wander = sec["memory"]["summary"].get("untracked", {}).get("slope", {}).get("rss_wander_bytes_per_op")
        if wander is not None:
            lines += [f"Untracked RSS wandered by {wander:.1f} B/op over the same span: RSS differences below "
                      "that (or 5 B/op) are noise.", ""]

    if "wide" in sec and "cells" in sec["wide"]:
        lines += ["## Lineage cost vs column count", "",
                  "Median added µs per op (over the wide-frame operations) against untracked, paired per trial.",
                  ""]
        header = ["rows", "columns", "untracked median µs"]
        for c in tracked:
            header += [f"{LABELS[c]} median added µs", f"{LABELS[c]} geo-mean"]
        rows = []
        for cell in sec["wide"]["cells"].values():
            summ = cell["summary"]
            base = median(v.get("untracked", {}).get("us") for v in summ["per_op"].values())
            r = [f"{cell['rows']:,}", str(cell["columns"]), _f(base)]
            for c in tracked:
                o = summ["overall"].get(c, {})
                r += [_f(o.get("median_added_us")), _f(o.get("geomean_ratio"), "{:.3f}x")]
            rows.append(r)
        lines += [*_table(header, rows), ""]
        lines += ["Per operation, added µs:", ""]
        opnames = list(next(iter(sec["wide"]["cells"].values()))["summary"]["per_op"])
        for c in tracked:
            rows = []
            for cell in sec["wide"]["cells"].values():
                per = cell["summary"]["per_op"]
                rows.append([f"{cell['rows']:,}x{cell['columns']}"] +
                            [_f(per.get(op, {}).get(c, {}).get("added_us")) for op in opnames])
            lines += [f"{LABELS[c]}:", "", *_table(["rows x cols", *opnames], rows), ""]

    if "emission" in sec:
        em = sec["emission"]
        lines += ["## Emission throughput", ""]
        if "rows" not in em:
            lines += [f"Not measured: {em.get('error', 'unknown')}", ""]
        else:
            lines += [f"{em.get('client', '')}; median of trials.", ""]
            if em.get("library_error"):
                lines += [f"openlineage-pandas events unavailable ({em['library_error']}); synthetic only.", ""]
            rows = []
            for t in em["rows"]:
                if t.get("available", True):
                    mbs = t["events_per_s"] * t["event_bytes"] / 1e6
                    rows.append([t["transport"], t["events_set"], f"{t['event_bytes']:,.0f}",
                                 _f(t.get("events_per_s"), "{:,.0f}"), _f(t.get("us_per_event"), "{:,.0f}"),
                                 f"{mbs:.1f}", f"{t.get('accepted')}/{t.get('events')}"])
                else:
                    rows.append([t["transport"], t["events_set"], "-", f"unavailable: {t.get('reason')}", "-", "-",
                                 "-"])
            lines += [*_table(["transport", "events", "mean bytes/event", "events/s", "µs/event", "MB/s",
                               "accepted/sent"], rows), ""]

    if "housing" in sec:
        hs = sec["housing"]
        lines += ["## Housing example end to end", ""]
        if not hs.get("ran"):
            lines += [f"Not run: {hs.get('reason', hs.get('error', 'unknown'))}", ""]
        else:
            for cond, cmd in hs.get("commands", {}).items():
                lines += [f"- {LABELS.get(cond, cond)}: `{cmd}`"]
            lines += [""]
            rows = [[f"{int(r):,}", _f(v.get("untracked_s"), "{:.2f}"), _f(v.get("tracked_s"), "{:.2f}"),
                     _f(v.get("ratio"), "{:.3f}x"), _f(v.get("private_process_s"), "{:.2f}"),
                     _f(v.get("private_process_ratio"), "{:.3f}x"), _f(v.get("control_ratio"), "{:.3f}x"),
                     _f(v.get("events"), "{:.0f}"), str(v.get("n"))]
                    for r, v in hs["summary"].items()]
            lines += [*_table(["rows", "untracked s", "openlineage-pandas s (warm event server)",
                               "ratio (paired median)", "private event process s", "ratio (paired median)",
                               "A/A control ratio", "events emitted", "trials"], rows), ""]

    if "profile" in sec and "hotspots" in sec["profile"]:
        prof = sec["profile"]
        lines += ["## Profile", "", prof.get("note", ""), ""]
        for c, spots in prof["hotspots"].items():
            ov = prof.get("overhead", {}).get(c, {})
            share = ov.get("overhead_share")
            lines += [f"### {LABELS.get(c, c)}", "",
                      f"Time attributed to the tool (hook wrapper's own time + everything it calls except the "
                      f"original pandas call): {_f(share and share * 100)}% of all profiled time.", ""]
            lines += [*_table(["function (cumulative excludes the user's pandas call)", "self s", "cumulative s",
                               "calls", "self %"],
                              [[f"`{h['function']}`", f"{h['tottime']:.3f}", f"{h['cumtime']:.3f}",
                                f"{h['ncalls']:,}", f"{h['share']:.1f}"] for h in spots]), ""]
            per_op = prof.get("per_op", {}).get(c, {})
            if per_op:
                lines += [*_table(["operation", "profiled µs/call", "tool µs/call (profiled)", "top tool functions"],
                                  [[op, _f(v["total_us_per_call"]), _f(v["overhead_us_per_call"]),
                                    "<br>".join(f"`{t}`" for t in v["top"])] for op, v in per_op.items()]), ""]
            imp = prof.get("importtime", {}).get(c, [])
            if imp:
                lines += ["`python -X importtime`: top-level modules imported after `import pandas`:", ""]
                lines += [*_table(["module", "cumulative ms", "self ms"],
                                  [[r["module"], f"{r['cumulative_ms']:.1f}", f"{r['self_ms']:.1f}"] for r in imp]),
                          ""]

    if results.get("errors"):
        lines += ["## Errors", ""] + [f"- {e}" for e in results["errors"]] + [""]
    return "\n".join(lines)


def _status(s: str) -> str:
    return {"met": "met", "missed": "**missed**", "not measured": "not measured"}.get(s, s)


def short_summary(results: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    lines = []
    if results["meta"]["mode"] == "smoke":
        lines.append("smoke run (tiny sizes, one trial): the verdicts below are indicative only")
    for t in results.get("targets", []):
        lines.append(f"{t['status']:>12}  {t['target']}: {t['shown']} (goal {t['goal']})")
    for name, c in results["conditions"].items():
        if not c["available"]:
            lines.append(f"unavailable  {name}: {c['reason']}")
    if results.get("errors"):
        lines.append(f"{len(results['errors'])} error(s); see results.md")
    return "\n".join(lines)
