# Two entry points: `make run` (serve the shipped model) and `make test` (lint + the test suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format train evaluate bench lock clean

# The serving path echoes no commands: what `make run` prints is the service's JSON log lines.
$(BIN)/python:
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --quiet --upgrade pip

# Exact versions from the lock files (requirements/). The project itself is not installed: every
# command runs from this folder (`python -m app`, `python -m training`, `python -m pytest`).
$(VENV)/.serve: requirements/serve.txt | $(BIN)/python
	@$(BIN)/pip install --quiet -r requirements/serve.txt
	@touch $@

$(VENV)/.dev: requirements/dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements/dev.txt
	touch $@ $(VENV)/.serve

run: $(VENV)/.serve
	@$(BIN)/python -m app --host $(HOST) --port $(PORT)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# pytest exits 5 when nothing was collected: that is a failure here, not a pass.
test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	  [ $$rc -ne 5 ] || echo "pytest collected no tests" >&2; exit $$rc

format: $(VENV)/.dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

train: $(VENV)/.dev
	$(BIN)/python -m training

evaluate: $(VENV)/.dev
	$(BIN)/python -m training evaluate

# The benchmark of docs/performance.md (needs wrk and $$MNIST_NPZ); see python -m bench --help.
bench: $(VENV)/.dev
	$(BIN)/python -m bench $(BENCH_ARGS)

# Re-resolve every dependency to the newest versions pyproject.toml allows; then `make test`.
LOCK := $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 \
  -c requirements/constraints.txt --upgrade --quiet
lock: $(VENV)/.dev
	$(LOCK) -o requirements/serve.txt
	$(LOCK) --extra train -o requirements/train.txt
	$(LOCK) --extra dev -o requirements/dev.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
