# cspack: two commands do all set-up on a fresh machine with Python 3.11 and make.
#   make pack   build the default quarter's pack on the bundled data
#   make test   run the whole test suite (pytest for pipeline/, nbval over every notebook, end to end)
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.cspack-installed

.PHONY: pack test lab bench bench-generate bench-clean bench-placements bench-forecast bench-aggregate demo-data browser clean help
help:
	@echo "make pack | make test | make lab | make bench | make bench-generate | make demo-data | make clean"

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "cspack: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name cspack --display-name "cspack (Python 3.11)"
	touch $(STAMP)

# Headless Chromium checks the exported pack (no console errors, no request leaving the machine).
# Debian's package is used; as root it is installed here, otherwise install it yourself.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "cspack: the browser tests need Chromium: sudo apt-get install chromium" >&2; exit 1; fi; }

pack: $(STAMP)
	$(BIN)/cspack run

test: $(STAMP) browser
	$(BIN)/python -m pytest

# JupyterLab refuses to start as root unless told (--allow-root), as in a container or CI shell.
lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=. --MultiKernelManager.default_kernel_name=cspack \
	  $$([ "$$(id -u)" = 0 ] && echo --allow-root)

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_build.py

bench-generate: $(STAMP)
	$(BIN)/python benchmarks/bench_generate.py 1 80

bench-placements: $(STAMP)
	$(BIN)/python benchmarks/bench_placements.py

bench-forecast: $(STAMP)
	$(BIN)/python benchmarks/bench_forecast.py

bench-aggregate: $(STAMP)
	$(BIN)/python benchmarks/bench_aggregate.py

bench-clean: $(STAMP)
	$(BIN)/python benchmarks/bench_clean.py 80

demo-data: $(STAMP)
	$(BIN)/cspack demo-data

clean:
	rm -rf $(VENV) .pytest_cache

bench-batch: $(STAMP)  ## public-data packs of many authorities on Dask, 1 and 2 workers (AUTHORITIES="East Midlands"; default all)
	$(BIN)/python benchmarks/bench_batch.py --authorities "$(or $(AUTHORITIES),all)"
