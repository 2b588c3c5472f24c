"""Hands finished events to openlineage-python's transport without ever failing the user's program.

This is the synchronous foundation; the background queue, spool and replay build on `Emitter`'s interface.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from openlineage_pandas.config import Settings
from openlineage_pandas.safety import guarded_call

if TYPE_CHECKING:
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import RunEvent

log = logging.getLogger("openlineage_pandas")


class Emitter:
    """Delivers RunEvents; `emit` never raises and never blocks longer than the transport's own call."""

    def __init__(self, settings: Settings, client: OpenLineageClient | None = None) -> None:
        self.settings = settings
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> OpenLineageClient:
        if self._client is None:
            from openlineage_pandas.delivery.client import build_client

            self._client = build_client(self.settings)
        return self._client

    def emit(self, event: RunEvent) -> None:
        guarded_call("emission", self._send, event)

    def _send(self, event: RunEvent) -> Any:
        with self._lock:
            self.client.emit(event)

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def shutdown(self, timeout: float | None = None) -> None:
        client = self._client
        if client is not None:
            guarded_call("emission", client.close, timeout if timeout is not None else self.settings.flush_timeout)


_emitter: Emitter | None = None
_emitter_lock = threading.Lock()


def get_emitter(settings: Settings | None = None) -> Emitter:
    """The process-wide emitter, built lazily on first use."""
    global _emitter
    if _emitter is None:
        with _emitter_lock:
            if _emitter is None:
                _emitter = Emitter(settings or Settings.from_env())
    return _emitter


def set_emitter(emitter: Emitter | None) -> None:
    """Replace the process-wide emitter (tests, integrations that bring their own client)."""
    global _emitter
    with _emitter_lock:
        _emitter = emitter
