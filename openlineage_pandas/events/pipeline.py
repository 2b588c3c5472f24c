"""Builds events off the user's thread, in order: run snapshots queue up and one daemon worker hands them to the
event process (or, failing that, turns them into RunEvents for the emitter itself), so neither openlineage-python's
import nor event building sits on the user's path.

`drain()` (exit, `disable()`) waits until everything queued has been handed to the emitter.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openlineage_pandas.run import RunSnapshot

log = logging.getLogger("openlineage_pandas")


class EventPipeline:
    """An ordered queue of snapshots and at most one worker thread, alive only while there is work (so nothing
    lingers in an idle process, and a fork never inherits a half-running worker)."""

    def __init__(self) -> None:
        self._queue: deque[RunSnapshot] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._busy = False

    def submit(self, snapshot: RunSnapshot) -> None:
        inline = False
        with self._cond:
            self._queue.append(snapshot)
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                try:
                    self._start_worker()  # one worker at a time: it lives only while there is work
                except RuntimeError:  # no new threads at interpreter shutdown (Python >= 3.12): build here
                    self._thread = None
                    inline = True
            self._cond.notify_all()
        if inline:
            self.drain(0.0)

    def _start_worker(self) -> None:
        self._pid = os.getpid()
        self._busy = False
        thread = threading.Thread(target=self._work, daemon=True, name="openlineage-pandas-events")
        self._thread = thread
        thread.start()

    def _work(self) -> None:
        while True:
            with self._cond:
                if not self._queue:  # idle: the thread ends, the next submit starts another
                    if self._thread is threading.current_thread():
                        self._thread = None
                    self._cond.notify_all()
                    return
                snapshot = self._queue.popleft()
                self._busy = True
            try:
                deliver(snapshot)
            except BaseException as exc:  # the worker must outlive any failure, or later events would wait
                from openlineage_pandas.safety import report_failure

                report_failure("event building", exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def drain(self, timeout: float) -> bool:
        """Wait until every queued snapshot has gone to the emitter; False (and a warning naming what is left)
        if `timeout` seconds were not enough."""
        deadline = time.monotonic() + max(timeout, 0.0)
        with self._cond:
            if self._pid != os.getpid():
                return True
            thread = self._thread
            if self._queue and (thread is None or not thread.is_alive()):  # e.g. interpreter shutdown
                while self._queue:
                    deliver(self._queue.popleft())
            while self._queue or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    log.warning("openlineage-pandas: %d event(s) were still being built when the %.1f s flush "
                                "deadline ran out (OPENLINEAGE_PANDAS_FLUSH_TIMEOUT); they are lost.",
                                len(self._queue) + int(self._busy), timeout)
                    return False
                self._cond.wait(remaining)
        return True

    def pending(self) -> int:
        """Snapshots queued or being built."""
        with self._cond:
            return len(self._queue) + int(self._busy)


def deliver(snapshot: RunSnapshot) -> None:
    """Through the event process when it is wanted and up (`events/process.py`), else built and sent here."""
    from openlineage_pandas.events.process import event_process, wanted

    if wanted() and event_process.send(snapshot):
        return
    build_and_send(snapshot)


def build_and_send(snapshot: RunSnapshot) -> None:
    from openlineage_pandas.ol_imports import client_imported
    from openlineage_pandas.safety import guarded_call

    with client_imported():
        from openlineage_pandas.delivery import get_emitter
        from openlineage_pandas.events.builder import build_run_event

    event = guarded_call("event building", build_run_event, snapshot)
    if event is not None:
        get_emitter().emit(event)


pipeline = EventPipeline()
