"""pytest plugin: `-p openlineage_pandas.testing.pytest_plugin --openlineage-pandas` runs a suite tracked.

Tracking is enabled for the whole session into a temporary store; internal failures are counted and reported.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("openlineage-pandas")
    group.addoption("--openlineage-pandas", action="store_true", default=False,
                    help="enable openlineage-pandas tracking for the whole test session")


def pytest_configure(config: Any) -> None:
    if not config.getoption("--openlineage-pandas"):
        return
    if "OPENLINEAGE_PANDAS_DIR" not in os.environ:
        config._openlineage_pandas_store = tempfile.mkdtemp(prefix="openlineage-pandas-suite-")
        os.environ["OPENLINEAGE_PANDAS_DIR"] = config._openlineage_pandas_store
    import openlineage_pandas

    openlineage_pandas.enable(job_name="pytest-session")
    config._openlineage_pandas_enabled = True


def pytest_unconfigure(config: Any) -> None:
    if not getattr(config, "_openlineage_pandas_enabled", False):
        return
    import openlineage_pandas
    from openlineage_pandas.safety import warned_components

    openlineage_pandas.disable()
    store = getattr(config, "_openlineage_pandas_store", None)
    if store:  # ours, made for this session only
        shutil.rmtree(store, ignore_errors=True)
    failed = sorted(warned_components())
    if failed:
        print(f"\nopenlineage-pandas: internal failures were contained in: {', '.join(failed)}")


def pytest_report_header(config: Any) -> str | None:
    if config.getoption("--openlineage-pandas"):
        return "openlineage-pandas: tracking ENABLED for this session"
    return None
