"""Queries over stored events: load the local JSON-lines store, group events into runs, summarise a run.

Later: upstream/downstream/path at dataset and column level, tags, PII reports, run diffs, Marquez as a source.
"""
