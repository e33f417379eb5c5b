# MyTSDB: the two-command quickstart is `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
PYTEST_ARGS ?=

.PHONY: install install-test run test test-full bench clean proto

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml setup.py tsdb/_native/rwdecode.c
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

## install: create or update .venv with MyTSDB installed (editable)
install: $(STAMP)

install-test: $(TEST_STAMP)

## run: start every component in one process on embedded defaults (./data, HTTP :9009)
run: install
	$(BIN)/mytsdb all --data-dir ./data

## test: the whole suite (installs what the tests need)
test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## test-full: the suite with the exhaustive variants (differential test at ~27 instants and 5 steps)
test-full: install-test
	MYTSDB_TEST_FULL=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

## bench: ingest, size and memory benchmarks against a real Prometheus (figures in bench/results/)
bench: install-test
	$(BIN)/python -m bench.run

## proto: regenerate the Python modules of schemas/prompb
proto: install-test
	bash schemas/generate.sh

clean:
	rm -rf $(VENV) build *.egg-info tsdb/_native/*.so
