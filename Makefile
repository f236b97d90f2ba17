# Quick start: `make demo` runs the whole workflow offline; `make test` runs the suite.
# Both build the one virtual env at .venv/ and resolve Delta's jars on first use.
# Python 3.12, the Python of Databricks Runtime 19; found on PATH or in pyenv (.ci/find-python).
PYTHON ?= $(shell .ci/find-python 3.12)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SPARK_STAMP := $(VENV)/.spark-packages
export PYTHONHASHSEED := 0

.PHONY: setup demo test secrets format lint bundle bench run clean

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo 'make: no Python 3.12 found (see .ci/find-python)'; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@

# Delta's jars come from Maven Central through spark.jars.packages; Ivy caches them.
$(SPARK_STAMP): $(STAMP)
	$(BIN)/quest spark-setup
	touch $@

setup: $(SPARK_STAMP)

demo: setup
	$(BIN)/quest demo

test: setup secrets
	$(BIN)/ruff check src tests workflows bench
	$(BIN)/ruff format --check src tests workflows bench
	$(BIN)/python -m pytest

# Fails on any secret-looking string that is not in the reviewed baseline.
secrets: $(STAMP)
	$(BIN)/python .ci/check_secrets.py

format: $(STAMP)
	$(BIN)/ruff format src tests workflows bench

lint: $(STAMP)
	$(BIN)/ruff check src tests workflows bench
	$(BIN)/ruff format --check src tests workflows bench

bundle: $(STAMP)
	$(BIN)/python -m quest.orchestration.bundle

bench: setup
	$(BIN)/python -m bench

# Live sources: needs internet and QUEST_CONTACT=you@example.org.
run: setup
	$(BIN)/quest run

clean:
	rm -rf .quest bench/results/*.json build dist src/*.egg-info
