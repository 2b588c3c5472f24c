"""scikit-learn through the real library: fit/predict/transformers/pipelines/splits/model files, on events.

Inputs are read from files (read_csv with usecols, read_pickle of a Series) so no other in-memory hook is needed.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.feature_selection import SelectKBest, f_regression
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, PolynomialFeatures, StandardScaler
from sklearn.svm import SVC
from support import REPO, SHARED, inputs_of, lineage_edges, outputs_of, schema_names

N = 40


@pytest.fixture
def data(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"a": rng.normal(size=N), "b": rng.normal(size=N),
                          "city": rng.choice(["A", "B", "C"], N), "extra": np.arange(N, dtype=float)})
    frame.loc[3, "a"] = np.nan
    price = 2 * frame["a"].fillna(0) - frame["b"] + (frame["city"] == "A") + rng.normal(size=N) * 0.1
    paths = {"train": tmp_path / "train.csv", "test": tmp_path / "test.csv", "price": tmp_path / "price.pkl",
             "label": tmp_path / "label.pkl"}
    frame.to_csv(paths["train"], index=False)
    frame.iloc[:10].to_csv(paths["test"], index=False)
    price.rename("price").to_pickle(paths["price"])
    (price > price.median()).astype(int).rename("label").to_pickle(paths["label"])
    return paths


def _X(paths: dict[str, Path], cols: list[str], key: str = "train") -> pd.DataFrame:
    return pd.read_csv(paths[key], usecols=cols)[cols]


def _run(tracking: Any, work: Any) -> tuple[Any, Any]:
    """`work()` untracked, then tracked; both results, for an equality check."""
    untracked = work()
    tracking.enable()
    tracked = work()
    tracking.disable()
    return untracked, tracked


def _edges(tracking: Any, path: Path, data: dict[str, Path]) -> set[tuple[str, str, str, str, str]]:
    stems = {str(p): p.name for p in data.values()}
    output = outputs_of(tracking.last())[str(path)]
    return {(o, stems.get(name, name), f, t, s) for o, name, f, t, s in lineage_edges(output)}


def _mixed(out: str, sources: list[str], file: str = "train.csv") -> set[tuple[str, str, str, str, str]]:
    return {(out, file, s, "DIRECT", "TRANSFORMATION") for s in sources}


LEARNED = ("price.pkl", "price", "INDIRECT", "CONDITIONAL")


def test_fit_predict_ground_truth(tracking, data, tmp_path):
    out, out_test = tmp_path / "pred.npy", tmp_path / "pred_test.npy"

    def work() -> tuple[np.ndarray, np.ndarray]:
        model = LinearRegression().fit(_X(data, ["a", "b"]).fillna(0), pd.read_pickle(data["price"]))
        pred = model.predict(_X(data, ["b", "extra"]).rename(columns={"extra": "a"})[["a", "b"]])
        np.save(out, pred)
        pred_test = model.predict(pd.read_csv(data["test"], usecols=["a", "b"]).fillna(0))
        np.save(out_test, pred_test)
        return pred, pred_test

    untracked, tracked = _run(tracking, work)
    np.testing.assert_array_equal(untracked[0], tracked[0])
    np.testing.assert_array_equal(untracked[1], tracked[1])
    final = tracking.last()
    # predictions on test.csv: DIRECT from the test features, INDIRECT from training target and features
    assert _edges(tracking, out_test, data) == {
        *_mixed("value", ["a", "b"], "test.csv"), ("value", *LEARNED),
        ("value", "train.csv", "a", "INDIRECT", "CONDITIONAL"), ("value", "train.csv", "b", "INDIRECT", "CONDITIONAL")}
    assert schema_names(outputs_of(final)[str(out_test)]) == ["value"]
    ops = [op["operation"] for op in final["run"]["facets"]["pandas_operationLog"]["operations"]]
    assert "sklearn.LinearRegression.fit" in ops and "sklearn.LinearRegression.predict" in ops
    tracking.check()


TRANSFORMERS = {
    "scaler": (lambda: StandardScaler(), ["a", "b"], False,
               {("a", "train.csv", "a", "DIRECT", "TRANSFORMATION"), ("b", "train.csv", "b", "DIRECT", "TRANSFORMATION")}),
    "onehot": (lambda: OneHotEncoder(sparse_output=False), ["city"], False,
               {(f"city_{c}", "train.csv", "city", "DIRECT", "TRANSFORMATION") for c in "ABC"}),
    "imputer": (lambda: SimpleImputer(add_indicator=True), ["a", "b"], False,
                {("a", "train.csv", "a", "DIRECT", "TRANSFORMATION"), ("b", "train.csv", "b", "DIRECT", "TRANSFORMATION"),
                 ("missingindicator_a", "train.csv", "a", "DIRECT", "TRANSFORMATION")}),
    "poly": (lambda: PolynomialFeatures(2, include_bias=False), ["b", "extra"], False,
             {("b", "train.csv", "b", "DIRECT", "TRANSFORMATION"), ("extra", "train.csv", "extra", "DIRECT", "TRANSFORMATION"),
              ("b^2", "train.csv", "b", "DIRECT", "TRANSFORMATION"), ("extra^2", "train.csv", "extra", "DIRECT", "TRANSFORMATION"),
              ("b extra", "train.csv", "b", "DIRECT", "TRANSFORMATION"),
              ("b extra", "train.csv", "extra", "DIRECT", "TRANSFORMATION")}),
    "pca": (lambda: PCA(n_components=2), ["b", "extra"], False,
            {*_mixed("pca0", ["b", "extra"]), *_mixed("pca1", ["b", "extra"])}),
    "selectkbest": (lambda: SelectKBest(f_regression, k=1), ["b", "extra"], True,
                    {("b", "train.csv", "b", "DIRECT", "IDENTITY"), ("b", *LEARNED)}),
}


@pytest.mark.parametrize("case", list(TRANSFORMERS))
def test_fitted_transformers_map_columns_by_feature_names(tracking, data, tmp_path, case):
    make, cols, supervised, expected = TRANSFORMERS[case]
    out = tmp_path / "xt.npy"

    def work() -> np.ndarray:
        X = _X(data, cols)
        y = pd.read_pickle(data["price"]) if supervised else None
        Xt = make().fit_transform(X, y) if supervised else make().fit(X).transform(X)
        np.save(out, Xt)
        return Xt

    untracked, tracked = _run(tracking, work)
    np.testing.assert_array_equal(untracked, tracked)
    assert _edges(tracking, out, data) == expected
    tracking.check()


def test_set_output_pandas_frames_carry_lineage(tracking, data, tmp_path):
    out = tmp_path / "scaled.csv"

    def work() -> pd.DataFrame:
        scaled = StandardScaler().set_output(transform="pandas").fit_transform(_X(data, ["b", "extra"]))
        scaled.to_csv(out, index=False)
        return scaled

    untracked, tracked = _run(tracking, work)
    pd.testing.assert_frame_equal(untracked, tracked)
    assert _edges(tracking, out, data) == {("b", "train.csv", "b", "DIRECT", "TRANSFORMATION"),
                                           ("extra", "train.csv", "extra", "DIRECT", "TRANSFORMATION")}
    tracking.check()


def _prep() -> ColumnTransformer:
    return ColumnTransformer([("num", Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())]), ["a", "b"]),
                              ("cat", OneHotEncoder(sparse_output=False), ["city"])], remainder="passthrough")


def test_column_transformer_and_pipeline_map_per_subset(tracking, data, tmp_path):
    out_ct, out_pca = tmp_path / "ct.npy", tmp_path / "pca.npy"

    def work() -> tuple[np.ndarray, np.ndarray]:
        X = _X(data, ["a", "b", "city", "extra"])
        Xt = _prep().fit_transform(X)
        np.save(out_ct, Xt)
        reduced = Pipeline([("prep", _prep()), ("pca", PCA(n_components=2))]).fit(X).transform(X)
        np.save(out_pca, reduced)
        return Xt, reduced

    untracked, tracked = _run(tracking, work)
    np.testing.assert_array_equal(untracked[0], tracked[0])
    np.testing.assert_allclose(untracked[1], tracked[1])
    assert _edges(tracking, out_ct, data) == {
        ("num__a", "train.csv", "a", "DIRECT", "TRANSFORMATION"), ("num__b", "train.csv", "b", "DIRECT", "TRANSFORMATION"),
        *{(f"cat__city_{c}", "train.csv", "city", "DIRECT", "TRANSFORMATION") for c in "ABC"},
        ("remainder__extra", "train.csv", "extra", "DIRECT", "IDENTITY")}
    everything = ["a", "b", "city", "extra"]
    assert _edges(tracking, out_pca, data) == {*_mixed("pca0", everything), *_mixed("pca1", everything)}
    tracking.check()


def test_pipeline_predictions_and_train_test_split(tracking, data, tmp_path):
    split_out, pred_out = tmp_path / "x_train.csv", tmp_path / "pred.npy"

    def work() -> tuple[pd.DataFrame, np.ndarray]:
        # imported here, as a script does after `import openlineage_pandas.auto`: a name bound before
        # tracking started is the unpatched function (documented)
        from sklearn.model_selection import train_test_split

        X = _X(data, ["a", "b", "city", "extra"])
        y = pd.read_pickle(data["price"])
        X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.25, random_state=0,
                                                       stratify=pd.read_pickle(data["label"]))
        X_train.to_csv(split_out, index=False)
        model = Pipeline([("prep", _prep()), ("model", Ridge(alpha=0.5))]).fit(X_train, y_train)
        pred = model.predict(X_test)
        np.save(pred_out, pred)
        return X_train, pred

    untracked, tracked = _run(tracking, work)
    pd.testing.assert_frame_equal(untracked[0], tracked[0])
    np.testing.assert_allclose(untracked[1], tracked[1])
    everything = ["a", "b", "city", "extra"]
    assert _edges(tracking, split_out, data) == {(c, "train.csv", c, "DIRECT", "IDENTITY") for c in everything}
    split_facet = outputs_of(tracking.last())[str(split_out)]["facets"]["columnLineage"]
    assert [(d["name"].rsplit("/", 1)[-1], d["field"], d["transformations"][0]["subtype"])
            for d in split_facet["dataset"]] == [("label.pkl", "label", "FILTER")]
    assert _edges(tracking, pred_out, data) == {*_mixed("value", everything), ("value", *LEARNED)}
    tracking.check()


def test_classifier_outputs_and_available_if_semantics(tracking, data, tmp_path):
    out = tmp_path / "proba.npy"

    def work() -> np.ndarray:
        clf = LogisticRegression().fit(_X(data, ["b", "extra"]), pd.read_pickle(data["label"]))
        proba = clf.predict_proba(_X(data, ["b", "extra"]))
        np.save(out, proba)
        return proba

    untracked, tracked = _run(tracking, work)
    np.testing.assert_array_equal(untracked, tracked)
    learned = ("label.pkl", "label", "INDIRECT", "CONDITIONAL")
    assert _edges(tracking, out, data) == {
        *(e for k in (0, 1) for e in (*_mixed(f"predict_proba_{k}", ["b", "extra"]), (f"predict_proba_{k}", *learned)))}
    tracking.check()

    tracking.enable()
    assert not hasattr(SVC(probability=False), "predict_proba")  # available_if still decides
    assert hasattr(SVC(probability=True), "predict_proba")
    assert not hasattr(Pipeline([("model", Ridge())]), "predict_proba")
    assert hasattr(Pipeline([("model", Ridge())]), "predict")
    tracking.disable()


def test_inverse_transform_maps_back(tracking, data, tmp_path):
    out = tmp_path / "back.npy"

    def work() -> np.ndarray:
        scaler = StandardScaler().fit(_X(data, ["b", "extra"]))
        back = scaler.inverse_transform(scaler.transform(_X(data, ["b", "extra"])))
        np.save(out, back)
        return back

    untracked, tracked = _run(tracking, work)
    np.testing.assert_array_equal(untracked, tracked)
    assert _edges(tracking, out, data) == {("b", "train.csv", "b", "DIRECT", "TRANSFORMATION"),
                                           ("extra", "train.csv", "extra", "DIRECT", "TRANSFORMATION")}


@pytest.mark.parametrize("how", ["joblib", "pickle"])
def test_model_file_names_features_and_target(tracking, data, tmp_path, how):
    path = tmp_path / f"model.{how}"
    tracking.enable()
    model = Pipeline([("prep", _prep()), ("model", Ridge(alpha=0.5))])
    model.fit(_X(data, ["a", "b", "city", "extra"]), pd.read_pickle(data["price"]))
    if how == "joblib":
        joblib.dump(model, path)
    else:
        with open(path, "wb") as fh:
            pickle.dump(model, fh)
    tracking.disable()

    final = tracking.last()
    output = outputs_of(final)[str(path)]
    assert schema_names(output) == ["price"]
    assert output["facets"]["storage"]["fileFormat"] == how
    everything = ["a", "b", "city", "extra"]
    assert _edges(tracking, path, data) == {*_mixed("price", everything), ("price", *LEARNED)}
    dataset = {(d["name"].rsplit("/", 1)[-1], d["field"], d["transformations"][0]["type"])
               for d in output["facets"]["columnLineage"]["dataset"]}
    assert dataset == {*(("train.csv", c, "INDIRECT") for c in everything), ("price.pkl", "price", "INDIRECT")}
    facet = output["facets"]["pandas_model"]
    assert facet["modelClass"] == "sklearn.pipeline.Pipeline"
    assert facet["featureNames"] == everything and facet["targetNames"] == ["price"]
    assert facet["hyperParameters"]["model__alpha"] == 0.5
    assert all(isinstance(v, (str, int, float, bool, type(None))) for v in facet["hyperParameters"].values())
    assert repr(float(model[-1].coef_[0]))[:8] not in json.dumps(final)  # no learned values
    _validate_model_facet(facet)
    assert {i["name"].rsplit("/", 1)[-1] for i in final["inputs"]} >= {"train.csv", "price.pkl"}
    tracking.check()


def test_transformer_model_file_and_untracked_estimator(tracking, data, tmp_path):
    fitted_before = Ridge().fit(_X(data, ["b", "extra"]), np.arange(N, dtype=float))
    tracking.enable()
    scaler = StandardScaler().fit(_X(data, ["b", "extra"]))
    joblib.dump(scaler, tmp_path / "scaler.joblib")
    joblib.dump(fitted_before, tmp_path / "old.joblib")
    tracking.disable()
    assert _edges(tracking, tmp_path / "scaler.joblib", data) == {
        ("b", "train.csv", "b", "DIRECT", "TRANSFORMATION"), ("extra", "train.csv", "extra", "DIRECT", "TRANSFORMATION")}
    old = outputs_of(tracking.last())[str(tmp_path / "old.joblib")]
    # fitted without provenance: linked by feature name to the run's inputs, and the facet still says what it is
    assert {(o, f, s) for o, _, f, _, s in lineage_edges(old)} == {("prediction", "b", "TRANSFORMATION"),
                                                                  ("prediction", "extra", "TRANSFORMATION")}
    assert old["facets"]["pandas_model"]["featureNames"] == ["b", "extra"]
    tracking.check()


def _validate_model_facet(facet: dict[str, Any]) -> None:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    spec = json.loads((SHARED / "openlineage-spec" / "OpenLineage.json").read_text())
    ours = json.loads((REPO / "docs" / "schemas" / "ModelDatasetFacet.json").read_text())
    registry = Registry().with_resources([(spec["$id"], Resource.from_contents(spec)),
                                          (ours["$id"], Resource.from_contents(ours))])
    assert facet["_schemaURL"].split("#")[0] == ours["$id"]
    validator = Draft202012Validator({"$ref": facet["_schemaURL"]}, registry=registry)
    assert list(validator.iter_errors(facet)) == []
    assert list(validator.iter_errors({**facet, "hyperParameters": {"x": [1]}}))  # the schema can fail


def test_estimator_classes_defined_while_tracking_are_patched_and_restored(tracking, data, tmp_path):
    from sklearn.utils._set_output import _SetOutputMixin

    originals = {"fit": LinearRegression.__dict__["fit"], "predict": Pipeline.__dict__["predict"],
                 "init_subclass": _SetOutputMixin.__dict__["__init_subclass__"]}
    tracking.enable()
    assert LinearRegression.__dict__["fit"] is not originals["fit"]

    class Doubler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
        def fit(self, X: Any, y: Any = None) -> Doubler:
            self.n_features_in_ = X.shape[1]
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
            return self

        def transform(self, X: Any) -> np.ndarray:
            return np.asarray(X, dtype=float) * 2

    doubled = Doubler().set_output(transform="pandas").fit_transform(_X(data, ["b", "extra"]))
    assert isinstance(doubled, pd.DataFrame)  # set_output still wraps the (patched) transform
    out = tmp_path / "doubled.csv"
    doubled.to_csv(out, index=False)
    tracking.disable()

    assert _edges(tracking, out, data) == {("b", "train.csv", "b", "DIRECT", "TRANSFORMATION"),
                                           ("extra", "train.csv", "extra", "DIRECT", "TRANSFORMATION")}
    assert LinearRegression.__dict__["fit"] is originals["fit"]
    assert Pipeline.__dict__["predict"] is originals["predict"]
    assert _SetOutputMixin.__dict__["__init_subclass__"] is originals["init_subclass"]
    assert not hasattr(Doubler.__dict__["transform"], "__openlineage_pandas_original__")
    assert isinstance(Doubler().set_output(transform="pandas").fit_transform(_X(data, ["b"])), pd.DataFrame)
    tracking.check()


def test_inputs_of_the_run_are_declared(tracking, data, tmp_path):
    tracking.enable()
    model = Ridge().fit(_X(data, ["b", "extra"]), pd.read_pickle(data["price"]))
    joblib.dump(model, tmp_path / "m.joblib")
    tracking.disable()
    names = {Path(n).name for n in inputs_of(tracking.last())}
    assert names == {"train.csv", "price.pkl"}
