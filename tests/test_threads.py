"""8 threads x 1000 tracked operations: no crash, nothing lost, no cross-wired lineage: each thread's
outputs name that thread's input only."""

from __future__ import annotations

import threading

import pandas as pd
from support import inputs_of, lineage_edges, outputs_of

THREADS = 8
OPERATIONS_PER_THREAD = 1000


def test_threads_keep_their_own_lineage(tracking, tmp_path):
    sources = []
    for t in range(THREADS):
        path = tmp_path / f"in_{t}.csv"
        pd.DataFrame({"key": range(20), "value": [float(i) for i in range(20)], "label": ["x"] * 20}).to_csv(
            path, index=False)
        sources.append(path)
    tracking.enable()
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def work(t: int) -> None:
        try:
            frame = pd.read_csv(sources[t])
            barrier.wait()
            ops = 1
            while ops < OPERATIONS_PER_THREAD - 1:
                frame = frame[frame["value"] >= 0]                      # filter
                frame = frame.assign(value=lambda d: d["value"] + 1.0)  # transform
                frame = frame.rename(columns={"label": "tag"}).rename(columns={"tag": "label"})
                frame = frame.sort_values("key")
                ops += 5
            frame.to_csv(tmp_path / f"out_{t}.csv", index=False)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    tracking.disable()
    assert not errors

    events = tracking.events()
    final = events[-1]
    assert final["eventType"] == "COMPLETE"
    assert len(events) == 2 + THREADS  # START, one RUNNING per write, COMPLETE: none lost
    assert set(inputs_of(final)) == {str(p) for p in sources}
    outs = outputs_of(final)
    assert len(outs) == THREADS
    for t in range(THREADS):
        edges = lineage_edges(outs[str(tmp_path / f"out_{t}.csv")])
        assert {name for _, name, _, _, _ in edges} == {str(sources[t])}, f"thread {t} cross-wired"
        assert ("value", str(sources[t]), "value", "DIRECT", "TRANSFORMATION") in edges
        assert ("label", str(sources[t]), "label", "DIRECT", "IDENTITY") in edges
    log = final["run"]["facets"]["pandas_operationLog"]
    assert log["totalOperations"] >= THREADS * (OPERATIONS_PER_THREAD - 5) * 0.9
    tracking.check()
