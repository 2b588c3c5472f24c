# The two commands a newcomer types: `make demo` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
VENV22 := .venv-pandas22
PY22 := $(VENV22)/bin/python
STAMP22 := $(VENV22)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: demo test test-main test-pandas22 test-pandas lint typecheck bench bench-smoke clean env

env: $(STAMP)

$(STAMP): pyproject.toml setup.py openlineage_pandas/hooks/_speedups.c
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

$(STAMP22): pyproject.toml setup.py openlineage_pandas/hooks/_speedups.c
	test -x $(PY22) || $(PYTHON) -m venv $(VENV22)
	$(PY22) -m pip install -q --upgrade pip
	$(PY22) -m pip install -q -e '.[dev]' 'pandas==2.2.*'
	touch $(STAMP22)

DEMO_DATA := examples/housing/data/housing.csv

demo: $(STAMP)
	test -f $(DEMO_DATA) || $(PY) examples/housing/make_data.py --rows 20000 --out $(DEMO_DATA)
	$(VENV)/bin/openlineage-pandas run examples/housing/pipeline.py --data $(DEMO_DATA) --out examples/housing/out
	$(VENV)/bin/openlineage-pandas summary

test: test-main test-pandas22

test-main: $(STAMP)
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

# pandas 2.2 runs the pure-Python hot path (the fallback when the C extension is not built); main runs the compiled one
test-pandas22: $(STAMP22)
	OPENLINEAGE_PANDAS_SPEEDUPS=false $(PY22) -m pytest -n 2 -q $(PYTEST_ARGS)

# pandas' own tests, plain and tracked; fails if tracking adds a failure (tests/pandas_suite/run_pandas_suite.py)
test-pandas: $(STAMP)
	$(PY) tests/pandas_suite/run_pandas_suite.py

lint: $(STAMP)
	$(PY) -m ruff check openlineage_pandas tests examples benchmarks integrations
	$(PY) -m mypy

bench: $(STAMP)
	$(PY) benchmarks/run.py --full

bench-smoke: $(STAMP)
	$(PY) benchmarks/run.py --smoke

clean:
	rm -rf $(VENV) $(VENV22) .openlineage .pytest_cache .mypy_cache .ruff_cache
