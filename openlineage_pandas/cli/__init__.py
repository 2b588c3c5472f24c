"""Command-line interface: `openlineage-pandas run|summary|replay|status`.

Each sub-command lives in its own module exposing `register(subparsers)`; `main` only wires them.
"""

from __future__ import annotations

import sys

from openlineage_pandas.config import ConfigError, Settings


def settings_or_none(command: str) -> Settings | None:
    """Project settings, or None after printing the error (variable and accepted values) for `command`."""
    try:
        return Settings.from_env()
    except ConfigError as exc:
        print(f"openlineage-pandas {command}: {exc}", file=sys.stderr)
        return None
