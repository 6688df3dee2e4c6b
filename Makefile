# The README's two commands: `make serve` and `make test`. Both create .venv on their own.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8787

.PHONY: serve test test-long install install-test lint typecheck bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-test: $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'

serve: install
	$(BIN)/ltx-mock serve --port $(PORT)


# mypy (~17 s cold, CPU-bound) runs beside pytest, whose two workers leave about a third of the CPU idle while
# they wait on servers and sockets; both must pass.
test: install-test
	$(BIN)/ruff check .
	@$(BIN)/mypy > .mypy.out 2>&1 & mypy=$$!; \
	$(BIN)/python -m pytest -n 2 -q; status=$$?; \
	wait $$mypy || status=1; echo "mypy: $$(tail -n 1 .mypy.out)"; \
	[ $$status -eq 0 ] || { cat .mypy.out; rm -f .mypy.out; exit 1; }; rm -f .mypy.out

# The real-time runs of many minutes that `make test` skips (e.g. `ltx-mock check` with its defaults against a
# simulator at speed 1: ~8 minutes, most of it pollForResult holds).
test-long: install-test
	$(BIN)/python -m pytest -q -m long --run-long

lint: install-test
	$(BIN)/ruff check .

typecheck: install-test
	$(BIN)/mypy

# Every figure of issue 17 from one run, ending with the targets table (docs/performance.md); about 6-8 minutes.
# `make bench BENCH_ARGS=--quick` for a shorter smoke run. WireMock comes from npm on first use (benchmarks/.peers).
BENCH_ARGS ?=
bench: install-test
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .cache
