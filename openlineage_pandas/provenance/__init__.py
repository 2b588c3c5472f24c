"""Provenance: the pure column-lineage model and the weak side table that attaches it to live objects.

Nothing in this package patches anything; hooks compute new lineage with `model` and store it in `registry`.
"""

from openlineage_pandas.provenance.model import FrameLineage, SourceField, Transform
from openlineage_pandas.provenance.registry import lineage_table, tracked_object_count

__all__ = ["FrameLineage", "SourceField", "Transform", "lineage_table", "tracked_object_count"]
