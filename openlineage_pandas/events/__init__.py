"""Event building: turns a Run's records into openlineage-python RunEvents with standard and custom facets.

`facets` builds individual facets; `builder` assembles the event. Neither patches nor sends anything.
"""
