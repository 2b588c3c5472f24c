"""The compiled-only tests are not collected where the pure-Python hot path runs (OPENLINEAGE_PANDAS_SPEEDUPS=false)."""

from openlineage_pandas.hooks import _patching

collect_ignore = [] if _patching.speedups is not None else ["test_speedups.py"]
