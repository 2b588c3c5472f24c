"""The local durable files of the delivery layer: the spool (events still to deliver) and the rejected file.

JSON lines, one envelope per event, appended under a lock shared by threads and processes, fsync'd, mode 0600.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: threads of one process are still serialised; processes are not.
    fcntl = None  # type: ignore[assignment]

FORMAT_VERSION = 1
FILE_MODE = 0o600
LOCK_NAME = ".delivery.lock"
REPLAY_LOCK_NAME = ".replay.lock"


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def envelope_line(meta: dict[str, Any], event_json: str) -> str:
    """One spool/rejected line: the metadata plus the event exactly as `Serde.to_json` wrote it."""
    head = json.dumps(meta, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # Splicing keeps the event's own serialisation byte for byte and avoids a decode/encode round trip.
    return head[:-1] + (',"event":' if meta else '"event":') + event_json + "}"


@dataclass(frozen=True)
class Record:
    """One line of a spool or rejected file, parsed; `event` is None when the line is unreadable."""

    line: str
    index: int
    meta: dict[str, Any] = field(default_factory=dict)
    event: dict[str, Any] | None = None
    error: str | None = None

    @property
    def session(self) -> str:
        return str(self.meta.get("session", ""))

    @property
    def seq(self) -> int:
        seq = self.meta.get("seq")
        return seq if isinstance(seq, int) else self.index

    @property
    def destination(self) -> str:
        return str(self.meta.get("destination") or "default")

    @property
    def event_time(self) -> str | None:
        value = (self.event or {}).get("eventTime")
        return value if isinstance(value, str) else None

    @property
    def run_id(self) -> str | None:
        run = (self.event or {}).get("run")
        value = run.get("runId") if isinstance(run, dict) else None
        return value if isinstance(value, str) else None


def parse_line(line: str, index: int) -> Record:
    try:
        data = json.loads(line)
    except ValueError as exc:
        return Record(line, index, error=f"not JSON ({exc})")
    if not isinstance(data, dict):
        return Record(line, index, error="not a JSON object")
    if "event" in data and isinstance(data["event"], dict):
        meta = {k: v for k, v in data.items() if k != "event"}
        return Record(line, index, meta, data["event"])
    if "eventTime" in data:  # a bare event (written by hand or another tool): still replayable
        return Record(line, index, {}, data)
    return Record(line, index, error="neither a spool envelope nor an OpenLineage event")


def delivery_order(records: Iterable[Record]) -> list[Record]:
    """Emission order: sessions (processes) in order of first appearance, each session by sequence number.

    File order is almost always emission order already; a queue overflow spools one event ahead of the
    events still queued before it, and the sequence number puts it back in place.
    """
    first_seen: dict[str, int] = {}
    items = list(records)
    for record in items:
        first_seen.setdefault(record.session or f"line-{record.index}", record.index)
    return sorted(items, key=lambda r: (first_seen[r.session or f"line-{r.index}"], r.seq, r.index))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # not possible on every platform; the data itself is already fsync'd
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class JsonLinesFile:
    """A JSON-lines file that threads and processes append to and rewrite without losing each other's lines."""

    # One lock per lock file for all instances in this process: POSIX record locks belong to the process,
    # so threads must also be serialised, and closing any descriptor of the lock file would drop the lock.
    _thread_locks: dict[str, threading.Lock] = {}
    _thread_locks_guard = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.lock_path = self.path.parent / LOCK_NAME

    @classmethod
    def _thread_lock(cls, lock_path: Path) -> threading.Lock:
        with cls._thread_locks_guard:
            return cls._thread_locks.setdefault(str(lock_path), threading.Lock())

    @classmethod
    def reset_locks_after_fork(cls) -> None:
        """A lock held by a parent thread at fork time would stay held forever in the child."""
        cls._thread_locks = {}
        cls._thread_locks_guard = threading.Lock()

    @contextmanager
    def locked(self) -> Iterator[None]:
        with self._thread_lock(self.lock_path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, FILE_MODE)
            try:
                if fcntl is not None:
                    # lockf (POSIX record lock), not flock: a forked child does not inherit it.
                    fcntl.lockf(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)

    def append(self, lines: Sequence[str]) -> None:
        """Append lines durably (one write, one fsync)."""
        if not lines:
            return
        data = "".join(line + "\n" for line in lines).encode("utf-8")
        with self.locked():
            created = not self.path.exists()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
            try:
                if hasattr(os, "fchmod"):
                    os.fchmod(fd, FILE_MODE)  # also tightens a file some other tool created
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            if created:
                _fsync_dir(self.path.parent)

    def _read_lines(self) -> list[str]:
        try:
            with open(self.path, encoding="utf-8", errors="replace", newline="\n") as fh:
                text = fh.read()
        except FileNotFoundError:
            return []
        return [line for line in text.split("\n") if line.strip()]

    def read(self) -> list[Record]:
        if not self.path.exists():  # and do not create the store directory just to look
            return []
        with self.locked():
            lines = self._read_lines()
        return [parse_line(line, i) for i, line in enumerate(lines)]

    def remove(self, lines: Iterable[str]) -> int:
        """Atomically drop these lines (each occurrence once), keeping anything appended meanwhile."""
        to_drop = Counter(lines)
        if not to_drop:
            return 0
        with self.locked():
            current = self._read_lines()
            kept: list[str] = []
            removed = 0
            for line in current:
                if to_drop.get(line, 0) > 0:
                    to_drop[line] -= 1
                    removed += 1
                else:
                    kept.append(line)
            if not removed:
                return 0
            if not kept:
                self.path.unlink(missing_ok=True)
            else:
                tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
                try:
                    _write_all(fd, "".join(line + "\n" for line in kept).encode("utf-8"))
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.replace(tmp, self.path)
            _fsync_dir(self.path.parent)
            return removed

    def stats(self) -> dict[str, Any]:
        """Counts, size and event-time range, for `openlineage-pandas status`."""
        records = self.read()
        times = sorted(t for t in (r.event_time for r in records) if t)
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            size = 0
        by_destination = Counter(r.destination for r in records if r.event is not None)
        statuses = Counter(str(r.meta.get("status")) for r in records if "status" in r.meta)
        return {
            "path": str(self.path),
            "events": sum(1 for r in records if r.event is not None),
            "unreadable": sum(1 for r in records if r.event is None),
            "bytes": size,
            "oldest_event_time": times[0] if times else None,
            "newest_event_time": times[-1] if times else None,
            "by_destination": dict(by_destination),
            "by_status": dict(statuses),
        }


@contextmanager
def exclusive(store_dir: Path, name: str = REPLAY_LOCK_NAME) -> Iterator[bool]:
    """A non-blocking process lock; yields False when another process holds it (e.g. a concurrent replay)."""
    store_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(store_dir / name, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        if fcntl is None:
            yield True
            return
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
