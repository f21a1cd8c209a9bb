# execenv — the two commands a user needs are `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
RUN_DIR := target/run

.PHONY: run build ui test lint fmt bench fuzz postgres-up postgres-down testbed-build testbed-up testbed-down chart-snapshots help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-15s %s\n", $$1, $$2}'

build: ui ## build the web console (ui/dist), then every binary (the gateway embeds the console)
	$(CARGO) build --workspace --bins

ui: ## build the web console into ui/dist (npm ci from the lockfile, then vite; skipped when nothing changed)
	@e2e/infra/ui build >/dev/null

run: build ## start the registry (SQLite in target/run), config-sync on examples/environments.yaml, the selector, the image examiner, the launcher (local processes) and the gateway on :3939 (prints an administrator key)
	@e2e/infra/run-local

lint: ## rustfmt check, clippy with warnings as errors, no module cycles, crates only on their layer
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	e2e/infra/module-cycles --self-test
	e2e/infra/module-cycles
	e2e/infra/layers

fmt: ## format the code
	$(CARGO) fmt --all

postgres-up: ## start the throw-away PostgreSQL server for the tests
	@e2e/infra/postgres start

postgres-down: ## stop it and remove its data
	@e2e/infra/postgres stop

testbed-build: ## build (or reuse from ~/.cache/execenv) the Kubernetes testbed binaries
	@e2e/infra/testbed build

testbed-up: ## start the Kubernetes testbed and its node (images hold the debug build; EXECENV_IMAGES_PROFILE=release for release); prints its kubeconfig
	@EXECENV_IMAGES_PROFILE=$${EXECENV_IMAGES_PROFILE:-debug} e2e/infra/testbed up

testbed-down: ## stop the Kubernetes testbed and remove its state
	@e2e/infra/testbed down

.PHONY: config-reference
config-reference: build ## rebuild, then regenerate docs/configuration.md from the binaries' --print-settings (after adding or changing a setting)
	@e2e/infra/config-reference > docs/configuration.md.new && mv docs/configuration.md.new docs/configuration.md

chart-snapshots: ## render the Helm chart's ci scenarios into charts/execenv/snapshots (commit them with the chart change)
	@e2e/infra/chart snapshots

bench: ui ## measure sync, selection, the console, interactive content, launch throughput and latency, and the HA profile under chaos on the release build (prints numbers)
	$(CARGO) build --release --workspace --bins
	@set -euo pipefail; \
	if [ -z "$${EXECENV_TEST_DATABASE_URL:-}" ]; then url=$$(e2e/infra/postgres start); started=1; \
	else url=$$EXECENV_TEST_DATABASE_URL; started=0; fi; \
	if [ -z "$${EXECENV_TEST_KUBECONFIG:-}" ]; then kube=$$(EXECENV_IMAGES_PROFILE=release e2e/infra/testbed up); ks=1; \
	else kube=$$EXECENV_TEST_KUBECONFIG; ks=0; fi; \
	chromium=$$(e2e/infra/chromium); wheelhouse=$$(e2e/infra/wheelhouse); \
	status=0; EXECENV_TEST_WHEELHOUSE=$$wheelhouse EXECENV_CHROMIUM=$$chromium EXECENV_TEST_DATABASE_URL=$$url EXECENV_TEST_KUBECONFIG=$$kube EXECENV_BIN_DIR=target/release target/release/execenv-bench || status=$$?; \
	if [ $$ks = 1 ]; then e2e/infra/testbed down; fi; \
	if [ $$started = 1 ]; then e2e/infra/postgres stop; fi; exit $$status

FUZZ_RUNS ?= 1000000
fuzz: ## run each cargo-fuzz target (nightly) for FUZZ_RUNS executions (default 1000000) with memory and time limits; prints executions, time and peak RSS
	FUZZ_RUNS=$(FUZZ_RUNS) fuzz/run

# Everything: lint, unit and conformance tests on SQLite and PostgreSQL, service, e2e and
# Kubernetes tests. e2e/infra/run-tests starts (and stops) what they need.
test: ## run the whole suite (starts PostgreSQL and the Kubernetes testbed when not given)
	$(MAKE) lint
	$(MAKE) build
	e2e/infra/run-tests
