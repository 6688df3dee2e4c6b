# The README's two commands: `make serve` and `make test`. Both create .venv on their own.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8787

.PHONY: serve test install install-test lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-test: $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'

serve: install
	$(BIN)/ltx-mock serve --port $(PORT)

test: install-test
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 -q

lint: install-test
	$(BIN)/ruff check .

bench: install-test
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) build dist *.egg-info
