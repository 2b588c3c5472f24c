"""Re-sends spooled events in emission order, removing each from the spool only once its backend acknowledged it.

Refusals (4xx about the event) move to the rejected file; a destination's first transient failure ends its replay.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from openlineage_pandas.config import Settings
from openlineage_pandas.delivery.destinations import Destination, Outcome, destinations_for
from openlineage_pandas.delivery.spool import (
    FORMAT_VERSION,
    JsonLinesFile,
    Record,
    delivery_order,
    envelope_line,
    exclusive,
    utc_now,
)

if TYPE_CHECKING:
    from openlineage.client import OpenLineageClient

CHECKPOINT_EVERY = 20  # acknowledged events between spool rewrites: at most this many are re-sent after a crash
CHECKPOINT_SECONDS = 1.0


@dataclass
class ReplayReport:
    """What a replay did (or, with dry_run, would do)."""

    total: int = 0
    delivered: int = 0
    rejected: int = 0
    unreadable: int = 0
    remaining: int = 0
    dry_run: bool = False
    busy: bool = False  # another replay holds the store
    plan: dict[str, str | None] = field(default_factory=dict)  # spooled-for destination -> where it goes now
    planned: Counter[str] = field(default_factory=Counter)  # events per spooled-for destination
    stopped: dict[str, str] = field(default_factory=dict)  # destination -> why its replay stopped
    unmatched: Counter[str] = field(default_factory=Counter)  # spooled-for destinations not configured now
    oldest: str | None = None
    newest: str | None = None
    runs: int = 0

    def unmatched_destinations(self) -> list[str]:
        """Spooled-for destinations that the current configuration cannot deliver to."""
        return [name for name, where in self.plan.items() if where is None]


ProgressFn = Callable[[int, int, ReplayReport], None]


def _resolver(destinations: list[Destination]) -> Callable[[str], Destination | None]:
    by_name = {d.name: d for d in destinations}
    remote = [d for d in destinations if not d.local]

    def resolve(name: str) -> Destination | None:
        if name in by_name:
            return by_name[name]
        # The configuration changed since the event was spooled (e.g. another OPENLINEAGE_URL): a single remote
        # destination is unambiguous. Never fall back to a local file: that would drop events from the spool
        # into events.jsonl just because the shell running `replay` lacks the backend's configuration.
        return remote[0] if len(remote) == 1 else None

    return resolve


def _rejected_line(record: Record, status: int | None, message: str) -> str:
    meta: dict[str, Any] = {**record.meta, "v": FORMAT_VERSION, "status": status, "message": message,
                            "rejected_at": utc_now()}
    if record.event is None:
        return json.dumps({**meta, "line": record.line}, sort_keys=True, ensure_ascii=False)
    return envelope_line(meta, json.dumps(record.event, sort_keys=True))


def replay(settings: Settings, *, dry_run: bool = False, client: OpenLineageClient | None = None,
           progress: ProgressFn | None = None, checkpoint_every: int = CHECKPOINT_EVERY,
           checkpoint_seconds: float = CHECKPOINT_SECONDS) -> ReplayReport:
    """Send the spool through the configured transport, in order; see the module docstring."""
    from openlineage_pandas.delivery.client import build_client, is_local_store
    from openlineage_pandas.delivery.emitter import LOCAL_STORE_DESTINATION

    report = ReplayReport(dry_run=dry_run)
    spool = JsonLinesFile(settings.spool_path)
    rejected = JsonLinesFile(settings.rejected_path)
    if not settings.spool_path.exists():
        return report
    with exclusive(settings.store_dir) as acquired:
        if not acquired:
            report.busy = True
            return report
        records = delivery_order(spool.read())
        report.total = len(records)
        times = sorted(t for t in (r.event_time for r in records) if t)
        report.oldest, report.newest = (times[0], times[-1]) if times else (None, None)
        report.runs = len({r.run_id for r in records if r.run_id})
        if not records:
            return report
        client = client or build_client(settings)
        default_name = LOCAL_STORE_DESTINATION if is_local_store(client, settings) else "default"
        destinations = destinations_for(client, default_name)
        resolve = _resolver(destinations)
        for record in records:
            if record.event is None:
                report.unreadable += 1
                continue
            dest = resolve(record.destination)
            report.plan[record.destination] = dest.target if dest else None
            report.planned[record.destination] += 1
        if dry_run:
            report.remaining = report.total
            return report
        try:
            _send_all(records, resolve, spool, rejected, report, progress, checkpoint_every, checkpoint_seconds)
        finally:
            for dest in destinations:
                if not dest.local:
                    dest.close(settings.flush_timeout)
    return report


def _send_all(records: list[Record], resolve: Callable[[str], Destination | None], spool: JsonLinesFile,
              rejected: JsonLinesFile, report: ReplayReport, progress: ProgressFn | None,
              checkpoint_every: int, checkpoint_seconds: float) -> None:
    acked: list[str] = []  # lines to drop from the spool at the next checkpoint
    refused: list[str] = []  # lines to add to the rejected file at the next checkpoint
    removed = 0
    last_checkpoint = time.monotonic()

    def checkpoint() -> None:
        nonlocal last_checkpoint, removed
        # Rejected lines are written before they leave the spool: a crash in between duplicates, never loses.
        if refused:
            rejected.append(refused)
            refused.clear()
        if acked:
            spool.remove(acked)
            removed += len(acked)
            acked.clear()
        last_checkpoint = time.monotonic()

    try:
        for index, record in enumerate(records, 1):
            dest = None if record.event is None else resolve(record.destination)
            if record.event is None:
                refused.append(_rejected_line(record, None, f"unreadable spool line: {record.error}"))
                acked.append(record.line)
            elif dest is None:
                report.unmatched[record.destination] += 1
            elif dest.name in report.stopped:
                pass  # later events of a failing destination wait behind the failed one: order is kept
            else:
                result = dest.send_with_retry(record.event)
                if result.outcome is Outcome.DELIVERED:
                    report.delivered += 1
                    acked.append(record.line)
                elif result.outcome is Outcome.REJECTED:
                    report.rejected += 1
                    refused.append(_rejected_line(record, result.status, result.message))
                    acked.append(record.line)
                else:
                    report.stopped[dest.name] = result.message
            if len(acked) >= checkpoint_every or time.monotonic() - last_checkpoint >= checkpoint_seconds:
                checkpoint()
            if progress is not None:
                progress(index, len(records), report)
    finally:
        checkpoint()
        report.remaining = report.total - removed
