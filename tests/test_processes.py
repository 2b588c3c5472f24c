"""Forked children stay silent: they never duplicate or corrupt the parent's run."""

from __future__ import annotations

import multiprocessing
import os

import pandas as pd


def _child_work(path: str) -> int:
    frame = pd.read_csv(path)
    frame.to_csv(path + f".child{os.getpid()}.csv", index=False)
    return len(frame)


def test_fork_children_do_not_emit_into_the_parent_run(tracking, tmp_path):
    src = tmp_path / "in.csv"
    pd.DataFrame({"a": range(10)}).to_csv(src, index=False)
    tracking.enable()
    frame = pd.read_csv(src)
    with multiprocessing.get_context("fork").Pool(2) as pool:
        assert pool.map(_child_work, [str(src)] * 4) == [10] * 4
    frame.to_csv(tmp_path / "parent.csv", index=False)
    tracking.disable()
    events = tracking.events()
    assert len({e["run"]["runId"] for e in events}) == 1
    assert [e["eventType"] for e in events] == ["START", "RUNNING", "COMPLETE"]
    assert [o["name"] for o in events[-1]["outputs"]] == [str(tmp_path / "parent.csv")]
    tracking.check()
