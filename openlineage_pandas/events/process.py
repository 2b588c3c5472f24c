"""The event process: a helper child that builds RunEvents from run snapshots and sends them, so openlineage-python's
import (~0.25 s of CPU) and event building run on another core instead of competing with the user's thread.

The parent (`EventProcess`, driven by the event pipeline's worker thread) pickles each snapshot into the child's
stdin and waits for a one-byte acknowledgement; the child (`main()` below, in a fresh interpreter) builds
the event and hands it to its own emitter: same configuration, same local store, spool and flush deadline. If the
child cannot be started or dies, the parent warns once and builds the rest in-process, so no event is lost.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
from dataclasses import replace
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openlineage_pandas.run import DatasetRecord, RunSnapshot

log = logging.getLogger("openlineage_pandas")

MODULE = "openlineage_pandas.events.process"
_HEADER = 8  # a frame is its length (8 bytes, big-endian) then the pickled snapshot; length 0 asks for a flush
ACK_SENT = b"+"  # the event was handed to the child's emitter
ACK_FAILED = b"-"  # it could not be built (reported by the child); it is not retried


# ---------------------------------------------------------------------------------------------- parent side
def portable(snapshot: RunSnapshot) -> RunSnapshot:
    """The snapshot with nothing that needs pandas or a live frame to unpickle: lineage evaluated and without its
    column-axis token, dtypes reduced to their text and kind (all an event says of them)."""
    return replace(snapshot, inputs=tuple(_portable_record(r) for r in snapshot.inputs),
                   outputs=tuple(_portable_record(r) for r in snapshot.outputs))


def _portable_record(record: DatasetRecord) -> DatasetRecord:
    from openlineage_pandas.provenance.deferred import force
    from openlineage_pandas.provenance.model import FrameLineage
    from openlineage_pandas.run import DtypeName

    lineage = force(record.lineage)
    if lineage is not None and lineage.token is not None:
        lineage = FrameLineage(lineage.columns, lineage.dataset, lineage.notes, lineage.index)
    columns = [(label, DtypeName.of(dtype)) for label, dtype in record.columns]
    return replace(record, columns=columns, lineage=lineage)


class EventProcess:
    """The parent's handle on the child. `send` returns False whenever the caller must build the event itself:
    the child is off, could not be started, has died, or the snapshot does not pickle."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid = 0
        self._failed = False

    @property
    def running(self) -> bool:
        return self._proc is not None and self._pid == os.getpid() and self._proc.poll() is None

    def send(self, snapshot: RunSnapshot) -> bool:
        if self._failed and self._pid == os.getpid():
            return False  # given up on: not even worth pickling
        try:
            data = pickle.dumps(portable(snapshot), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # e.g. a column label that does not pickle: this one event is built here
            log.debug("openlineage-pandas: snapshot not sent to the event process: %r", exc)
            return False
        with self._lock:
            proc = self._ensure_started()
            if proc is None:
                return False
            ack = self._exchange(proc, len(data).to_bytes(_HEADER, "big") + data)
            if not ack:
                self._give_up("it exited")
                return False
            return True

    def flush(self) -> None:
        """Wait until the child's emitter has flushed (its own OPENLINEAGE_PANDAS_FLUSH_TIMEOUT applies)."""
        with self._lock:
            if self.running and self._proc is not None and not self._exchange(self._proc, bytes(_HEADER)):
                self._give_up("it exited")

    def close(self, timeout: float) -> None:
        """End of input: the child flushes, spools what it could not deliver, and exits; killed after `timeout`."""
        with self._lock:
            proc, self._proc = self._proc, None
            if proc is None or self._pid != os.getpid():
                return
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                log.warning("openlineage-pandas: the event process did not finish within %.1f s and was stopped; "
                            "events it had not sent may be lost unless they were spooled.", timeout)
            except OSError:
                pass
            finally:
                if proc.stdout is not None:
                    proc.stdout.close()

    def _ensure_started(self) -> subprocess.Popen[bytes] | None:
        if self._pid != os.getpid():  # a fork must never write into its parent's pipe
            self._proc, self._pid, self._failed = None, os.getpid(), False
        if self._failed:
            return None
        if self._proc is not None:
            return self._proc
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _child_command()], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                env=_child_environment(), close_fds=True)
        except Exception as exc:  # OSError, or RuntimeError at interpreter shutdown: build in-process instead
            self._give_up(f"it could not be started ({exc})")
            return None
        return self._proc

    @staticmethod
    def _exchange(proc: subprocess.Popen[bytes], frame: bytes) -> bytes:
        try:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(frame)
            proc.stdin.flush()
            return proc.stdout.read(1)
        except (OSError, ValueError):
            return b""

    def _give_up(self, why: str) -> None:
        self._failed = True
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                proc.kill()
            except OSError:
                pass
        log.warning("openlineage-pandas: the event process is not available (%s); events are built and sent "
                    "from this process instead (OPENLINEAGE_PANDAS_EVENT_WORKER=thread does that from the start).",
                    why)


def _child_command() -> str:
    """The child's program. This package's directory is appended to the child's path, last, so a package that
    is importable here (a source checkout on PYTHONPATH or sys.path) is importable there too, while nothing
    can shadow the standard library or the installed packages."""
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return f"import sys; sys.path.append({package_root!r}); from {MODULE} import main; sys.exit(main())"


def _child_environment() -> dict[str, str]:
    from openlineage_pandas.config import Settings

    env = dict(os.environ)
    # Resolved now: the user's program may change directory before the child reads its settings.
    env["OPENLINEAGE_PANDAS_DIR"] = str(Settings.from_env().store_dir)
    env.pop("PYTHONSTARTUP", None)
    return env


def wanted() -> bool:
    """Whether events should go through the child: the setting says so, nobody installed their own emitter in
    this process (tests, integrations), and there is an interpreter to start."""
    from openlineage_pandas.config import setting_or_default
    from openlineage_pandas.delivery.emitter import custom_emitter_installed

    return setting_or_default("EVENT_WORKER") == "process" and not custom_emitter_installed() \
        and bool(sys.executable)


event_process = EventProcess()


# ---------------------------------------------------------------------------------------------- child side
def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def serve(inp: IO[bytes], out: IO[bytes]) -> None:
    """Build and emit every snapshot read from `inp`, acknowledging each on `out`; at end of input, shut the
    emitter down (flush with its deadline, spool the rest)."""
    from openlineage_pandas.delivery import get_emitter
    from openlineage_pandas.events.builder import build_run_event
    from openlineage_pandas.safety import report_failure

    emitter: Any = None
    while True:
        header = _read_exactly(inp, _HEADER)
        if header is None:
            break
        size = int.from_bytes(header, "big")
        if size == 0:
            if emitter is not None:
                emitter.flush(emitter.settings.flush_timeout)
            out.write(ACK_SENT)
            out.flush()
            continue
        frame = _read_exactly(inp, size)
        if frame is None:
            break
        ack = ACK_SENT
        try:
            event = build_run_event(pickle.loads(frame))
            emitter = emitter or get_emitter()
            emitter.emit(event)
        except Exception as exc:
            report_failure("event building", exc)
            ack = ACK_FAILED
        out.write(ack)
        out.flush()
    if emitter is not None:
        emitter.shutdown(emitter.settings.flush_timeout)


def main() -> int:
    # Ctrl-C reaches the whole process group: the parent decides when this process ends (end of its input).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(os, "nice"):  # background work: where cores are contended, the user's program goes first
        try:
            os.nice(10)
        except OSError:
            pass
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing printed by a library may corrupt the acknowledgements
    from openlineage_pandas.config import setting_or_default

    log.setLevel(str(setting_or_default("LOG_LEVEL")).upper())
    serve(inp, out)
    # Every event is written or spooled and the emitter is shut down: skip the interpreter's teardown of
    # openlineage-python's modules, which the parent's exit would otherwise wait for.
    logging.shutdown()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
