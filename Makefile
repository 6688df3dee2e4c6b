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


# Three pytest workers on two cores: the tests spend about a third of their time waiting on servers, sockets and
# subprocesses, so a third worker fills it (measured on a fresh clone, load < 1: pytest -n 2 243 s, -n 3 160 s,
# the same 1,842 tests green; 2026-12-06). mypy (~17 s cold) runs beside them; both must pass.
test: install-test
	$(BIN)/ruff check .
	@$(BIN)/mypy > .mypy.out 2>&1 & mypy=$$!; \
	$(BIN)/python -m pytest -n 3 -q; status=$$?; \
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
