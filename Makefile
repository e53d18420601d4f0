# Two commands on a fresh machine:  `make reproduce` (the main job) and `make test`.
# Both create the virtual environment on first use (pinned CPU build of torch).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install reproduce reproduce-quick demo test test-all lint typecheck bench bench-quick clean

OUT ?= results

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,sweep]'
	touch $(STAMP)

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

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks $(wildcard examples)

typecheck: $(STAMP)
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

bench-quick: $(STAMP)
	$(PY) benchmarks/run_all.py --quick

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
