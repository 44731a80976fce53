# The one entry point. `make demo` and `make test` work on a fresh clone; .ci/run calls `make test`.
#
# `make test` runs in the locked environment (requirements-lock.txt: every dependency pinned,
# with hashes), so a new release of a dependency cannot turn it red. `make test-latest` runs
# the same suite in .venv-latest against the newest releases pyproject.toml allows: run it
# before each submission, and fix what a new release changed for users. `make lock` renews
# the lock from the environment that passed `make test-latest`.
PYTHON ?= python3
VENV ?= .venv
INSTALL ?= locked
BIN := $(VENV)/bin
LOCK := requirements-lock.txt
export VIRTUAL_ENV := $(abspath $(VENV))

.PHONY: demo test test-latest lock build lint bench clean

$(VENV)/.installed-locked: $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --require-hashes -r $(LOCK)
	touch $@

$(VENV)/.installed-latest:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip 'maturin>=1.8,<2'
	$(PYTHON) scripts/dependencies.py | \
		$(BIN)/python -m pip install -q --upgrade --upgrade-strategy eager -r /dev/stdin
	touch $@

# Builds the Rust extension in release mode and installs the package into the environment.
build: $(VENV)/.installed-$(INSTALL)
	$(BIN)/maturin develop --release -q

demo: build
	$(BIN)/llmledger demo

test: build
	cargo test --quiet
	$(BIN)/python -m mypy.stubtest llmledger._core
	$(BIN)/python -m pytest -q

test-latest:
	rm -f .venv-latest/.installed-latest
	$(MAKE) test VENV=.venv-latest INSTALL=latest
	.venv-latest/bin/python -m pip list --format=freeze > .venv-latest/versions.txt

lock:
	$(PYTHON) -m pip install -q uv
	.venv-latest/bin/python -m pip freeze --exclude-editable | grep -v '^llmledger' > .venv-latest/constraints.txt
	$(PYTHON) -m uv pip compile pyproject.toml requirements-tools.in --extra dev --python-version 3.11 \
		-c .venv-latest/constraints.txt --generate-hashes --no-header --quiet -o $(LOCK)

lint: build
	cargo clippy --all-targets -- -D warnings
	$(BIN)/ruff check python tests benches
	$(BIN)/ruff format --check python tests benches

bench: build
	$(BIN)/python -m pytest benches -q --benchmark-enable --benchmark-only

clean:
	rm -rf $(VENV) .venv-latest target
