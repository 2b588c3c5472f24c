"""`import openlineage_pandas.auto`: switch tracking on for this script with one line.

Configuration errors are reported on stderr and tracking stays off; the program itself is never affected.
"""

from openlineage_pandas.api import enable_from_environment

enable_from_environment()
