"""The spool file under concurrent writers and rewrites, its ordering rule, and credential redaction.

Concurrency is exercised with real threads and processes appending to one file while it is rewritten.
"""

from __future__ import annotations

import json
import multiprocessing
import stat
import threading
from pathlib import Path

from openlineage_pandas.delivery.redact import Redactor, redact_text, secrets_of
from openlineage_pandas.delivery.spool import JsonLinesFile, delivery_order, envelope_line, parse_line


def _append_many(path: str, tag: str, count: int) -> None:
    spool = JsonLinesFile(Path(path))
    for i in range(count):
        spool.append([envelope_line({"session": tag, "seq": i}, json.dumps({"eventTime": f"{tag}-{i}"}))])


def test_concurrent_appends_and_rewrites_lose_no_line(tmp_path: Path) -> None:
    path = tmp_path / "spool.jsonl"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_many, args=(str(path), f"p{n}", 60)) for n in range(2)]
    threads = [threading.Thread(target=_append_many, args=(str(path), f"t{n}", 60)) for n in range(2)]
    for proc in procs:
        proc.start()
    for thread in threads:
        thread.start()
    spool = JsonLinesFile(path)
    removed = 0
    while any(p.is_alive() for p in procs) or any(t.is_alive() for t in threads):
        # Rewrite while others append: drop what has been read so far, as replay does after acknowledgements.
        removed += spool.remove([r.line for r in spool.read() if r.session.startswith("p0")])
    for p in procs:
        p.join()
    for t in threads:
        t.join()
    removed += spool.remove([r.line for r in spool.read() if r.session.startswith("p0")])
    left = spool.read()
    assert removed == 60
    assert all(r.event is not None for r in left)  # no torn line
    assert sorted(r.session for r in left) == sorted(["p1"] * 60 + ["t0"] * 60 + ["t1"] * 60)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_existing_spool_with_loose_permissions_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "spool.jsonl"
    path.write_text("")
    path.chmod(0o644)
    JsonLinesFile(path).append(['{"eventTime": "x"}'])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_delivery_order_puts_an_overflowed_event_back_in_place() -> None:
    lines = [envelope_line({"session": "A", "seq": 2}, '{"eventTime": "a2"}'),  # spooled first: queue overflow
             envelope_line({"session": "A", "seq": 0}, '{"eventTime": "a0"}'),
             envelope_line({"session": "B", "seq": 0}, '{"eventTime": "b0"}'),
             envelope_line({"session": "A", "seq": 1}, '{"eventTime": "a1"}')]
    ordered = delivery_order(parse_line(line, i) for i, line in enumerate(lines))
    assert [r.event_time for r in ordered] == ["a0", "a1", "a2", "b0"]


def test_envelope_keeps_the_event_bytes() -> None:
    event_json = '{"eventTime": "2026-01-01T00:00:00+00:00", "run": {"runId": "r"}}'
    record = parse_line(envelope_line({"session": "s", "seq": 3}, event_json), 0)
    assert record.event == json.loads(event_json) and record.seq == 3 and record.run_id == "r"
    assert record.line.endswith('"event":' + event_json + "}")


def test_redaction_of_urls_tokens_and_known_secrets() -> None:
    redact = Redactor(["my-api-key-123"])
    text = ("503 Server Error for url: http://alice:pa55word@marquez:5000/api/v1/lineage?token=abc "
            "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload sent my-api-key-123")
    out = redact(text)
    for secret in ("alice", "pa55word", "token=abc", "eyJhbGciOiJIUzI1NiJ9", "my-api-key-123"):
        assert secret not in out
    assert "http://marquez:5000/api/v1/lineage" in out
    assert redact_text("nothing secret here") == "nothing secret here"


def test_secrets_are_found_in_transport_configs() -> None:
    from openlineage.client.transport.http import HttpConfig

    config = HttpConfig.from_dict({
        "url": "https://bob:hunter22@datahub.example/", "endpoint": "openapi/openlineage/api/v1/lineage",
        "auth": {"type": "api_key", "apiKey": "dh-token-42"}, "custom_headers": {"X-Api-Key": "hdr-secret"}})
    found = set(secrets_of(config))
    assert {"dh-token-42", "hdr-secret", "hunter22"} <= found
