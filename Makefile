# gridsim — `make run` / `make test` bootstrap .venv from requirements.lock on first use.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c

VENV := .venv
ARGS ?=
# Tooling used only by `make lock` (installed into a throwaway venv).
LOCK_TOOLS ?= pip==26.3 pip-tools==7.6.2
# Extra pip-compile flags, e.g. `make lock LOCK_FLAGS=--upgrade`.
LOCK_FLAGS ?=

.PHONY: all bootstrap run test lint lock clean

all: test

bootstrap:
	@bash scripts/bootstrap.sh

run: bootstrap
	$(VENV)/bin/gridsim run $(ARGS)

test: bootstrap
	$(VENV)/bin/ruff check . && $(VENV)/bin/python -m pytest

lint: bootstrap
	$(VENV)/bin/ruff check .

# Regenerate requirements.lock (all runtime + dev deps, transitive, hashed) with pip-compile
# in a temporary venv. Use a Python 3.12 interpreter: `make lock GRIDSIM_PYTHON=/path/python3.12`.
lock:
	@py=$$(bash scripts/bootstrap.sh --print-python); \
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	echo "pip-compile with $$py ..." >&2; \
	"$$py" -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/python" -m pip install -q $(LOCK_TOOLS); \
	CUSTOM_COMPILE_COMMAND="make lock" "$$tmp/venv/bin/pip-compile" --quiet \
	    --extra dev --extra dask --generate-hashes --allow-unsafe --strip-extras \
	    --no-emit-index-url --no-emit-find-links $(LOCK_FLAGS) \
	    -o requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
