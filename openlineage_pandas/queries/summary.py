"""Renders one stored run as readable text: inputs, outputs, the numbered operation log, files to datasets.

Pure function of the events, so it works on any store, including events from another machine.
"""

from __future__ import annotations

from typing import Any

from openlineage_pandas.queries.store import StoredRun


def _dataset_line(ds: dict[str, Any], stats_key: str) -> str:
    facets = ds.get("facets") or {}
    fields = (facets.get("schema") or {}).get("fields") or []
    fmt = (facets.get("storage") or {}).get("fileFormat")
    stats = ((ds.get(stats_key) or {}).get("inputStatistics" if stats_key == "inputFacets" else
                                            "outputStatistics") or {})
    bits = [f"{len(fields)} columns"]
    if stats.get("rowCount") is not None:
        bits.append(f"{stats['rowCount']:,} rows")
    if stats.get("size") is not None:
        bits.append(f"{stats['size']:,} bytes")
    if fmt:
        bits.insert(0, fmt)
    return f"{ds.get('namespace')}:{ds.get('name')}  ({', '.join(bits)})"


def _lineage_lines(ds: dict[str, Any], limit: int = 12) -> list[str]:
    facet = (ds.get("facets") or {}).get("columnLineage") or {}
    lines = []
    for out_field, spec in list((facet.get("fields") or {}).items())[:limit]:
        sources = []
        for inp in spec.get("inputFields") or []:
            kinds = ",".join(sorted({t.get("subtype", "?") for t in inp.get("transformations") or []}))
            sources.append(f"{inp['name'].rsplit('/', 1)[-1]}:{inp['field']} [{kinds}]")
        lines.append(f"      {out_field} <- {'; '.join(sources)}")
    more = len(facet.get("fields") or {}) - limit
    if more > 0:
        lines.append(f"      ... {more} more columns")
    dataset_level = facet.get("dataset") or []
    if dataset_level:
        influences = sorted({f"{t.get('subtype')}:{d['field']}" for d in dataset_level
                             for t in d.get("transformations") or []})
        lines.append(f"      (whole dataset) <- {', '.join(influences[:10])}")
    return lines


def render_summary(run: StoredRun, children: list[StoredRun] | None = None) -> str:
    event = run.last
    job = event.get("job", {})
    facets = event.get("run", {}).get("facets") or {}
    lines = [
        f"Run {run.run_id}  job {job.get('namespace')}/{job.get('name')}  state {run.state}",
        f"  started {run.started}  last event {event.get('eventTime')}  ({len(run.events)} events)",
    ]
    err = facets.get("errorMessage")
    if err:
        lines.append(f"  error: {err.get('message')}")
    inputs = event.get("inputs") or []
    outputs = event.get("outputs") or []
    lines.append(f"\nInputs ({len(inputs)}):")
    lines.extend(f"  - {_dataset_line(ds, 'inputFacets')}" for ds in inputs)
    lines.append(f"\nOutputs ({len(outputs)}):")
    for ds in outputs:
        lines.append(f"  - {_dataset_line(ds, 'outputFacets')}")
        lines.extend(_lineage_lines(ds))
    oplog = facets.get("pandas_operationLog") or {}
    ops = oplog.get("operations") or []
    lines.append(f"\nOperations ({oplog.get('totalOperations', len(ops))}"
                 f"{', truncated' if oplog.get('truncated') else ''}):")
    for op in ops:
        before, after = op.get("shapeBefore"), op.get("shapeAfter")
        shape = ""
        if before or after:
            shape = f"  {'x'.join(map(str, before)) if before else '-'} -> {'x'.join(map(str, after)) if after else '-'}"
        changes: list[str] = []
        if op.get("rowsRemoved"):
            changes.append(f"-{op['rowsRemoved']:,} rows")
        if op.get("columnsAdded"):
            changes.append("+cols " + ", ".join(op["columnsAdded"][:8]))
        if op.get("columnsRemoved"):
            changes.append("-cols " + ", ".join(op["columnsRemoved"][:8]))
        if op.get("approximated"):
            changes.append("(lineage over-approximated)")
        lines.append(f"  {op.get('index', 0) + 1:>3}. {op.get('operation')}{shape}  {'  '.join(changes)}".rstrip())
    lines.append("\nFiles -> datasets:")
    seen = set()
    for ds in [*inputs, *outputs]:
        key = (ds.get("namespace"), ds.get("name"))
        if key in seen:
            continue
        seen.add(key)
        location = ds.get("name") if ds.get("namespace") == "file" else f"{ds.get('namespace')}/{ds.get('name')}"
        lines.append(f"  {location}  =>  dataset {ds.get('namespace')} / {ds.get('name')}")
    for child in children or []:
        cjob = child.job
        lines.append(f"\nChild run {child.run_id}  job {cjob.get('name')}  state {child.state}")
    return "\n".join(lines)
