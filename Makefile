# One entry point. The two commands of the README:
#   make demo   install everything, start the local OpenStack and Airflow, migrate a sample tenant
#   make test   install everything, start the local OpenStack, run all tests
SHELL := /bin/bash
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: venv cloud demo test test-unit stop bench compose-tool compose-check

venv: .venv/.installed
.venv/.installed: requirements.txt constraints.txt
	python3 -m venv .venv
	.venv/bin/pip install -q -U pip
	.venv/bin/pip install -q -r requirements.txt -c constraints.txt
	touch $@

cloud:
	devcloud/devcloud.sh up

demo: venv
	scripts/demo.sh

test-unit: venv
	PYTHONPATH=include:plugins $(PY) -m pytest tests/unit tests/plugins tests/dags -q $(PYTEST_ARGS)

test: venv cloud compose-tool
	PYTHONPATH=include:plugins $(PY) -m pytest tests -q $(PYTEST_ARGS)

bench: venv cloud
	PYTHONPATH=include $(PY) scripts/bench.py

compose-tool:
	@command -v docker-compose >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; }

compose-check: compose-tool
	docker-compose -f docker-compose.yaml config -q

stop:
	-scripts/airflow.sh stop
	-devcloud/devcloud.sh stop
