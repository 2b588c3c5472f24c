"""The event process: a helper child that builds RunEvents from run snapshots and sends them, so openlineage-python's
import (~0.25 s of CPU) and event building stay out of the user's process.

The parent (`EventProcess`, driven by the event pipeline's worker thread) pickles each snapshot to the child and
waits for a one-byte acknowledgement; the child runs `serve()`: same configuration, same local store, spool and
flush deadline. By default the child is forked by the shared event server (`events/server.py`), already warm;
with `OPENLINEAGE_PANDAS_EVENT_WORKER=process`, or when the server cannot be used, it is a fresh interpreter of
our own. If no child can be had or it dies, the parent warns once and builds the rest in-process: no event is lost.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import IO, TYPE_CHECKING, Any, Protocol

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


class _PipeChild:
    """A private child: a fresh interpreter of our own on pipes."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = proc
        self.pid = proc.pid

    def alive(self) -> bool:
        return self._proc.poll() is None

    def exchange(self, frame: bytes) -> bytes:
        try:
            assert self._proc.stdin is not None and self._proc.stdout is not None
            self._proc.stdin.write(frame)
            self._proc.stdin.flush()
            return self._proc.stdout.read(1)
        except (OSError, ValueError):
            return b""

    def close(self, timeout: float) -> bool:
        proc = self._proc
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return False
        except OSError:
            pass
        finally:
            if proc.stdout is not None:
                proc.stdout.close()
        return True

    def kill(self) -> None:
        self._proc.kill()
        self._proc.wait()


class Child(Protocol):
    pid: int

    def alive(self) -> bool: ...
    def exchange(self, frame: bytes) -> bytes: ...
    def close(self, timeout: float) -> bool: ...
    def kill(self) -> None: ...


class EventProcess:
    """The parent's handle on the child. `send` returns False whenever the caller must build the event itself:
    the child is off, could not be started, has died, or the snapshot does not pickle."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._child: Child | None = None
        self._pid = 0
        self._failed = False

    @property
    def running(self) -> bool:
        return self._child is not None and self._pid == os.getpid() and self._child.alive()

    def send(self, snapshot: RunSnapshot) -> bool:
        if self._failed and self._pid == os.getpid():
            return False  # given up on: not even worth pickling
        try:
            data = pickle.dumps(portable(snapshot), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # e.g. a column label that does not pickle: this one event is built here
            log.debug("openlineage-pandas: snapshot not sent to the event process: %r", exc)
            return False
        with self._lock:
            child = self._ensure_started()
            if child is None:
                return False
            if not child.exchange(len(data).to_bytes(_HEADER, "big") + data):
                self._give_up("it exited")
                return False
            return True

    def flush(self) -> None:
        """Wait until the child's emitter has flushed (its own OPENLINEAGE_PANDAS_FLUSH_TIMEOUT applies)."""
        with self._lock:
            if self.running and self._child is not None and not self._child.exchange(bytes(_HEADER)):
                self._give_up("it exited")

    def close(self, timeout: float) -> None:
        """End of input: the child flushes, spools what it could not deliver, and exits; killed after `timeout`."""
        with self._lock:
            child, self._child = self._child, None
            if child is None or self._pid != os.getpid():
                return
            if not child.close(timeout):
                log.warning("openlineage-pandas: the event process did not finish within %.1f s and was stopped; "
                            "events it had not sent may be lost unless they were spooled.", timeout)

    def _ensure_started(self) -> Child | None:
        if self._pid != os.getpid():  # a fork must never write into its parent's pipe or socket
            self._child, self._pid, self._failed = None, os.getpid(), False
        if self._failed:
            return None
        if self._child is None:
            self._child = self._start()
        return self._child

    def _start(self) -> Child | None:
        from openlineage_pandas.config import setting_or_default

        environment = _child_environment()
        if setting_or_default("EVENT_WORKER") == "server":
            from openlineage_pandas.events import server

            try:
                return server.connect(environment)
            except Exception as exc:  # ServerUnavailable, or anything unforeseen: a private child does the same
                log.debug("openlineage-pandas: the shared event server is not used (%s); starting a private "
                          "event process", exc)
        try:
            return _PipeChild(subprocess.Popen(
                [sys.executable, "-c", package_path_command(f"from {MODULE} import main; sys.exit(main())")],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=environment, close_fds=True))
        except Exception as exc:  # OSError, or RuntimeError at interpreter shutdown: build in-process instead
            self._give_up(f"it could not be started ({exc})")
            return None

    def _give_up(self, why: str) -> None:
        self._failed = True
        child, self._child = self._child, None
        if child is not None:
            try:
                child.kill()
            except OSError:
                pass
        log.warning("openlineage-pandas: the event process is not available (%s); events are built and sent "
                    "from this process instead (OPENLINEAGE_PANDAS_EVENT_WORKER=thread does that from the start).",
                    why)


def package_path_command(code: str) -> str:
    """`code` as a child's `-c` program. This package's directory is appended to the child's path, last, so a
    package that is importable here (a source checkout on PYTHONPATH or sys.path) is importable there too, while
    nothing can shadow the standard library or the installed packages."""
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return f"import sys; sys.path.append({package_root!r}); {code}"


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

    # An emitter can only have been installed through its module: when that is not loaded, none was (and
    # loading it here would cost the user's process ~15 ms of imports for nothing).
    emitter = sys.modules.get("openlineage_pandas.delivery.emitter")
    custom = emitter is not None and emitter.custom_emitter_installed()
    return setting_or_default("EVENT_WORKER") != "thread" and not custom and bool(sys.executable)


event_process = EventProcess()


# ---------------------------------------------------------------------------------------------- child side
def read_exactly(read: Callable[[int], bytes], size: int) -> bytes | None:
    """`size` bytes from `read` (a stream's `read` or a socket's `recv`), or None at end of input before that."""
    chunks = []
    while size:
        chunk = read(size)
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
        header = read_exactly(inp.read, _HEADER)
        if header is None:
            break
        size = int.from_bytes(header, "big")
        if size == 0:
            if emitter is not None:
                emitter.flush(emitter.settings.flush_timeout)
            out.write(ACK_SENT)
            out.flush()
            continue
        frame = read_exactly(inp.read, size)
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


def configure_child_logging() -> None:
    from openlineage_pandas.config import setting_or_default

    log.setLevel(str(setting_or_default("LOG_LEVEL")).upper())


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
    configure_child_logging()
    serve(inp, out)
    # Every event is written or spooled and the emitter is shut down: skip the interpreter's teardown of
    # openlineage-python's modules, which the parent's exit would otherwise wait for.
    logging.shutdown()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
