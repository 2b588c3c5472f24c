"""Hands finished events to the configured backends without ever blocking or failing the user's program.

Local transports are written inline; each remote destination gets a daemon sender thread behind a bounded queue,
a flush deadline at exit, and the spool for whatever it could not deliver.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import os
import queue
import sys
import threading
import time
import uuid
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from openlineage_pandas.config import Settings
from openlineage_pandas.delivery.destinations import Destination, Outcome, Result, destinations_for
from openlineage_pandas.delivery.redact import Redactor
from openlineage_pandas.delivery.spool import FORMAT_VERSION, JsonLinesFile, envelope_line, utc_now
from openlineage_pandas.safety import guarded_call, report_failure

if TYPE_CHECKING:
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import RunEvent

log = logging.getLogger("openlineage_pandas")

LOCAL_STORE_DESTINATION = "local-store"
REPLAY_HINT = "deliver them later with `openlineage-pandas replay`"


@dataclass
class _Item:
    seq: int
    event_json: str
    # A private copy of the event object, kept only for non-HTTP remote transports (Kafka derives its message
    # key from the object); HTTP sends the frozen JSON so later changes by the caller cannot leak in.
    event_obj: Any = None


def _warn(message: str, *args: Any) -> None:
    quiet = os.environ.get("OPENLINEAGE_PANDAS_ON_ERROR", "").strip().lower() == "ignore"
    log.log(logging.INFO if quiet else logging.WARNING, message, *args)


class _Lane:
    """One remote destination: bounded queue, daemon sender thread, in-order delivery, spool on failure."""

    def __init__(self, emitter: Emitter, dest: Destination) -> None:
        self.emitter = emitter
        self.dest = dest
        self.queue: queue.Queue[_Item] = queue.Queue(maxsize=emitter.settings.queue_size)
        self.cond = threading.Condition()
        self.thread: threading.Thread | None = None
        self.inline = False  # no thread could be started (interpreter shutting down): send in the caller
        self.inflight: _Item | None = None
        self.pending = 0  # queued + in flight
        self.down_reason: str | None = None
        self.closed = False
        self.deadline: float | None = None
        self.delivered = self.spooled = self.rejected = 0

    # -- called by the emitting thread ------------------------------------------------------------
    def submit(self, item: _Item) -> None:
        with self.cond:
            if self.closed:
                self._spool([item], "emitted after the process's flush at exit")
                return
            if not self._ensure_thread():
                if self.down_reason is not None:
                    self._spool([item], self.down_reason)
                else:
                    self._handle(item, self.dest.send_with_retry(
                        self._payload(item), time.monotonic() + self.emitter.settings.flush_timeout))
                return
            try:
                self.queue.put_nowait(item)
            except queue.Full:
                self._mark_down(f"the queue of {self.queue.maxsize} events is full")
                # Spooled ahead of older queued events; their sequence numbers restore the order on replay.
                self._spool([item], self.down_reason or "queue full")
                return
            self.pending += 1

    def _ensure_thread(self) -> bool:
        if self.thread is not None:
            return True
        if self.inline:
            return False
        thread = threading.Thread(target=self._run, name=f"openlineage-pandas-sender[{self.dest.name}]",
                                  daemon=True)
        try:
            thread.start()
        except RuntimeError:  # Python 3.12+ refuses new threads during interpreter shutdown
            self.inline = True
            return False
        self.thread = thread
        self.emitter._register_multiprocessing_flush()
        return True

    # -- the sender thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            item = self.queue.get()
            try:
                if not self._process(item):
                    return
            except Exception as exc:  # a bug here must neither kill the sender silently nor lose the event
                self._internal_error(item, exc)

    def _process(self, item: _Item) -> bool:
        """Deliver or spool one dequeued item; False once the lane is closed."""
        with self.cond:
            if self.closed:
                return False
            if self.down_reason is not None:
                # Backend already failed for this process: no more attempts, spool in order, in one fsync.
                batch = [item, *self._drain()]
                self._spool(batch, self.down_reason)
                self.pending -= len(batch)
                self.cond.notify_all()
                return True
            self.inflight = item
            deadline = self.deadline
        result = self.dest.send_with_retry(self._payload(item), deadline)
        with self.cond:
            if self.closed:  # the flush deadline passed mid-send; shutdown already spooled this item
                return False
            if result.outcome is Outcome.NOT_SENT:
                # Only shutdown sets a deadline, and it is past: the item stays in flight for shutdown's close(),
                # which spools it with the queue and reports the deadline (the backend is not to blame).
                while not self.closed:
                    self.cond.wait()
                return False
            self.inflight = None
            self.pending -= 1
            self.cond.notify_all()
            self._handle(item, result)
        return True

    def _internal_error(self, item: _Item, exc: Exception) -> None:
        with self.cond:
            if not self.closed and self.inflight is item:
                self.inflight = None
                self.pending -= 1
                self._mark_down(f"internal error: {type(exc).__name__}")
                self._spool([item], self.down_reason or "internal error")
                self.cond.notify_all()
        try:
            report_failure("emission", exc)
        except Exception:  # ON_ERROR=raise has nobody to raise to in this thread; it was logged above
            log.debug("openlineage-pandas: sender error", exc_info=exc)

    def _payload(self, item: _Item) -> Any:
        if item.event_obj is not None:
            return item.event_obj
        return json.loads(item.event_json)

    def _handle(self, item: _Item, result: Result) -> None:
        if result.outcome is Outcome.DELIVERED:
            self.delivered += 1
        elif result.outcome is Outcome.REJECTED:
            self.rejected += 1
            self.emitter._write_rejected(self.dest, item, result)
        else:
            self._mark_down(result.message)
            self._spool([item], result.message)

    def _drain(self) -> list[_Item]:
        items: list[_Item] = []
        while True:
            try:
                items.append(self.queue.get_nowait())
            except queue.Empty:
                return items

    def _mark_down(self, reason: str) -> None:
        if self.down_reason is not None:
            return
        self.down_reason = reason
        _warn("openlineage-pandas: lineage backend %s (%s) is not accepting events (%s). This process's "
              "events for it are kept in the spool %s; %s.",
              self.dest.where, self.dest.kind, reason, self.emitter.settings.spool_path, REPLAY_HINT)

    def _spool(self, items: list[_Item], reason: str) -> None:
        if items:
            self.spooled += self.emitter._write_spool(self.dest, items, reason)

    # -- flush / shutdown ----------------------------------------------------------------------------
    def wait_idle(self, deadline: float) -> bool:
        with self.cond:
            while self.pending > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.cond.wait(remaining)
            return True

    def close(self, reason: str) -> int:
        """Stop sending; spool what is still queued or in flight. Returns how many events that was."""
        with self.cond:
            if self.closed:
                return 0
            self.closed = True
            leftovers = ([self.inflight] if self.inflight is not None else []) + self._drain()
            self.inflight = None
            self.pending = 0
            self._spool(leftovers, reason)
            self.cond.notify_all()
            return len(leftovers)

    def status(self) -> dict[str, Any]:
        with self.cond:
            return {
                "name": self.dest.name, "target": self.dest.target, "queued": self.queue.qsize(),
                "in_flight": self.inflight is not None, "delivered": self.delivered, "spooled": self.spooled,
                "rejected": self.rejected, "down": self.down_reason, "closed": self.closed,
            }


class _Capture:
    """A transport that keeps the event it is given: lets openlineage-python's client add its configured
    facets, tags and filters (exactly as `client.emit` would) before we deliver the result ourselves."""

    kind = "openlineage-pandas-capture"
    name = None
    priority = 0

    def __init__(self) -> None:
        self.captured: Any = None

    def emit(self, event: Any) -> None:
        self.captured = event

    def close(self, timeout: float = -1) -> bool:
        return True


@dataclass
class _State:
    """Everything built lazily on first emit in this process (rebuilt in a forked child)."""

    prepare_client: Any
    capture: _Capture
    local: list[Destination] = field(default_factory=list)
    lanes: list[_Lane] = field(default_factory=list)
    local_failed: set[str] = field(default_factory=set)
    broken: str | None = None  # configuration could not be loaded: everything is spooled


class Emitter:
    """Delivers RunEvents; `emit` never raises and never waits on the network."""

    def __init__(self, settings: Settings, client: OpenLineageClient | None = None) -> None:
        self.settings = settings
        self._client = client
        self._owns_client = client is None
        self._lock = threading.RLock()
        self._state: _State | None = None
        self._spool_file = JsonLinesFile(settings.spool_path)
        self._rejected_file = JsonLinesFile(settings.rejected_path)
        self.redact = Redactor()
        self._new_process_identity()
        _instances.add(self)

    def _new_process_identity(self) -> None:
        self.session = uuid.uuid4().hex
        self._seq = itertools.count()
        self._mp_flush_registered = False
        self._rejection_warned: set[str] = set()

    @property
    def client(self) -> OpenLineageClient:
        if self._client is None:
            from openlineage_pandas.delivery.client import build_client

            self._client = build_client(self.settings)
        return self._client

    # -- setup -----------------------------------------------------------------------------------------
    def _ensure_state(self) -> _State:
        if self._state is None:
            try:
                self._state = self._build_state()
            except Exception as exc:  # most often an invalid openlineage.yml / OPENLINEAGE__* value
                reason = f"configuration error: {type(exc).__name__}: {self.redact(exc)}"
                _warn("openlineage-pandas: the OpenLineage transport could not be set up (%s). Events are kept "
                      "in the spool %s; fix the configuration, then %s.", reason, self.settings.spool_path,
                      REPLAY_HINT.replace("deliver them later", "deliver them"))
                self._state = _State(None, _Capture(), broken=reason)
        return self._state

    def _build_state(self) -> _State:
        from openlineage.client import OpenLineageClient

        from openlineage_pandas.delivery.client import environ_preserved, is_local_store

        client = self.client
        default_name = LOCAL_STORE_DESTINATION if is_local_store(client, self.settings) else "default"
        destinations = destinations_for(client, default_name)
        for dest in destinations:
            self.redact.add(dest.redact.secrets)
        capture = _Capture()
        with environ_preserved():
            prepare_client = OpenLineageClient(transport=capture,  # type: ignore[arg-type]
                                               config=getattr(client, "user_defined_config", None))
        state = _State(prepare_client, capture)
        for dest in destinations:
            if dest.local:
                state.local.append(dest)
            else:
                state.lanes.append(_Lane(self, dest))
        return state

    # -- emit ------------------------------------------------------------------------------------------
    def emit(self, event: RunEvent) -> None:
        guarded_call("emission", self._emit, event)

    def _emit(self, event: RunEvent) -> None:
        from openlineage.client.serde import Serde

        with self._lock:
            state = self._ensure_state()
            seq = next(self._seq)
            if state.broken is not None:
                self._write_spool(None, [_Item(seq, Serde.to_json(event))], state.broken)
                return
            state.capture.captured = None
            state.prepare_client.emit(event)  # adds configured facets/tags, applies filters, never sends
            prepared = state.capture.captured
            if prepared is None:  # filtered out by the user's OpenLineage configuration, or disabled
                return
            event_json = Serde.to_json(prepared) if state.lanes else ""
            for dest in state.local:
                self._emit_local(state, dest, seq, prepared, event_json)
            for lane in state.lanes:
                obj = None if lane.dest.http else copy.deepcopy(prepared)
                lane.submit(_Item(seq, event_json, obj))

    def _emit_local(self, state: _State, dest: Destination, seq: int, prepared: Any, event_json: str) -> None:
        try:
            dest.transport.emit(prepared)
        except Exception as exc:
            from openlineage.client.serde import Serde

            reason = f"{type(exc).__name__}: {self.redact(exc)}"
            if dest.name not in state.local_failed:
                state.local_failed.add(dest.name)
                _warn("openlineage-pandas: could not write lineage to %s (%s). Events are kept in the spool "
                      "%s; %s.", dest.target, reason, self.settings.spool_path, REPLAY_HINT)
            self._write_spool(dest, [_Item(seq, event_json or Serde.to_json(prepared))], reason)

    # -- local files -----------------------------------------------------------------------------------
    def _meta(self, dest: Destination | None, seq: int) -> dict[str, Any]:
        return {
            "v": FORMAT_VERSION, "session": self.session, "seq": seq, "pid": os.getpid(),
            "destination": dest.name if dest is not None else "default",
            "target": dest.target if dest is not None else None,
        }

    def _write_spool(self, dest: Destination | None, items: list[_Item], reason: str) -> int:
        now = utc_now()
        lines = [envelope_line({**self._meta(dest, i.seq), "reason": self.redact(reason), "spooled_at": now},
                               i.event_json) for i in items]
        try:
            self._spool_file.append(lines)
        except Exception as exc:
            report_failure("spool", exc)
            return 0
        return len(lines)

    def _write_rejected(self, dest: Destination, item: _Item, result: Result) -> None:
        meta = {**self._meta(dest, item.seq), "status": result.status, "message": self.redact(result.message),
                "rejected_at": utc_now()}
        try:
            self._rejected_file.append([envelope_line(meta, item.event_json)])
        except Exception as exc:
            report_failure("spool", exc)
            return
        if dest.name in self._rejection_warned:
            log.debug("openlineage-pandas: %s refused another event (%s)", dest.target, meta["message"][:300])
            return
        self._rejection_warned.add(dest.name)
        _warn("openlineage-pandas: %s refused an event (%s); refused events are kept in %s and are not retried.",
              dest.target, meta["message"][:300], self.settings.rejected_path)

    # -- flush / shutdown ------------------------------------------------------------------------------
    def _lanes(self) -> list[_Lane]:
        state = self._state
        return list(state.lanes) if state is not None else []

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued event is delivered or spooled; False if `timeout` ran out first."""
        limit = self.settings.flush_timeout if timeout is None else timeout
        deadline = time.monotonic() + max(0.0, limit)
        return all([lane.wait_idle(deadline) for lane in self._lanes()])

    def shutdown(self, timeout: float | None = None) -> None:
        """Deliver what is queued until the deadline (FLUSH_TIMEOUT), then spool the rest. Never raises."""
        guarded_call("emission", self._shutdown, timeout)

    def _shutdown(self, timeout: float | None) -> None:
        limit = max(0.0, self.settings.flush_timeout if timeout is None else timeout)
        deadline = time.monotonic() + limit
        lanes = self._lanes()
        for lane in lanes:
            with lane.cond:
                lane.deadline = deadline  # sends started from now on are cut to the remaining time
        started = time.monotonic()
        for lane in lanes:
            lane.wait_idle(deadline)
        for lane in lanes:
            was_down = lane.down_reason is not None
            left = lane.close(f"not delivered within the {limit:g} s flush deadline")
            if left and not was_down:
                _warn("openlineage-pandas: %d event(s) for %s were not delivered within the %g s flush deadline "
                      "(OPENLINEAGE_PANDAS_FLUSH_TIMEOUT; waited %.1f s); they are kept in the spool %s; %s.",
                      left, lane.dest.target, limit, time.monotonic() - started, self.settings.spool_path,
                      REPLAY_HINT)
            elif lane.spooled:
                log.info("openlineage-pandas: %d event(s) for %s are in the spool %s; %s.",
                         lane.spooled, lane.dest.target, self.settings.spool_path, REPLAY_HINT)
            if not lane.dest.http:  # e.g. Kafka: its own buffer needs flushing
                lane.dest.close(max(0.0, deadline - time.monotonic()))

    def status(self) -> dict[str, Any]:
        """In-process view of the queues (the CLI `status` can only see the spool and rejected files)."""
        state = self._state
        return {
            "session": self.session,
            "local": [{"name": d.name, "target": d.target} for d in (state.local if state else [])],
            "remote": [lane.status() for lane in self._lanes()],
            "spool": str(self.settings.spool_path),
            "rejected": str(self.settings.rejected_path),
        }

    # -- processes -------------------------------------------------------------------------------------
    def _register_multiprocessing_flush(self) -> None:
        """multiprocessing children end with os._exit (no atexit): flush through its own exit finalizers."""
        if self._mp_flush_registered:
            return
        self._mp_flush_registered = True
        mp = sys.modules.get("multiprocessing")
        if mp is None or mp.parent_process() is None:
            return
        from multiprocessing import util

        util.Finalize(None, self.shutdown, exitpriority=10)

    def _reset_after_fork(self) -> None:
        """In a forked child: forget the parent's queues, threads, sockets and locks; start afresh lazily."""
        self._lock = threading.RLock()
        self._state = None
        if self._owns_client:
            self._client = None  # its transports may hold sockets or threads shared with the parent
        self._new_process_identity()


_emitter: Emitter | None = None
_custom_emitter = False  # installed with set_emitter(): events must then be built in this process
_emitter_lock = threading.Lock()
_instances: weakref.WeakSet[Emitter] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    global _emitter_lock
    _emitter_lock = threading.Lock()
    JsonLinesFile.reset_locks_after_fork()
    for emitter in list(_instances):
        emitter._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def get_emitter(settings: Settings | None = None) -> Emitter:
    """The process-wide emitter, built lazily on first use."""
    global _emitter
    if _emitter is None:
        with _emitter_lock:
            if _emitter is None:
                _emitter = Emitter(settings or Settings.from_env())
    return _emitter


def set_emitter(emitter: Emitter | None) -> None:
    """Replace the process-wide emitter (tests, integrations that bring their own client); None goes back to the
    default, built from the configuration on first use."""
    global _emitter, _custom_emitter
    with _emitter_lock:
        _emitter = emitter
        _custom_emitter = emitter is not None


def custom_emitter_installed() -> bool:
    return _custom_emitter


def existing_emitter() -> Emitter | None:
    """The process-wide emitter if one was built or installed (flushing must not build one just to flush it)."""
    return _emitter
