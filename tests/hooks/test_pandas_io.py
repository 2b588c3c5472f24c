"""Every pandas reader/writer format and call form yields the right datasets and facets, with results
identical to untracked pandas."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from support import inputs_of, lineage_edges, outputs_of, schema_names

FRAME = pd.DataFrame({"id": [1, 2, 3], "city": ["a", "b", "c"], "price": [1.5, 2.5, np.nan]})

# format -> (file suffix, writer(frame, path), {call-form name: reader(path)})
WRITE: dict[str, Callable[[pd.DataFrame, Path], Any]] = {
    "csv": lambda df, p: df.to_csv(path_or_buf=p, index=False),
    "text": lambda df, p: df.to_csv(p, sep="\t", index=False),
    "parquet": lambda df, p: df.to_parquet(path=p, index=False),
    "json": lambda df, p: df.to_json(path_or_buf=p, orient="records"),
    "excel": lambda df, p: df.to_excel(excel_writer=p, index=False),
    "pickle": lambda df, p: df.to_pickle(path=p),
    "feather": lambda df, p: df.to_feather(path=p),
}
SUFFIX = {"csv": "csv", "text": "tsv", "parquet": "parquet", "json": "json", "excel": "xlsx", "pickle": "pkl",
          "feather": "feather"}
READ: dict[str, dict[str, Callable[[Path], pd.DataFrame]]] = {
    "csv": {
        "positional-str": lambda p: pd.read_csv(str(p)),
        "positional-path": lambda p: pd.read_csv(p),
        "keyword": lambda p: pd.read_csv(filepath_or_buffer=p),
        "kwargs": lambda p: pd.read_csv(**{"filepath_or_buffer": str(p), "usecols": None}),
        "file-handle": lambda p: pd.read_csv(open(p)),
    },
    "text": {"positional": lambda p: pd.read_table(p), "keyword": lambda p: pd.read_table(filepath_or_buffer=p)},
    "parquet": {"positional": lambda p: pd.read_parquet(p), "keyword": lambda p: pd.read_parquet(path=p),
                "file-handle": lambda p: pd.read_parquet(open(p, "rb"))},
    "json": {"positional": lambda p: pd.read_json(p, orient="records"),
             "keyword": lambda p: pd.read_json(path_or_buf=p, orient="records")},
    "excel": {"positional": lambda p: pd.read_excel(p), "keyword": lambda p: pd.read_excel(io=p)},
    "pickle": {"positional": lambda p: pd.read_pickle(p),
               "keyword": lambda p: pd.read_pickle(filepath_or_buffer=p)},
    "feather": {"positional": lambda p: pd.read_feather(p), "keyword": lambda p: pd.read_feather(path=p)},
}
CASES = [(fmt, form) for fmt, forms in READ.items() for form in forms]
EXPECTED_FORMAT = {"text": "text"}


@pytest.mark.parametrize(("fmt", "form"), CASES, ids=[f"{f}-{c}" for f, c in CASES])
def test_read_then_write_gives_datasets_with_schema_stats_and_identity_lineage(tracking, tmp_path, fmt, form):
    source = tmp_path / f"source.{SUFFIX[fmt]}"
    WRITE[fmt](FRAME, source)  # written before tracking: not part of the run
    untracked = READ[fmt][form](source)

    tracking.enable()
    tracked = READ[fmt][form](source)
    out = tmp_path / f"out.{SUFFIX[fmt]}"
    WRITE[fmt](tracked, out)
    tracking.disable()

    pd.testing.assert_frame_equal(tracked, untracked)
    events = tracking.events()
    assert [e["eventType"] for e in events] == ["START", "RUNNING", "COMPLETE"]
    final = events[-1]
    inp = inputs_of(final)[str(source)]
    assert inp["namespace"] == "file"
    assert schema_names(inp) == ["id", "city", "price"]
    assert inp["facets"]["storage"]["fileFormat"] == fmt
    assert inp["inputFacets"]["inputStatistics"]["rowCount"] == 3
    assert inp["inputFacets"]["inputStatistics"]["size"] == source.stat().st_size
    output = outputs_of(final)[str(out)]
    assert schema_names(output) == ["id", "city", "price"]
    assert output["outputFacets"]["outputStatistics"] == {
        **output["outputFacets"]["outputStatistics"], "rowCount": 3, "size": out.stat().st_size}
    types = {f["name"]: f["type"] for f in output["facets"]["schema"]["fields"]}
    assert types == {"id": "long", "city": "string", "price": "double"}
    edges = lineage_edges(output)
    for column in ("id", "city", "price"):
        assert (column, str(source), column, "DIRECT", "IDENTITY") in edges
    tracking.check()


@pytest.mark.parametrize("writer", ["to_csv", "to_json", "to_pickle", "to_excel"])
def test_series_writers_make_an_output_with_the_series_name(tracking, tmp_path, writer):
    source = tmp_path / "s.csv"
    FRAME.to_csv(source, index=False)
    tracking.enable()
    series = pd.read_csv(source)["price"]
    target = tmp_path / f"series.{'xlsx' if writer == 'to_excel' else 'out'}"
    getattr(series, writer)(target)
    tracking.disable()
    final = tracking.last()
    assert schema_names(outputs_of(final)[str(target)]) == ["price"]
    tracking.check()


def test_module_level_to_pickle_and_read_pickle(tracking, tmp_path):
    path = tmp_path / "frame.pkl"
    tracking.enable()
    pd.to_pickle(FRAME, path)
    back = pd.read_pickle(path)
    tracking.disable()
    pd.testing.assert_frame_equal(back, FRAME)
    final = tracking.last()
    assert str(path) in outputs_of(final) and str(path) in inputs_of(final)


def test_in_memory_buffers_are_not_datasets_but_are_logged(tracking):
    """Documented behaviour: BytesIO/StringIO have no name, so they are no dataset; the op log says so."""
    tracking.enable()
    buffer = io.StringIO()
    FRAME.to_csv(buffer, index=False)
    buffer.seek(0)
    back = pd.read_csv(buffer)
    as_text = FRAME.to_csv(index=False)  # no target at all: returns a string
    tracking.disable()
    assert as_text == buffer.getvalue()
    pd.testing.assert_frame_equal(back, FRAME)
    final = tracking.last()
    assert final["inputs"] == [] and final["outputs"] == []
    ops = [op["operation"] for op in final["run"]["facets"]["pandas_operationLog"]["operations"]]
    assert "DataFrame.to_csv(<in-memory buffer>)" in ops and "pandas.read_csv(<in-memory buffer>)" in ops


def test_fsspec_url_becomes_a_dataset_named_by_its_protocol(tracking):
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    fs.pipe("/bucket/data.csv", FRAME.to_csv(index=False).encode())
    tracking.enable()
    frame = pd.read_csv("memory://bucket/data.csv")
    frame.to_parquet("memory://bucket/out.parquet")
    tracking.disable()
    final = tracking.last()
    (inp,) = final["inputs"]
    assert (inp["namespace"], inp["name"]) == ("memory://bucket", "/data.csv")
    (out,) = final["outputs"]
    assert (out["namespace"], out["name"]) == ("memory://bucket", "/out.parquet")
    tracking.check()


def test_excel_with_all_sheets_is_one_dataset(tracking, tmp_path):
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as writer:
        FRAME.to_excel(writer, sheet_name="one", index=False)
        FRAME[["id"]].to_excel(writer, sheet_name="two", index=False)
    tracking.enable()
    sheets = pd.read_excel(path, sheet_name=None)
    tracking.disable()
    assert set(sheets) == {"one", "two"}
    (inp,) = tracking.last()["inputs"]
    assert schema_names(inp) == ["id", "city", "price"]


def test_odd_frames_still_produce_valid_events(tracking, tmp_path):
    """MultiIndex columns, duplicate and non-string names, empty frames, and a wide schema."""
    multi = pd.DataFrame(np.arange(6).reshape(2, 3),
                         columns=pd.MultiIndex.from_tuples([("a", "x"), ("a", "y"), ("b", "x")]))
    dupes = pd.DataFrame([[1, 2, 3]], columns=["v", "v", 7])
    empty = pd.DataFrame()
    wide = pd.DataFrame(np.zeros((2, 2000)), columns=[f"c{i}" for i in range(2000)])
    tracking.enable()
    multi.to_pickle(tmp_path / "multi.pkl")
    dupes.to_csv(tmp_path / "dupes.csv", index=False)
    empty.to_csv(tmp_path / "empty.csv", index=False)
    wide.to_parquet(tmp_path / "wide.parquet")
    back = pd.read_parquet(tmp_path / "wide.parquet")
    back.to_csv(tmp_path / "wide.csv", index=False)
    tracking.disable()
    outs = outputs_of(tracking.last())
    assert schema_names(outs[str(tmp_path / "multi.pkl")]) == ["a.x", "a.y", "b.x"]
    assert schema_names(outs[str(tmp_path / "dupes.csv")]) == ["v", "7"]
    assert schema_names(outs[str(tmp_path / "empty.csv")]) == []
    assert len(lineage_edges(outs[str(tmp_path / "wide.csv")])) == 2000
    tracking.check()


def test_chunked_csv_reading_declares_the_input(tracking, tmp_path):
    path = tmp_path / "big.csv"
    FRAME.to_csv(path, index=False)
    tracking.enable()
    chunks = list(pd.read_csv(path, chunksize=2))
    tracking.disable()
    assert sum(len(c) for c in chunks) == 3
    assert str(path) in inputs_of(tracking.last())


def test_named_index_levels_are_fields_of_written_and_read_files(tracking, tmp_path):
    source = tmp_path / "sales.csv"
    pd.DataFrame({"region": ["n", "s", "n"], "amount": [1.0, 2.0, 3.0]}).to_csv(source, index=False)
    tracking.enable()
    totals = pd.read_csv(source).groupby("region").sum()
    totals.to_csv(tmp_path / "totals.csv")                      # writes `region` as a column
    totals.to_csv(tmp_path / "no_index.csv", index=False)       # does not
    by_region = pd.read_csv(tmp_path / "totals.csv", index_col="region")
    by_region.to_parquet(tmp_path / "again.parquet")
    tracking.disable()
    final = tracking.last()
    outs = outputs_of(final)
    assert schema_names(outs[str(tmp_path / "totals.csv")]) == ["region", "amount"]
    assert schema_names(outs[str(tmp_path / "no_index.csv")]) == ["amount"]
    assert ("region", str(source), "region", "DIRECT", "IDENTITY") in lineage_edges(outs[str(tmp_path / "totals.csv")])
    assert schema_names(inputs_of(final)[str(tmp_path / "totals.csv")]) == ["region", "amount"]
    again = outs[str(tmp_path / "again.parquet")]
    assert ("region", str(tmp_path / "totals.csv"), "region", "DIRECT", "IDENTITY") in lineage_edges(again)
    tracking.check()
