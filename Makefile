# Two commands on a fresh machine:  `make reproduce` (the main job) and `make test`.
# Both create the virtual environment on first use: the package with every extra, and the exact
# CPU build of torch from constraints.txt (an unconstrained torch can be a multi-GB CUDA build).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PIP_C  := -c constraints.txt
# A second environment with the core only (no extras), for `make test-core`.
CORE_VENV ?= .venv-core
CORE_TESTS := tests/test_extras.py tests/test_spectral.py tests/test_nn.py tests/test_sensing.py \
	tests/test_train.py tests/test_theory_reduced.py tests/test_theory_rate_flow.py

.PHONY: install reproduce reproduce-quick demo test test-all test-core lint typecheck docs \
	docs-serve bench bench-quick clean

OUT ?= results

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(PIP_C) -e '.[all,dev]'
	touch $(STAMP)

$(VENV)/.docs-installed: $(STAMP)
	$(PY) -m pip install --quiet $(PIP_C) -e '.[all,dev,docs]'
	touch $@

install: $(STAMP)

reproduce: $(STAMP)
	$(VENV)/bin/spectralnn reproduce all --out $(OUT)

reproduce-quick: $(STAMP)
	$(VENV)/bin/spectralnn reproduce all --quick --out $(OUT)-quick

demo: $(STAMP)
	$(VENV)/bin/spectralnn demo

test: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

test-all: $(STAMP)
	$(PY) -m pytest -q

# The core without any extra, in its own environment: import, train, and the errors that
# name the missing extras. The environment is made once (again when pyproject.toml or
# constraints.txt change); each run reinstalls the package itself. One PyTorch thread: these
# small decompositions gain nothing from more, and on shared cores two made tests 10x slower.
$(CORE_VENV)/.installed: pyproject.toml constraints.txt
	rm -rf $(CORE_VENV) build
	$(PYTHON) -m venv $(CORE_VENV)
	$(CORE_VENV)/bin/python -m pip install --quiet $(PIP_C) . pytest
	touch $@

test-core: $(CORE_VENV)/.installed
	rm -rf build   # setuptools would reuse files left there by an earlier build
	$(CORE_VENV)/bin/python -m pip install --quiet --no-deps --force-reinstall .
	OMP_NUM_THREADS=1 $(CORE_VENV)/bin/python -m pytest -q -m "not slow" -p no:cacheprovider \
		$(CORE_TESTS)

docs: $(VENV)/.docs-installed
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

docs-serve: $(VENV)/.docs-installed
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks $(wildcard examples)

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# The benchmarks also compare with scikit-surprise (B6): the `bench` extra.
$(VENV)/.bench-installed: $(STAMP)
	$(PY) -m pip install --quiet $(PIP_C) -e '.[bench]'
	touch $@

bench: $(VENV)/.bench-installed
	$(PY) benchmarks/run_all.py

bench-quick: $(VENV)/.bench-installed
	$(PY) benchmarks/run_all.py --quick

clean:
	rm -rf $(VENV) $(CORE_VENV) build dist site src/*.egg-info .pytest_cache .ruff_cache
