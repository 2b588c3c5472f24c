"""The event pipeline: snapshots are built in submission order off the caller's thread, the worker ends when
idle, and where no thread can be started (interpreter shutdown) the caller builds them itself."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from openlineage_pandas.events import pipeline as pipeline_module
from openlineage_pandas.events.pipeline import EventPipeline


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, str]]:
    seen: list[tuple[Any, str]] = []
    monkeypatch.setattr(pipeline_module, "build_and_send",
                        lambda snapshot: seen.append((snapshot, threading.current_thread().name)))
    return seen


def test_snapshots_are_built_in_order_off_the_callers_thread(built: list[tuple[Any, str]]) -> None:
    events = EventPipeline()
    for n in range(5):
        events.submit(n)  # type: ignore[arg-type]
    assert events.drain(10.0)
    assert [snapshot for snapshot, _ in built] == [0, 1, 2, 3, 4]
    assert {name for _, name in built} == {"openlineage-pandas-events"}
    assert events.pending() == 0


def test_the_worker_ends_when_idle_and_a_new_one_starts_for_new_work(built: list[tuple[Any, str]]) -> None:
    events = EventPipeline()
    events.submit("first")  # type: ignore[arg-type]
    assert events.drain(10.0)
    first = events._thread
    if first is not None:
        first.join(5.0)
    assert not any(t.name == "openlineage-pandas-events" and t is first and t.is_alive()
                   for t in threading.enumerate())
    events.submit("second")  # type: ignore[arg-type]
    assert events.drain(10.0)
    assert [snapshot for snapshot, _ in built] == ["first", "second"]


def test_without_threads_the_caller_builds_the_event(built: list[tuple[Any, str]],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't create new thread at interpreter shutdown")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    events = EventPipeline()
    events.submit("at exit")  # type: ignore[arg-type]
    assert built == [("at exit", threading.current_thread().name)]
    assert events.pending() == 0
