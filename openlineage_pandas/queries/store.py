"""Reads OpenLineage events from the local JSON-lines store and groups them into runs.

Tolerates partial last lines (a writer may be mid-append) and events from other producers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TERMINAL = ("COMPLETE", "FAIL", "ABORT")


@dataclass
class StoredRun:
    """All events of one run id, in file order."""

    run_id: str
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def job(self) -> dict[str, Any]:
        return self.events[-1].get("job", {})

    @property
    def last(self) -> dict[str, Any]:
        """The most informative event: the terminal one if present, else the latest."""
        for event in reversed(self.events):
            if event.get("eventType") in TERMINAL:
                return event
        return self.events[-1]

    @property
    def state(self) -> str:
        return str(self.last.get("eventType", "UNKNOWN"))

    @property
    def started(self) -> str:
        return str(self.events[0].get("eventTime", ""))


def iter_events(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(event, dict) and "run" in event:
                yield event


def load_runs(path: Path) -> list[StoredRun]:
    """Runs in order of their first event."""
    runs: dict[str, StoredRun] = {}
    for event in iter_events(path):
        run_id = str(event.get("run", {}).get("runId", ""))
        runs.setdefault(run_id, StoredRun(run_id)).events.append(event)
    return list(runs.values())


def find_run(runs: list[StoredRun], run_id: str | None) -> StoredRun | None:
    """The named run (a unique prefix is enough), else the latest top-level run."""
    if not runs:
        return None
    if run_id:
        matches = [r for r in runs if r.run_id.startswith(run_id)]
        return matches[0] if len(matches) == 1 else None
    top_level = [r for r in runs if "parent" not in (r.last.get("run", {}).get("facets") or {})]
    return (top_level or runs)[-1]


def child_runs(runs: list[StoredRun], parent_id: str) -> list[StoredRun]:
    out = []
    for r in runs:
        parent = (r.last.get("run", {}).get("facets") or {}).get("parent") or {}
        if parent.get("run", {}).get("runId") == parent_id:
            out.append(r)
    return out
