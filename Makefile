# The one entry point. `make demo` and `make test` work on a fresh clone; .ci/run calls `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export VIRTUAL_ENV := $(abspath $(VENV))

.PHONY: demo test build lint bench clean

$(BIN)/maturin:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip 'maturin>=1.8,<2'

# Builds the Rust extension in release mode and installs the package with its dev extras.
build: $(BIN)/maturin
	$(BIN)/maturin develop --release -q -E dev

demo: build
	$(BIN)/llmledger demo

test: build
	cargo test --quiet
	$(BIN)/python -m pytest -q

lint: build
	cargo clippy --all-targets -- -D warnings
	$(BIN)/ruff check python tests benches
	$(BIN)/ruff format --check python tests benches

bench: build
	$(BIN)/python -m pytest benches -q --benchmark-enable --benchmark-only

clean:
	rm -rf $(VENV) target
