"""The benchmarked pandas operations and the parquet data they run on.

Imported by the measured worker under every condition's interpreter, so it needs only pandas and numpy.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

Frames = dict[str, pd.DataFrame]
Op = Callable[[Frames], Any]

N_STORES = 100
CATEGORIES = ("books", "food", "garden", "home", "music", "office", "sport", "tools", "toys", "travel")


# --------------------------------------------------------------------------------------------------------
# Data: the "orders" fact table, a "stores" dimension, and an "orders_extra" batch to concatenate.
# --------------------------------------------------------------------------------------------------------

def make_orders(rows: int, seed: int, id_offset: int = 0) -> pd.DataFrame:
    """A fact table of `rows` orders with ints, floats with ~5% NaN, a string column and a timestamp."""
    rng = np.random.default_rng(seed)
    price = rng.uniform(1.0, 100.0, rows)
    price[rng.random(rows) < 0.05] = np.nan
    discount = rng.uniform(0.0, 0.3, rows)
    discount[rng.random(rows) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "id": np.arange(id_offset, id_offset + rows, dtype="int64"),
            "store": rng.integers(0, N_STORES, rows, dtype="int64"),
            "qty": rng.integers(0, 100, rows, dtype="int64"),
            "price": price,
            "discount": discount,
            "category": np.asarray(CATEGORIES, dtype=object)[rng.integers(0, len(CATEGORIES), rows)],
            "ts": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 86400 * 365, rows), unit="s"),
        }
    )


def make_stores() -> pd.DataFrame:
    """The store dimension joined by `merge`: one row per store id."""
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "store": np.arange(N_STORES, dtype="int64"),
            "region": np.asarray(["north", "south", "east", "west"], dtype=object)[np.arange(N_STORES) % 4],
            "floor_m2": rng.uniform(100.0, 5000.0, N_STORES),
        }
    )


def make_wide(rows: int, columns: int, seed: int) -> pd.DataFrame:
    """A frame with a join key `k` plus `columns` float columns c0..c{n-1} (a few NaN in c0)."""
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((rows, columns))
    values[rng.random(rows) < 0.01, 0] = np.nan
    frame = pd.DataFrame(values, columns=[f"c{i}" for i in range(columns)])
    frame.insert(0, "k", rng.integers(0, N_STORES, rows, dtype="int64"))
    return frame


def make_wide_dim() -> pd.DataFrame:
    """The small dimension joined to the wide frames on `k`."""
    return pd.DataFrame({"k": np.arange(N_STORES, dtype="int64"), "label": [f"k{i}" for i in range(N_STORES)]})


def data_files(cache: Path, rows: int) -> dict[str, Path]:
    """Where the parquet files for the orders data set of `rows` rows live."""
    base = cache / "data"
    return {
        "df": base / f"orders_{rows}.parquet",
        "extra": base / f"orders_extra_{rows}.parquet",
        "stores": base / "stores.parquet",
    }


def wide_files(cache: Path, rows: int, columns: int) -> dict[str, Path]:
    """Where the parquet files for the wide data set of `rows` x `columns` live."""
    base = cache / "data"
    return {"df": base / f"wide_{rows}x{columns}.parquet", "dim": base / "wide_dim.parquet"}


def write_data(cache: Path, rows: int) -> dict[str, Path]:
    """Write the orders data set for `rows` rows (skipping files that exist) and return the paths."""
    files = data_files(cache, rows)
    files["df"].parent.mkdir(parents=True, exist_ok=True)
    if not files["df"].exists():
        _atomic_parquet(make_orders(rows, seed=rows), files["df"])
    if not files["extra"].exists():
        _atomic_parquet(make_orders(max(rows // 10, 1), seed=rows + 1, id_offset=rows), files["extra"])
    if not files["stores"].exists():
        _atomic_parquet(make_stores(), files["stores"])
    return files


def write_wide(cache: Path, rows: int, columns: int) -> dict[str, Path]:
    """Write the wide data set (skipping files that exist) and return the paths."""
    files = wide_files(cache, rows, columns)
    files["df"].parent.mkdir(parents=True, exist_ok=True)
    if not files["df"].exists():
        _atomic_parquet(make_wide(rows, columns, seed=rows * 7 + columns), files["df"])
    if not files["dim"].exists():
        _atomic_parquet(make_wide_dim(), files["dim"])
    return files


def _atomic_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write via a per-process temporary name, so concurrent harness runs never see half a file."""
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)


def load(files: dict[str, Path]) -> Frames:
    """Read every file with `pd.read_parquet` (looked up at call time, so a patched reader sees it)."""
    return {name: pd.read_parquet(path) for name, path in files.items()}


# --------------------------------------------------------------------------------------------------------
# The 13 operations on the orders data.  Each takes the loaded frames and returns the result (discarded).
# --------------------------------------------------------------------------------------------------------

def op_dropna(f: Frames) -> Any:
    return f["df"].dropna()


def op_fillna(f: Frames) -> Any:
    return f["df"].fillna({"price": 0.0, "discount": 0.0})


def op_assign_lambda(f: Frames) -> Any:
    return f["df"].assign(revenue=lambda d: d["price"] * d["qty"])


def op_filter_mask(f: Frames) -> Any:
    df = f["df"]
    return df[df["price"] > 50.0]


def op_select_columns(f: Frames) -> Any:
    return f["df"][["id", "store", "price"]]


def op_merge(f: Frames) -> Any:
    return f["df"].merge(f["stores"], on="store", how="left")


def op_groupby_agg(f: Frames) -> Any:
    return f["df"].groupby("store").agg(total_qty=("qty", "sum"), mean_price=("price", "mean"))


def op_sort_values(f: Frames) -> Any:
    return f["df"].sort_values("price")


def op_rename(f: Frames) -> Any:
    return f["df"].rename(columns={"qty": "quantity"})


def op_astype(f: Frames) -> Any:
    return f["df"].astype({"qty": "float64"})


def op_drop_duplicates(f: Frames) -> Any:
    return f["df"].drop_duplicates(subset=["store", "category"])


def op_concat(f: Frames) -> Any:
    return pd.concat([f["df"], f["extra"]], ignore_index=True)


def op_query(f: Frames) -> Any:
    return f["df"].query("price > 50 and qty < 20")


OPS: dict[str, Op] = {
    "dropna": op_dropna,
    "fillna": op_fillna,
    "assign_lambda": op_assign_lambda,
    "filter_mask": op_filter_mask,
    "select_columns": op_select_columns,
    "merge": op_merge,
    "groupby_agg": op_groupby_agg,
    "sort_values": op_sort_values,
    "rename": op_rename,
    "astype": op_astype,
    "drop_duplicates": op_drop_duplicates,
    "concat": op_concat,
    "query": op_query,
}


# --------------------------------------------------------------------------------------------------------
# Operations on the wide frames, for lineage cost as a function of the column count.
# --------------------------------------------------------------------------------------------------------

def _half(f: Frames) -> list[str]:
    cols = list(f["df"].columns)
    return cols[: max(len(cols) // 2, 2)]


def wide_select(f: Frames) -> Any:
    return f["df"][_half(f)]


def wide_rename(f: Frames) -> Any:
    return f["df"].rename(columns={"c0": "first"})


def wide_assign_lambda(f: Frames) -> Any:
    return f["df"].assign(total=lambda d: d["c0"] + d["c1"])


def wide_astype(f: Frames) -> Any:
    return f["df"].astype({"k": "float64"})


def wide_dropna(f: Frames) -> Any:
    return f["df"].dropna()


def wide_merge(f: Frames) -> Any:
    return f["df"].merge(f["dim"], on="k", how="left")


def wide_groupby_agg(f: Frames) -> Any:
    return f["df"].groupby("k").agg(s0=("c0", "sum"), m1=("c1", "mean"))


def wide_concat(f: Frames) -> Any:
    return pd.concat([f["df"], f["df"]], ignore_index=True)


WIDE_OPS: dict[str, Op] = {
    "select_half": wide_select,
    "rename": wide_rename,
    "assign_lambda": wide_assign_lambda,
    "astype": wide_astype,
    "dropna": wide_dropna,
    "merge": wide_merge,
    "groupby_agg": wide_groupby_agg,
    "concat": wide_concat,
}
