# cspack: two commands do all set-up on a fresh machine with Python 3.11 and make.
#   make pack   build the default quarter's pack on the bundled data
#   make test   run the whole test suite (pytest for pipeline/, nbval over every notebook, end to end)
# `make help` lists every target: it reads the `## ` comment on each target's line, so give every new
# target one (tests/test_habits.py checks that each .PHONY target is listed).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.cspack-installed

.PHONY: help pack test test-fast lint lint-fix hooks lab bench bench-generate bench-clean bench-placements bench-forecast bench-aggregate demo-data browser clean
.DEFAULT_GOAL := help

help: ## list the targets
	@echo "cspack: make <target>  (PYTHON=/path/to/python3.11 if python3.11 is not on your PATH)"
	@awk 'BEGIN {FS = ":[^#]*## "} /^[a-zA-Z0-9_-]+:[^#]*## / {printf "  %-20s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "cspack: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name cspack --display-name "cspack (Python 3.11)"
	touch $(STAMP)

# Headless Chromium checks the exported pack (no console errors, no request leaving the machine).
# Debian's package is used; as root it is installed here, otherwise install it yourself.
browser: ## install Debian's Chromium for the browser and PDF tests when run as root
	@{ command -v chromium && command -v pdftohtml; } >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian chromium and poppler-utils for the browser and PDF tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium poppler-utils >/dev/null; \
	  else echo "cspack: the browser and PDF tests need Chromium and poppler: sudo apt-get install chromium poppler-utils" >&2; exit 1; fi; }

pack: $(STAMP) ## create .venv, install cspack and build the default quarter's pack
	$(BIN)/cspack run

test: $(STAMP) browser ## the whole suite: unit tests, nbval over every notebook, pack builds, Chromium (CI runs this)
	$(BIN)/python -m pytest

# Tests marked `build` (set in tests/conftest.py: notebooks, pack builds, whole bundled quarters, Chromium)
# or `slow` (unit tests slow in themselves, listed in tests/conftest.py) are left out: docs/tests.md.
test-fast: $(STAMP) ## unit tests only: no pack builds, whole bundled quarters, notebooks, browser or slow tests
	$(BIN)/python -m pytest tests -m "not build and not slow" -q

lint: $(STAMP) ## ruff over the project, and no notebook carrying outputs (the pre-commit hooks, on every file)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pre-commit run --all-files

# Safe and unsafe fixes (the unsafe ones only rename unused loop variables to _name), then a `# noqa` on
# what no tool can fix, to be replaced by a hand fix: `grep -rn "# noqa" pipeline tests` lists them.
lint-fix: $(STAMP) ## apply ruff's fixes to the whole project (review the diff before committing)
	$(BIN)/ruff check --fix --unsafe-fixes --exit-zero .
	$(BIN)/ruff check --add-noqa .
	$(BIN)/ruff check .

hooks: $(STAMP) ## install the pre-commit hooks into .git (ruff, nbstripout, no outputs in notebooks)
	$(BIN)/pre-commit install

# JupyterLab refuses to start as root unless told (--allow-root), as in a container or CI shell.
lab: $(STAMP) ## JupyterLab on the project with the cspack kernel
	$(BIN)/jupyter lab --notebook-dir=. --MultiKernelManager.default_kernel_name=cspack \
	  $$([ "$$(id -u)" = 0 ] && echo --allow-root)

bench: $(STAMP) ## time the default pack's build against the papermill floor (docs/benchmarks.md)
	$(BIN)/python benchmarks/bench_build.py

bench-generate: $(STAMP) ## time the synthetic authority's generation at scales 1 and 80
	$(BIN)/python benchmarks/bench_generate.py 1 80

bench-placements: $(STAMP) ## the placement projection: speed, backtest, oracle, national scale
	$(BIN)/python benchmarks/bench_placements.py

bench-forecast: $(STAMP) ## the forecast used against no change, Markov and ETS on unseen authorities
	$(BIN)/python benchmarks/bench_forecast.py
	$(BIN)/python benchmarks/bench_forecast_synthetic.py
	$(BIN)/python benchmarks/bench_forecast.py --default-history
	$(BIN)/python benchmarks/bench_forecast.py --real-panel-by-change

bench-aggregate: $(STAMP) ## the aggregate projection from DfE counts, backtested on every authority
	$(BIN)/python benchmarks/bench_aggregate.py

bench-clean: $(STAMP) ## cleaning throughput at national scale (scale 80)
	$(BIN)/python benchmarks/bench_clean.py 80

demo-data: $(STAMP) ## regenerate the bundled synthetic authority in data/raw/synthetic
	$(BIN)/cspack demo-data

clean: ## remove .venv and the pytest cache
	rm -rf $(VENV) .pytest_cache

.PHONY: validate-synthetic
validate-synthetic: ## DfE's SSDA903 validator (own venv .venv-validator) on the bundled synthetic returns
	$(PYTHON) benchmarks/validate_synthetic.py

.PHONY: bench-batch
bench-batch: $(STAMP) ## public-data packs of many authorities on Dask, 1 and 2 workers (AUTHORITIES="East Midlands"; default all)
	$(BIN)/python benchmarks/bench_batch.py --authorities "$(or $(AUTHORITIES),all)"
