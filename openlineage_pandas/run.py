"""One job run: the datasets it read and wrote, its operation log, and its START/RUNNING/COMPLETE/FAIL events.

Runs nest (`job()` scopes become child runs with a parent facet); the process-wide script run is the default.
"""

from __future__ import annotations

import contextvars
import itertools
import os
import threading
import traceback
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from openlineage_pandas.config import Settings, job_namespace
from openlineage_pandas.naming import DatasetRef, safe_namespace
from openlineage_pandas.ol_imports import light_module
from openlineage_pandas.provenance.deferred import force
from openlineage_pandas.provenance.model import FrameLineage, field_name

MAX_LOGGED_COLUMNS = 50  # per operation-log entry, for columns added and removed

NEW, RUNNING, COMPLETE, FAIL, ABORT = "NEW", "RUNNING", "COMPLETE", "FAIL", "ABORT"


@dataclass(frozen=True, slots=True)
class DtypeName:
    """A dtype reduced to what an event says of it (its text and numpy kind): picklable without pandas, for the
    event process."""

    text: str
    kind: str | None

    @classmethod
    def of(cls, dtype: Any) -> DtypeName:
        if type(dtype) is cls:
            return dtype  # type: ignore[no-any-return]
        kind = getattr(dtype, "kind", None)
        return cls(str(dtype), kind if isinstance(kind, str) else None)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class FacetSpec:
    """A facet given as plain values, turned into openlineage-python's facet class when the event is built (so a
    hook never imports openlineage-python on the user's thread). `kind` names the class in `events.facets`."""

    kind: str
    fields: dict[str, Any]


@dataclass(slots=True)
class DatasetRecord:
    """What one run knows of one dataset: schema, format, statistics, and (outputs) its column lineage."""

    ref: DatasetRef
    columns: list[tuple[Hashable, Any]]  # (label, dtype) in column order
    file_format: str | None = None
    row_count: int | None = None
    size_bytes: int | None = None
    lineage: FrameLineage | None = None
    extra_facets: dict[str, Any] = field(default_factory=dict)  # facet objects or FacetSpec
    operation: str | None = None  # the call that read/wrote it, e.g. "pandas.read_csv"

    @property
    def field_names(self) -> list[str]:
        seen: dict[str, None] = {}
        for label, _ in self.columns:
            seen.setdefault(field_name(label), None)
        return list(seen)


@dataclass(slots=True)
class OperationEntry:
    operation: str
    shape_before: tuple[int, int] | None
    shape_after: tuple[int, int] | None
    rows_removed: int | None
    columns_added: list[str]
    columns_removed: list[str]
    approximated: bool = False
    # (lineage before, lineage after), either possibly a Deferred thunk: the columns added/removed and the
    # approximation flag are then worked out when the event is built, not on the operation's hot path.
    lineage_change: tuple[Any, Any] | None = None

    def _settle(self) -> None:
        if self.lineage_change is None:
            return
        before, after = (force(lin) for lin in self.lineage_change)
        self.lineage_change = None
        if after is None:
            return
        old = before.columns if before is not None else {}
        new = after.columns
        if new is not old and new.keys() != old.keys():
            self.columns_added = [field_name(label) for label in new if label not in old][:MAX_LOGGED_COLUMNS]
            self.columns_removed = [field_name(label) for label in old if label not in new][:MAX_LOGGED_COLUMNS]
        if not self.approximated and after.notes:
            previous = before.notes if before is not None else ()
            self.approximated = after.notes is not previous and any(n not in previous for n in after.notes)

    def to_dict(self, index: int) -> dict[str, Any]:
        self._settle()
        entry: dict[str, Any] = {"index": index, "operation": self.operation}
        if self.shape_before is not None:
            entry["shapeBefore"] = list(self.shape_before)
        if self.shape_after is not None:
            entry["shapeAfter"] = list(self.shape_after)
        if self.rows_removed is not None:
            entry["rowsRemoved"] = self.rows_removed
        if self.columns_added:
            entry["columnsAdded"] = self.columns_added
        if self.columns_removed:
            entry["columnsRemoved"] = self.columns_removed
        if self.approximated:
            entry["approximated"] = True
        return entry


class OperationLog:
    """Bounded list of operations; the total count survives truncation (the first N entries are kept).

    Past the bound, operations are only counted, without a lock: `itertools.count` advances atomically, and
    reading it (under the run's lock) takes one value too, which `total` subtracts."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.entries: list[OperationEntry] = []
        self._added = 0
        self._skips = itertools.count()
        self._reads = 0
        # Read on every hooked operation: a plain attribute, and `skip` the counter's own C-level `__next__`.
        self.full = max_entries <= 0
        self.skip: Callable[[], object] = self._skips.__next__  # counts one operation whose entry was not built

    def add(self, entry: OperationEntry) -> None:
        self._added += 1
        if len(self.entries) < self.max_entries:
            self.entries.append(entry)
        self.full = len(self.entries) >= self.max_entries

    @property
    def total(self) -> int:
        taken = next(self._skips)
        skipped = taken - self._reads
        self._reads += 1
        return self._added + skipped


@dataclass(frozen=True, slots=True)
class RunSnapshot:
    """Everything one event says, captured under the run's lock so the event can be built later, elsewhere."""

    event_type: str
    event_time: str
    namespace: str
    job_name: str
    run_id: str
    parent: tuple[str, str, str] | None  # (namespace, job, run id)
    root: tuple[str, str, str] | None
    script_path: str | None
    source_code: bool
    inputs: tuple[DatasetRecord, ...]
    outputs: tuple[DatasetRecord, ...]
    operations: tuple[dict[str, Any], ...]
    total_operations: int
    error_message: str | None = None
    stack_trace: str | None = None


class Run:
    """A job run. Thread-safe: hooks from any thread record into it."""

    def __init__(self, job_name: str, settings: Settings, parent: Run | None = None,
                 namespace: str | None = None, script_path: str | None = None) -> None:
        self.settings = settings
        self.namespace = safe_namespace(namespace or job_namespace())
        self.job_name = job_name
        self.run_id = str(light_module("uuid").generate_new_uuid())
        self.parent = parent
        self.script_path = script_path
        self.state = NEW
        self.inputs: dict[tuple[str, str], DatasetRecord] = {}
        self.outputs: dict[tuple[str, str], DatasetRecord] = {}
        self.oplog = OperationLog(settings.oplog_max_entries)
        self.error: BaseException | None = None
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ recording
    def record_input(self, record: DatasetRecord) -> None:
        with self._lock:
            if self.state in (COMPLETE, FAIL, ABORT):
                return
            self.inputs[record.ref.key] = record
        catalog_remember(record)

    def record_output(self, record: DatasetRecord) -> None:
        """Remember an output and emit RUNNING with everything known so far."""
        with self._lock:
            if self.state in (COMPLETE, FAIL, ABORT):
                return
            if self.state == NEW:
                self.start()
            self._declare_sources_of(record)
            self.outputs[record.ref.key] = record
            self._emit("RUNNING")
        catalog_remember(record)

    def record_operation(self, entry: OperationEntry) -> None:
        with self._lock:
            self.oplog.add(entry)

    def _declare_sources_of(self, record: DatasetRecord) -> None:
        """Column lineage may point at datasets read in another run (e.g. outside a `job()` scope); declare
        them as inputs here too, or Marquez would silently drop the lineage."""
        if record.lineage is None:
            return
        wanted: set[tuple[str, str]] = set()
        for origins in (*record.lineage.columns.values(), record.lineage.dataset):
            for src in origins:
                wanted.add((src.namespace, src.name))
        for key in wanted - set(self.inputs):
            known = catalog_lookup(key)
            if known is not None and key != record.ref.key:
                self.inputs[key] = known

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        with self._lock:
            if self.state != NEW:
                return
            self.state = RUNNING
            self._emit("START")

    def complete(self) -> None:
        with self._lock:
            if self.state in (COMPLETE, FAIL, ABORT):
                return
            if self.state == NEW:
                self.start()
            self.state = COMPLETE
            self._emit("COMPLETE")

    def fail(self, exc: BaseException | None, stack: str | None = None) -> None:
        with self._lock:
            if self.state in (COMPLETE, FAIL, ABORT):
                return
            if self.state == NEW:
                self.start()
            self.error = exc
            self._failure_stack = stack or (
                "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)) if exc else None)
            self.state = FAIL
            self._emit("FAIL")

    @property
    def finished(self) -> bool:
        return self.state in (COMPLETE, FAIL, ABORT)

    def snapshot(self, event_type: str) -> RunSnapshot:
        with self._lock:
            parent = root = None
            if self.parent is not None:
                top = self.root
                parent = (self.parent.namespace, self.parent.job_name, self.parent.run_id)
                root = (top.namespace, top.job_name, top.run_id)
            error = stack = None
            if event_type == FAIL and self.error is not None:
                error = f"{type(self.error).__name__}: {self.error}"
                stack = getattr(self, "_failure_stack", None)
            return RunSnapshot(
                event_type=event_type, event_time=self.event_time(), namespace=self.namespace,
                job_name=self.job_name, run_id=self.run_id, parent=parent, root=root,
                script_path=self.script_path, source_code=bool(self.settings.source_code),
                inputs=tuple(self.inputs.values()), outputs=tuple(self.outputs.values()),
                operations=tuple(e.to_dict(i) for i, e in enumerate(self.oplog.entries)),
                total_operations=self.oplog.total, error_message=error, stack_trace=stack)

    def _emit(self, event_type: str) -> None:
        """Snapshot now (under the run's lock, O(datasets x columns)); the event is built and sent in order by the
        event pipeline's worker, off this thread."""
        from openlineage_pandas.events.pipeline import pipeline
        from openlineage_pandas.safety import guarded_call

        snapshot = guarded_call("event building", self.snapshot, event_type)
        if snapshot is not None:
            pipeline.submit(snapshot)

    @property
    def root(self) -> Run:
        run = self
        while run.parent is not None:
            run = run.parent
        return run

    def event_time(self) -> str:
        return datetime.now(timezone.utc).isoformat()


# ---------------------------------------------------------------------------------------------- catalog
# Datasets seen anywhere in this process, so a run can declare inputs that another run read.
_catalog: dict[tuple[str, str], DatasetRecord] = {}
_CATALOG_MAX = 10_000


def catalog_remember(record: DatasetRecord) -> None:
    if len(_catalog) >= _CATALOG_MAX and record.ref.key not in _catalog:
        _catalog.pop(next(iter(_catalog)))
    _catalog[record.ref.key] = DatasetRecord(record.ref, record.columns, record.file_format)


def catalog_lookup(key: tuple[str, str]) -> DatasetRecord | None:
    return _catalog.get(key)


# ---------------------------------------------------------------------------------------------- scoping
_scoped_run: contextvars.ContextVar[Run | None] = contextvars.ContextVar("openlineage_pandas_run", default=None)
_process_run: Run | None = None
_process_lock = threading.Lock()


def default_job_name(script_path: str | None = None) -> str:
    settings_name = Settings.from_env().job_name
    if settings_name:
        return str(settings_name)
    if script_path:
        return os.path.splitext(os.path.basename(script_path))[0] or "python"
    import __main__

    main_file = getattr(__main__, "__file__", None)
    if main_file:
        return os.path.splitext(os.path.basename(main_file))[0]
    notebook = _notebook_name()
    return notebook or "interactive"


def _notebook_name() -> str | None:
    for var in ("JPY_SESSION_NAME", "VSCODE_NOTEBOOK_NAME"):
        value = os.environ.get(var)
        if value:
            return os.path.splitext(os.path.basename(value))[0]
    return None


def process_run() -> Run | None:
    return _process_run


def start_process_run(settings: Settings, job_name: str | None = None, script_path: str | None = None) -> Run:
    """Create (and START) the script-level run, once per process."""
    global _process_run
    with _process_lock:
        if _process_run is None or _process_run.finished:
            _process_run = Run(job_name or default_job_name(script_path), settings, script_path=script_path)
            _process_run.start()
        return _process_run


def end_process_run(exc: BaseException | None = None) -> None:
    global _process_run
    with _process_lock:
        run = _process_run
    if run is None:
        return
    if exc is None:
        run.complete()
    else:
        run.fail(exc)


def forget_process_run() -> None:
    """Drop the script run without emitting anything (fork children, tests)."""
    global _process_run
    with _process_lock:
        _process_run = None


def current_run() -> Run | None:
    """The innermost `job()` scope of this context, else the script run."""
    scoped = _scoped_run.get()
    if scoped is not None and not scoped.finished:
        return scoped
    return _process_run


@contextmanager
def job(name: str, namespace: str | None = None) -> Iterator[Run]:
    """Scope an explicit run; nested scopes become child runs with a parent facet. FAIL on exception."""
    parent = current_run()
    run = Run(name, Settings.from_env(), parent=parent, namespace=namespace)
    token = _scoped_run.set(run)
    run.start()
    try:
        yield run
    except BaseException as exc:
        run.fail(exc)
        raise
    else:
        run.complete()
    finally:
        _scoped_run.reset(token)


def dataset_names(records: Sequence[DatasetRecord]) -> list[str]:
    return [f"{r.ref.namespace}:{r.ref.name}" for r in records]
