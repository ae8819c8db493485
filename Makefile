# cloudfront-sg-sync: everything a newcomer needs, from a fresh machine. Every cargo build is --locked: what is built
# is what Cargo.lock (bench/ and fuzz/: their own) pins.
#   make demo   the Lambda against a local EC2 emulator on a real ip-ranges.json (no AWS account)
#   make test   every test (unit, emulator, mocked), with the emulator installed on the way
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
# One target dir for tests, binaries and the demo, so the AWS SDK is built once. CI points it at a cache.
export CARGO_TARGET_DIR ?= $(CURDIR)/target
export MOTO_SERVER := $(CURDIR)/$(VENV)/bin/moto_server

.PHONY: help venv venv-sam build demo test oracle lint check-template package sam-build fuzz bench bench-core fmt clean

help:
	@echo "make demo   run the Lambda against a local EC2 emulator on a bundled real ip-ranges.json"
	@echo "make test   run all tests"
	@echo "make oracle the tests' expected ranges of every bundled file, by Python's ipaddress (tests/fixtures/expected.json)"
	@echo "make lint   cargo fmt --check and clippy -D warnings on every crate (library, bench/, fuzz/)"
	@echo "make check-template   cfn-lint and sam validate --lint on template.yaml (offline)"
	@echo "make package          the deployable zip (cargo lambda build --locked --release --output-format zip)"
	@echo "make sam-build        sam build of template.yaml, x86_64 (the only target this machine has)"
	@echo "make fuzz             fuzz the event and ip-ranges parsers, FUZZ_SECONDS each (default 60)"
	@echo "make bench            every benchmark in BENCHMARKS.md (core, EC2 calls, scale, cold start, size)"

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

# SAM in its own venv: it pins an older boto3 than moto.
$(VENV)-sam/.installed: requirements-sam.txt
	$(PYTHON) -m venv $(VENV)-sam
	$(VENV)-sam/bin/pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	touch $@

venv-sam: $(VENV)-sam/.installed

build:
	cargo build --locked --all-targets

demo: venv
	VENV=$(VENV) scripts/demo.sh

test: venv
	cargo test --locked --lib --tests --no-fail-fast

# The expected ranges the tests compare against, made apart from the code under test (a test checks it is current).
oracle:
	$(PYTHON) scripts/oracle.py

# Every crate in the repository: the library and binaries, the core alone, the benchmarks and the fuzz targets.
lint:
	cargo fmt --all -- --check
	cd bench && cargo fmt --all -- --check
	cd fuzz && cargo fmt --all -- --check
	cargo clippy --locked --all-targets -- -D warnings
	cargo clippy --locked -p cloudfront-sg-sync --lib --no-default-features -- -D warnings
	cd bench && cargo clippy --locked --all-targets -- -D warnings
	cd fuzz && cargo clippy --locked --all-targets -- -D warnings

check-template: venv venv-sam
	$(VENV)/bin/cfn-lint template.yaml templates/member-role.yaml templates/organization-role.yaml
	SAM_CLI_TELEMETRY=0 $(VENV)-sam/bin/sam validate --lint --template-file template.yaml

# This machine has only the x86_64 Rust target; add `--arm64` (and `rustup target add aarch64-unknown-linux-gnu`)
# for the template's default architecture.
LAMBDA_ARCH ?= --x86-64
package: venv
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --locked --release $(LAMBDA_ARCH) --output-format zip \
		--bin cloudfront-sg-sync-lambda
	@zip=$(CARGO_TARGET_DIR)/lambda/cloudfront-sg-sync-lambda/bootstrap.zip && \
		echo "deployable zip: $$zip, $$(stat -c %s $$zip) bytes" && \
		$(PYTHON) -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("bootstrap", sys.argv[2])' \
			"$$zip" "$$(dirname $$zip)" && chmod +x "$$(dirname $$zip)/bootstrap"
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --locked --release $(LAMBDA_ARCH) --output-format zip \
		--bin cloudfront-sg-sync-rotate
	@zip=$(CARGO_TARGET_DIR)/lambda/cloudfront-sg-sync-rotate/bootstrap.zip && \
		echo "rotation function's zip: $$zip, $$(stat -c %s $$zip) bytes"

# SAM's Rust build (BuildMethod rust-cargolambda) is a beta feature. x86_64: this machine has no arm64 target.
sam-build: venv venv-sam
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" SAM_CLI_TELEMETRY=0 $(VENV)-sam/bin/sam build --beta-features \
		--parameter-overrides Architecture=x86_64
	@ls -l .aws-sam/build/SyncFunction/bootstrap

fuzz:
	scripts/fuzz.sh

# criterion, on the pure core only (no AWS SDK build): parse, select, plan, and a naive Value parse.
bench-core:
	cd bench && cargo bench --locked --bench core

# EC2 calls per sync, scale over 1/10/100 sets, cold start, peak RSS and zip size; a Markdown table.
bench: venv package bench-core
	cargo run --locked --quiet --profile bench-ec2 --example bench_ec2 | grep '^|'

fmt:
	cargo fmt --all

clean:
	rm -rf $(VENV) $(VENV)-sam .demo .aws-sam
	cargo clean
