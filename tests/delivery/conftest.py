"""Fixtures for delivery tests: the Marquez contract stub as a real HTTP server, an isolated store, realistic events.

Every server runs as a subprocess on a free loopback port; every test gets its own store directory.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from openlineage.client import event_v2, facet_v2
from openlineage.client.generated import (
    column_lineage_dataset,
    job_type_job,
    processing_engine_run,
    schema_dataset,
)
from openlineage.client.uuid import generate_new_uuid

REPO = Path(__file__).resolve().parents[2]
CONTRACT = REPO / ".." / "shared" / "tools" / "marquez_contract.py"
PRODUCER = "https://github.com/openlineage-pandas/openlineage-pandas/tree/0.1.0"


def free_port() -> int:
    """A loopback port nothing listens on (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ContractServer:
    """`marquez_contract.py serve` in a subprocess; accepted events are read back from its --store file."""

    def __init__(self, store: Path, *, fail_first: int = 0, status: int = 503, delay: float = 0.0,
                 port: int = 0) -> None:
        self.store = store
        args = [sys.executable, str(CONTRACT), "serve", "--port", str(port), "--quiet", "--store", str(store)]
        if fail_first:
            args += ["--fail-first", str(fail_first), "--status", str(status)]
        if delay:
            args += ["--delay", str(delay)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "listening on " not in line:
            self.proc.kill()
            errors = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"contract server did not start: {line!r} {errors!r}")
        self.url = line.split("listening on ", 1)[1].split()[0]

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=10) as resp:
            return json.loads(resp.read())

    def accepted(self) -> list[dict[str, Any]]:
        """Accepted events in arrival order."""
        if not self.store.exists():
            return []
        return [json.loads(line) for line in self.store.read_text(encoding="utf-8").splitlines() if line]

    def problems(self, level: str = "all") -> list[dict[str, Any]]:
        problems: list[dict[str, Any]] = self._get(f"/api/v1/contract/problems?level={level}")
        return problems

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def marquez(tmp_path: Path) -> Iterator[Callable[..., ContractServer]]:
    """Factory: `marquez(fail_first=2, delay=0.5)` starts a contract server, stopped after the test."""
    servers: list[ContractServer] = []

    def start(**options: Any) -> ContractServer:
        server = ContractServer(tmp_path / f"accepted-{len(servers)}.jsonl", **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An isolated store dir and no OpenLineage configuration from the developer's environment."""
    from openlineage_pandas.delivery import set_emitter
    from openlineage_pandas.safety import reset_warnings, set_fault_injection, set_raise_errors

    for key in list(os.environ):
        if key.startswith("OPENLINEAGE"):
            monkeypatch.delenv(key, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # no ~/.openlineage/openlineage.yml
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # no ./openlineage.yml
    directory = tmp_path / "store"
    monkeypatch.setenv("OPENLINEAGE_PANDAS_DIR", str(directory))
    reset_warnings()
    set_fault_injection(None)
    set_raise_errors(None)
    set_emitter(None)
    yield directory
    set_emitter(None)
    reset_warnings()


def _facet_fields(*names: str) -> list[schema_dataset.SchemaDatasetFacetFields]:
    return [schema_dataset.SchemaDatasetFacetFields(name=n, type="double" if n != "city" else "string")
            for n in names]


def run_events(job: str = "housing.clean", n_running: int = 1, *, start: datetime | None = None,
               namespace: str = "openlineage-pandas-tests") -> list[event_v2.RunEvent]:
    """START, RUNNING x n, COMPLETE of one run, shaped like the events the pipeline emits."""
    run_id = str(generate_new_uuid())
    t0 = start or datetime.now(timezone.utc)
    src = event_v2.InputDataset(
        namespace="file", name="/data/housing/raw.csv",
        facets={"schema": schema_dataset.SchemaDatasetFacet(fields=_facet_fields("city", "price", "rooms"))})
    lineage = column_lineage_dataset.ColumnLineageDatasetFacet(fields={
        "city": column_lineage_dataset.Fields(
            inputFields=[column_lineage_dataset.InputField(
                namespace="file", name="/data/housing/raw.csv", field="city",
                transformations=[column_lineage_dataset.Transformation(type="DIRECT", subtype="IDENTITY")])],
            transformationType="IDENTITY", transformationDescription="copied"),
        "price_per_room": column_lineage_dataset.Fields(
            inputFields=[column_lineage_dataset.InputField(
                namespace="file", name="/data/housing/raw.csv", field=f,
                transformations=[column_lineage_dataset.Transformation(type="DIRECT", subtype="TRANSFORMATION")])
                for f in ("price", "rooms")],
            transformationType="TRANSFORMATION", transformationDescription="price / rooms"),
    })
    out = event_v2.OutputDataset(
        namespace="file", name="/data/housing/clean.parquet",
        facets={"schema": schema_dataset.SchemaDatasetFacet(fields=_facet_fields("city", "price_per_room")),
                "columnLineage": lineage})
    run_facets: dict[str, facet_v2.RunFacet] = {
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            version="2.2.3", name="pandas", openlineageAdapterVersion="0.1.0")}
    job_facets: dict[str, facet_v2.JobFacet] = {
        "jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration="PANDAS", jobType="JOB")}
    types = [event_v2.RunState.START] + [event_v2.RunState.RUNNING] * n_running + [event_v2.RunState.COMPLETE]
    events = []
    for i, event_type in enumerate(types):
        events.append(event_v2.RunEvent(
            eventType=event_type,
            eventTime=(t0 + timedelta(milliseconds=10 * i)).isoformat(),
            run=event_v2.Run(runId=run_id, facets=dict(run_facets)),
            job=event_v2.Job(namespace=namespace, name=job, facets=dict(job_facets)),
            inputs=[src],
            outputs=[out],
            producer=PRODUCER,
        ))
    return events


def key(event: Any) -> tuple[str, str, str]:
    """Identity of an event, for objects and for dicts read back from a server or the spool."""
    if isinstance(event, dict):
        event_type = event["eventType"]
        return event["run"]["runId"], event_type, event["eventTime"]
    return event.run.runId, event.eventType.value, event.eventTime


def assert_all_delivered_in_order(sent: list[Any], received: list[dict[str, Any]], *,
                                  max_duplicates: int = 0) -> None:
    """Every sent event arrived; per run, first arrivals keep emission order; at most N duplicates."""
    sent_keys = [key(e) for e in sent]
    got = [key(e) for e in received]
    missing = set(sent_keys) - set(got)
    assert not missing, f"{len(missing)} events never arrived: {sorted(missing)[:5]}"
    assert len(got) - len(set(got)) <= max_duplicates, f"{len(got) - len(set(got))} duplicates"
    first: dict[tuple[str, str, str], int] = {}
    for i, k in enumerate(got):
        first.setdefault(k, i)
    by_run: dict[str, list[tuple[str, str, str]]] = {}
    for k in sent_keys:
        by_run.setdefault(k[0], []).append(k)
    for run_id, keys in by_run.items():
        positions = [first[k] for k in keys]
        assert positions == sorted(positions), f"run {run_id} arrived out of order: {keys}"


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()
