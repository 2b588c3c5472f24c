"""A California-housing price model, written as plain pandas + scikit-learn with no lineage code at all.

Run it with `openlineage-pandas run examples/housing/pipeline.py` to get OpenLineage events for every step.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split

HERE = Path(__file__).parent
FEATURES = ["median_income", "housing_median_age", "rooms_per_household", "bedrooms_per_room",
            "population_per_household", "latitude", "longitude"]
TARGET = "median_house_value"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=HERE / "data" / "housing.csv")
    parser.add_argument("--out", type=Path, default=HERE / "out")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    raw = pd.read_csv(args.data)
    clean = raw.dropna(subset=["total_bedrooms"])
    clean = clean.query("households > 0 and population < 35000")
    clean = clean[clean["median_house_value"] < 500001]  # capped values are censored, drop them
    features = clean.assign(
        rooms_per_household=lambda d: d["total_rooms"] / d["households"],
        bedrooms_per_room=lambda d: d["total_bedrooms"] / d["total_rooms"],
        population_per_household=lambda d: d["population"] / d["households"],
    )
    table = features[[*FEATURES, TARGET]]

    X_train, X_test, y_train, y_test = train_test_split(
        table[FEATURES], table[TARGET], test_size=0.2, random_state=0)
    model = Ridge(alpha=1.0).fit(X_train, y_train)
    predictions = X_test.assign(predicted_value=model.predict(X_test), actual_value=y_test)

    predictions.to_csv(args.out / "predictions.csv", index=False)
    table.to_parquet(args.out / "features.parquet", index=False)
    joblib.dump(model, args.out / "model.joblib")

    rmse = float(np.sqrt(np.mean((predictions["predicted_value"] - predictions["actual_value"]) ** 2)))
    print(f"trained on {len(X_train):,} rows, tested on {len(X_test):,}; RMSE {rmse:,.0f}")


if __name__ == "__main__":
    main()
