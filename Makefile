# DAP — the two commands: `make up` (workbench on demo data) and `make test` (everything tested).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
JLPM := $(BIN)/jlpm
PORT ?= 8888
SCALE ?= 1
PYTEST_ARGS ?=
LAB_SOURCES := $(shell find labextension -type f 2>/dev/null) package.json yarn.lock tsconfig.json

.PHONY: help setup system-deps up hub test test-py test-js lint bench clean

help:
	@echo "make up      set everything up, load demo data, start JupyterLab with DAP on 127.0.0.1:$(PORT)"
	@echo "make hub     JupyterHub + OIDC sign-in + the DAP service on 127.0.0.1:8000 (development)"
	@echo "make test    set everything up, start the services the tests need, run every test"
	@echo "make lint    ruff, mypy and the TypeScript compiler"
	@echo "make bench   TPC-H, magics and governance benchmarks (results in bench/RESULTS.md)"

setup: system-deps $(VENV)/.python-stamp hub_config/node_modules/.bin/configurable-http-proxy

# Debian packages the tests need: a real PostgreSQL server and a real browser (chromium,
# driven by Playwright; Playwright never downloads a browser here); acl lets the hub tests'
# system users reach the checkout without opening it to everyone; a Java runtime for pyspark
# (the spark engine, tests/engines); clickhouse-server (18.16) is the real server of the
# clickhouse engine's tests. Installed only when missing.
system-deps:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v pdftotext >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v setfacl >/dev/null 2>&1 || missing="$$missing acl"; \
	command -v java >/dev/null 2>&1 || missing="$$missing openjdk-17-jre-headless"; \
	test -x /usr/sbin/clickhouse-server || missing="$$missing clickhouse-server"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The build tools first, so the editable install needs no isolated build environment.
$(VENV)/.tools-stamp: $(BIN)/python
	$(BIN)/pip install -q "hatchling>=1.21" "hatch-jupyter-builder>=0.9" "editables>=0.5" "jupyterlab>=4.2,<5" "setuptools>=70.1"
	touch $@

# The lab extension: JS dependencies from the npm registry, then the production build.
server_extension/dap_server/labextension/static/style.js: $(VENV)/.tools-stamp $(LAB_SOURCES)
	$(JLPM) install --immutable
	$(JLPM) build:prod

# JupyterHub's proxy (npm), for the hub deployment in hub_config/ and its tests.
hub_config/node_modules/.bin/configurable-http-proxy: hub_config/package.json hub_config/package-lock.json
	cd hub_config && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(VENV)/.python-stamp: pyproject.toml $(VENV)/.tools-stamp server_extension/dap_server/labextension/static/style.js $(VENV)/share/jupyter/lab/settings/overrides.json
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pip install -q --no-build-isolation -e ".[all,dev]"
	touch $@

# JupyterLab defaults of the workbench's own environment (JupyterLab's documented overrides.json):
# no "get Jupyter news?" prompt, no update checks (this machine reaches PyPI, Debian, npm only).
$(VENV)/share/jupyter/lab/settings/overrides.json: $(BIN)/python
	mkdir -p $(dir $@)
	echo '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}' > $@

up: setup
	$(BIN)/dap up --port $(PORT) --scale $(SCALE)

hub: setup
	$(BIN)/python hub_config/dev_hub.py

test: setup test-py test-js

test-py: setup
	$(BIN)/pytest $(PYTEST_ARGS)

test-js: setup
	$(JLPM) test

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/bandit -q -c pyproject.toml -r dap_kernel server_extension/dap_server hub_config
	$(JLPM) lint:tsc

# Packages only benchmarks compare against (JupySQL) go to a folder of their own, which
# bench/magics.py alone puts on its path: the workbench `make up` serves never loads them.
BENCH_SITE := .bench-site
$(BENCH_SITE)/.stamp: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --target $(BENCH_SITE) "jupysql>=0.10"
	touch $@

bench: setup $(BENCH_SITE)/.stamp
	$(BIN)/python bench/tpch.py
	$(BIN)/python bench/magics.py
	$(BIN)/python bench/governance.py

clean:
	rm -rf $(VENV) $(BENCH_SITE) node_modules hub_config/node_modules lib server_extension/dap_server/labextension tsconfig.tsbuildinfo

.PHONY: bench-load
bench-load: setup  # REST API load test, 500 users (bench/load_rest.py)
	$(BIN)/python bench/load_rest.py
