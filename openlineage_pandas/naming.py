"""Dataset identity: turns paths, URLs and file handles into OpenLineage (namespace, name) pairs.

Uses openlineage-python's `openlineage.client.naming` helpers and the OpenLineage naming spec; strips credentials.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from openlineage_pandas.ol_imports import light_module

# Marquez accepts dataset namespaces made only of these characters (see ../shared/notes/ecosystem-facts.md).
_NAMESPACE_ALLOWED = re.compile(r"[^A-Za-z0-9:;=/_\-.@+]")
_MAX_NAMESPACE = 1024

_CONTAINER_SCHEMES = {"abfs", "abfss", "wasb", "wasbs"}

INMEMORY_NAMESPACE = "inmemory://openlineage-pandas"


@dataclass(frozen=True, slots=True)
class DatasetRef:
    """A dataset as OpenLineage names it, plus where it physically lives (for the summary)."""

    namespace: str
    name: str
    location: str  # the path or URL the user gave, credentials removed

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)


def redact_url(url: str) -> str:
    """Remove `user:password@` and secret-looking query parameters from a URL."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.scheme:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        # Azure URLs carry the container (not a credential) before '@'
        keep = parts.scheme.lower() in _CONTAINER_SCHEMES and ":" not in userinfo
        netloc = netloc if keep else host
    query = parts.query
    if query:
        kept = [
            kv for kv in query.split("&")
            if not re.match(r"(?i)(.*(key|token|secret|password|passwd|pwd|signature|sig|credential).*)=", kv)
        ]
        query = "&".join(kept)
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def safe_namespace(namespace: str) -> str:
    """Make a namespace acceptable to Marquez: replace disallowed characters, bound the length."""
    cleaned = _NAMESPACE_ALLOWED.sub("_", namespace) or "default"
    return cleaned[:_MAX_NAMESPACE]


def _local_file(path: str | os.PathLike[str]) -> DatasetRef:
    """openlineage-python's `naming.dataset.LocalFileSystem` rule (namespace "file", name the absolute path),
    stated here because loading that module generates 28 attrs classes, ~20 ms on the user's first read;
    tests/test_naming.py holds this to openlineage-python's own answer. Remote URLs still use the module."""
    absolute = Path(os.path.abspath(os.fspath(path))).as_posix()
    return DatasetRef("file", absolute, absolute)


def _from_url(url: str) -> DatasetRef:
    n = light_module("naming.dataset")

    clean = redact_url(url)
    parts = urlsplit(clean)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    key = parts.path.lstrip("/")
    naming: Any
    if scheme == "file":
        return _local_file(parts.path)
    if scheme in {"s3", "s3a", "s3n"} and host:
        naming = n.S3(bucket_name=host, object_key=key or "/")
    elif scheme in {"gs", "gcs"} and host:
        naming = n.GCS(bucket_name=host, object_key=key or "/")
    elif scheme in {"abfss", "abfs"} and "@" in parts.netloc:
        container, _, account_host = parts.netloc.partition("@")
        service = account_host.split(".", 1)[0]
        naming = n.ABFSS(container=container, service=service, path=key or "/")
    elif scheme in {"wasbs", "wasb"} and "@" in parts.netloc:
        container, _, account_host = parts.netloc.partition("@")
        naming = n.WASBS(container=container, service_name=account_host.split(".", 1)[0], object_key=key or "/")
    elif scheme == "hdfs" and host:
        naming = n.HDFS(namenode_host=host, namenode_port=str(parts.port or 8020), path="/" + key)
    elif scheme == "dbfs":
        return DatasetRef("dbfs", "/" + (host + "/" + key).strip("/"), clean)
    else:
        # https://host:port/path and other fsspec protocols: namespace scheme://authority, name = path.
        authority = parts.netloc.rsplit("@", 1)[-1]
        namespace = f"{scheme}://{authority}" if authority else scheme
        return DatasetRef(safe_namespace(namespace), "/" + key if key else "/", clean)
    return DatasetRef(safe_namespace(naming.get_namespace()), naming.get_name(), clean)


def dataset_for_target(target: Any) -> DatasetRef | None:
    """The dataset behind a path-like, URL or open file; None for anonymous in-memory buffers."""
    if isinstance(target, PurePath):
        return _local_file(target)
    if isinstance(target, (str, bytes)):
        text = os.fsdecode(target)
        if "://" in text:
            return _from_url(text)
        if "\n" in text:  # literal data passed as a string, not a path
            return None
        return _local_file(text)
    if hasattr(target, "__fspath__"):
        return _local_file(os.fspath(target))
    # Open file handles: use their name when it is a real path; io.BytesIO/StringIO have none.
    name = getattr(target, "name", None)
    if isinstance(name, (str, bytes, PurePath)) and not isinstance(name, int):
        text = os.fsdecode(name) if not isinstance(name, PurePath) else str(name)
        if text and not text.startswith("<"):
            return dataset_for_target(text)
    # fsspec OpenFile / file-system objects expose .path and .fs.protocol
    path = getattr(target, "path", None)
    fs = getattr(target, "fs", None)
    if isinstance(path, str) and fs is not None:
        protocol = getattr(fs, "protocol", "file")
        protocol = protocol[0] if isinstance(protocol, (tuple, list)) else protocol
        if protocol in ("file", "local"):
            return _local_file(path)
        return _from_url(f"{protocol}://{path}")
    return None


def inmemory_dataset(label: str) -> DatasetRef:
    """Name for a frame with no file behind it (constructed in memory, or an anonymous buffer)."""
    return DatasetRef(INMEMORY_NAMESPACE, label, f"<{label}>")
