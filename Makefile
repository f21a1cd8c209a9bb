# execenv — the two commands a user needs are `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
RUN_DIR := target/run

.PHONY: run build test lint fmt postgres-up postgres-down testbed-build testbed-up testbed-down help

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

testbed-build: ## build (or reuse from ~/.cache/execenv) the Kubernetes testbed binaries
	@e2e/infra/testbed build

testbed-up: ## start the Kubernetes testbed; prints its kubeconfig
	@e2e/infra/testbed up

testbed-down: ## stop the Kubernetes testbed and remove its state
	@e2e/infra/testbed down

# Everything: lint, unit and conformance tests on SQLite and PostgreSQL, service, e2e and
# Kubernetes tests. e2e/infra/run-tests starts (and stops) what they need.
test: ## run the whole suite (starts PostgreSQL and the Kubernetes testbed when not given)
	$(MAKE) lint
	$(CARGO) build --workspace --bins
	e2e/infra/run-tests
