"""Dataset names follow the OpenLineage naming spec, with credentials stripped and namespaces Marquez-safe."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from openlineage_pandas.naming import dataset_for_target, redact_url, safe_namespace


@pytest.mark.parametrize(("target", "namespace", "name"), [
    ("s3://bucket/path/to/file.parquet", "s3://bucket", "path/to/file.parquet"),
    ("s3a://bucket/k.csv", "s3://bucket", "k.csv"),
    ("gs://b/dir/f.csv", "gs://b", "dir/f.csv"),
    ("abfss://cont@acct.dfs.core.windows.net/a/b.csv", "abfss://cont@acct.dfs.core.windows.net", "a/b.csv"),
    ("https://user:secret@example.com:8443/data/f.csv?token=abc&x=1", "https://example.com:8443", "/data/f.csv"),
    ("hdfs://nn:9000/warehouse/t", "hdfs://nn:9000", "/warehouse/t"),
    ("file:///tmp/x.csv", "file", "/tmp/x.csv"),
])
def test_urls(target, namespace, name):
    ref = dataset_for_target(target)
    assert ref is not None and (ref.namespace, ref.name) == (namespace, name)
    assert "secret" not in ref.location and "token" not in ref.location


def test_local_paths_in_every_form(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("a\n1\n")
    expected = ("file", str(path))
    assert dataset_for_target(str(path)).key == expected
    assert dataset_for_target(path).key == expected
    assert dataset_for_target(path.relative_to(tmp_path) if False else path).key == expected
    with open(path) as handle:
        assert dataset_for_target(handle).key == expected
    assert dataset_for_target(io.StringIO("a\n1\n")) is None
    assert dataset_for_target("a,b\n1,2\n") is None  # literal data, not a path


def test_relative_paths_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert dataset_for_target("rel/f.csv").name == str(Path(tmp_path, "rel/f.csv"))


def test_redaction_and_namespace_safety():
    assert redact_url("postgresql://bob:pw@db:5432/x?password=pw") == "postgresql://db:5432/x"
    assert safe_namespace("weird ns#1") == "weird_ns_1"
    assert safe_namespace("") == "default"
    assert len(safe_namespace("x" * 5000)) == 1024


@pytest.mark.parametrize("path", ["data/in.csv", "/tmp/with space/ü.parquet", "./a/../b.csv", "file.txt",
                                  "/abs/dir/"])
def test_local_files_are_named_as_openlineage_python_names_them(path, tmp_path, monkeypatch):
    """The local-file rule is written out in naming.py (loading openlineage's naming module costs ~20 ms on the
    first read); openlineage-python's own LocalFileSystem must agree with it."""
    from openlineage.client.naming.dataset import LocalFileSystem

    monkeypatch.chdir(tmp_path)
    ref = dataset_for_target(path)
    expected = LocalFileSystem(path=ref.location)
    assert (ref.namespace, ref.name) == (expected.get_namespace(), expected.get_name())
    assert ref.name == Path(os.path.abspath(path)).as_posix()


def test_a_local_read_does_not_load_openlineage_pythons_naming_module():
    code = ("import sys, openlineage_pandas.naming as n; n.dataset_for_target('x.csv'); "
            "print(any('naming_dataset' in m or m.startswith('openlineage.client') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"
