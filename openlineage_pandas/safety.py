"""Failure containment: internal errors are logged once per component and never reach the user's program.

Also holds the fault-injection switch that tests use to prove that containment.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger("openlineage_pandas")

T = TypeVar("T")

_warned: set[str] = set()
_warned_lock = threading.Lock()
_raise_errors: bool | None = None


class InjectedFault(RuntimeError):
    """Raised by `fault_point` when the fault-injection switch is on."""


def _env_flag(name: str) -> str:
    return os.environ.get(name, "").strip().lower()


def _fault_injection_from_env() -> bool:
    return _env_flag("OPENLINEAGE_PANDAS_FAULT_INJECTION") in {"1", "true", "yes", "on"}


# Read directly by the hottest wrappers (an attribute read, not a call); only `set_fault_injection` changes it.
fault_injection: bool = _fault_injection_from_env()


def fault_injection_enabled() -> bool:
    return fault_injection


def set_fault_injection(enabled: bool | None) -> None:
    """Turn fault injection on/off in-process (None: re-read the environment)."""
    global fault_injection
    fault_injection = _fault_injection_from_env() if enabled is None else enabled


def set_raise_errors(enabled: bool | None) -> None:
    """Make internal errors propagate (used by the test-suite to catch bugs); None re-reads the environment."""
    global _raise_errors
    _raise_errors = enabled


def _errors_raise() -> bool:
    global _raise_errors
    if _raise_errors is None:
        _raise_errors = _env_flag("OPENLINEAGE_PANDAS_ON_ERROR") == "raise"
    return _raise_errors


def fault_point(component: str) -> None:
    """A place where the fault-injection switch makes internal code fail."""
    if fault_injection_enabled():
        raise InjectedFault(f"injected fault in {component}")


def report_failure(component: str, exc: BaseException) -> None:
    """Log one warning per component; later failures of the same component go to DEBUG."""
    if _errors_raise() and not isinstance(exc, InjectedFault):
        raise exc
    with _warned_lock:
        first = component not in _warned
        _warned.add(component)
    if first and _env_flag("OPENLINEAGE_PANDAS_ON_ERROR") != "ignore":
        log.warning(
            "openlineage-pandas: %s failed (%s: %s); lineage for this step is incomplete, "
            "your program is unaffected. Further %s failures are logged at DEBUG.",
            component, type(exc).__name__, exc, component,
        )
    else:
        log.debug("openlineage-pandas: %s failed again", component, exc_info=exc)


def warned_components() -> frozenset[str]:
    with _warned_lock:
        return frozenset(_warned)


def reset_warnings() -> None:
    with _warned_lock:
        _warned.clear()


def guarded_call(component: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Call `fn`; on any exception report it once for `component` and return None."""
    try:
        fault_point(component)
        return fn(*args, **kwargs)
    except Exception as exc:
        report_failure(component, exc)
        return None
