# One entry point. The two commands of the README:
#   make demo   install everything, start the local OpenStack and Airflow, migrate a sample tenant
#   make test   install everything, start the local OpenStack, run all tests
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: venv lock lint cloud demo test test-unit stop bench bench-disks bench-waves compose-tool compose-check browser-tool cluster-tool

# The project installed editable with its test extra, pinned by the lock (constraints.txt).
venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -U pip
	$(VENV)/bin/pip install -q -e '.[test,celery]' -c constraints.txt
	touch $@

# Resolve pyproject.toml's dependencies in a throw-away venv and freeze them as the lock. Existing
# pins are kept (new dependencies resolve to their newest release); LOCK_UPGRADE=1 re-resolves all.
lock:
	rm -rf .lock-venv && python3 -m venv .lock-venv
	.lock-venv/bin/pip install -q -U pip
	.lock-venv/bin/pip install -q '.[test,celery]' $(if $(LOCK_UPGRADE),,-c constraints.txt)
	{ echo "# Lock of pyproject.toml (runtime + test and celery extras), made by 'make lock' on $$(date -u +%F)."; \
	  echo "# Install with: pip install -e '.[test,celery]' -c constraints.txt"; \
	  .lock-venv/bin/pip freeze --exclude os-migrate-airflow; } > constraints.txt
	rm -rf .lock-venv

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# One devcloud by default; `make cloud DEVCLOUD_CLOUDS=2` starts a second, independent one beside it.
DEVCLOUD_CLOUDS ?= 1
cloud:
	DEVCLOUD_CLOUDS=$(DEVCLOUD_CLOUDS) devcloud/devcloud.sh up

# EXECUTOR=celery: the same demo on the native scale-out cluster (PostgreSQL, Redis, two Celery
# workers; scripts/airflow.sh with OS_MIGRATE_EXECUTOR=celery; UI on http://127.0.0.1:18280).
EXECUTOR ?= local
demo: venv
	OS_MIGRATE_EXECUTOR=$(EXECUTOR) scripts/demo.sh

test-unit: venv
	$(PY) -m pytest tests/unit tests/provider tests/dags -q $(PYTEST_ARGS)

# Both clouds: the tests of two independent clouds (devcloud, admin content) need them. Then the
# network, image and workload tests again with their destination in cloud 2 (OSM_TEST_TWO_CLOUDS=1).
TWO_CLOUD_TESTS := tests/integration/test_network_migration.py tests/integration/test_images_keypairs.py \
                   tests/integration/test_workloads.py
# The clouds start in the background while the tests that need none run (apt installs are done by
# then: the *-tool prerequisites run first, devcloud's own apt step finds nothing to do or runs alone).
OFFLINE_TESTS := tests/unit tests/provider tests/dags tests/test_compose.py
test: DEVCLOUD_CLOUDS = 2
test: venv compose-tool browser-tool cluster-tool
	@log=$${TMPDIR:-/tmp}/os-migrate-cloud-up.$$$$.log; \
	DEVCLOUD_CLOUDS=2 devcloud/devcloud.sh up >"$$log" 2>&1 & cloud=$$!; \
	echo "devcloud: starting both clouds in the background (log $$log); tests that need no cloud meanwhile"; \
	rc=0; $(PY) -m pytest $(OFFLINE_TESTS) -q --durations=10 $(PYTEST_ARGS) || rc=$$?; \
	if ! wait $$cloud; then echo "devcloud up failed:"; tail -40 "$$log"; exit 1; fi; \
	tail -1 "$$log"; exit $$rc
	$(PY) -m pytest tests -q --durations=25 $(foreach t,$(OFFLINE_TESTS),--ignore=$(t)) $(PYTEST_ARGS)
	OSM_TEST_TWO_CLOUDS=1 $(PY) -m pytest $(TWO_CLOUD_TESTS) -q $(PYTEST_ARGS)

bench: venv cloud
	$(PY) scripts/bench.py

# Disk copies: conversion hosts vs a raw ssh pipe vs the image method (about 30 minutes, as root; --quick about 8).
bench-disks: venv cloud
	$(PY) scripts/bench_disks.py

# Wave planning at scale: a plan of 50 tenants x 20 servers loaded, expanded, resolved against a fake
# listing and its wave DAG file parsed, beside a 1-server baseline (no cloud; seconds; fails over 60 s).
bench-waves: venv
	$(PY) scripts/bench_wave_planning.py

compose-tool:
	@command -v docker-compose >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; }

# Headless browser of tests/ui: Debian's chromium and its chromedriver (Selenium never downloads one).
browser-tool:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

# PostgreSQL and Redis of the native CeleryExecutor cluster (tests/cluster; scripts/airflow.sh
# installs them too when missing, this only does it before the clouds start in the background).
cluster-tool:
	@test -x /usr/lib/postgresql/15/bin/initdb && command -v redis-server >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 redis-server >/dev/null; }

compose-check: compose-tool
	docker-compose -f docker-compose.yaml config -q

# devcloud.sh stop stops every devcloud that has state (both clouds).
stop:
	-scripts/airflow.sh stop
	-OS_MIGRATE_EXECUTOR=celery scripts/airflow.sh stop
	-devcloud/devcloud.sh stop
