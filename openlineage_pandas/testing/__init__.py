"""Testing aids for users and for our own checks: a pytest plugin that runs any test suite with tracking on.

Used by `make test-pandas` to run pandas' own tests with openlineage-pandas enabled.
"""
