"""Turns the user's configured transport into delivery destinations that fail fast and say why.

HTTP transports are cloned with urllib3 retries off (we decide about retrying); composites fan out into children.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from openlineage_pandas.delivery.redact import Redactor, secrets_of

if TYPE_CHECKING:
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport import Transport

log = logging.getLogger("openlineage_pandas")

# Transports that write locally and return at once: sent inline, in the caller's thread.
LOCAL_KINDS = frozenset({"file", "console", "noop"})

# No urllib3 retries on the live path or in replay: a failed attempt is spooled or retried by us, within a deadline.
NO_RETRY: dict[str, Any] = {
    "total": 0,
    "connect": 0,
    "read": 0,
    "status": 0,
    "backoff_factor": 0,
    "status_forcelist": [],
    "allowed_methods": ["HEAD", "POST"],
    "raise_on_status": False,
}

# 4xx answers about the backend or its configuration, not about the event: the event stays in the spool.
NOT_THE_EVENTS_FAULT = frozenset({401, 403, 404, 405, 407, 408, 409, 421, 423, 425, 429})

ATTEMPTS = 2  # one quick retry absorbs a blip; a second failure means the backend is down for this process
RETRY_PAUSE = 0.25
MESSAGE_LIMIT = 2000


class Outcome(Enum):
    DELIVERED = "delivered"
    REJECTED = "rejected"  # the backend refused this event: retrying cannot help
    FAILED = "failed"  # unreachable, timed out, 5xx...: keep the event and try again later
    NOT_SENT = "not sent"  # the flush deadline had passed before a first try: says nothing about the backend


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    status: int | None = None
    message: str = ""


@dataclass
class Destination:
    """One place events go: a name that is stable across processes (spool records name it) and a transport."""

    name: str
    transport: Transport
    local: bool
    http: bool
    kind: str
    where: str  # URL, path or topic, credentials removed
    redact: Redactor = field(default_factory=Redactor)
    timeout: float | None = None  # the configured HTTP timeout

    @property
    def target(self) -> str:
        return f"{self.kind} -> {self.where}" if self.where else self.kind

    def send(self, payload: Any, timeout: float | None = None) -> Result:
        """One attempt, classified; never raises."""
        transport: Any = self.transport
        if self.http and self.timeout is not None:
            # Our own clone: only its sender thread (or replay) uses it, so adjusting it per attempt is safe.
            transport.timeout = self.timeout if timeout is None else max(0.05, min(self.timeout, timeout))
        try:
            transport.emit(payload)
        except Exception as exc:
            return classify(exc, self.redact)
        return Result(Outcome.DELIVERED)

    def send_with_retry(self, payload: Any, deadline: float | None = None) -> Result:
        """Up to ATTEMPTS tries with a short pause, all within `deadline` (a time.monotonic() value)."""
        result = Result(Outcome.NOT_SENT, message="flush deadline reached before sending")
        for attempt in range(ATTEMPTS):
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            result = self.send(payload, remaining)
            if result.outcome is not Outcome.FAILED or attempt + 1 == ATTEMPTS:
                break
            if deadline is not None and deadline - time.monotonic() <= RETRY_PAUSE:
                break
            time.sleep(RETRY_PAUSE)
        return result

    def close(self, timeout: float) -> None:
        try:
            self.transport.close(timeout)
        except Exception as exc:  # closing is best effort; nothing is lost by a failed close
            log.debug("openlineage-pandas: closing %s failed: %s", self.target, self.redact(exc))


def classify(exc: BaseException, redact: Redactor) -> Result:
    """What a failed attempt means for the event: rejected for good, or worth keeping for later."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(status, int):
        body = ""
        try:
            body = (response.text or "").strip()  # type: ignore[union-attr]
        except Exception:
            body = ""
        message = redact(f"HTTP {status}: {body}" if body else f"HTTP {status}")[:MESSAGE_LIMIT]
        if 400 <= status < 500 and status not in NOT_THE_EVENTS_FAULT:
            return Result(Outcome.REJECTED, status, message)
        return Result(Outcome.FAILED, status, message)
    return Result(Outcome.FAILED, None, redact(short_reason(exc))[:MESSAGE_LIMIT])


def short_reason(exc: BaseException) -> str:
    """A one-line reason: requests' connection errors nest three exceptions deep around one useful phrase."""
    import requests

    if isinstance(exc, requests.exceptions.Timeout):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, requests.exceptions.ConnectionError):
        match = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", str(exc))
        return f"connection failed: {match.group(1).strip()}" if match else "connection failed"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


def _http_target(config: Any) -> str:
    from urllib.parse import urljoin

    from openlineage_pandas.naming import redact_url

    return redact_url(urljoin(str(config.url).strip(), str(config.endpoint)))


def _bounded_http(transport: Any) -> Any:
    """A copy of an http/async_http transport with the same URL, endpoint, auth, TLS, headers and compression,
    but no urllib3 retries and its own session (so a forked child never shares the parent's sockets)."""
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    cfg = transport.config
    if isinstance(cfg, HttpConfig):
        import attr

        config = attr.evolve(cfg, retry=dict(NO_RETRY), session=None, adapter=None)
    else:  # async_http: same connection settings, sent synchronously by our own sender thread
        config = HttpConfig(
            url=cfg.url, endpoint=cfg.endpoint, timeout=cfg.timeout, verify=cfg.verify, auth=cfg.auth,
            compression=cfg.compression, custom_headers=dict(cfg.custom_headers), retry=dict(NO_RETRY),
        )
    clone = HttpTransport(config)
    clone.name = transport.name
    return clone


def _is_local(transport: Any) -> bool:
    if transport.kind not in LOCAL_KINDS:
        return False
    needs_fsspec = getattr(getattr(transport, "config", None), "_needs_fsspec", None)
    try:
        return not (callable(needs_fsspec) and needs_fsspec())
    except Exception:
        return True


def _where(transport: Any) -> str:
    config = getattr(transport, "config", None)
    if transport.kind in ("http", "async_http") and config is not None:
        return _http_target(config)
    from openlineage_pandas.naming import redact_url

    for attr_name in ("log_file_path", "topic", "url", "bootstrap_servers"):
        value = getattr(config, attr_name, None)
        if value:
            return redact_url(str(value))
    return ""


def _describe(transport: Any) -> str:
    where = _where(transport)
    return f"{transport.kind} -> {where}" if where else str(transport.kind)


def describe_transport_only(transport: Any) -> str:
    """Where a transport sends, credentials removed, without building anything."""
    if transport.kind == "composite":
        children = ", ".join(f"{child.name or i}: {describe_transport_only(child)}"
                             for i, child in enumerate(transport.transports))
        return f"composite[{children}]"
    return _describe(transport)


def destinations_for(client: OpenLineageClient, default_name: str = "default") -> list[Destination]:
    """The destinations of a client's transport; a fan-out composite gives one destination per child."""
    redact = Redactor()
    found: list[Destination] = []

    def walk(transport: Any, name: str) -> None:
        kind = transport.kind
        config = getattr(transport, "config", None)
        if kind == "composite" and getattr(config, "continue_on_success", False):
            # Each child gets every event, so each child is delivered (and spooled for) on its own.
            for i, child in enumerate(transport.transports):
                walk(child, str(child.name or f"{name}.{i}"))
            return
        redact.add(secrets_of(config))
        if kind in ("http", "async_http"):
            clone = _bounded_http(transport)
            found.append(Destination(name, clone, local=False, http=True, kind=str(kind), where=_where(transport),
                                     redact=redact, timeout=float(clone.timeout)))
            return
        found.append(Destination(name, transport, local=_is_local(transport), http=False, kind=str(kind),
                                 where=_where(transport), redact=redact))

    walk(client.transport, default_name)
    return found


def describe(destinations: list[Destination]) -> str:
    if len(destinations) == 1:
        return destinations[0].target
    return "; ".join(f"{d.name}: {d.target}" for d in destinations)
