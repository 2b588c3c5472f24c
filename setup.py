"""The compiled hot path of hooked calls (everything else about the package is in pyproject.toml).

Optional: without a C compiler the build goes on and the pure-Python fallback runs (same behaviour, slower per
call); `OPENLINEAGE_PANDAS_SPEEDUPS=false` selects the fallback at run time.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("openlineage_pandas.hooks._speedups", ["openlineage_pandas/hooks/_speedups.c"],
                             optional=True)])
