"""The emitter against a real HTTP server (Marquez's contract stub): delivery, outages, slow backends, refusals.

Each test checks the two promises: the program is never blocked or failed, and no event is lost or reordered.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from openlineage.client.generated import job_type_job

from openlineage_pandas.config import Settings
from openlineage_pandas.delivery.emitter import Emitter
from openlineage_pandas.delivery.replay import replay
from openlineage_pandas.delivery.spool import JsonLinesFile

from .conftest import ContractServer, assert_all_delivered_in_order, free_port, key, run_events


def make_emitter(monkeypatch: pytest.MonkeyPatch, url: str, **settings: str) -> Emitter:
    monkeypatch.setenv("OPENLINEAGE_URL", url)
    for name, value in settings.items():
        monkeypatch.setenv(f"OPENLINEAGE_PANDAS_{name}", value)
    return Emitter(Settings.from_env())


def emit_all(emitter: Emitter, events: list[Any]) -> float:
    """Emit every event; returns the slowest single emit() call in seconds."""
    slowest = 0.0
    for event in events:
        started = time.monotonic()
        emitter.emit(event)
        slowest = max(slowest, time.monotonic() - started)
    return slowest


def spooled(store: Path) -> list[dict[str, Any]]:
    return [r.event for r in JsonLinesFile(store / "spool.jsonl").read() if r.event is not None]


def test_events_are_accepted_with_no_contract_problems(store: Path, marquez: Callable[..., ContractServer],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    server = marquez()
    emitter = make_emitter(monkeypatch, server.url)
    events = run_events("housing.load") + run_events("housing.clean", n_running=2) + run_events("housing.train")

    assert emit_all(emitter, events) < 0.2
    emitter.shutdown()

    received = server.accepted()
    assert len(received) == len(events)
    assert_all_delivered_in_order(events, received)
    assert [p for p in server.problems("all") if p["level"] in ("reject", "drop")] == []
    assert not (store / "spool.jsonl").exists()
    assert emitter.status()["remote"][0]["delivered"] == len(events)


@pytest.mark.parametrize("outage", ["503 answers", "nothing listening"])
def test_outage_spools_quickly_and_replay_delivers_everything_in_order(
        outage: str, store: Path, marquez: Callable[..., ContractServer], monkeypatch: pytest.MonkeyPatch) -> None:
    if outage == "503 answers":
        # Two 503s make the first event fail both attempts; the backend recovers for the replay.
        server = marquez(fail_first=2, status=503)
        url = server.url
    else:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
    emitter = make_emitter(monkeypatch, url, FLUSH_TIMEOUT="2")
    events = run_events("a", n_running=2) + run_events("b")

    assert emit_all(emitter, events) < 0.2  # the outage is the sender thread's problem, not the program's
    started = time.monotonic()
    emitter.shutdown()
    assert time.monotonic() - started < 2.5

    assert [key(e) for e in spooled(store)] == [key(e) for e in events]
    if outage == "nothing listening":
        server = marquez(port=port)
    assert server.accepted() == []

    report = replay(Settings.from_env())
    assert (report.delivered, report.remaining, report.rejected) == (len(events), 0, 0)
    assert len(server.accepted()) == len(events)
    assert_all_delivered_in_order(events, server.accepted())
    assert not (store / "spool.jsonl").exists()


def test_slow_backend_shutdown_keeps_the_flush_deadline_and_spools_the_rest(
        store: Path, marquez: Callable[..., ContractServer], monkeypatch: pytest.MonkeyPatch) -> None:
    slow = marquez(delay=0.4)
    emitter = make_emitter(monkeypatch, slow.url, FLUSH_TIMEOUT="1")
    events = run_events("a", n_running=3) + run_events("b", n_running=3)

    assert emit_all(emitter, events) < 0.2
    started = time.monotonic()
    emitter.shutdown()
    elapsed = time.monotonic() - started
    assert elapsed < 1.0 + 0.3, f"shutdown took {elapsed:.2f} s with a 1 s flush deadline"

    left = spooled(store)
    assert 0 < len(left) < len(events)
    time.sleep(0.5)  # the request in flight at the deadline may still be answered: at-least-once, never lost
    fast = marquez()
    monkeypatch.setenv("OPENLINEAGE_URL", fast.url)
    report = replay(Settings.from_env())
    assert report.remaining == 0
    assert_all_delivered_in_order(events, slow.accepted() + fast.accepted(), max_duplicates=1)


def test_a_send_the_deadline_cut_before_it_started_blames_the_deadline_not_the_backend(
        store: Path, marquez: Callable[..., ContractServer], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    # The race at exit: shutdown's deadline has passed when a sender picks up its next event. Forced here by
    # setting the lane's deadline in the past before anything is sent.
    server = marquez()
    emitter = make_emitter(monkeypatch, server.url, FLUSH_TIMEOUT="1")
    events = run_events("a", n_running=1)
    emitter.emit(events[0])
    assert emitter.flush(5)
    lane = emitter._lanes()[0]
    with lane.cond:
        lane.deadline = time.monotonic() - 1
    with caplog.at_level(logging.WARNING, logger="openlineage_pandas"):
        for event in events[1:]:
            emitter.emit(event)
        time.sleep(0.3)  # the sender takes the next event and finds the deadline gone
        assert lane.down_reason is None
        emitter.shutdown(0.2)
    messages = [r.getMessage() for r in caplog.records]
    assert not any("is not accepting events" in m for m in messages), messages
    assert any("were not delivered within the 0.2 s flush deadline" in m for m in messages), messages
    assert [key(e) for e in spooled(store)] == [key(e) for e in events[1:]]
    assert [key(e) for e in server.accepted()] == [key(events[0])]


def test_queue_overflow_spools_without_reordering(store: Path, marquez: Callable[..., ContractServer],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    slow = marquez(delay=0.3)
    emitter = make_emitter(monkeypatch, slow.url, QUEUE_SIZE="2", FLUSH_TIMEOUT="1")
    events = run_events("a", n_running=4) + run_events("b", n_running=4)

    assert emit_all(emitter, events) < 0.2
    emitter.shutdown()
    time.sleep(0.4)
    fast = marquez()
    monkeypatch.setenv("OPENLINEAGE_URL", fast.url)
    assert replay(Settings.from_env()).remaining == 0
    assert_all_delivered_in_order(events, slow.accepted() + fast.accepted(), max_duplicates=1)


def _refused_event() -> Any:
    bad = run_events("refused")[0]
    # Marquez answers 422 "job.facets.jobType.integration must not be null" for this one.
    bad.job.facets = {"jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration=None)}  # type: ignore[arg-type]
    return bad


def test_refused_event_goes_to_the_rejected_file_and_others_still_flow(
        store: Path, marquez: Callable[..., ContractServer], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    server = marquez()
    emitter = make_emitter(monkeypatch, server.url)
    good = run_events("good")
    with caplog.at_level(logging.WARNING, logger="openlineage_pandas"):
        emit_all(emitter, [good[0], _refused_event(), *good[1:]])
        emitter.shutdown()

    assert_all_delivered_in_order(good, server.accepted())
    rejected = [json.loads(line) for line in (store / "rejected.jsonl").read_text().splitlines()]
    assert len(rejected) == 1
    assert rejected[0]["status"] == 422
    assert "job.facets.jobType.integration must not be null" in rejected[0]["message"]
    assert rejected[0]["event"]["job"]["name"] == "refused"
    assert stat.S_IMODE((store / "rejected.jsonl").stat().st_mode) == 0o600
    assert not (store / "spool.jsonl").exists()
    assert len([r for r in caplog.records if "refused" in r.getMessage()]) == 1


def test_replay_moves_refused_events_to_rejected_and_delivers_the_rest(
        store: Path, marquez: Callable[..., ContractServer], monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    emitter = make_emitter(monkeypatch, f"http://127.0.0.1:{port}")
    good = run_events("good")
    emit_all(emitter, [good[0], _refused_event(), *good[1:]])
    emitter.shutdown()
    assert len(spooled(store)) == len(good) + 1

    server = marquez(port=port)
    report = replay(Settings.from_env())
    assert (report.delivered, report.rejected, report.remaining) == (len(good), 1, 0)
    assert_all_delivered_in_order(good, server.accepted())
    assert json.loads((store / "rejected.jsonl").read_text())["status"] == 422


def test_unreachable_backend_warns_once_naming_the_url_without_credentials(
        store: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    emitter = make_emitter(monkeypatch, f"http://lineage-user:hunter2-password@127.0.0.1:{port}")
    events = run_events("a") + run_events("b") + run_events("c")
    with caplog.at_level(logging.DEBUG, logger="openlineage_pandas"):
        emit_all(emitter, events)
        emitter.shutdown()

    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name == "openlineage_pandas"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    message = warnings[0].getMessage()
    assert f"http://127.0.0.1:{port}/api/v1/lineage" in message
    assert "hunter2" not in caplog.text and "lineage-user" not in caplog.text
    assert len(spooled(store)) == len(events)


def test_credentials_never_reach_spool_rejected_or_logs(
        store: Path, marquez: Callable[..., ContractServer], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    secrets = ("s3cr3t-pass", "olp-api-key-0123456789")
    monkeypatch.setenv("OPENLINEAGE_API_KEY", secrets[1])
    port = free_port()
    url = f"http://svc-user:{secrets[0]}@127.0.0.1:{port}"
    with caplog.at_level(logging.DEBUG, logger="openlineage_pandas"):
        emitter = make_emitter(monkeypatch, url)
        emit_all(emitter, run_events("down"))  # spooled: nothing listens yet
        emitter.shutdown()
        server = marquez(port=port)
        replay(Settings.from_env())
        emitter = make_emitter(monkeypatch, url)
        emit_all(emitter, [_refused_event()])  # rejected by the live server
        emitter.shutdown()

    assert len(server.accepted()) == 3
    spool_file, rejected_file = store / "spool.jsonl", store / "rejected.jsonl"
    assert rejected_file.exists()
    texts = [caplog.text, rejected_file.read_text()]
    emitter = make_emitter(monkeypatch, f"http://svc-user:{secrets[0]}@127.0.0.1:{free_port()}")
    emit_all(emitter, run_events("down-again"))
    emitter.shutdown()
    assert stat.S_IMODE(spool_file.stat().st_mode) == 0o600
    texts.append(spool_file.read_text())
    for text in texts:
        for secret in secrets:
            assert secret not in text
    assert "svc-user" not in spool_file.read_text()


def test_fork_child_sends_only_its_own_events(store: Path, marquez: Callable[..., ContractServer],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    server = marquez(delay=0.05)
    emitter = make_emitter(monkeypatch, server.url, FLUSH_TIMEOUT="10")
    parent_events = run_events("parent", n_running=6)
    child_events = run_events("child")
    emit_all(emitter, parent_events[:5])  # several still queued when the process forks

    pid = os.fork()
    if pid == 0:  # child: its own queue and thread; must not re-send the parent's queued events
        code = 1
        try:
            emit_all(emitter, child_events)
            emitter.shutdown()
            code = 0
        finally:
            os._exit(code)
    emit_all(emitter, parent_events[5:])
    emitter.shutdown()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0

    received = server.accepted()
    assert len(received) == len(parent_events) + len(child_events)
    assert_all_delivered_in_order(parent_events + child_events, received)
    assert not (store / "spool.jsonl").exists()


def test_multiprocessing_child_flushes_at_its_exit(store: Path, marquez: Callable[..., ContractServer],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import multiprocessing

    server = marquez()
    emitter = make_emitter(monkeypatch, server.url)
    events = run_events("worker")
    # A multiprocessing child ends with os._exit (no atexit): the emitter flushes from multiprocessing's hooks.
    process = multiprocessing.get_context("fork").Process(target=emit_all, args=(emitter, events))
    process.start()
    process.join(10)
    assert process.exitcode == 0
    assert_all_delivered_in_order(events, server.accepted())
    assert len(server.accepted()) == len(events)


def test_emit_after_shutdown_is_spooled_not_lost(store: Path, marquez: Callable[..., ContractServer],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    server = marquez()
    emitter = make_emitter(monkeypatch, server.url)
    events = run_events("late")
    emit_all(emitter, events[:2])
    emitter.shutdown()
    emit_all(emitter, events[2:])  # e.g. another atexit handler emitting after ours
    assert [key(e) for e in spooled(store)] == [key(e) for e in events[2:]]
    replay(Settings.from_env())
    assert_all_delivered_in_order(events, server.accepted())


def test_a_bug_in_the_sender_loses_no_event(store: Path, marquez: Callable[..., ContractServer],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from openlineage_pandas.delivery.destinations import Destination

    server = marquez()
    emitter = make_emitter(monkeypatch, server.url)

    def broken(self: Destination, payload: Any, deadline: float | None = None) -> Any:
        raise RuntimeError("bug in the sender")

    monkeypatch.setattr(Destination, "send_with_retry", broken)
    events = run_events("bug")
    assert emit_all(emitter, events) < 0.2
    started = time.monotonic()
    emitter.shutdown()
    assert time.monotonic() - started < 1.0  # the lane did not hang waiting for the dead item
    assert [key(e) for e in spooled(store)] == [key(e) for e in events]


def test_without_threads_at_interpreter_shutdown_events_are_sent_inline(
        store: Path, marquez: Callable[..., ContractServer], monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    server = marquez()
    emitter = make_emitter(monkeypatch, server.url)

    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't create new thread at interpreter shutdown")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    events = run_events("inline")
    emit_all(emitter, events)
    assert len(server.accepted()) == len(events)  # delivered before emit() returned
    emitter.shutdown()
    assert_all_delivered_in_order(events, server.accepted())
