# werkland: two commands on a fresh machine with Python 3.11+ and make.
#   make demo   -- create .venv if absent, install werkland, run the whole workflow on the demo region
#   make test   -- same set-up, run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2

.PHONY: demo test setup lint report bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "werkland needs Python >= 3.11 (set PYTHON=python3.11)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

demo: setup
	$(BIN)/snakemake --cores $(CORES)
	@echo "Report: results/demo/report/index.html"

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/snakemake --lint
	$(BIN)/ruff check src scripts tests benchmarks

report: setup
	$(BIN)/snakemake --cores $(CORES) --report results/report.zip

bench: setup
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf results .snakemake
