# The two commands of the README:
#   make run   - the embedded default: Airflow on SQLite, simulated pool and clouds, the demo configuration
#   make test  - every test tier (what CI runs through .ci/run)
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
LIBVIRT_STAMP := $(VENV)/.libvirt-stamp
PYTEST_ARGS ?=

.PHONY: run test lint bench system-deps services clean

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements.txt -r requirements-dev.txt -c constraints.txt
	$(VENV)/bin/pip install -q --no-deps -e .
	touch $(STAMP)

# The libvirt bindings build against Debian's libvirt (system-deps installs it); only libvirt clouds and
# their tests need them, so `make run` does not.
$(LIBVIRT_STAMP): requirements-libvirt.txt $(STAMP) | system-deps
	$(VENV)/bin/pip install -q -r requirements-libvirt.txt
	touch $(LIBVIRT_STAMP)

run: $(STAMP)
	$(PY) -m include.embedded

# System packages and local services the test tiers use (squid, chromium; PostgreSQL, RabbitMQ, Redis).
system-deps:
	bash scripts/system_deps.sh

services:
	bash scripts/services.sh

# pytest exits 5 when it collects no tests; that is not a failure of the code under test. The second pass
# runs the hypothesis properties again with ten times the examples (the first keeps them quick).
test: $(STAMP) system-deps $(LIBVIRT_STAMP) services
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check include dags plugins tests bench
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then rc=0; fi; [ $$rc -eq 0 ] || exit $$rc; \
	HYPOTHESIS_PROFILE=thorough $(PY) -m pytest -m properties -p no:cacheprovider $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then rc=0; fi; exit $$rc

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check include dags plugins tests bench

bench: $(STAMP)
	for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf .airflow .airflow-test .state .pytest_cache
