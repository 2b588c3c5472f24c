"""The housing example under `openlineage-pandas run`, delivering to a real HTTP backend: up, down, and slow.

The pipeline must exit 0 with unchanged output whatever the backend does, and no event may be lost.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from openlineage_pandas.delivery.spool import JsonLinesFile

from .conftest import REPO, ContractServer, free_port, key

EXAMPLE = REPO / "examples" / "housing"
EVENT_TYPES = ["START", "RUNNING", "RUNNING", "RUNNING", "COMPLETE"]


@pytest.fixture(scope="module")
def housing_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "housing.csv"
    subprocess.run([sys.executable, str(EXAMPLE / "make_data.py"), "--rows", "2000", "--out", str(path)],
                   check=True, capture_output=True, timeout=120)
    return path


def _env(store: Path, **extra: str) -> dict[str, str]:
    from support import clean_env

    return clean_env({"OPENLINEAGE_PANDAS_DIR": str(store), **extra})


def run_pipeline(tmp_path: Path, data: Path, store: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "openlineage_pandas", "run", str(EXAMPLE / "pipeline.py"),
         "--data", str(data), "--out", str(tmp_path / "out")],
        cwd=tmp_path, env=_env(store, **env), capture_output=True, text=True, timeout=180)


def test_pipeline_events_are_accepted_by_the_backend(tmp_path: Path, housing_csv: Path,
                                                     marquez: Callable[..., ContractServer]) -> None:
    server = marquez()
    result = run_pipeline(tmp_path, housing_csv, tmp_path / "store", OPENLINEAGE_URL=server.url)
    assert result.returncode == 0, result.stderr
    assert "RMSE" in result.stdout
    accepted = server.accepted()
    assert [e["eventType"] for e in accepted] == EVENT_TYPES
    assert [p for p in server.problems("all") if p["level"] in ("reject", "drop")] == []
    assert not (tmp_path / "store" / "spool.jsonl").exists()
    assert "openlineage-pandas:" not in result.stderr  # nothing to warn about


def test_pipeline_exits_0_with_the_backend_down_and_replay_delivers_all(
        tmp_path: Path, housing_csv: Path, marquez: Callable[..., ContractServer]) -> None:
    port = free_port()
    store = tmp_path / "store"
    url = f"http://etl:pw-not-logged@127.0.0.1:{port}"
    result = run_pipeline(tmp_path, housing_csv, store, OPENLINEAGE_URL=url)
    assert result.returncode == 0, result.stderr
    assert "RMSE" in result.stdout
    assert result.stderr.count("is not accepting events") == 1  # one warning, not one per event
    assert f"http://127.0.0.1:{port}/api/v1/lineage" in result.stderr and "pw-not-logged" not in result.stderr
    spooled = [r.event for r in JsonLinesFile(store / "spool.jsonl").read()]
    assert [e["eventType"] for e in spooled if e] == EVENT_TYPES

    server = marquez(port=port)
    replayed = subprocess.run([sys.executable, "-m", "openlineage_pandas", "replay"], cwd=tmp_path,
                              env=_env(store, OPENLINEAGE_URL=url), capture_output=True, text=True, timeout=60)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert [key(e) for e in server.accepted()] == [key(e) for e in spooled if e]
    assert [p for p in server.problems("all") if p["level"] in ("reject", "drop")] == []
    assert not (store / "spool.jsonl").exists()


def test_slow_backend_adds_at_most_the_flush_deadline(tmp_path: Path, housing_csv: Path,
                                                      marquez: Callable[..., ContractServer]) -> None:
    slow = marquez(delay=1.0)
    store = tmp_path / "store"
    result = run_pipeline(tmp_path, housing_csv, store, OPENLINEAGE_URL=slow.url,
                          OPENLINEAGE_PANDAS_FLUSH_TIMEOUT="2")
    assert result.returncode == 0, result.stderr
    assert "RMSE" in result.stdout
    # Several events (RUNNING per write, then COMPLETE) are still queued at exit: at 1 s each they need more than
    # the 2 s deadline. The exit flush reports how long it waited; the whole process's timing is too noisy on a
    # loaded machine to assert on (see docs/backends.md for measured wall times).
    waited = re.search(r"within the 2 s flush deadline \(OPENLINEAGE_PANDAS_FLUSH_TIMEOUT; waited ([\d.]+) s\)",
                       result.stderr)
    assert waited, result.stderr
    assert float(waited.group(1)) < 2 + 0.5

    time.sleep(1.2)  # the request in flight at the deadline may still be answered
    spooled = [r.event for r in JsonLinesFile(store / "spool.jsonl").read() if r.event]
    assert spooled, "with a 2 s deadline and 1 s per event, some events must have been spooled"
    delivered = {key(e) for e in slow.accepted()}
    assert {e["eventType"] for e in slow.accepted() + spooled} == set(EVENT_TYPES)
    assert len(delivered | {key(e) for e in spooled}) == len(EVENT_TYPES)  # nothing lost
