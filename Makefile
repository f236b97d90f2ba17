# Quick start: `make demo` runs the whole workflow offline; `make test` runs the suite.
# Both build the one virtual env at .venv/ and resolve Delta's jars on first use.
# Python 3.12, the Python of Databricks Runtime 19; found on PATH or in pyenv (.ci/find-python).
# Only `make PYTHON=...` picks another; a PYTHON variable in the environment (set for some other
# tool) is not taken for ours.
ifneq ($(origin PYTHON),command line)
PYTHON = $(shell .ci/find-python 3.12)
endif
VENV := .venv
BIN := $(VENV)/bin
# Touched when .venv is built: the install stamp depends on it, so a .venv built again is
# installed again.
VENV_MARK := $(VENV)/.built
STAMP := $(VENV)/.installed
SPARK_STAMP := $(VENV)/.spark-packages
export PYTHONHASHSEED := 0

.DEFAULT_GOAL := help
.PHONY: help setup demo test secrets format lint bundle bench run deploy clean FORCE

help:
	@echo 'make demo     the whole workflow, locally and offline, on a generated sample'
	@echo 'make test     lint, the secrets check and the whole test suite'
	@echo 'make run      the live sources (QUEST_CONTACT=you@example.org)'
	@echo 'make bench    the benchmarks (docs/performance.md)'
	@echo 'make deploy ENV=local|dev|prod [PROFILE=name] [DRY_RUN=1]   (docs/deploy.md)'
	@echo 'make setup | lint | format | secrets | bundle | clean'
	@echo 'make PYTHON=/path/to/python3.11 ...   builds .venv with another Python'

# .venv is built (again) when its Python does not run (none yet, or a pyenv version since
# removed), or when `make PYTHON=...` names another Python version than its own.
VERSION_OF := import sys; print("%d.%d" % sys.version_info[:2])
VENV_VERSION := $(shell $(BIN)/python -c '$(VERSION_OF)' 2>/dev/null)
override REBUILD :=
ifeq ($(VENV_VERSION),)
override REBUILD := yes
else ifeq ($(origin PYTHON),command line)
ifneq ($(shell $(PYTHON) -c '$(VERSION_OF)' 2>/dev/null),$(VENV_VERSION))
override REBUILD := yes
endif
endif

ifeq ($(REBUILD),yes)
# The Python is checked before the old .venv goes: one that cannot build a venv with pip
# (Debian without python3.X-venv has no ensurepip) leaves it as it is, and a venv left
# half-built is removed, not kept.
$(VENV_MARK): FORCE
	@test -n "$(PYTHON)" || { echo 'make: no Python 3.12 to build .venv with; with 3.11: make PYTHON=python3.11 ...'; exit 1; }
	@case "$$($(PYTHON) -c '$(VERSION_OF)' 2>/dev/null)" in 3.11|3.12) ;; *) echo 'make: PYTHON=$(PYTHON) is not Python 3.11 or 3.12, the versions quest supports (3.12 is Databricks Runtime 19'"'"'s); .venv is left as it is'; exit 1;; esac
	@$(PYTHON) -c 'import venv, ensurepip' || { echo 'make: PYTHON=$(PYTHON) cannot build a virtual env with pip (on Debian: apt install python3.X-venv); .venv is left as it is'; exit 1; }
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3 || { rm -rf $(VENV); exit 1; }
	touch $@
else
# A .venv built before this marker: dated as the venv itself, so it is not installed again.
$(VENV_MARK):
	touch -r $(VENV)/pyvenv.cfg $@ 2>/dev/null || touch $@
endif

# Spark and Delta come with the `spark` extra here (on Databricks they are the runtime's own), and
# the JVM-free run-history writer with `local`.
$(STAMP): pyproject.toml constraints.txt $(VENV_MARK)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[spark,local,test,bench]'
	touch $@

# Delta's jars come from Maven Central through spark.jars.packages; Ivy caches them and quest
# records the files, which later sessions name directly (quest.spark.jars_record).
$(SPARK_STAMP): $(STAMP)
	$(BIN)/quest spark-setup
	touch $@

setup: $(SPARK_STAMP)

demo: setup
	$(BIN)/quest demo

# Two pytest-xdist workers: every Spark test on one of them, in order, in the suite's one
# SparkSession (an xdist group, tests/conftest.py); the other tests are shared out between the
# two meanwhile. `pytest` without `-n` runs in one process, as for a single module.
test: setup secrets
	$(BIN)/ruff check src tests workflows bench
	$(BIN)/ruff format --check src tests workflows bench
	$(BIN)/python -m pytest -n 2

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

# The wheel of this commit, uploaded where the bundle points, then `bf projects deploy` (docs/deploy.md).
# make deploy ENV=dev [PROFILE=quest] [DRY_RUN=1]; DRY_RUN=1 prints the steps and changes nothing.
ENV ?=
PROFILE ?=
DATABRICKS ?= databricks
BF ?= $(BIN)/bf
deploy: $(STAMP)
	$(BIN)/python -m quest.orchestration.deploy --env '$(ENV)' --repo '$(CURDIR)' \
		--databricks-cli '$(DATABRICKS)' --bf '$(BF)' \
		$(if $(PROFILE),--profile '$(PROFILE)') $(if $(DRY_RUN),--dry-run)

# Build output only: the homes (.quest/, .quest-demo/: their stores, catalogs and run history),
# make bench's results (bench/results/) and .venv/ stay; remove those by hand.
clean:
	rm -rf build dist src/*.egg-info
