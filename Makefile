# execenv — the two commands a user needs are `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
RUN_DIR := target/run

.PHONY: run build test lint fmt unit e2e postgres-up postgres-down clean-run help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-15s %s\n", $$1, $$2}'

build: ## build every binary
	$(CARGO) build --workspace --bins

run: build ## start the registry on an embedded SQLite file (target/run/registry.db)
	@mkdir -p $(RUN_DIR)
	@echo "execenv-environment-registry: gRPC on 127.0.0.1:50051, metrics on http://127.0.0.1:9451/metrics"
	@echo "try it in another terminal:"
	@echo "  target/debug/execenvctl env create ghcr.io/rstudio/content-base:r4.4.1-py3.11.9-jammy --title 'Python 3.11 / R 4.4' --python 3.11.9=/opt/python/3.11.9/bin/python3 --r 4.4.1=/opt/R/4.4.1/bin/R"
	@echo "  target/debug/execenvctl env list"
	@echo "stop with Ctrl-C"
	EXECENV_DATABASE__URL=sqlite://$(RUN_DIR)/registry.db \
	EXECENV_SERVER__GRPC_ADDR=127.0.0.1:50051 EXECENV_SERVER__ADMIN_ADDR=127.0.0.1:9451 \
	exec target/debug/execenv-environment-registry

lint: ## rustfmt check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt: ## format the code
	$(CARGO) fmt --all

postgres-up: ## start the throw-away PostgreSQL server for the tests
	@e2e/infra/postgres start

postgres-down: ## stop it and remove its data
	@e2e/infra/postgres stop

# Everything: lint, unit and conformance tests on SQLite and PostgreSQL, service and e2e tests.
# PostgreSQL: EXECENV_TEST_DATABASE_URL if set, else a throw-away server started (and stopped) here.
test: ## run the whole suite (starts PostgreSQL when EXECENV_TEST_DATABASE_URL is unset)
	$(MAKE) lint
	$(CARGO) build --workspace --bins
	@set -euo pipefail; \
	if [ -z "$${EXECENV_TEST_DATABASE_URL:-}" ]; then \
		url=$$(e2e/infra/postgres start); started=1; \
	else url=$$EXECENV_TEST_DATABASE_URL; started=0; fi; \
	echo "tests use PostgreSQL at $$url"; \
	status=0; EXECENV_TEST_DATABASE_URL=$$url $(CARGO) test --workspace --no-fail-fast || status=$$?; \
	if [ $$started = 1 ]; then e2e/infra/postgres stop; fi; \
	exit $$status
