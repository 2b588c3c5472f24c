"""Facet builders: DataHub type names, source-code location without credentials, column-lineage filtering."""

from __future__ import annotations

import subprocess

import numpy as np
import pandas as pd
import pytest

from openlineage_pandas.events import facets as F
from openlineage_pandas.provenance.model import (
    FILTER_T,
    IDENTITY_T,
    TRANSFORMATION_T,
    FrameLineage,
    SourceField,
    Transform,
)


@pytest.mark.parametrize(("values", "expected"), [
    (pd.Series([1, 2], dtype="int64"), "long"),
    (pd.Series([1, 2], dtype="int32"), "int"),
    (pd.Series([1, 2], dtype="uint8"), "long"),
    (pd.Series([1, 2], dtype="Int64"), "long"),
    (pd.Series([1.0], dtype="float64"), "double"),
    (pd.Series([1.0], dtype="float32"), "float"),
    (pd.Series([True]), "boolean"),
    (pd.Series([True], dtype="boolean"), "boolean"),
    (pd.Series(["a"], dtype="string"), "string"),
    (pd.Series(["a"], dtype=object), "string"),
    (pd.Series(["a"], dtype="category"), "string"),
    (pd.Series(pd.to_datetime(["2024-01-01"])), "timestamp"),
    (pd.Series(pd.to_datetime(["2024-01-01"]).tz_localize("UTC")), "timestamp"),
    (pd.Series(pd.to_timedelta(["1D"])), "long"),
])
def test_datahub_type_names(values, expected):
    assert F.datahub_type(values.dtype) == expected


def test_numpy_dtypes_map_too():
    assert F.datahub_type(np.dtype("int64")) == "long"
    assert F.datahub_type(np.dtype("S3")) == "binary"
    assert F.datahub_type(np.dtype("complex128")) == "string"


def _git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_source_code_location_strips_credentials_and_reports_dirty(tmp_path):
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "config", "user.email", "t@example.com")
    _git(tmp_path, "config", "user.name", "t")
    _git(tmp_path, "remote", "add", "origin", "https://alice:s3cret@github.com/acme/pipes.git")
    script = tmp_path / "jobs" / "train.py"
    script.parent.mkdir()
    script.write_text("print(1)\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "init")
    facet = F.source_code_location.__wrapped__(str(script))
    data = facet.__dict__ if hasattr(facet, "__dict__") else {}
    assert facet.repoUrl == "https://github.com/acme/pipes.git"
    assert "s3cret" not in facet.url and facet.url.startswith("https://github.com/acme/pipes/blob/")
    assert facet.path == "jobs/train.py" and facet.branch == "main" and len(facet.version) == 40
    assert getattr(facet, "dirty", data.get("dirty")) is False
    script.write_text("print(2)\n")
    assert F.source_code_location.__wrapped__(str(script)).dirty is True


def test_ssh_remotes_become_https():
    assert F._https_repo_url("git@github.com:acme/pipes.git") == "https://github.com/acme/pipes.git"
    assert F._https_repo_url("ssh://git@gitlab.com:22/acme/pipes.git") == "https://gitlab.com/acme/pipes.git"


def test_column_lineage_keeps_only_resolvable_fields_and_summarises_for_marquez():
    src = SourceField("file", "/in.csv", "a")
    other = SourceField("file", "/in.csv", "b")
    unknown = SourceField("file", "/elsewhere.csv", "z")
    lineage = FrameLineage(
        columns={"a": {src: frozenset({IDENTITY_T})}, "ab": {src: frozenset({TRANSFORMATION_T}),
                                                              other: frozenset({IDENTITY_T})},
                 "ghost": {unknown: frozenset({IDENTITY_T})}, "not_in_schema": {src: frozenset({IDENTITY_T})}},
        dataset={other: frozenset({FILTER_T})},
    )
    facet = F.column_lineage_facet(lineage, ["a", "ab", "ghost"], {("file", "/in.csv"): {"a", "b"}})
    assert facet is not None
    assert set(facet.fields) == {"a", "ab"}
    assert facet.fields["a"].transformationType == "IDENTITY"
    assert facet.fields["ab"].transformationType == "TRANSFORMATION"
    assert [(d.field, d.transformations[0].subtype) for d in facet.dataset] == [("b", "FILTER")]


def test_masking_is_reported_as_masked_for_marquez():
    src = SourceField("file", "/in.csv", "email")
    lineage = FrameLineage({"n": {src: frozenset({Transform("DIRECT", "AGGREGATION", masking=True)})}})
    facet = F.column_lineage_facet(lineage, ["n"], {("file", "/in.csv"): {"email"}})
    assert facet.fields["n"].transformationType == "MASKED"
    assert facet.fields["n"].inputFields[0].transformations[0].masking is True


def test_operation_log_facet_matches_its_published_schema(tracking, tmp_path):
    import json

    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from support import REPO, SHARED

    spec = json.loads((SHARED / "openlineage-spec" / "OpenLineage.json").read_text())
    ours = json.loads((REPO / "docs" / "schemas" / "OperationLogRunFacet.json").read_text())
    registry = Registry().with_resources([(spec["$id"], Resource.from_contents(spec)),
                                          (ours["$id"], Resource.from_contents(ours))])
    tracking.enable()
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "x.csv")
    tracking.disable()
    facet = tracking.last()["run"]["facets"]["pandas_operationLog"]
    assert facet["_schemaURL"].split("#")[0] == ours["$id"]
    validator = Draft202012Validator({"$ref": facet["_schemaURL"]}, registry=registry)
    assert list(validator.iter_errors(facet)) == []
