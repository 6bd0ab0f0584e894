# Every target does its own set-up on a fresh machine: it creates .venv, installs the pinned
# dependencies and compiles the Cython core before doing its job.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYX    := $(wildcard gateway/_core/*.pyx gateway/_core/*.pxd gateway/_core/*.h)
BUILT  := gateway/_core/.built

.PHONY: all build test lint bench run clean distclean

all: build

$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (set PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(BUILT): $(STAMP) setup.py $(PYX)
	$(PY) setup.py --quiet build_ext --inplace
	touch $@

build: $(BUILT)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: build
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

bench: build
	$(PY) bench/codec.py
	$(PY) bench/smpp.py

run: build
	$(PY) -m gateway selfcheck
	$(PY) -m gateway count "Soldes -50% ce week-end ! STOP au 36184"

clean:
	rm -rf build gateway/_core/*.c gateway/_core/*.so gateway/_core/*.html $(BUILT)
	find . -name __pycache__ -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) .pytest_cache .hypothesis .ruff_cache
