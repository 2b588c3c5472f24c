"""Delivery without a network path: the default local store, composite fan-out, broken configuration, faults.

The local store must stay synchronous (events on disk when emit returns) and start no thread.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from openlineage_pandas.config import Settings
from openlineage_pandas.delivery.client import build_client, describe_transport
from openlineage_pandas.delivery.emitter import Emitter
from openlineage_pandas.delivery.replay import replay
from openlineage_pandas.delivery.spool import JsonLinesFile
from openlineage_pandas.safety import set_fault_injection

from .conftest import ContractServer, assert_all_delivered_in_order, free_port, key, run_events


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_default_local_store_is_written_synchronously_without_threads(store: Path) -> None:
    emitter = Emitter(Settings.from_env())
    events = run_events("local", n_running=2)
    threads_before = threading.active_count()
    for i, event in enumerate(events, 1):
        emitter.emit(event)
        assert len(lines(store / "events.jsonl")) == i  # on disk when emit() returns
    assert threading.active_count() == threads_before
    emitter.shutdown()
    assert [key(e) for e in lines(store / "events.jsonl")] == [key(e) for e in events]
    assert emitter.status()["local"][0]["name"] == "local-store"


def test_composite_fans_out_and_spools_only_for_the_failing_child(
        store: Path, tmp_path: Path, marquez: Callable[..., ContractServer],
        monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    local_copy = tmp_path / "copy.jsonl"
    config = tmp_path / "openlineage.yml"
    config.write_text(
        "transport:\n  type: composite\n  transports:\n"
        f"    marquez:\n      type: http\n      url: http://127.0.0.1:{port}\n"
        f"    local:\n      type: file\n      log_file_path: {local_copy}\n      append: true\n")
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(config))
    emitter = Emitter(Settings.from_env())
    events = run_events("fan-out")
    for event in events:
        emitter.emit(event)
    emitter.shutdown()

    assert [key(e) for e in lines(local_copy)] == [key(e) for e in events]
    records = JsonLinesFile(store / "spool.jsonl").read()
    assert {r.destination for r in records} == {"marquez"} and len(records) == len(events)

    server = marquez(port=port)
    assert replay(Settings.from_env()).remaining == 0
    assert_all_delivered_in_order(events, server.accepted())
    assert len(lines(local_copy)) == len(events)  # the file child got nothing twice
    described = describe_transport(build_client(Settings.from_env()))
    assert described.startswith("composite[marquez: http -> http://127.0.0.1:") and "local: file -> " in described


def test_broken_configuration_spools_instead_of_failing(store: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    config = tmp_path / "openlineage.yml"
    config.write_text("transport:\n  type: no.such.module.Transport\n")
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(config))
    emitter = Emitter(Settings.from_env())
    events = run_events("broken")
    with caplog.at_level(logging.WARNING, logger="openlineage_pandas"):
        for event in events:
            emitter.emit(event)
        emitter.shutdown()
    records = JsonLinesFile(store / "spool.jsonl").read()
    assert [key(r.event) for r in records if r.event] == [key(e) for e in events]
    assert records[0].meta["reason"].startswith("configuration error")
    ours = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name == "openlineage_pandas"]
    assert len(ours) == 1 and "could not be set up" in ours[0].getMessage()


def test_unwritable_local_file_is_spooled_and_warned_once(store: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "file")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__LOG_FILE_PATH", str(blocker / "events.jsonl"))
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__APPEND", "true")
    emitter = Emitter(Settings.from_env())
    events = run_events("unwritable")
    with caplog.at_level(logging.WARNING, logger="openlineage_pandas"):
        for event in events:
            emitter.emit(event)
    assert len(JsonLinesFile(store / "spool.jsonl").read()) == len(events)
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING and r.name == "openlineage_pandas"]) == 1


def test_fault_injection_never_reaches_the_caller(store: Path, marquez: Callable[..., ContractServer],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    server = marquez()
    monkeypatch.setenv("OPENLINEAGE_URL", server.url)
    emitter = Emitter(Settings.from_env())
    set_fault_injection(True)
    try:
        for event in run_events("faulty"):
            emitter.emit(event)  # every emission step raises inside; nothing escapes
        emitter.shutdown()
    finally:
        set_fault_injection(None)
    assert server.accepted() == []


def test_openlineage_filters_and_tags_from_user_config_apply(store: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "events.jsonl"
    config = tmp_path / "openlineage.yml"
    config.write_text(
        f"transport:\n  type: file\n  log_file_path: {out}\n  append: true\n"
        "filters:\n  - type: exact\n    match: skipped-job\n"
        "tags:\n  job:\n    team: housing\n")
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(config))
    emitter = Emitter(Settings.from_env())
    kept = run_events("kept-job")
    for event in run_events("skipped-job") + kept:
        emitter.emit(event)
    emitter.shutdown()
    written = lines(out)
    assert [key(e) for e in written] == [key(e) for e in kept]
    tags = written[0]["job"]["facets"]["tags"]["tags"]  # type: ignore[index]
    assert {"key": "team", "value": "housing", "source": "USER"} in tags


def test_openlineage_disabled_emits_nothing(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    emitter = Emitter(Settings.from_env())
    for event in run_events("disabled"):
        emitter.emit(event)
    emitter.shutdown()
    assert not (store / "events.jsonl").exists() and not (store / "spool.jsonl").exists()
