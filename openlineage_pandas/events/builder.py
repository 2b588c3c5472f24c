"""Assembles a RunEvent for a Run at one point of its lifecycle, with the full inputs and outputs known so far.

Marquez hides a job's edges when an event lists fewer datasets, so every event repeats them all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, RunEvent, RunState
from openlineage.client.event_v2 import Run as OLRun

from openlineage_pandas.events import facets as F

if TYPE_CHECKING:
    from openlineage_pandas.run import DatasetRecord, RunSnapshot


def _dataset_facets(record: DatasetRecord) -> dict[str, Any]:
    namespace = record.ref.namespace
    out: dict[str, Any] = {
        "schema": F.schema_facet(F.schema_fields_from_dtypes(record.columns)),
        "dataSource": F.datasource_facet(namespace),
        "storage": F.storage_facet(namespace, record.file_format),
    }
    out.update((key, F.from_spec(value)) for key, value in record.extra_facets.items())
    return out


def _input(record: DatasetRecord) -> InputDataset:
    input_facets: dict[str, Any] = {}
    if record.row_count is not None or record.size_bytes is not None:
        input_facets["inputStatistics"] = F.input_statistics(record.row_count, record.size_bytes)
    return InputDataset(namespace=record.ref.namespace, name=record.ref.name, facets=_dataset_facets(record),
                        inputFacets=input_facets or None)


def _output(record: DatasetRecord, known_inputs: dict[tuple[str, str], set[str]]) -> OutputDataset:
    dataset_facets = _dataset_facets(record)
    if record.lineage is not None:
        facet = F.column_lineage_facet(record.lineage, record.field_names, known_inputs)
        if facet is not None:
            dataset_facets["columnLineage"] = facet
    output_facets: dict[str, Any] = {}
    if record.row_count is not None or record.size_bytes is not None:
        output_facets["outputStatistics"] = F.output_statistics(record.row_count, record.size_bytes)
    return OutputDataset(namespace=record.ref.namespace, name=record.ref.name, facets=dataset_facets,
                         outputFacets=output_facets or None)


def build_run_event(snap: RunSnapshot) -> RunEvent:
    """The RunEvent a run snapshot describes (START, RUNNING, COMPLETE or FAIL)."""
    known_inputs = {r.ref.key: set(r.field_names) for r in snap.inputs}
    run_facets: dict[str, Any] = {"processing_engine": F.processing_engine()}
    if snap.parent is not None:
        run_facets["parent"] = F.parent_facet(*snap.parent, root=snap.root)
    if snap.operations or snap.total_operations:
        run_facets["pandas_operationLog"] = F.OperationLogRunFacet(
            operations=list(snap.operations), totalOperations=snap.total_operations,
            truncated=snap.total_operations > len(snap.operations), producer=F.PRODUCER)
    if snap.error_message is not None:
        run_facets["errorMessage"] = F.error_message(snap.error_message, snap.stack_trace)

    job_facets: dict[str, Any] = {"jobType": F.job_type()}
    if snap.script_path and snap.source_code:
        scl = F.source_code_location(snap.script_path)
        if scl is not None:
            job_facets["sourceCodeLocation"] = scl

    return RunEvent(
        eventType=RunState[snap.event_type],
        eventTime=snap.event_time,
        run=OLRun(runId=snap.run_id, facets=run_facets),
        job=Job(namespace=snap.namespace, name=snap.job_name, facets=job_facets),
        producer=F.PRODUCER,
        inputs=[_input(r) for r in snap.inputs],
        outputs=[_output(r, known_inputs) for r in snap.outputs],
    )
