# article-qa: `make run` serves on 127.0.0.1:8000, `make test` runs every test. `make help` lists targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export HOST PORT
# Debian packages the tests need: Chromium for the browser tests, PostgreSQL and Redis for the
# store and fleet tests (the tests start their own servers on loopback).
SYSTEM_PACKAGES := chromium postgresql redis-server

.PHONY: help install system-packages run test lint bench bench-full models screenshots clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: the CPU wheel is on local disk; anything else pulls a CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed ## create .venv and install the project with its dev tools

system-packages: ## apt-get install the Debian packages the tests need, when missing
	@scripts/install-system-packages $(SYSTEM_PACKAGES)

run: install ## index the default article if needed and serve on $(HOST):$(PORT)
	$(BIN)/article-qa serve --host $(HOST) --port $(PORT)

test: install system-packages ## install what the tests need when missing, then run them all
	$(BIN)/pytest

lint: install ## ruff and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install ## the quick benchmark suite, bundled data only (minutes; reports in var/bench)
	$(BIN)/python -m bench

bench-full: install ## and the long ones on ../shared/data (hours; skipped without it)
	$(BIN)/python -m bench --full

models: install ## rebuild every shipped model file from ../shared/data (hours; resumable)
	$(BIN)/python -m train

screenshots: install system-packages ## regenerate docs/widget-*.png (with Chromium)
	$(BIN)/python -m tests.browser.screenshots

clean: ## remove the virtualenv and stored indexes
	rm -rf $(VENV) var
