"""Shared fixtures: an isolated local event store per test, with tracking reset before and after.

`tracking` enables openlineage-pandas into a temporary store; `tracking.events()` reads what was emitted.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import check_events_file, read_events


class Tracking:
    """Handle on an isolated store: enable/disable tracking, read and check the emitted events."""

    def __init__(self, store: Path) -> None:
        self.store = store

    @property
    def events_path(self) -> Path:
        return self.store / "events.jsonl"

    def enable(self, **kwargs: Any) -> None:
        import openlineage_pandas

        assert openlineage_pandas.enable(**kwargs)

    def disable(self) -> None:
        import openlineage_pandas

        openlineage_pandas.disable()

    def events(self) -> list[dict[str, Any]]:
        return read_events(self.events_path)

    def last(self) -> dict[str, Any]:
        events = self.events()
        assert events, "no events were emitted"
        return events[-1]

    def check(self) -> None:
        check_events_file(self.events_path)


def _reset_tracking_state() -> None:
    import openlineage_pandas
    from openlineage_pandas import run as runs
    from openlineage_pandas.delivery import set_emitter
    from openlineage_pandas.provenance.registry import lineage_table
    from openlineage_pandas.safety import reset_warnings, set_fault_injection, set_raise_errors

    openlineage_pandas.disable()
    runs.forget_process_run()
    set_emitter(None)
    lineage_table.clear()
    reset_warnings()
    set_fault_injection(None)
    set_raise_errors(None)


@pytest.fixture
def tracking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tracking]:
    """Tracking into `tmp_path/store` with no user OpenLineage configuration; internal errors raise."""
    for key in list(os.environ):
        if key.startswith("OPENLINEAGE"):
            monkeypatch.delenv(key, raising=False)
    store = tmp_path / "store"
    monkeypatch.setenv("OPENLINEAGE_PANDAS_DIR", str(store))
    monkeypatch.setenv("OPENLINEAGE_PANDAS_ON_ERROR", "raise")
    # In-process tests see internal errors raised and read events right after disable(): events are built here.
    # The event process (the default) is covered by tests/events/test_process.py and every subprocess test.
    monkeypatch.setenv("OPENLINEAGE_PANDAS_EVENT_WORKER", "thread")
    monkeypatch.chdir(tmp_path)
    _reset_tracking_state()
    handle = Tracking(store)
    try:
        yield handle
    finally:
        _reset_tracking_state()
    # every event any test emits must be valid OpenLineage and clean against Marquez's contract
    if handle.events_path.exists() and handle.events_path.stat().st_size:
        handle.check()
