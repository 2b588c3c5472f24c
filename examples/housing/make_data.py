"""Writes a synthetic California-housing-style CSV (the usual ten columns, some missing bedrooms).

Nothing is downloaded; the same seed gives the same file. Run untracked, before the pipeline.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

OCEAN = np.array(["<1H OCEAN", "INLAND", "NEAR OCEAN", "NEAR BAY", "ISLAND"])


def synthesize(rows: int, seed: int = 42) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    longitude = rng.uniform(-124.35, -114.31, rows).round(2)
    latitude = rng.uniform(32.54, 41.95, rows).round(2)
    age = rng.integers(1, 53, rows).astype(float)
    households = rng.gamma(4.0, 120.0, rows).round().clip(1, None)
    rooms = (households * rng.normal(5.3, 1.2, rows)).round().clip(2, None)
    bedrooms = (rooms * rng.normal(0.21, 0.03, rows)).round().clip(1, None)
    population = (households * rng.normal(2.9, 0.6, rows)).round().clip(3, None)
    income = rng.lognormal(1.25, 0.45, rows).round(4).clip(0.5, 15.0)
    proximity = OCEAN[rng.choice(5, rows, p=[0.44, 0.32, 0.13, 0.109, 0.001])]
    coastal = np.isin(proximity, ["NEAR OCEAN", "NEAR BAY", "<1H OCEAN"]).astype(float)
    value = (45000 * income + 30000 * coastal - 900 * age + rng.normal(0, 40000, rows) + 60000).clip(14999, 500001)
    frame = pd.DataFrame({
        "longitude": longitude, "latitude": latitude, "housing_median_age": age, "total_rooms": rooms,
        "total_bedrooms": bedrooms, "population": population, "households": households,
        "median_income": income, "median_house_value": value.round(), "ocean_proximity": proximity,
    })
    missing = rng.random(rows) < 0.01  # ~1% missing bedrooms, as in the real data set
    frame.loc[missing, "total_bedrooms"] = np.nan
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data" / "housing.csv")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    synthesize(args.rows, args.seed).to_csv(args.out, index=False)
    print(f"wrote {args.rows:,} rows to {args.out}")


if __name__ == "__main__":
    main()
