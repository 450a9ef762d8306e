# cxemu: `make run` serves on http://localhost:8080, `make test` runs every check.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUNTIME := $(VENV)/.installed-runtime
STAMP   := $(VENV)/.installed-dev
ARGS   ?=
PIP     = $(BIN)/python -m pip install -q --disable-pip-version-check

.PHONY: install install-runtime run test lint typecheck pytest fuzz contracts bench docker clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# `make run` needs only the runtime dependencies; `make test` (and the other checks) add the dev extra.
# Each stamp is remade when pyproject.toml changes; the dev stamp implies the runtime one.
$(RUNTIME): pyproject.toml | $(BIN)/python
	@echo "make: installing cxemu and its runtime dependencies into $(VENV) (pip install -e .; once)"
	$(PIP) --upgrade pip
	$(PIP) -e .
	touch $(RUNTIME)

$(STAMP): pyproject.toml | $(BIN)/python
	@echo "make: installing cxemu with its dev tools into $(VENV) (pip install -e '.[dev]'; once)"
	$(PIP) --upgrade pip
	$(PIP) -e '.[dev]'
	touch $(RUNTIME) $(STAMP)

install-runtime: $(RUNTIME)

install: $(STAMP)

run: install-runtime
	$(BIN)/cxemu serve $(ARGS)

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/python -m pytest $(ARGS)

test: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2  # two workers (pytest-xdist): the suite waits on real servers much of its time

# the property and contract tests with fresh random examples (`make test` draws the same ones every run)
fuzz: install
	$(BIN)/python -m pytest -p no:cacheprovider --hypothesis-profile=explore tests/contract tests/unit/test_hostile_property.py $(ARGS)

contracts: install
	$(BIN)/cxemu contracts export

bench: install
	$(PIP) -r bench/requirements.txt
	$(BIN)/python bench/run.py $(ARGS)

docker:
	docker build -t cxemu .

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache
