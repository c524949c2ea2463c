# Cutover Console: the two commands people need are `make demo` and `make test`.
# Both build everything from scratch on a fresh machine (Python venv, Kafka jars from
# Maven Central) and reuse it afterwards.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup jars demo test test-fast drill-full lint format snapshots bench sandbox-down clean

$(BIN)/cutover: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(BIN)/cutover jars

jars: $(BIN)/cutover
	$(BIN)/python -c 'from console.sandbox import fetch_jars, CLUSTER_VERSIONS; [print(fetch_jars(v)) for v in CLUSTER_VERSIONS.values()]'

## Open the console on the built-in demo: sandbox clusters, seeded topics, example plan.
demo: setup
	$(BIN)/cutover demo

## The whole test suite, against real Kafka clusters it starts and stops itself.
test: setup
	$(BIN)/pytest

## The kill drills at every audit boundary: `make test` kills a strided step (see `stride`
## in tests/test_drill_kill.py, STRIDE in tests/test_drill_kill_producers.py) after a
## subset of its boundaries; this kills after each (about 2 hours).
drill-full: setup
	CUTOVER_DRILL_FULL=1 $(BIN)/pytest tests/test_drill_kill.py tests/test_drill_kill_producers.py

## Only the tests that need no Kafka (nor a schema registry JVM).
test-fast: $(BIN)/cutover
	$(BIN)/pytest -m 'not kafka and not registry'

lint: $(BIN)/cutover
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(BIN)/cutover
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Re-record the SVG snapshots after checking snapshot_report.html.
snapshots: $(BIN)/cutover
	$(BIN)/pytest tests/test_snapshots.py --snapshot-update

sandbox-down: $(BIN)/cutover
	$(BIN)/cutover sandbox down

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts snapshot_report.html
