# The project's commands. A newcomer needs two: `make demo` and `make test`.
# Everything they need (a Python venv with moto, cargo-lambda, cfn-lint...) is installed here,
# into .venv, on first use.

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CARGO ?= cargo
export MOTO_SERVER := $(abspath $(VENV)/bin/moto_server)

.PHONY: demo test fmt-check clippy unit venv clean-local

## demo: run a real failover locally against a local EC2 API (moto)
demo: $(STAMP)
	VENV=$(VENV) bash scripts/demo.sh

## test: formatting, lints and every test (unit, parser, mocks, end to end against moto)
test: $(STAMP) fmt-check clippy
	$(CARGO) test --all-targets

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --all-targets -- -D warnings

## venv: the project-local Python tools (moto, cargo-lambda, cfn-lint), pinned in requirements-dev.txt
venv: $(STAMP)

$(STAMP): requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

clean-local:
	rm -rf .local
