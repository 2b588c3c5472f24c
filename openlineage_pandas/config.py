"""Project settings: every `OPENLINEAGE_PANDAS_*` variable, parsed and validated in one place.

OpenLineage's own variables (OPENLINEAGE_URL, OPENLINEAGE_CONFIG, ...) are left to openlineage-python.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PREFIX = "OPENLINEAGE_PANDAS_"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names the variable and what it accepts."""


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean; accepted values: true, false, 1, 0, yes, no, on, off")


def _parse_positive_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value != value or value == float("inf"):
        raise ConfigError(f"{name}={raw!r} is not valid; accepted values: a positive number of seconds")
    return value


def _parse_positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} is not valid; accepted values: a positive whole number")
    return value


def _parse_choice(choices: tuple[str, ...]) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ConfigError(f"{name}={raw!r} is not valid; accepted values: {', '.join(choices)}")
        return value

    return parse


def _parse_str(name: str, raw: str) -> str:
    if not raw.strip():
        raise ConfigError(f"{name} is set but empty; accepted values: a non-empty string")
    return raw.strip()


@dataclass(frozen=True)
class Setting:
    """One project variable: its suffix after the prefix, default, parser and the README description."""

    key: str
    default: Any
    parse: Callable[[str, str], Any]
    help: str

    @property
    def env_name(self) -> str:
        return PREFIX + self.key


SETTINGS: tuple[Setting, ...] = (
    Setting("DIR", ".openlineage", _parse_str,
            "Local store directory: events.jsonl (default transport), spool.jsonl, rejected.jsonl."),
    Setting("JOB_NAME", None, _parse_str,
            "Job name for the script run (default: the script's file name without extension)."),
    Setting("COLUMN_LINEAGE", True, _parse_bool,
            "Track in-memory pandas operations for column-level lineage."),
    Setting("SOURCE_CODE", True, _parse_bool,
            "Attach the sourceCodeLocation job facet (git URL without credentials, SHA, branch, dirty)."),
    Setting("EAGER_LINEAGE", False, _parse_bool,
            "Evaluate column lineage at every operation instead of on first use: slower, but a rule error "
            "shows up at the call that caused it (used for pandas' own test-suite)."),
    Setting("EVENT_WORKER", "server", _parse_choice(("server", "process", "thread")),
            "Where events are built and sent: a process forked for each run by a shared event server that is "
            "already warm (started by the first run, it exits after SERVER_IDLE_TIMEOUT), a fresh helper process "
            "of this run's own, or a thread of this process. Only `thread` imports openlineage-python here."),
    Setting("SERVER_IDLE_TIMEOUT", 60.0, _parse_positive_float,
            "Seconds the shared event server stays up with no run connecting (taken from the run that starts it)."),
    Setting("SPEEDUPS", True, _parse_bool,
            "Run the hot path of hooked calls (guard, wrapper, method descriptor) compiled when the extension was "
            "built at install; false runs the pure-Python fallback (same results, slower). Read at import."),
    Setting("OPLOG_MAX_ENTRIES", 200, _parse_positive_int,
            "Operation-log entries kept in the run facet; the total count is kept when truncated."),
    Setting("FLUSH_TIMEOUT", 5.0, _parse_positive_float,
            "Seconds the process waits at exit for undelivered events before spooling them."),
    Setting("QUEUE_SIZE", 10000, _parse_positive_int,
            "Bounded queue between the pipeline and the background sender; overflow goes to the spool."),
    Setting("ON_ERROR", "warn", _parse_choice(("warn", "ignore", "raise")),
            "What an internal tracking error does: warn once per component, ignore, or raise (tests only)."),
    Setting("FAULT_INJECTION", False, _parse_bool,
            "Test switch: every internal hook, provenance and emission step raises (user results unchanged)."),
    Setting("LOG_LEVEL", "warning", _parse_choice(("debug", "info", "warning", "error")),
            "Log level of the openlineage_pandas logger."),
)

_BY_KEY = {s.key: s for s in SETTINGS}


def setting(key: str, environ: Mapping[str, str] | None = None) -> Any:
    """One setting's value from the environment (ConfigError naming the variable when it is invalid)."""
    entry = _BY_KEY[key]
    raw = (os.environ if environ is None else environ).get(entry.env_name)
    return entry.default if raw is None else entry.parse(entry.env_name, raw)


def setting_or_default(key: str) -> Any:
    """`setting(key)`, or the setting's default when its value is invalid: for code that must go on either way
    (`enable()` refuses the invalid value and names it)."""
    try:
        return setting(key)
    except ConfigError:
        return _BY_KEY[key].default


@dataclass(frozen=True)
class Settings:
    """Resolved project settings; build with `Settings.from_env()`."""

    values: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        return cls({entry.key: setting(entry.key, environ) for entry in SETTINGS})

    def __getattr__(self, item: str) -> Any:
        key = item.upper()
        if key in _BY_KEY:
            return self.values.get(key, _BY_KEY[key].default)
        raise AttributeError(item)

    @property
    def store_dir(self) -> Path:
        return Path(self.values.get("DIR", ".openlineage")).expanduser().absolute()

    @property
    def events_path(self) -> Path:
        return self.store_dir / "events.jsonl"

    @property
    def spool_path(self) -> Path:
        return self.store_dir / "spool.jsonl"

    @property
    def rejected_path(self) -> Path:
        return self.store_dir / "rejected.jsonl"


def tracking_disabled(environ: Mapping[str, str] | None = None) -> bool:
    """OpenLineage's own off switch, read the way openlineage-python reads it."""
    env = os.environ if environ is None else environ
    return env.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true"


def job_namespace(environ: Mapping[str, str] | None = None) -> str:
    """Job namespace from OPENLINEAGE_NAMESPACE (read by OpenLineage integrations, not the client)."""
    env = os.environ if environ is None else environ
    return env.get("OPENLINEAGE_NAMESPACE", "").strip() or "default"


def settings_table_markdown() -> str:
    """The README's configuration table for project variables, generated so it cannot drift."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for s in SETTINGS:
        default = "(unset)" if s.default is None else str(s.default).lower() if isinstance(s.default, bool) else str(s.default)
        rows.append(f"| `{s.env_name}` | `{default}` | {s.help} |")
    return "\n".join(rows)
