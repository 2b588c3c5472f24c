"""`openlineage-pandas status`: backend (credentials hidden), local store, spool and rejected counts.

Run as a real subprocess, the way a user types it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from openlineage_pandas.config import Settings
from openlineage_pandas.delivery.emitter import Emitter

from .conftest import free_port, run_events


def status(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "openlineage_pandas", "status", *args], capture_output=True,
                          text=True, timeout=60, env=dict(os.environ))


def test_status_of_an_empty_default_store(store: Path) -> None:
    result = status()
    assert result.returncode == 0, result.stderr
    assert "default local store" in result.stdout
    assert f"local store:  {store}" in result.stdout
    assert "spool:        0 event(s)" in result.stdout and "rejected:     0 event(s)" in result.stdout


def test_status_reports_spool_and_hides_credentials(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv("OPENLINEAGE_URL", f"http://ops:t0p-s3cret@127.0.0.1:{port}")
    monkeypatch.setenv("OPENLINEAGE_API_KEY", "api-key-do-not-show")
    events = run_events("a") + run_events("b", n_running=2)
    emitter = Emitter(Settings.from_env())
    for event in events:
        emitter.emit(event)
    emitter.shutdown()

    text, as_json = status(), status("--json")
    assert text.returncode == 0 and as_json.returncode == 0
    for output in (text.stdout, as_json.stdout):
        assert "t0p-s3cret" not in output and "api-key-do-not-show" not in output and "ops:" not in output
    assert f"backend:      http -> http://127.0.0.1:{port}/api/v1/lineage" in text.stdout
    assert "spool:        7 event(s)" in text.stdout and "openlineage-pandas replay" in text.stdout
    info = json.loads(as_json.stdout)
    assert info["spool"]["events"] == 7 and info["spool"]["by_destination"] == {"default": 7}
    assert info["spool"]["oldest_event_time"] == events[0].eventTime
    assert info["spool"]["newest_event_time"] == max(e.eventTime for e in events)
    assert info["rejected"]["events"] == 0


def test_status_names_an_invalid_setting(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENLINEAGE_PANDAS_FLUSH_TIMEOUT", "soon")
    result = status()
    assert result.returncode == 2
    assert "OPENLINEAGE_PANDAS_FLUSH_TIMEOUT" in result.stderr and "positive number of seconds" in result.stderr
