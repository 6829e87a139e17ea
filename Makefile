# credsim: `make compare` runs the main job, `make test` the test suite; both set up .venv first
# if needed (scripts/setup.sh: Python from .python-version, pinned by requirements.lock).

VENV   := .venv
STAMP  := $(VENV)/.credsim-setup

# Extra arguments: make compare ARGS="--replicates 4 --out results/compare4"   make test PYTEST_ARGS="-m 'not slow'"
ARGS ?=
PYTEST_ARGS ?=
# the suite runs on every core, a test file per worker (module fixtures are built once); PYTEST_PARALLEL= for one process
PYTEST_PARALLEL ?= -n auto --dist loadfile

.PHONY: setup browser test compare experiments lock clean-results help
.DEFAULT_GOAL := help

help:
	@echo "make compare   set up if needed, then run the strategy comparison (experiments/strategies.toml) as a sweep and compare (results/compare/)"
	@echo "make test      set up if needed, then run the test suite ($(VENV)/bin/pytest)"
	@echo "make experiments  set up if needed, then run the five experiment notebooks (results/NN_*/, docs/sensitivity.md)"
	@echo "make setup     create $(VENV) and install credsim[test] pinned by requirements.lock"
	@echo "make browser   install Debian's chromium for the browser tests if missing (as root; make test does it)"
	@echo "make lock      regenerate requirements.lock from a clean install (after changing dependencies)"

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock .python-version scripts/setup.sh
	bash scripts/setup.sh

# Debian's chromium for the browser tests (tests/test_app.py); a no-op when it is installed
browser:
	bash scripts/setup-browser.sh

test: $(STAMP) browser
	$(VENV)/bin/pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

compare: $(STAMP)
	$(VENV)/bin/python experiments/compare_strategies.py $(ARGS)

# the five experiment notebooks (experiments/NN_*.py), full setting; make experiments ARGS=01_strategies for one
experiments: $(STAMP)
	bash scripts/run-experiments.sh $(ARGS)

lock:
	bash scripts/lock.sh

clean-results:
	rm -rf results/compare
