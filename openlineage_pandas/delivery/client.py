"""Builds the openlineage-python client the way OpenLineage users configure it, plus our zero-setup default.

With no transport configured anywhere (constructor, openlineage.yml, OPENLINEAGE__*, OPENLINEAGE_URL) events go
to the local JSON-lines store; the client's own habit of writing variables into os.environ is undone.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from openlineage_pandas.config import Settings

if TYPE_CHECKING:
    from openlineage.client import OpenLineageClient

log = logging.getLogger("openlineage_pandas")


@contextmanager
def environ_preserved() -> Iterator[None]:
    """openlineage-python aliases OPENLINEAGE_URL into OPENLINEAGE__TRANSPORT__* variables; keep them out of os.environ."""
    before = dict(os.environ)
    try:
        yield
    finally:
        for key in set(os.environ) - set(before):
            del os.environ[key]
        for key, value in before.items():
            if os.environ.get(key) != value:
                os.environ[key] = value


def default_file_transport(settings: Settings):  # type: ignore[no-untyped-def]
    """The embedded default: append JSON lines to `<store dir>/events.jsonl`."""
    from openlineage.client.transport.file import FileConfig, FileTransport

    settings.store_dir.mkdir(parents=True, exist_ok=True)
    return FileTransport(FileConfig(log_file_path=str(settings.events_path), append=True))


def user_transport_configured(client: OpenLineageClient) -> bool:
    """True when the user configured a transport through any of openlineage-python's own channels."""
    transport_cfg = client.config.transport or {}
    return bool(transport_cfg.get("type")) or bool(os.environ.get("OPENLINEAGE_URL"))


def build_client(settings: Settings) -> OpenLineageClient:
    """An OpenLineageClient honouring the user's OpenLineage configuration, else writing to the local store."""
    from openlineage.client import OpenLineageClient

    with environ_preserved():
        probe = OpenLineageClient(transport=default_file_transport(settings))
        if user_transport_configured(probe) or os.environ.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
            return OpenLineageClient()
        return probe


def is_local_store(client: OpenLineageClient, settings: Settings) -> bool:
    """True when the client is our zero-setup default (no transport configured by the user)."""
    transport = client.transport
    path = getattr(getattr(transport, "config", None), "log_file_path", None)
    return transport.kind == "file" and path == str(settings.events_path)


def describe_transport(client: OpenLineageClient) -> str:
    """A one-line description of where events go, with no credentials in it (composites list each child)."""
    from openlineage_pandas.delivery.destinations import describe_transport_only

    try:
        return describe_transport_only(client.transport)
    except Exception:  # a transport we cannot introspect: its kind is still worth showing
        return str(getattr(client.transport, "kind", "unknown"))
