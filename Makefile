# The two commands a new user needs are `make demo` and `make test`; both create .venv and install
# the pinned dependencies from requirements.lock first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo serve test lint bench bench-scale bench-paths lock clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/jejak --home demo-home demo --fresh

# The service over the demo workspace (run `make demo` first), one account per role.
serve: $(STAMP)
	@test -f demo-home/jejak.json || { echo "run 'make demo' first: it makes the demo workspace"; exit 1; }
	$(BIN)/jejak --home demo-home serve --demo-accounts

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

# `make bench`: 1M and 10M rows against a hand-written DuckDB yardstick (data cached in
# $JEJAK_BENCH_CACHE, default ~/.cache/jejak-bench, outside the repository); `make bench-scale`: 50M.
bench: $(STAMP)
	$(BIN)/python benchmarks/scale.py --sizes 1000000,10000000

bench-scale: $(STAMP)
	$(BIN)/python benchmarks/scale.py --sizes 50000000 --generators pg --no-release

# The older per-path benchmarks (linkage, attribution, notification pack, wide files).
bench-paths: $(STAMP)
	$(BIN)/python benchmarks/bench.py
	$(BIN)/python benchmarks/wide.py

# Re-pin after changing dependencies in pyproject.toml (needs uv: pip install uv).
lock:
	uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes \
		--output-file requirements.lock --no-header

clean:
	rm -rf $(VENV) demo-home bench-out jejak-eval
