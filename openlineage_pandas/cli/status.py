"""`openlineage-pandas status`: where events go, and what is waiting in the local store (spool, rejected).

The in-memory queue lives only inside a running pipeline; between runs, undelivered events are in the spool.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from openlineage_pandas.cli import settings_or_none
from openlineage_pandas.config import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "status",
        help="show the configured backend and the spooled / rejected events",
        description="Show where lineage events go (credentials hidden), the local store, and the events "
                    "waiting in the spool or refused by the backend.",
    )
    parser.add_argument("--json", action="store_true", help="print the status as one JSON object")
    parser.set_defaults(handler=run)


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # unreachable; keeps type checkers content


def collect(settings: Settings) -> dict[str, Any]:
    """Everything `status` shows, as plain data."""
    from openlineage_pandas.delivery.client import build_client, describe_transport, is_local_store
    from openlineage_pandas.delivery.redact import redact_text
    from openlineage_pandas.delivery.spool import JsonLinesFile

    backend: dict[str, Any]
    try:
        client = build_client(settings)
        backend = {"transport": describe_transport(client), "local_default": is_local_store(client, settings)}
    except Exception as exc:  # a broken openlineage.yml is exactly what status should reveal
        backend = {"error": redact_text(f"{type(exc).__name__}: {exc}")}
    events_path = settings.events_path
    return {
        "store": str(settings.store_dir),
        "backend": backend,
        "local_events": {"path": str(events_path),
                         "bytes": events_path.stat().st_size if events_path.exists() else 0},
        "queue": "in-process only: a running pipeline flushes it at exit and spools what it cannot deliver",
        "spool": JsonLinesFile(settings.spool_path).stats(),
        "rejected": JsonLinesFile(settings.rejected_path).stats(),
        "flush_timeout_s": settings.flush_timeout,
        "queue_size": settings.queue_size,
        "event_worker": _event_worker(settings),
    }


def _event_worker(settings: Settings) -> dict[str, Any]:
    worker: dict[str, Any] = {"mode": settings.event_worker}
    if settings.event_worker == "server":
        from openlineage_pandas.events.server import running_server

        worker.update(running_server())
    return worker


def _print(info: dict[str, Any]) -> None:
    backend = info["backend"]
    if "error" in backend:
        print(f"backend:      configuration error: {backend['error']}")
    else:
        suffix = "  (default local store: no OpenLineage transport configured)" if backend["local_default"] else ""
        print(f"backend:      {backend['transport']}{suffix}")
    print(f"local store:  {info['store']}")
    local = info["local_events"]
    if local["bytes"]:
        print(f"  events:     {local['path']} ({_size(local['bytes'])})")
    worker = info["event_worker"]
    line = f"event worker: {worker['mode']}"
    if worker["mode"] == "server":
        if worker.get("unavailable"):
            line += f" (not usable: {worker['unavailable']}; runs use a private event process)"
        elif worker["pid"] is not None:
            line += f" (running, pid {worker['pid']}, {worker['socket']})"
        else:
            line += f" (not running; the next tracked run starts it at {worker['socket']})"
    print(line)
    print(f"queue:        {info['queue']} (size {info['queue_size']}, flush deadline {info['flush_timeout_s']:g} s)")
    for label in ("spool", "rejected"):
        stats = info[label]
        line = f"{label + ':':<13} {stats['events']} event(s)"
        if stats["events"] or stats["unreadable"]:
            line += f", {_size(stats['bytes'])}, {stats['path']}"
            if stats["oldest_event_time"]:
                line += f"\n              oldest {stats['oldest_event_time']}, newest {stats['newest_event_time']}"
            if stats["unreadable"]:
                line += f"\n              {stats['unreadable']} unreadable line(s)"
            if label == "spool" and stats["by_destination"]:
                per = ", ".join(f"{k}: {v}" for k, v in sorted(stats["by_destination"].items()))
                line += f"\n              for {per}; send them with `openlineage-pandas replay`"
            if label == "rejected" and stats["by_status"]:
                per = ", ".join(f"HTTP {k}: {v}" if k != "None" else f"unreadable: {v}"
                                for k, v in sorted(stats["by_status"].items()))
                line += f"\n              {per}"
        print(line)


def run(args: argparse.Namespace) -> int:
    settings = settings_or_none("status")
    if settings is None:
        return 2
    info = collect(settings)
    if args.json:
        json.dump(info, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        _print(info)
    return 0
