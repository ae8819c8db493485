# cloudfront-sg-sync: everything a newcomer needs, from a fresh machine.
#   make demo   the Lambda against a local EC2 emulator on a real ip-ranges.json (no AWS account)
#   make test   every test (unit, emulator, mocked), with the emulator installed on the way
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
# One target dir for tests, binaries and the demo, so the AWS SDK is built once. CI points it at a cache.
export CARGO_TARGET_DIR ?= $(CURDIR)/target
export MOTO_SERVER := $(CURDIR)/$(VENV)/bin/moto_server

.PHONY: help venv build demo test lint fmt clean

help:
	@echo "make demo   run the Lambda against a local EC2 emulator on a bundled real ip-ranges.json"
	@echo "make test   run all tests"
	@echo "make lint   cargo fmt --check and clippy -D warnings"

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

build:
	cargo build --all-targets

demo: venv
	VENV=$(VENV) scripts/demo.sh

test: venv
	cargo test --all-targets --no-fail-fast

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

fmt:
	cargo fmt --all

clean:
	rm -rf $(VENV) .demo
	cargo clean
