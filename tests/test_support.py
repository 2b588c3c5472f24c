"""The event checks used everywhere can fail: broken events are caught by both shared tools."""

from __future__ import annotations

import copy

import pytest
from support import check_events

GOOD = {
    "eventType": "COMPLETE", "eventTime": "2026-01-01T00:00:00+00:00", "producer": "https://example.com/p",
    "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    "run": {"runId": "01a2007e-b369-781e-9437-931d1e87eae0"}, "job": {"namespace": "default", "name": "j"},
    "inputs": [{"namespace": "file", "name": "/in.csv", "facets": {"schema": {
        "_producer": "https://example.com/p",
        "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
        "fields": [{"name": "a", "type": "long"}]}}}],
    "outputs": [],
}


def test_a_valid_event_passes():
    check_events([GOOD])


def test_an_invalid_event_fails():
    bad = copy.deepcopy(GOOD)
    bad["eventTime"] = "2026-01-01 00:00:00+0530"
    with pytest.raises(AssertionError):
        check_events([bad])


def test_column_lineage_that_marquez_would_drop_fails():
    bad = copy.deepcopy(GOOD)
    bad["outputs"] = [{"namespace": "file", "name": "/out.csv", "facets": {
        "schema": {**GOOD["inputs"][0]["facets"]["schema"], "fields": [{"name": "b", "type": "long"}]},
        "columnLineage": {
            "_producer": "https://example.com/p",
            "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet",
            "fields": {"b": {"inputFields": [{"namespace": "file", "name": "/in.csv", "field": "missing"}],
                             "transformationType": "IDENTITY", "transformationDescription": "x"}}}}}]
    with pytest.raises(AssertionError):
        check_events([bad])
