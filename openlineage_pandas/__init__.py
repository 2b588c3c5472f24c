"""openlineage-pandas: OpenLineage run events with schema and column-level lineage for pandas and friends.

`enable()`/`disable()` switch the hooks on and off; `job(name)` scopes an explicit run.
"""

from __future__ import annotations

__version__ = "0.1.0"

from openlineage_pandas.api import disable, enable, is_enabled, job

__all__ = ["__version__", "disable", "enable", "is_enabled", "job"]
