"""Test helpers shared by every test package: the local event store, and the two shared validation tools.

The tools live in ../shared/tools beside the repository and are run by path, never copied.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
TOOLS = SHARED / "tools"
VALIDATOR = TOOLS / "validate_openlineage.py"
CONTRACT = TOOLS / "marquez_contract.py"


def read_events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@functools.cache
def _tool(path: Path) -> ModuleType:
    """Load a shared tool as a module (once per test worker): in-process checks are ~50x faster."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None, f"missing tool {path}"
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


@functools.cache
def _validator() -> Any:
    return _tool(VALIDATOR).EventValidator()


def check_events(events: list[dict[str, Any]]) -> None:
    """Assert the events are valid OpenLineage (no error from the spec validator) and clean against Marquez's
    contract when sent in order (0 rejected, 0 with dropped lineage)."""
    assert events, "no events to check"
    validator = _validator()
    for i, event in enumerate(events):
        errors = [str(issue) for issue in validator.validate(event) if issue.level == "error"]
        assert not errors, f"event {i} ({event.get('eventType')}) is invalid: {errors}"
    contract = _tool(CONTRACT)
    for i, problems in enumerate(contract.check_stream(events)):
        # A new run's START cannot know its datasets yet; when the same job already ran in this stream,
        # Marquez hides that job's edges until the new run's terminal event (documented in docs/backends.md).
        bad = [str(p) for p in problems if p.level in (contract.REJECT, contract.DROP)
               and not (p.code == "io.empty_hides_edges" and events[i].get("eventType") == "START")]
        assert not bad, f"event {i} ({events[i].get('eventType')}): Marquez would reject or drop: {bad}"


def check_events_file(path: Path) -> None:
    assert path.exists() and path.stat().st_size > 0, f"no events in {path}"
    check_events(read_events(path))


def check_events_file_with_cli(path: Path) -> None:
    """The same check through the tools' command lines, exactly as a user or CI would run them."""
    valid = subprocess.run([sys.executable, str(VALIDATOR), "--quiet", str(path)],
                           capture_output=True, text=True, timeout=120)
    assert valid.returncode == 0 and re.search(r"\b0 invalid\b", valid.stdout), valid.stdout + valid.stderr
    contract = subprocess.run([sys.executable, str(CONTRACT), "check", str(path)],
                              capture_output=True, text=True, timeout=120)
    tail = contract.stdout.strip().splitlines()[-1] if contract.stdout.strip() else contract.stderr
    assert "0 rejected, 0 with dropped lineage" in tail, contract.stdout[-3000:] + contract.stderr


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The current environment without any OpenLineage configuration, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLINEAGE")}
    env.update(extra or {})
    return env


def outputs_of(event: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["name"]: o for o in event.get("outputs") or []}


def inputs_of(event: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["name"]: i for i in event.get("inputs") or []}


def lineage_edges(dataset: dict[str, Any]) -> set[tuple[str, str, str, str, str]]:
    """(output field, input dataset name, input field, type, subtype) edges of a dataset's columnLineage."""
    facet = (dataset.get("facets") or {}).get("columnLineage") or {}
    edges = set()
    for out_field, spec in (facet.get("fields") or {}).items():
        for inp in spec.get("inputFields") or []:
            for t in inp.get("transformations") or []:
                edges.add((out_field, inp["name"], inp["field"], t["type"], t.get("subtype", "")))
    return edges


def schema_names(dataset: dict[str, Any]) -> list[str]:
    return [f["name"] for f in ((dataset.get("facets") or {}).get("schema") or {}).get("fields") or []]
