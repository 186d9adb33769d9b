# The two commands a newcomer types (see README.md): `make run` and `make test`.
# Each sets up what it needs: Debian packages, a virtualenv, the project.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: run test check deps venv bench lab-up lab-down clean

deps:
	@scripts/install-deps.sh

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -e '.[dev]'
	@touch $@

venv: $(VENV)/.installed

# Static checks, then every test (the lab tests run a real multi-node swarm): each
# engine's lab tests in a pytest of their own, side by side with the other's and the
# offline tests (scripts/test.sh).
test: deps venv check
	@scripts/test.sh

check: venv
	$(PY) -m grafana.build --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

run: deps venv
	@scripts/run.sh

# swarm-sentinel against a naive exporter on a simulated engine; writes docs/benchmarks.md.
# BENCH_ARGS=--quick for a short run, BENCH_ARGS="--sizes 1000" for one size.
bench: deps venv
	$(PY) -m bench.run $(BENCH_ARGS)

# The demo swarm `make run` starts when there is no swarm on this machine.
# LAB_ENGINE=modern: Engine 28.5 refusing API < 1.44, as Engine 29 (default debian: 20.10).
DEMO := --name demo --bridge ssdemo0 --subnet 10.124.0.0/24
LAB_ENGINE ?= debian
export LAB_ENGINE

lab-up: deps venv
	$(PY) -m lab up $(DEMO) --managers 3 --workers 1 --engine $(LAB_ENGINE)

lab-down: venv
	$(PY) -m lab down $(DEMO)

clean: lab-down
	rm -rf $(VENV) *.egg-info .mypy_cache .ruff_cache .pytest_cache
