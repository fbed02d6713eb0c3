# eyhub: the two commands are `make run` and `make test` (see README.md).
SHELL  := /bin/bash
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
PYTEST_ARGS ?=
# The slowest tests are printed at the end of every run, so a slow one is seen early.
PYTEST_DURATIONS ?= 25
# Four workers on the 2-core CI machine: many tests wait on real processes, and the
# extra workers keep both cores busy meanwhile. Tests are spread one by one (loadgroup),
# except those on the shared platform of real processes, kept on one worker
# (tests/conftest.py) so that it starts once.
PYTEST_WORKERS ?= 4

.PHONY: install run test fuzz lint format bench clean

$(STAMP): pyproject.toml requirements.lock requirements-dev.lock
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-compile -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $(NODE_STAMP)

install: $(STAMP) $(NODE_STAMP) ## create .venv and install the pinned dependencies

run: $(STAMP) $(NODE_STAMP) ## start the whole platform with demo data
	$(BIN)/eyhub up --demo

test: install ## run the whole suite (embedded; plus PostgreSQL/RabbitMQ when configured)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup --durations=$(PYTEST_DURATIONS) $(PYTEST_ARGS)

# The CI fuzz run (tests/e2e/test_gateway_schemathesis.py) with far more cases per operation.
FUZZ_EXAMPLES ?= 100
FUZZ_SECONDS ?= 600
fuzz: install ## schemathesis over every operation, as every role, for longer than CI does
	EYHUB_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) EYHUB_FUZZ_SECONDS=$(FUZZ_SECONDS) \
	  $(BIN)/python -m pytest -n 0 tests/e2e/test_gateway_schemathesis.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install ## run every benchmark in bench/ (each prints ratios)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lock: $(STAMP) ## refresh both locks from the pins in pyproject.toml
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet .
	( echo "# Runtime dependencies, fully pinned (what the image installs). Refresh: make lock"; \
	  .lock-venv/bin/python -m pip freeze | grep -iv '^eyhub' ) > requirements.lock
	( echo "# Test and development tools on top of the runtime lock. Refresh: make lock"; \
	  echo "-r requirements.lock"; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -iv '^eyhub' \
	    | grep -ivxFf <(.lock-venv/bin/python -m pip freeze) ) > requirements-dev.lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) node_modules var .pytest_cache
