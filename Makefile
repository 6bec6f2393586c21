# Spheroseg: `make run` starts the product (embedded mode, demo data); `make test` runs every check.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# The CPU build of torch lies on local disk on this machine kind; pip takes it from there.
WHEELS := $(wildcard /opt/wheels)
PIP_FLAGS := $(if $(WHEELS),--find-links $(WHEELS),)

.PHONY: help venv run migrate demo worker test lint check pytest bench bench-ml bench-api bench-pipeline clean

help:
	@echo "make run    start Spheroseg on http://$(HOST):$(PORT) (embedded mode, demo account and project)"
	@echo "make test   ruff, lint-imports, makemigrations --check, check --deploy, pytest"
	@echo "make bench  engine, API and pipeline benchmarks"

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null || { echo "Python 3.11 is required ($(PY) not found)"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	$(BIN)/pip install -q $(PIP_FLAGS) -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

migrate: $(STAMP)
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py seed_demo

run: demo
	$(BIN)/python manage.py runserver $(HOST):$(PORT) --noreload

worker: $(STAMP)
	$(BIN)/python manage.py rundramatiq

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

check: $(STAMP)
	DJANGO_ENV=test $(BIN)/python manage.py makemigrations --check --dry-run
	DJANGO_ENV=production SECRET_KEY=ci-only-$$(head -c 64 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' ) \
	  ALLOWED_HOSTS=spheroseg.example.org $(BIN)/python manage.py check --deploy --fail-level WARNING

pytest: $(STAMP)
	bash scripts/ensure-chromium.sh || true
	DJANGO_ENV=test $(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint check pytest

bench: bench-ml bench-api bench-pipeline

bench-ml: $(STAMP)
	$(BIN)/python -m ml.bench

bench-api: $(STAMP)
	$(BIN)/python manage.py bench_api

bench-pipeline: $(STAMP)
	$(BIN)/python manage.py bench_pipeline --rounds 5

clean:
	rm -rf var .pytest_cache .ruff_cache
