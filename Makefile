# The two commands users run: `make demo` and `make test`. Both go through `make install`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
AF2_VENV := .venv-airflow2
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
# Compiled bytecode: this machine sets PYTHONDONTWRITEBYTECODE, so otherwise every process compiles Dagster.
UV_INSTALL = $(UV) pip install --quiet --compile-bytecode --python
STAGE ?= migrate
DEMO_ONCE ?=
DEMO_ARGS ?=
FORM ?= python
DEPLOY ?=
PYTEST_ARGS ?=
BENCH_REF_VENV := .venv-bench-ref
SIZE ?= full
BENCH_ARGS ?=
SOAK_ARGS ?=

.PHONY: install install-postgres install-airflow2 install-bench-ref demo test test-e2e lint format bench soak clean uv

uv:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv

$(VENV)/.installed: pyproject.toml | uv
	@test -x $(VENV)/bin/python || $(UV) venv --quiet --python 3.11 $(VENV)
	$(UV_INSTALL) $(VENV)/bin/python -e '.[dev]'
	@touch $@

$(AF2_VENV)/.installed: pyproject.toml | uv
	@test -x $(AF2_VENV)/bin/python || $(UV) venv --quiet --python 3.11 $(AF2_VENV)
	$(UV_INSTALL) $(AF2_VENV)/bin/python 'apache-airflow==2.11.*' 'apache-airflow-providers-sqlite>=4.3,<5' -e '.[in-airflow]'
	@touch $@

# dagster-airlift, the reference the benchmarks compare against: its own venv, never a dependency of ours.
$(BENCH_REF_VENV)/.installed: | uv
	@test -x $(BENCH_REF_VENV)/bin/python || $(UV) venv --quiet --python 3.11 $(BENCH_REF_VENV)
	$(UV_INSTALL) $(BENCH_REF_VENV)/bin/python 'dagster-airlift[core]==0.29.27'
	@touch $@

install: $(VENV)/.installed install-postgres

# The Postgres server for the production profile (tests/deploy, DEPLOY=postgres): Debian's package when root.
install-postgres:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || [ -n "$$AIRLIFT_POSTGRES_BIN" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	else \
	  echo "make install: the Postgres server (initdb, postgres) is missing; tests/deploy and 'make demo DEPLOY=postgres' need it." >&2; \
	  echo "  Install it (Debian/Ubuntu: sudo apt-get install postgresql; macOS: brew install postgresql) or set AIRLIFT_POSTGRES_BIN." >&2; \
	fi

install-airflow2: $(AF2_VENV)/.installed

install-bench-ref: $(BENCH_REF_VENV)/.installed

demo: install
	$(VENV)/bin/python -m example_project.demo --stage $(STAGE) --form $(FORM) $(if $(DEPLOY),--deploy $(DEPLOY),) $(if $(DEMO_ONCE),--once,) $(DEMO_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: install install-airflow2 lint
	$(VENV)/bin/python -m pytest -q $(PYTEST_ARGS)

# Every tutorial stage end to end (about an hour on 2 cores); `make test` runs the two migrate stages.
test-e2e: install
	AIRLIFT_E2E_STAGES=all $(VENV)/bin/python -m pytest -q tests/example_project/test_demo_end_to_end.py

# Benchmarks on real Airflow 3 and 2 with dagster-airlift side by side (SIZE=full|small|smoke); see README.
# BENCH_ARGS: e.g. --airflow 2, --no-proxied-overhead, --catch-up-repeats 2, --runs 1000 (python -m benchmarks.run -h).
bench: install install-airflow2 install-bench-ref
	$(VENV)/bin/python -m benchmarks.run --size $(SIZE) $(BENCH_ARGS)

# The sensor against 1000 DAGs with runs finishing continuously (10 minutes by default).
soak: install
	$(VENV)/bin/python -m benchmarks.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) $(AF2_VENV) $(BENCH_REF_VENV) .demo
