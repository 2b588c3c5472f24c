"""Replay of the spool: dry runs change nothing, interrupted replays resume, nothing is sent to the wrong place.

Spools are produced by the real emitter against a port nothing listens on, then replayed over real HTTP.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from openlineage_pandas.config import Settings
from openlineage_pandas.delivery.emitter import Emitter
from openlineage_pandas.delivery.replay import ReplayReport, replay
from openlineage_pandas.delivery.spool import JsonLinesFile

from .conftest import ContractServer, assert_all_delivered_in_order, free_port, key, run_events, wait_for


def spool_events(monkeypatch: pytest.MonkeyPatch, events: list[Any]) -> int:
    """Emit `events` at a dead port so they all land in the spool; returns that port."""
    port = free_port()
    monkeypatch.setenv("OPENLINEAGE_URL", f"http://127.0.0.1:{port}")
    emitter = Emitter(Settings.from_env())
    for event in events:
        emitter.emit(event)
    emitter.shutdown()
    return port


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "openlineage_pandas", *args], capture_output=True, text=True,
                          timeout=timeout, env=env or dict(os.environ))


def test_dry_run_sends_nothing_and_changes_nothing(store: Path, marquez: Callable[..., ContractServer],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    events = run_events("a") + run_events("b")
    port = spool_events(monkeypatch, events)
    server = marquez(port=port)
    spool = store / "spool.jsonl"
    before = (spool.read_bytes(), spool.stat().st_mtime_ns)

    result = cli("replay", "--dry-run")

    assert result.returncode == 0, result.stderr
    assert "6 event(s) of 2 run(s)" in result.stdout
    assert f"6 for 'default' -> http -> http://127.0.0.1:{port}/api/v1/lineage" in result.stdout
    assert "nothing sent" in result.stdout
    assert (spool.read_bytes(), spool.stat().st_mtime_ns) == before
    assert not (store / "rejected.jsonl").exists()
    assert server.accepted() == []


def test_cli_replay_delivers_and_reports(store: Path, marquez: Callable[..., ContractServer],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    events = run_events("a", n_running=2)
    port = spool_events(monkeypatch, events)

    down = cli("replay")
    assert down.returncode == 1
    assert "stopped at its first failure: connection failed" in down.stdout
    assert len(JsonLinesFile(store / "spool.jsonl").read()) == len(events)

    server = marquez(port=port)
    up = cli("replay")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "delivered 4, rejected 0, still in the spool 0" in up.stdout
    assert "replay [" in up.stderr and "4/4" in up.stderr  # the progress bar
    assert_all_delivered_in_order(events, server.accepted())
    assert cli("replay").stdout.startswith("nothing to replay")


def test_replay_interrupted_by_a_dying_server_can_simply_be_run_again(
        store: Path, marquez: Callable[..., ContractServer], monkeypatch: pytest.MonkeyPatch) -> None:
    events = run_events("a", n_running=3) + run_events("b", n_running=3)
    port = spool_events(monkeypatch, events)
    first = marquez(port=port)

    def kill_after_three(done: int, total: int, report: ReplayReport) -> None:
        if report.delivered == 3 and first.proc.poll() is None:
            first.kill()

    report = replay(Settings.from_env(), progress=kill_after_three)
    assert (report.delivered, report.remaining) == (3, len(events) - 3)
    assert report.stopped  # the destination stopped at its first failure instead of skipping ahead
    left = [r.event for r in JsonLinesFile(store / "spool.jsonl").read()]
    assert [key(e) for e in left if e] == [key(e) for e in events[3:]]

    second = marquez()
    monkeypatch.setenv("OPENLINEAGE_URL", second.url)
    report = replay(Settings.from_env())
    assert (report.delivered, report.remaining) == (len(events) - 3, 0)
    assert_all_delivered_in_order(events, first.accepted() + second.accepted())  # and no duplicate
    assert not (store / "spool.jsonl").exists()


def test_replay_killed_hard_loses_nothing_when_run_again(store: Path, marquez: Callable[..., ContractServer],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    events = run_events("a", n_running=5) + run_events("b", n_running=5)
    port = spool_events(monkeypatch, events)
    slow = marquez(port=port, delay=0.15)
    proc = subprocess.Popen([sys.executable, "-m", "openlineage_pandas", "replay"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=dict(os.environ))
    assert wait_for(lambda: len(slow.accepted()) >= 2, timeout=20)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.3)  # a request in flight at the kill may still be stored

    fast = marquez()
    monkeypatch.setenv("OPENLINEAGE_URL", fast.url)
    assert replay(Settings.from_env()).remaining == 0
    received = slow.accepted() + fast.accepted()
    # At-least-once: events acknowledged after the last checkpoint are sent again, in order.
    assert_all_delivered_in_order(events, received, max_duplicates=len(slow.accepted()))


def test_replay_refuses_to_dump_backend_events_into_the_local_file(store: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    events = run_events("a")
    spool_events(monkeypatch, events)
    monkeypatch.delenv("OPENLINEAGE_URL")  # a shell without the pipeline's backend configuration

    result = cli("replay")

    assert result.returncode == 1
    assert "no such destination" in result.stdout
    assert len(JsonLinesFile(store / "spool.jsonl").read()) == len(events)
    assert not (store / "events.jsonl").exists()


def test_unreadable_spool_lines_move_to_rejected_and_do_not_block(
        store: Path, marquez: Callable[..., ContractServer], monkeypatch: pytest.MonkeyPatch) -> None:
    events = run_events("a")
    port = spool_events(monkeypatch, events)
    with open(store / "spool.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"v": 1, "session": "x", "seq": 0, "event": {"eventTi\n')  # a line cut short by a crash
    server = marquez(port=port)

    report = replay(Settings.from_env())

    assert (report.delivered, report.unreadable, report.remaining) == (len(events), 1, 0)
    assert_all_delivered_in_order(events, server.accepted())
    rejected = [json.loads(line) for line in (store / "rejected.jsonl").read_text().splitlines()]
    assert rejected[0]["status"] is None and rejected[0]["message"].startswith("unreadable spool line")
    assert rejected[0]["line"].startswith('{"v": 1')


def test_replay_accepts_bare_event_lines(store: Path, marquez: Callable[..., ContractServer],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from openlineage.client.serde import Serde

    events = run_events("hand-written")
    store.mkdir(parents=True)
    (store / "spool.jsonl").write_text("".join(Serde.to_json(e) + "\n" for e in events), encoding="utf-8")
    server = marquez()
    monkeypatch.setenv("OPENLINEAGE_URL", server.url)

    assert replay(Settings.from_env()).delivered == len(events)
    assert_all_delivered_in_order(events, server.accepted())


def test_concurrent_replay_is_refused(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from openlineage_pandas.delivery.spool import exclusive

    spool_events(monkeypatch, run_events("a"))
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from openlineage_pandas.delivery.spool import exclusive\n"
         "with exclusive(Path(sys.argv[1])) as ok:\n    print(ok, flush=True); time.sleep(30)", str(store)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "True"
        result = cli("replay")
        assert result.returncode == 1 and "another `openlineage-pandas replay` is running" in result.stderr
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout:
            holder.stdout.close()
    with exclusive(store) as ok:
        assert ok
