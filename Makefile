# Every target does its own set-up on a fresh machine: it creates .venv, installs the pinned
# dependencies and compiles the Cython core before doing its job.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYX    := $(wildcard gateway/_core/*.pyx gateway/_core/*.pxd gateway/_core/*.h)
BUILT  := gateway/_core/.built

SIM    := $(PY) -m gateway.smpp.simulator --host 127.0.0.1 --port 2775 --system-id gateway \
          --password secret --receipt-delay 1 --stop-from 33600000000

.PHONY: all build test lint bench run simulator clean distclean

all: build

$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (set PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@# The work tree on the venv's path, and the `gateway` command (.venv/bin/gateway).
	$(PY) -c 'import site, sys; open(site.getsitepackages()[0] + "/gateway-worktree.pth", "w").write(sys.argv[1] + "\n")' "$(CURDIR)"
	printf '#!/bin/sh\nexec "%s" -m gateway "$$@"\n' "$(CURDIR)/$(PY)" > $(VENV)/bin/gateway
	chmod +x $(VENV)/bin/gateway
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

# Every benchmark runs, even after one misses its target; the status says whether any did.
bench: build
	@status=0; \
	for b in codec pdu smpp ratelimit e2e optout; do \
	  echo "== bench/$$b.py"; $(PY) bench/$$b.py || status=1; \
	done; exit $$status

# The daemon on its embedded default (config/gateway.toml): the bundled SMSC simulator on
# 127.0.0.1:2775 in the background, state under ./var, Ctrl-C stops both.
run: build
	@mkdir -p var && : > var/simulator.log
	@$(SIM) > var/simulator.log 2>&1 & sim=$$!; \
	trap 'kill $$sim 2>/dev/null; wait $$sim 2>/dev/null' EXIT INT TERM; \
	for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do \
	  grep -q listening var/simulator.log && break; \
	  kill -0 $$sim 2>/dev/null || break; sleep 0.25; \
	done; \
	grep -q listening var/simulator.log || { cat var/simulator.log; exit 1; }; \
	echo "simulator: 127.0.0.1:2775 (log in var/simulator.log)"; \
	echo "try, in another terminal: .venv/bin/gateway send --to +33612345678 --from DEMO --text Bonjour"; \
	$(PY) -m gateway run --config config/gateway.toml

# The simulator alone, in the foreground.
simulator: build
	$(SIM)

clean:
	rm -rf build gateway/_core/*.c gateway/_core/*.so gateway/_core/*.html $(BUILT)
	find . -name __pycache__ -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) .pytest_cache .hypothesis .ruff_cache
