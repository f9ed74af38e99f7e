# Two commands on a fresh machine: `make run` and `make test`. Each installs what it needs.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint bench install clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q uv==0.13.8
	$(BIN)/uv pip install -q --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	@touch $(STAMP)

# The dashboards' browser tests drive Debian's Chromium (no browser download is possible).
$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "install Chromium at $(CHROMIUM) for the browser tests"; exit 1; }
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver

run: $(STAMP)
	$(BIN)/workbench serve

# Two workers, one test file each at a time (a file's servers and browsers stay in one
# process): most tests wait on servers, sockets and browsers, so 2 cores run two files.
test: $(STAMP) $(CHROMIUM)
	$(BIN)/ruff check workbench server tests benchmarks notebooks
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check workbench server tests benchmarks notebooks
	$(BIN)/ruff format --check workbench server tests benchmarks notebooks

# NautilusTrader needs pandas < 3 and an older uvloop than ours: it gets a venv of its own
# (bench only; `make test` never installs it). Our engine needs only the standard library.
BENCH := .venv-bench
$(BENCH)/.installed: $(STAMP)
	@test -x $(BENCH)/bin/python || $(PYTHON) -m venv $(BENCH)
	$(BIN)/uv pip install -q --python $(BENCH)/bin/python nautilus-trader==1.221.0 numpy==2.4.6
	$(BIN)/uv pip install -q --python $(BENCH)/bin/python --no-deps -e .
	@touch $@

bench: $(STAMP) $(CHROMIUM) $(BENCH)/.installed
	$(BIN)/python benchmarks/engine_throughput.py
	$(BIN)/python benchmarks/engine_vs_backtrader.py
	$(BENCH)/bin/python benchmarks/engine_vs_nautilus.py
	$(BIN)/python benchmarks/api_load.py
	$(BIN)/python benchmarks/recovery.py
	$(BIN)/python benchmarks/dashboard_load.py

screenshots: $(STAMP) $(CHROMIUM) ; $(BIN)/python tests/screenshots.py  # docs/img/*.png

clean:
	rm -rf $(VENV) $(BENCH) .pytest_cache .ruff_cache
