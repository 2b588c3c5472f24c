"""Facet builders: schema, storage, statistics, engine, job type, source code, operation log, column lineage.

Each function turns our plain records into openlineage-python facet objects; nothing here touches data values.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import subprocess
import sys
from collections.abc import Hashable, Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import attr
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    datasource_dataset,
    error_message_run,
    input_statistics_input_dataset,
    job_type_job,
    output_statistics_output_dataset,
    parent_run,
    processing_engine_run,
    schema_dataset,
    source_code_location_job,
    storage_dataset,
)
from openlineage.client.generated.base import DatasetFacet, RunFacet

from openlineage_pandas import __version__
from openlineage_pandas.naming import redact_url
from openlineage_pandas.provenance.model import DIRECT, FrameLineage, SourceField, Transform, field_name

PRODUCER = "https://github.com/openlineage-pandas/openlineage-pandas"
SCHEMA_BASE = "https://raw.githubusercontent.com/openlineage-pandas/openlineage-pandas/main/docs/schemas"
INTEGRATION = "OPENLINEAGE_PANDAS"


# ---------------------------------------------------------------------------------------------- schema
def datahub_type(dtype: Any) -> str:
    """A type name DataHub recognises (Spark style) for a pandas/numpy dtype."""
    text = str(dtype).lower()
    kind = getattr(dtype, "kind", None)
    if text.startswith("bool") or kind == "b":
        return "boolean"
    if text.startswith(("int64", "uint", "int")) or kind in ("i", "u"):
        return "long" if ("64" in text or kind == "u" or text in ("int", "int64")) else "int"
    if text.startswith("float32") or text == "float16":
        return "float"
    if text.startswith(("float", "double")) or kind == "f":
        return "double"
    if text.startswith("decimal"):
        return "decimal"
    if text.startswith("datetime64") or "timestamp" in text:
        return "timestamp"
    if text.startswith("date"):
        return "date"
    if text.startswith("timedelta") or kind == "m":
        return "long"
    if text.startswith("complex") or kind == "c":
        return "string"
    if kind == "S" or text.startswith("bytes") or "binary" in text:
        return "binary"
    if text.startswith(("list", "large_list")):
        return "array"
    if text.startswith("struct"):
        return "struct"
    return "string"


def schema_fields_from_dtypes(columns: Iterable[tuple[Hashable, Any]]) -> list[schema_dataset.SchemaDatasetFacetFields]:
    """Schema fields from (label, dtype) pairs; duplicate names keep their first occurrence."""
    seen: set[str] = set()
    fields = []
    for label, dtype in columns:
        name = field_name(label)
        if name in seen:
            continue
        seen.add(name)
        fields.append(schema_dataset.SchemaDatasetFacetFields(
            name=name, type=datahub_type(dtype), description=f"pandas dtype: {dtype}"))
    return fields


def schema_facet(fields: Sequence[schema_dataset.SchemaDatasetFacetFields]) -> schema_dataset.SchemaDatasetFacet:
    return schema_dataset.SchemaDatasetFacet(fields=list(fields), producer=PRODUCER)


def datasource_facet(namespace: str) -> datasource_dataset.DatasourceDatasetFacet:
    uri = namespace if "://" in namespace else f"{namespace}://"
    return datasource_dataset.DatasourceDatasetFacet(name=namespace, uri=redact_url(uri), producer=PRODUCER)


def storage_facet(namespace: str, file_format: str | None) -> storage_dataset.StorageDatasetFacet:
    layer = namespace.split("://", 1)[0] if "://" in namespace else namespace
    return storage_dataset.StorageDatasetFacet(storageLayer=layer, fileFormat=file_format, producer=PRODUCER)


def input_statistics(row_count: int | None, size: int | None) -> input_statistics_input_dataset.InputStatisticsInputDatasetFacet:
    return input_statistics_input_dataset.InputStatisticsInputDatasetFacet(rowCount=row_count, size=size, producer=PRODUCER)


def output_statistics(row_count: int | None, size: int | None) -> output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet:
    return output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(rowCount=row_count, size=size, producer=PRODUCER)


# ---------------------------------------------------------------------------------------------- run / job
@lru_cache(maxsize=1)
def processing_engine() -> processing_engine_run.ProcessingEngineRunFacet:
    return processing_engine_run.ProcessingEngineRunFacet(
        version=_pandas_version(), name="pandas", openlineageAdapterVersion=__version__, producer=PRODUCER)


@functools.cache
def _pandas_version() -> str:
    """Without importing pandas: START is often built before the user's program has imported it."""
    version = getattr(sys.modules.get("pandas"), "__version__", None)  # None while pandas is still importing
    if version is not None:
        return str(version)
    try:
        return importlib.metadata.version("pandas")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def job_type() -> job_type_job.JobTypeJobFacet:
    return job_type_job.JobTypeJobFacet(processingType="BATCH", integration=INTEGRATION, jobType="JOB", producer=PRODUCER)


def parent_facet(namespace: str, job_name: str, run_id: str,
                 root: tuple[str, str, str] | None = None) -> parent_run.ParentRunFacet:
    root_facet = None
    if root is not None:
        root_ns, root_job, root_run = root
        root_facet = parent_run.Root(run=parent_run.RootRun(runId=root_run),
                                     job=parent_run.RootJob(namespace=root_ns, name=root_job))
    return parent_run.ParentRunFacet(run=parent_run.Run(runId=run_id),
                                     job=parent_run.Job(namespace=namespace, name=job_name), root=root_facet,
                                     producer=PRODUCER)


def error_message(message: str, stack_trace: str | None) -> error_message_run.ErrorMessageRunFacet:
    return error_message_run.ErrorMessageRunFacet(message=message, programmingLanguage="python",
                                                  stackTrace=stack_trace, producer=PRODUCER)


@attr.define
class OperationLogRunFacet(RunFacet):
    """The tracked operations of a run: one entry per operation, bounded, with the total count kept."""

    operations: list[dict[str, Any]] = attr.field(factory=list)
    totalOperations: int = 0
    truncated: bool = False

    @staticmethod
    def _get_schema() -> str:
        return f"{SCHEMA_BASE}/OperationLogRunFacet.json#/$defs/OperationLogRunFacet"


@attr.define
class ModelDatasetFacet(DatasetFacet):
    """A fitted model written to a file: class, hyper-parameters, features and target (no learned values)."""

    modelClass: str
    hyperParameters: dict[str, Any] = attr.field(factory=dict)
    featureNames: list[str] = attr.field(factory=list)
    targetNames: list[str] = attr.field(factory=list)

    @staticmethod
    def _get_schema() -> str:
        return f"{SCHEMA_BASE}/ModelDatasetFacet.json#/$defs/ModelDatasetFacet"


_FACETS_BY_KIND: dict[str, type[DatasetFacet]] = {"model": ModelDatasetFacet}


def from_spec(facet: Any) -> Any:
    """A facet object from a `FacetSpec` (anything else is already one)."""
    from openlineage_pandas.run import FacetSpec

    if isinstance(facet, FacetSpec):
        return _FACETS_BY_KIND[facet.kind](**facet.fields, producer=PRODUCER)
    return facet


def _git(args: list[str], cwd: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=2, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _https_repo_url(remote: str) -> str:
    """git@host:org/repo.git -> https://host/org/repo.git, credentials removed."""
    if remote.startswith("git@") and ":" in remote:
        host, _, path = remote[4:].partition(":")
        return f"https://{host}/{path}"
    if remote.startswith("ssh://"):
        rest = remote[len("ssh://"):].rsplit("@", 1)[-1]
        host, _, path = rest.partition("/")
        return f"https://{host.split(':')[0]}/{path}"
    return redact_url(remote)


@lru_cache(maxsize=32)
def source_code_location(script_path: str) -> source_code_location_job.SourceCodeLocationJobFacet | None:
    """git facts for the script: repo URL without credentials, commit SHA, path in repo, branch, dirty tree."""
    path = Path(script_path).resolve()
    cwd = str(path.parent)
    top = _git(["rev-parse", "--show-toplevel"], cwd)
    if not top:
        return None
    sha = _git(["rev-parse", "HEAD"], cwd)
    branch = _git(["rev-parse", "--abbrev-ref", "HEAD"], cwd)
    remote = _git(["config", "--get", "remote.origin.url"], cwd)
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
    relative = os.path.relpath(path, top).replace(os.sep, "/")
    repo_url = _https_repo_url(remote) if remote else Path(top).as_uri()
    if remote and repo_url.startswith("https://") and sha:
        url = f"{repo_url.removesuffix('.git')}/blob/{sha}/{relative}"
    else:
        url = path.as_uri()
    facet = source_code_location_job.SourceCodeLocationJobFacet(
        type="git", url=url, repoUrl=repo_url, path=relative, version=sha,
        branch=None if branch in (None, "HEAD") else branch, producer=PRODUCER)
    return facet.with_additional_properties(dirty=bool(status))  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------- column lineage
def _transformation(t: Transform) -> column_lineage_dataset.Transformation:
    return column_lineage_dataset.Transformation(type=t.type, subtype=t.subtype, description=t.description,
                                                 masking=t.masking)


def _input_fields(origins: Mapping[SourceField, frozenset[Transform]]) -> list[column_lineage_dataset.InputField]:
    out = []
    for src in sorted(origins, key=lambda s: (s.namespace, s.name, s.field)):
        transforms = sorted(origins[src], key=lambda t: (t.type, t.subtype, t.masking, t.description or ""))
        out.append(column_lineage_dataset.InputField(namespace=src.namespace, name=src.name, field=src.field,
                                                     transformations=[_transformation(t) for t in transforms]))
    return out


def _legacy_summary(origins: Mapping[SourceField, frozenset[Transform]]) -> tuple[str, str]:
    """Marquez reads the output-level transformationType/Description: IDENTITY only when every input is
    a pure identity copy; otherwise the strongest DIRECT subtype, and MASKED when masking is involved."""
    direct = [t for ts in origins.values() for t in ts if t.type == DIRECT]
    if any(t.masking for ts in origins.values() for t in ts):
        return "MASKED", "masked: " + ", ".join(sorted({t.subtype for ts in origins.values() for t in ts}))
    if direct and all(t.subtype == "IDENTITY" for t in direct) and len(origins) == 1:
        return "IDENTITY", "identity copy"
    subtypes = sorted({f"{t.type}:{t.subtype}" for ts in origins.values() for t in ts})
    return "TRANSFORMATION" if direct else "INDIRECT", ", ".join(subtypes) or "unknown"


def column_lineage_facet(
    lineage: FrameLineage,
    output_fields: Iterable[str],
    known_input_fields: Mapping[tuple[str, str], set[str]],
) -> column_lineage_dataset.ColumnLineageDatasetFacet | None:
    """The columnLineage facet for an output, restricted to what Marquez can resolve.

    Output fields must be in the output schema (`output_fields`); input fields in a declared input's schema
    (`known_input_fields`, keyed by (namespace, name)). Anything else would make Marquez drop the facet.
    """
    allowed = set(output_fields)

    def resolvable(origins: Mapping[SourceField, frozenset[Transform]]) -> dict[SourceField, frozenset[Transform]]:
        return {s: ts for s, ts in origins.items() if s.field in known_input_fields.get((s.namespace, s.name), ())}

    fields: dict[str, column_lineage_dataset.Fields] = {}
    for label, origins in lineage.columns.items():
        name = field_name(label)
        if name not in allowed or name in fields:
            continue
        usable = resolvable(origins)
        if not usable:
            continue
        legacy_type, legacy_description = _legacy_summary(usable)
        fields[name] = column_lineage_dataset.Fields(
            inputFields=_input_fields(usable), transformationType=legacy_type,
            transformationDescription=legacy_description)
    dataset = _input_fields(resolvable(lineage.dataset))
    if not fields and not dataset:
        return None
    return column_lineage_dataset.ColumnLineageDatasetFacet(fields=fields, dataset=dataset, producer=PRODUCER)
