# b24crm — every task a user or CI runs. Each target installs what it needs into $(VENV) first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
PEERS_STAMP := $(VENV)/.installed-peers
# Extra pytest options for every pytest run of a target (e.g. PYTEST_ARGS=-x); to run a few tests, call pytest.
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: all install generate check-generated test test-fast test-peers lint demo bench docs reliability-doc \
	snapshot-update clean

all: test

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "b24crm needs Python 3.11+")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[codegen,test,dev,redis,tls]'
	@touch $@

$(PEERS_STAMP): $(STAMP)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[codegen,test,dev,redis,tls,peers]'
	@touch $@

install: $(STAMP)

## generate: spec/ -> generated/b24crm (validates the spec first; lists every problem)
generate: $(STAMP)
	$(PY) -m codegen

## check-generated: fail if generated/ is not exactly what the generator writes
check-generated: $(STAMP)
	$(PY) -m codegen --check

## test: the whole suite. Everything but tests/peers on the base install; then the peer SDKs are installed
##       and tests/peers runs. Any failure (or a run that collects no tests) fails the target.
test: $(STAMP)
	$(PY) -m codegen --check
	$(PY) tools/run_pytest.py --ignore=tests/peers $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-peers

## test-fast: the inner loop, on the base install: leaves out tests marked heavy (the slow reliability,
##            bulk-read, many-worker and schemathesis cases) and tests/peers; `make test` runs them all
test-fast: $(STAMP)
	$(PY) -m codegen --check
	$(PY) tools/run_pytest.py --ignore=tests/peers -m "not heavy and not peers" $(PYTEST_ARGS)

## test-peers: the peer SDKs (fast_bitrix24, b24pysdk) side by side with b24crm; installs them first
test-peers: $(PEERS_STAMP)
	$(PY) tools/run_pytest.py tests/peers $(PYTEST_ARGS)

## lint: ruff and mypy --strict, generated code included
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy --strict generated/b24crm codegen examples bench tools

## demo: a realistic job against the embedded emulator
demo: $(STAMP)
	$(PY) examples/demo.py

## bench: b24crm vs fast_bitrix24 and b24pysdk on the same emulator; rewrites BENCHMARKS.md
##        (BENCH_ARGS=--quick: small N, written under /tmp, for trying changes)
bench: $(PEERS_STAMP)
	$(PY) bench/run.py $(BENCH_ARGS)

## docs: the method reference in docs/reference.md, from the spec
docs: $(STAMP)
	$(PY) -m codegen.docs

## reliability-doc: run the fault matrix and write its table into docs/reliability.md (between its markers;
##                  the hand-written sections stay); tests/reliability/test_fault_matrix.py fails when it is stale
reliability-doc: $(STAMP)
	$(PY) -m tests.reliability.fault_matrix

## snapshot-update: re-record snapshots (always the full suite, so stale snapshots are removed)
snapshot-update: $(PEERS_STAMP)
	$(PY) tools/run_pytest.py --snapshot-update

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache
