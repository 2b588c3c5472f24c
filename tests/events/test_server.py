"""The shared event server: runs share one warm server yet each gets its own environment, directory and stderr; a
killed server is replaced, an idle one leaves, a directory that is not private is refused, and no event is lost."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import REPO, check_events_file, clean_env, read_events

SCRIPT = """
import os
import pandas as pd
import openlineage_pandas
from openlineage_pandas.events.pipeline import pipeline
from openlineage_pandas.events.process import event_process

openlineage_pandas.enable()
pd.DataFrame({"a": [1, 2]}).to_csv("out.csv", index=False)
pipeline.drain(60)
child = event_process._child
status = open(f"/proc/{child.pid}/status").read()
parent = next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:"))
print("child", type(child).__name__, "forked by", parent, "script", os.getpid())
"""


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    """A private XDG_RUNTIME_DIR (short: socket paths are limited to ~100 bytes), so the test has its own server;
    any server it started is stopped afterwards."""
    base = Path(tempfile.mkdtemp(prefix="olp-"))
    try:
        yield base
    finally:
        for pid in _server_pids(base):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(base, ignore_errors=True)


def _server_pids(base: Path) -> list[int]:
    found = []
    for lock in (base / "openlineage-pandas").glob("*.lock"):
        text = lock.read_text().strip()
        if text:
            found.append(int(text))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split()[2] != "Z"


def _run(work: Path, runtime: Path, script: str = SCRIPT, **extra: str) -> subprocess.CompletedProcess[str]:
    work.mkdir(parents=True, exist_ok=True)
    (work / "script.py").write_text(textwrap.dedent(script))
    env = clean_env({"OPENLINEAGE_PANDAS_DIR": "store", "XDG_RUNTIME_DIR": str(runtime), **extra})
    env.pop("OPENLINEAGE_PANDAS_EVENT_WORKER", None)  # the default
    return subprocess.run([sys.executable, "script.py"], cwd=work, env=env, capture_output=True, text=True,
                          timeout=120)


def _status(work: Path, runtime: Path) -> dict[str, object]:
    result = subprocess.run([sys.executable, "-m", "openlineage_pandas", "status", "--json"], cwd=work,
                            env=clean_env({"XDG_RUNTIME_DIR": str(runtime)}), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    worker: dict[str, object] = json.loads(result.stdout)["event_worker"]
    assert worker["mode"] == "server"
    return worker


def _forked_by(result: subprocess.CompletedProcess[str]) -> int:
    line = next(line for line in result.stdout.splitlines() if line.startswith("child "))
    words = line.split()
    assert words[1] == "ServerChild", line
    assert words[4] != words[6], "the event process must not be the script's own child"
    return int(words[4])


def test_runs_share_one_server_and_each_keeps_its_own_environment_and_directory(tmp_path: Path,
                                                                               runtime_dir: Path) -> None:
    first = _run(tmp_path / "one", runtime_dir)
    assert first.returncode == 0, first.stderr
    server = _forked_by(first)
    assert _server_pids(runtime_dir) == [server]
    assert _alive(server)  # still up after the run returned: the caller did not wait for it
    second = _run(tmp_path / "two", runtime_dir, OPENLINEAGE_NAMESPACE="second-namespace")
    assert second.returncode == 0, second.stderr
    assert _forked_by(second) == server
    assert _status(tmp_path, runtime_dir)["pid"] == server
    assert "openlineage-pandas:" not in first.stderr + second.stderr
    for name, namespace in (("one", "default"), ("two", "second-namespace")):
        store = tmp_path / name / "store" / "events.jsonl"  # a relative OPENLINEAGE_PANDAS_DIR: the run's own cwd
        check_events_file(store)
        events = read_events(store)
        assert [e["eventType"] for e in events] == ["START", "RUNNING", "COMPLETE"]
        assert {e["job"]["namespace"] for e in events} == {namespace}
        assert events[-1]["outputs"][0]["name"] == str(tmp_path / name / "out.csv")


def test_the_event_processs_warnings_reach_the_runs_own_stderr(tmp_path: Path, runtime_dir: Path) -> None:
    closed_port = "http://127.0.0.1:9"  # discard port: nothing listens there
    result = _run(tmp_path, runtime_dir, OPENLINEAGE_URL=closed_port, OPENLINEAGE_PANDAS_FLUSH_TIMEOUT="1")
    assert result.returncode == 0, result.stderr
    _forked_by(result)
    assert "127.0.0.1:9" in result.stderr, result.stderr  # the unreachable backend is named, by the forked child
    spooled = read_events(tmp_path / "store" / "spool.jsonl")
    assert len(spooled) == 3


def test_a_killed_server_is_replaced_without_losing_an_event(tmp_path: Path, runtime_dir: Path) -> None:
    first = _run(tmp_path / "one", runtime_dir)
    server = _forked_by(first)
    os.kill(server, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _alive(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    second = _run(tmp_path / "two", runtime_dir)  # its socket file is left behind, stale
    assert second.returncode == 0, second.stderr
    assert "openlineage-pandas:" not in second.stderr
    replacement = _forked_by(second)
    assert replacement != server and _alive(replacement)
    assert len(read_events(tmp_path / "two" / "store" / "events.jsonl")) == 3


def test_an_idle_server_exits_and_removes_its_socket(tmp_path: Path, runtime_dir: Path) -> None:
    result = _run(tmp_path, runtime_dir, OPENLINEAGE_PANDAS_SERVER_IDLE_TIMEOUT="0.5")
    server = _forked_by(result)
    deadline = time.monotonic() + 20
    while _alive(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(server)
    assert list((runtime_dir / "openlineage-pandas").glob("*.sock")) == []
    assert _server_pids(runtime_dir) == []  # no stale pid left behind for anyone to signal
    assert _status(tmp_path, runtime_dir)["pid"] is None
    again = _run(tmp_path, runtime_dir)  # and the next run starts a new one
    assert _forked_by(again) != server
    assert len(read_events(tmp_path / "store" / "events.jsonl")) == 6


def test_a_directory_other_users_can_enter_is_not_used(tmp_path: Path, runtime_dir: Path) -> None:
    shared = runtime_dir / "openlineage-pandas"
    shared.mkdir()
    shared.chmod(0o777)
    result = _run(tmp_path, runtime_dir)
    assert result.returncode == 0, result.stderr
    assert "child _PipeChild" in result.stdout  # a private event process instead, silently
    assert list(shared.iterdir()) == []
    assert len(read_events(tmp_path / "store" / "events.jsonl")) == 3


def test_an_edited_installation_gets_its_own_server(tmp_path: Path) -> None:
    """The key covers the package's files: a server running old code is never asked to unpickle new snapshots."""
    copy = tmp_path / "openlineage_pandas"
    shutil.copytree(REPO / "openlineage_pandas", copy, ignore=shutil.ignore_patterns("__pycache__"))
    key = "from openlineage_pandas.events.server import installation_key; print(installation_key())"

    def current() -> str:
        env = clean_env({"PYTHONPATH": str(tmp_path)})
        out = subprocess.run([sys.executable, "-c", key], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    before = current()
    assert current() == before
    target = copy / "events" / "builder.py"
    target.write_text(target.read_text() + "\n")
    assert current() != before


def test_a_stuck_server_is_given_up_on_for_a_private_process(tmp_path: Path, runtime_dir: Path) -> None:
    server = _forked_by(_run(tmp_path / "one", runtime_dir))
    os.kill(server, signal.SIGSTOP)  # its socket still accepts connections into the backlog, but nobody answers
    try:
        started = time.monotonic()
        result = _run(tmp_path / "two", runtime_dir)
        took = time.monotonic() - started
    finally:
        os.kill(server, signal.SIGCONT)
    assert result.returncode == 0, result.stderr
    assert "child _PipeChild" in result.stdout
    assert "openlineage-pandas:" not in result.stderr
    assert len(read_events(tmp_path / "two" / "store" / "events.jsonl")) == 3
    assert took < 30  # the 5 s hello timeout, not the start timeout


TRANSPORT = '''
import os
from openlineage.client.serde import Serde
from openlineage.client.transport.transport import Config, Transport


class RecordingConfig(Config):
    @classmethod
    def from_dict(cls, params):
        return cls()


class Recording(Transport):
    kind = "recording"
    config_class = RecordingConfig

    def __init__(self, config):
        pass

    def emit(self, event):
        with open(os.environ["RECORDING_PATH"], "a") as fh:
            fh.write(Serde.to_json(event) + "\\n")
'''


def test_a_transport_class_on_the_runs_own_pythonpath_is_found(tmp_path: Path, runtime_dir: Path) -> None:
    """The server was started by a run with another PYTHONPATH; the forked child imports from this run's."""
    server = _forked_by(_run(tmp_path / "one", runtime_dir, PYTHONPATH=str(tmp_path / "elsewhere")))
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "recording_transport.py").write_text(TRANSPORT)
    recorded = tmp_path / "recorded.jsonl"
    result = _run(tmp_path / "two", runtime_dir, PYTHONPATH=str(modules), RECORDING_PATH=str(recorded),
                  OPENLINEAGE__TRANSPORT__TYPE="recording_transport.Recording")
    assert result.returncode == 0, result.stderr
    assert _forked_by(result) == server
    assert [e["eventType"] for e in read_events(recorded)] == ["START", "RUNNING", "COMPLETE"]
