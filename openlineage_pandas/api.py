"""The public switch: `enable()`, `disable()`, `is_enabled()` and `job()`, plus process exit handling.

Turning tracking on starts the script run; normal exit completes it and an uncaught exception fails it.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any

from openlineage_pandas import run as runs
from openlineage_pandas.config import ConfigError, Settings, tracking_disabled

if TYPE_CHECKING:
    from openlineage_pandas.delivery.emitter import Emitter

log = logging.getLogger("openlineage_pandas")

_state_lock = threading.RLock()
_enabled = False
_in_fork_child = False
_exit_hooks_installed = False
_previous_excepthook: Any = None


def _is_active() -> bool:
    return _enabled and not _in_fork_child


def is_enabled() -> bool:
    """Whether the hooks are installed and recording in this process."""
    return _is_active()


def _configure_logging(settings: Settings) -> None:
    level = getattr(logging, str(settings.log_level).upper(), logging.WARNING)
    log.setLevel(level)


def enable(job_name: str | None = None, script_path: str | None = None) -> bool:
    """Install the hooks and start the script run. Idempotent; returns False when OPENLINEAGE_DISABLED=true.

    Raises ConfigError (naming the variable and accepted values) for an invalid OPENLINEAGE_PANDAS_* value.
    """
    global _enabled
    with _state_lock:
        if _enabled:
            return True
        if tracking_disabled():
            return False
        settings = Settings.from_env()
        _configure_logging(settings)
        from openlineage_pandas.hooks import instrument_all

        _enabled = True
        # Events are built on a worker thread whose first import (openlineage-python, fsspec) can still be
        # running at exit, after `threading` has shut down, when concurrent.futures can no longer be imported.
        import concurrent.futures.thread  # noqa: F401

        from openlineage_pandas.hooks._patching import tracking

        tracking.on = _is_active()
        from openlineage_pandas.provenance import deferred

        deferred.eager = bool(settings.eager_lineage)
        instrument_all(tracking, column_lineage=settings.column_lineage)
        _install_exit_hooks()
        runs.start_process_run(settings, job_name=job_name, script_path=script_path or _main_script())
        return True


def enable_from_environment(**kwargs: Any) -> bool:
    """`enable()` for zero-code entry points: a configuration error is reported, never raised."""
    try:
        return enable(**kwargs)
    except ConfigError as exc:
        log.error("openlineage-pandas: tracking is OFF: %s", exc)
        sys.stderr.write(f"openlineage-pandas: tracking is OFF: {exc}\n")
        return False


def disable() -> None:
    """Complete the script run, flush events, and restore every patched attribute. Idempotent."""
    global _enabled
    with _state_lock:
        if not _enabled:
            return
        from openlineage_pandas.hooks import uninstrument_all
        from openlineage_pandas.hooks._patching import tracking

        uninstrument_all()
        _enabled = False
        tracking.on = False
    runs.end_process_run()
    runs.forget_process_run()
    _flush()


def _existing_emitter() -> Emitter | None:
    """The process-wide emitter, if one was built or installed; never loads the emitter's module (~15 ms of
    imports) when nothing used it, as with the event process."""
    module = sys.modules.get("openlineage_pandas.delivery.emitter")
    return module.existing_emitter() if module is not None else None


def _flush() -> None:
    from openlineage_pandas.events.pipeline import pipeline
    from openlineage_pandas.events.process import event_process
    from openlineage_pandas.safety import guarded_call

    guarded_call("event building", pipeline.drain, _build_timeout())
    if event_process.running:
        guarded_call("emission", event_process.flush)
    emitter = _existing_emitter()
    if emitter is not None:
        guarded_call("emission", emitter.flush, emitter.settings.flush_timeout)


def _main_script() -> str | None:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return os.path.abspath(path) if path else None


@contextmanager
def job(name: str, namespace: str | None = None) -> Iterator[runs.Run | None]:
    """Scope an explicit run named `name`; nested scopes become child runs. Yields None when disabled."""
    if tracking_disabled():
        yield None
        return
    if not _enabled:
        enable()
    with runs.job(name, namespace=namespace) as run:
        yield run


# ---------------------------------------------------------------------------------------------- exit
def _excepthook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    try:
        if _is_active():
            runs.end_process_run(exc)
    except Exception:  # never let lineage change how the program dies
        pass
    hook = _previous_excepthook or sys.__excepthook__
    hook(exc_type, exc, tb)


def _at_exit() -> None:
    if _in_fork_child:
        return
    try:
        runs.end_process_run()
    finally:
        from openlineage_pandas.events.pipeline import pipeline
        from openlineage_pandas.safety import guarded_call

        guarded_call("event building", pipeline.drain, _build_timeout())
        from openlineage_pandas.events.process import event_process

        # the child flushes with its own deadline, then exits; the margin covers its start and spooling
        guarded_call("emission", event_process.close, _flush_timeout() + 10.0)
        emitter = _existing_emitter()
        if emitter is not None:
            guarded_call("emission", emitter.shutdown, emitter.settings.flush_timeout)


def _build_timeout() -> float:
    """How long exit waits for queued events to be built: local work (no network), so never less than 10 s,
    whatever the network flush deadline."""
    return max(_flush_timeout(), 10.0)


def _flush_timeout() -> float:
    from openlineage_pandas.config import setting_or_default

    return float(setting_or_default("FLUSH_TIMEOUT"))


def _after_fork_in_child() -> None:
    """A forked child stays silent: it must never duplicate or corrupt the parent's run."""
    global _in_fork_child
    _in_fork_child = True
    from openlineage_pandas.hooks._patching import tracking

    tracking.on = False


def _install_exit_hooks() -> None:
    global _exit_hooks_installed, _previous_excepthook
    if _exit_hooks_installed:
        return
    _exit_hooks_installed = True
    _previous_excepthook = sys.excepthook
    sys.excepthook = _excepthook
    atexit.register(_at_exit)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
