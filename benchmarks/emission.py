"""Emission throughput: events/s through openlineage-python's file transport and its http transport.

The http target is the local Marquez-contract stub (../shared/tools/marquez_contract.py serve) on loopback.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent


def contract_tool() -> Path | None:
    """The Marquez-contract tool: $BENCH_MARQUEZ_CONTRACT, else ../shared/tools/marquez_contract.py."""
    override = os.environ.get("BENCH_MARQUEZ_CONTRACT")
    candidates = [Path(override)] if override else []
    candidates.append(REPO_ROOT.parent / "shared" / "tools" / "marquez_contract.py")
    return next((p for p in candidates if p.is_file()), None)


# --------------------------------------------------------------------------------------------------------
# The events: produced by openlineage-pandas itself when possible, otherwise a realistic synthetic one.
# --------------------------------------------------------------------------------------------------------

def library_events(cache: Path, workdir: Path) -> list[Any]:
    """RunEvents that openlineage-pandas builds for a small pipeline (read, 13 ops, write), captured in memory.

    A capturing Emitter is installed with `openlineage_pandas.delivery.set_emitter`, so nothing is sent.
    """
    import openlineage_pandas
    from openlineage_pandas.config import Settings
    from openlineage_pandas.delivery import emitter as em

    captured: list[Any] = []

    class Capture(em.Emitter):
        def emit(self, event: Any) -> None:
            captured.append(event)

        def flush(self, timeout: float | None = None) -> bool:
            return True

        def shutdown(self, timeout: float | None = None) -> None:
            return None

    em.set_emitter(Capture(Settings.from_env()))
    try:
        import ops

        openlineage_pandas.enable(job_name="bench_emission")
        frames = ops.load(ops.data_files(cache, 1000))
        results = [fn(frames) for fn in ops.OPS.values()]
        for i, frame in enumerate(r for r in results if hasattr(r, "to_parquet")):
            frame.to_parquet(workdir / f"out_{i}.parquet")
        openlineage_pandas.disable()
    finally:
        em.set_emitter(None)
    return captured


def synthetic_event(columns: int = 12) -> Any:
    """A COMPLETE RunEvent shaped like ours: two inputs, one output with schema + columnLineage facets."""
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import column_lineage_dataset as cl
    from openlineage.client.facet_v2 import schema_dataset as sd

    def schema(prefix: str) -> sd.SchemaDatasetFacet:
        return sd.SchemaDatasetFacet(fields=[sd.SchemaDatasetFacetFields(name=f"{prefix}{i}", type="float64")
                                             for i in range(columns)])

    ns = "file"
    lineage = cl.ColumnLineageDatasetFacet(fields={
        f"o{i}": cl.Fields(inputFields=[
            cl.InputField(namespace=ns, name="/data/a.parquet", field=f"a{i}",
                          transformations=[cl.Transformation(type="DIRECT", subtype="TRANSFORMATION")]),
            cl.InputField(namespace=ns, name="/data/b.parquet", field=f"b{i}",
                          transformations=[cl.Transformation(type="INDIRECT", subtype="JOIN")]),
        ]) for i in range(columns)})
    return RunEvent(
        eventType=RunState.COMPLETE,
        eventTime=datetime.now(timezone.utc).isoformat(),
        run=Run(runId=str(uuid.uuid4())),
        job=Job(namespace="bench", name="synthetic"),
        producer="https://github.com/openlineage-pandas/benchmarks",
        inputs=[InputDataset(namespace=ns, name="/data/a.parquet", facets={"schema": schema("a")}),
                InputDataset(namespace=ns, name="/data/b.parquet", facets={"schema": schema("b")})],
        outputs=[OutputDataset(namespace=ns, name="/data/out.parquet",
                               facets={"schema": schema("o"), "columnLineage": lineage})],
    )


# --------------------------------------------------------------------------------------------------------
# Measuring.
# --------------------------------------------------------------------------------------------------------

def emit_rate(client: Any, events: list[Any], count: int) -> dict[str, float]:
    """Emit `count` events (cycling through `events`), one `client.emit` call each; close; time it all."""
    t0 = time.perf_counter()
    for i in range(count):
        client.emit(events[i % len(events)])
    client.close(timeout=30.0)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "events_per_s": count / seconds, "us_per_event": seconds / count * 1e6}


def _medians(rates: list[dict[str, float]]) -> dict[str, float]:
    return {"events_per_s": statistics.median(r["events_per_s"] for r in rates),
            "us_per_event": statistics.median(r["us_per_event"] for r in rates)}


# A server that reads each request and answers 201 at once: the client-side ceiling for the http transport.
NULL_SERVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(sys.argv[1], "a") as fh:
            fh.write("1\\n")
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(f"marquez_contract: listening on http://127.0.0.1:{srv.server_port}/", flush=True)
srv.serve_forever()
"""


def start_server(tool: Path | None, store: Path) -> tuple[subprocess.Popen[str], int]:
    """Start the contract stub (or, with tool None, the null server) on a free loopback port."""
    if tool is None:
        cmd = [sys.executable, "-c", NULL_SERVER, str(store)]
    else:
        cmd = [sys.executable, str(tool), "serve", "--port", "0", "--host", "127.0.0.1", "-q", "--store", str(store)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.time() + 30
    assert proc.stdout is not None
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if "listening on http://" in line:
            port = int(line.split("listening on http://", 1)[1].split()[0].rsplit(":", 1)[1].rstrip("/"))
            return proc, port
    proc.kill()
    raise RuntimeError("the Marquez-contract server did not start")


def stop_server(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("--cache", default=str(BENCH_DIR / ".cache"))
    parser.add_argument("--events", type=int, default=2000, help="events per trial, file transport")
    parser.add_argument("--http-events", type=int, default=1000, help="events per trial, http transport")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--library-events", action="store_true", help="use events built by openlineage-pandas")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(BENCH_DIR))
    from openlineage.client import OpenLineageClient
    from openlineage.client.serde import Serde
    from openlineage.client.transport.file import FileConfig, FileTransport
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    work = Path.cwd()
    event_sets: dict[str, list[Any]] = {}
    library_error = None
    if args.library_events:
        try:
            events = library_events(Path(args.cache), work)
            if events:
                kinds = ", ".join(sorted({e.eventType.value for e in events}))
                event_sets[f"openlineage-pandas events ({len(events)} per run: {kinds})"] = events
        except Exception as exc:  # the library may be mid-change; fall back rather than lose the section
            library_error = f"{type(exc).__name__}: {exc}"
    event_sets["synthetic RunEvent (2 inputs, 1 output, 12-column schema + columnLineage)"] = [synthetic_event()]

    tool = contract_tool()
    rows: list[dict[str, Any]] = []
    for set_name, events in event_sets.items():
        size = statistics.mean(len(Serde.to_json(e).encode()) for e in events)
        file_rates, written = [], 0
        for t in range(args.trials):
            path = work / f"file-{t}.jsonl"
            client = OpenLineageClient(transport=FileTransport(FileConfig(log_file_path=str(path), append=True)))
            file_rates.append(emit_rate(client, events, args.events))
            written = sum(1 for _ in path.open()) if path.exists() else 0
            path.unlink(missing_ok=True)
        rows.append({"transport": "file (FileTransport, append)", "events_set": set_name, "event_bytes": size,
                     "events": args.events, "accepted": written, **_medians(file_rates), "trials": file_rates})
        targets: dict[str, Path | None] = {}
        if tool is not None:
            targets["http (HttpTransport -> Marquez contract stub, loopback)"] = tool
        else:
            rows.append({"transport": "http (HttpTransport -> Marquez contract stub, loopback)",
                         "events_set": set_name, "available": False,
                         "reason": "../shared/tools/marquez_contract.py not found"})
        targets["http (HttpTransport -> null server answering 201, loopback)"] = None
        for http, server in targets.items():
            rates, accepted = [], 0
            for t in range(args.trials):
                store = work / f"http-{t}.jsonl"
                proc, port = start_server(server, store)
                try:
                    client = OpenLineageClient(transport=HttpTransport(HttpConfig(
                        url=f"http://127.0.0.1:{port}", timeout=10.0)))
                    rates.append(emit_rate(client, events, args.http_events))
                finally:
                    stop_server(proc)
                accepted = sum(1 for _ in store.open()) if store.exists() else 0
                store.unlink(missing_ok=True)
            rows.append({"transport": http, "events_set": set_name, "event_bytes": size,
                         "events": args.http_events, "accepted": accepted, "server": str(server or "null"),
                         **_medians(rates), "trials": rates})

    result = {"library_error": library_error, "rows": rows,
              "client": "openlineage-python OpenLineageClient.emit, synchronous, one event per call"}
    Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
