"""The shared event server (`OPENLINEAGE_PANDAS_EVENT_WORKER=server`, the default): one warm interpreter per user
and installation, with openlineage-python already imported, forks the event process of each tracked run.

A run then pays a socket connection instead of an interpreter start and openlineage-python's import (~0.25 s of
CPU competing with the pipeline). The forked child takes the run's environment, working directory and stderr and
runs exactly `process.serve()`; the server itself holds no run state and exits after an idle timeout.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import os
import pickle
import select
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
from typing import Any

from openlineage_pandas.events.process import (
    configure_child_logging,
    package_path_command,
    read_exactly,
    serve,
)

log = logging.getLogger("openlineage_pandas")

MODULE = "openlineage_pandas.events.server"
_LENGTH = struct.Struct(">Q")
READY = b"+"
DONE = b"."  # the forked child's last byte: its emitter has shut down (events written, sent or spooled)
START_TIMEOUT = 30.0  # seconds a starting server may take to import openlineage-python and listen
# Seconds a listening server may take to fork this run's child. It takes milliseconds; this is for a server that is
# stopped or stuck, whose socket still accepts into its backlog: the run falls back to a private event process
# well within the 10 s that exit allows for building the last events.
HELLO_TIMEOUT = 5.0


class ServerUnavailable(Exception):
    """The shared server cannot be used for this run; the message says why (the caller falls back)."""


# ---------------------------------------------------------------------------------------------- where it lives
def runtime_dir() -> str:
    """A directory only this user can enter: `$XDG_RUNTIME_DIR/openlineage-pandas`, else one under the temp dir."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and os.path.isdir(base):
        return os.path.join(base, "openlineage-pandas")
    return os.path.join(tempfile.gettempdir(), f"openlineage-pandas-{os.getuid()}")


def _private_dir(path: str) -> str:
    """`path`, created 0700 if missing; ServerUnavailable if it is not a directory owned by and private to us
    (another user could otherwise put a socket there and receive this run's lineage)."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ServerUnavailable(f"{path} cannot be created ({exc})") from exc
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ServerUnavailable(f"{path} is not a directory private to this user")
    return path


def installation_key() -> str:
    """What a server's code must match: this interpreter, this package's files and openlineage-python's
    directory, so an edited checkout or an upgrade never talks to a server running the old code."""
    from openlineage_pandas import __version__

    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parts = [sys.executable, sys.prefix, package, __version__]
    for root, dirs, files in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith((".py", ".so")):
                info = os.stat(os.path.join(root, name))
                parts.append(f"{name}:{info.st_mtime_ns}:{info.st_size}")
    try:
        import importlib.util

        spec = importlib.util.find_spec("openlineage")
        for location in (spec.submodule_search_locations or []) if spec else []:
            client = os.path.join(location, "client")
            parts.append(f"{client}:{os.stat(client).st_mtime_ns}")
    except (ImportError, OSError, ValueError):
        pass
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def socket_path() -> str:
    return os.path.join(_private_dir(runtime_dir()), f"events-{installation_key()}.sock")


def running_server() -> dict[str, Any]:
    """For `openlineage-pandas status`: the socket this installation's runs use and the pid of the server
    listening there (None when none is; the next run starts one), or why no server can be used."""
    try:
        path = socket_path()
    except ServerUnavailable as exc:
        return {"socket": None, "pid": None, "unavailable": str(exc)}
    pid: int | None = None
    try:
        text = ""
        if os.path.exists(path):
            with open(path + ".lock") as lock:
                text = lock.read().strip()
        pid = int(text) if text else None
        if pid is not None:
            os.kill(pid, 0)
    except (OSError, ValueError):
        pid = None
    return {"socket": path, "pid": pid}


# ---------------------------------------------------------------------------------------------- client side
class ServerChild:
    """The forked event process of this run, reached through its socket (the same frames and one-byte
    acknowledgements as a private child's pipes)."""

    def __init__(self, sock: socket.socket, pid: int) -> None:
        self._sock = sock
        self._reader = sock.makefile("rb")
        self._writer = sock.makefile("wb")
        self.pid = pid
        self._open = True

    def alive(self) -> bool:
        return self._open

    def exchange(self, frame: bytes) -> bytes:
        try:
            self._writer.write(frame)
            self._writer.flush()
            return self._reader.read(1)
        except (OSError, ValueError):
            return b""

    def close(self, timeout: float) -> bool:
        """End of input; True once the child reports its emitter shut down, False if `timeout` passed first
        (the child is then killed)."""
        self._open = False
        try:
            self._writer.flush()
            self._sock.shutdown(socket.SHUT_WR)
            ready, _, _ = select.select([self._sock], [], [], timeout)
            finished = bool(ready)
            if finished:
                self._reader.read(1)  # DONE, or end of file if it died (nothing more can be done then)
        except (OSError, ValueError):
            finished = True
        if not finished:
            self.kill()
        for stream in (self._reader, self._writer, self._sock):
            try:
                stream.close()
            except OSError:
                pass
        return finished

    def kill(self) -> None:
        self._open = False
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass


def connect(environment: dict[str, str]) -> ServerChild:
    """A forked event process for this run, from the running server or from one started now."""
    path = socket_path()
    for attempt in range(3):
        try:
            return _open_child(path, environment)
        except (FileNotFoundError, ConnectionRefusedError, ConnectionResetError, BrokenPipeError):
            # none listening (never started, idle-exited, or killed): start one; a racing start is harmless,
            # the server that binds second finds the first and leaves
            if attempt < 2:
                _start_server(path, environment)
        except OSError as exc:
            raise ServerUnavailable(f"{path}: {exc}") from exc
    raise ServerUnavailable(f"the server at {path} did not accept a connection")


def _open_child(path: str, environment: dict[str, str]) -> ServerChild:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(HELLO_TIMEOUT)
        sock.connect(path)
        # The forked child speaks first. Only then does our stderr travel (so that the child's warnings reach
        # the same terminal or log as ours): a descriptor sent to a server that never accepts would keep our
        # stderr open, and a caller reading it to the end would wait for that server.
        reply = read_exactly(sock.recv, _LENGTH.size)
        if reply is None:
            raise ConnectionResetError("the server closed the connection")
        hello = pickle.dumps({"env": environment, "cwd": os.getcwd()}, protocol=pickle.HIGHEST_PROTOCOL)
        socket.send_fds(sock, [_LENGTH.pack(len(hello))], [2])
        sock.sendall(hello)
        sock.settimeout(None)
        return ServerChild(sock, _LENGTH.unpack(reply)[0])
    except BaseException:
        sock.close()
        raise


def _start_server(path: str, environment: dict[str, str]) -> None:
    """Start a server in its own session, detached from our stdio (a caller capturing our output must not wait
    for it), and wait until it listens. Its settings (idle timeout, log level) come from this run's environment."""
    command = package_path_command(f"from {MODULE} import main; sys.exit(main({path!r}))")
    try:
        proc = subprocess.Popen([sys.executable, "-c", command], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, env=environment, close_fds=True, start_new_session=True)
    except Exception as exc:  # OSError, or RuntimeError at interpreter shutdown
        raise ServerUnavailable(f"it could not be started ({exc})") from exc
    assert proc.stdout is not None
    try:
        ready, _, _ = select.select([proc.stdout], [], [], START_TIMEOUT)
        answer = proc.stdout.read(1) if ready else b""
    finally:
        proc.stdout.close()
    if answer != READY:
        proc.kill()
        proc.wait()
        raise ServerUnavailable(f"it did not start within {START_TIMEOUT:.0f} s" if not ready else "it failed to start")
    proc.wait()  # the launcher exits as soon as the detached server listens


# ---------------------------------------------------------------------------------------------- server side
def main(path: str) -> int:
    """Import what every event process needs, listen on `path`, report ready on stdout, then detach and serve."""
    from openlineage_pandas.config import setting_or_default

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(os, "nice"):
        try:
            os.nice(10)  # background work: where cores are contended, the user's program goes first
        except OSError:
            pass
    idle_timeout = float(setting_or_default("SERVER_IDLE_TIMEOUT"))
    _warm_imports()
    os.chdir("/")  # pin no directory of the run that started it (each forked child takes its own run's)
    listener = _listen(path)
    if listener is None:  # another server already listens there: it serves this run
        os.write(1, READY)
        return 0
    if os.fork():
        os.write(1, READY)  # the launcher's parent waits for this; the server lives on in the fork
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forked children are reaped by the kernel
    _serve_forever(listener, path, idle_timeout)
    os._exit(0)


def _warm_imports() -> None:
    from openlineage_pandas.delivery import get_emitter  # noqa: F401
    from openlineage_pandas.events.builder import build_run_event  # noqa: F401
    from openlineage_pandas.provenance import model  # noqa: F401
    from openlineage_pandas.run import RunSnapshot  # noqa: F401


def _listen(path: str) -> socket.socket | None:
    """A listening socket at `path`, or None if a live server already has it; a stale file is replaced.
    The check and the bind happen under a lock, so two servers started together never both listen."""
    with open(path + ".lock", "a") as lock:  # appending: opening must not erase a live server's pid
        fcntl.flock(lock, fcntl.LOCK_EX)
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
            return None
        except OSError:
            pass
        finally:
            probe.close()
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        os.chmod(path, 0o600)
        listener.listen(64)
        return listener


def _serve_forever(listener: socket.socket, path: str, idle_timeout: float) -> None:
    own_inode = os.stat(path).st_ino
    with open(path + ".lock", "a") as lock:  # who serves: for `kill`, `status` and tests
        fcntl.flock(lock, fcntl.LOCK_EX)
        lock.truncate(0)
        lock.write(f"{os.getpid()}\n")
    while True:
        listener.settimeout(idle_timeout)
        conn: socket.socket | None
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            conn = _retire(listener, path, own_inode)
            if conn is None:
                return
        except OSError as exc:
            if exc.errno in (errno.EINTR, errno.ECONNABORTED):
                continue
            return
        _fork_child(listener, conn)


def _retire(listener: socket.socket, path: str, own_inode: int) -> socket.socket | None:
    """After an idle timeout: stop listening and remove the socket, unless a connection slipped in meanwhile
    (returned, to be served). Under the start lock, so a starting server never sees a half-retired one."""
    with open(path + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        listener.setblocking(False)
        try:
            conn, _ = listener.accept()
            conn.setblocking(True)
            return conn
        except BlockingIOError:
            pass
        try:
            if os.stat(path).st_ino == own_inode:
                os.unlink(path)
                lock.truncate(0)  # no stale pid left for anyone to signal
        except OSError:
            pass
        listener.close()
        return None


def _fork_child(listener: socket.socket, conn: socket.socket) -> None:
    if _peer_uid(conn) not in (None, os.getuid()):
        conn.close()
        return
    try:
        pid = os.fork()
    except OSError:
        conn.close()
        return
    if pid:
        conn.close()
        return
    code = 1
    try:
        listener.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        code = _run_child(conn)
    finally:
        os._exit(code)


def _take_python_path(server_path: str, run_path: str) -> None:
    """The run's PYTHONPATH in place of the server's on `sys.path`, as a fresh interpreter of the run would have
    it: a transport class named in the run's configuration (`type: my_module.MyTransport`) imports from there."""
    if server_path == run_path:
        return
    old = [entry for entry in server_path.split(os.pathsep) if entry]
    new = [os.path.abspath(entry) for entry in run_path.split(os.pathsep) if entry]
    stale = {os.path.abspath(entry) for entry in old} - set(new)
    kept = [entry for entry in sys.path if not entry or os.path.abspath(entry) not in stale]
    head = 1 if kept and kept[0] == "" else 0  # `-c`: the working directory first, as for any interpreter
    sys.path[:] = kept[:head] + [entry for entry in new if entry not in kept] + kept[head:]


def _peer_uid(conn: socket.socket) -> int | None:
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None  # the socket's directory being private to us is the check then
    _, uid, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i")))
    return int(uid)


def _run_child(conn: socket.socket) -> int:
    """This run's event process: its environment, working directory and stderr, then `process.serve()`."""
    conn.settimeout(START_TIMEOUT)
    conn.sendall(_LENGTH.pack(os.getpid()))
    header, fds, _, _ = socket.recv_fds(conn, _LENGTH.size, 1)
    if len(header) < _LENGTH.size:
        rest = read_exactly(conn.recv, _LENGTH.size - len(header))
        header += rest or b""
    if len(header) != _LENGTH.size:
        return 1
    body = read_exactly(conn.recv, _LENGTH.unpack(header)[0])
    if body is None:
        return 1
    hello: dict[str, Any] = pickle.loads(body)
    for fd in fds:
        os.dup2(fd, 2)
        os.close(fd)
    _take_python_path(os.environ.get("PYTHONPATH", ""), hello["env"].get("PYTHONPATH", ""))
    os.environ.clear()
    os.environ.update(hello["env"])
    try:
        os.chdir(hello["cwd"])
    except OSError:
        pass
    conn.settimeout(None)
    configure_child_logging()
    reader, writer = conn.makefile("rb"), conn.makefile("wb")
    serve(reader, writer)
    try:
        writer.write(DONE)
        writer.flush()
    except OSError:
        pass
    logging.shutdown()
    sys.stderr.flush()
    return 0
