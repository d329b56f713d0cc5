#!/usr/bin/env bash
# The main job on the local cloud: start devcloud, seed a sample tenant in project `src` (networking
# and a server with a data volume and a floating IP), start Airflow, migrate the tenant to project
# `dst` through the os_migrate_pre_workload and os_migrate_workloads DAGs (triggered over the REST
# API, as a user would), and print what now exists in `dst`.
# Leaves the cloud and Airflow running (UI: http://127.0.0.1:18080, admin/admin); `make stop`.
# OS_MIGRATE_EXECUTOR=celery (`make demo EXECUTOR=celery`): the same on the native CeleryExecutor
# cluster (UI: http://127.0.0.1:18280).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh  # AIRFLOW_API_PORT and the staging root of the chosen executor
CLOUDS="${DEVCLOUD_CLOUDS_YAML:-$PWD/.devcloud/clouds.yaml}"
PY=.venv/bin/python
echo "== local cloud"; devcloud/devcloud.sh up
echo "== sample tenant in project src"
$PY scripts/sample_tenant.py seed --server --cloud devcloud-src --clouds-yaml "$CLOUDS"
echo "== airflow"; scripts/airflow.sh connections-devcloud; scripts/airflow.sh start
echo "== migrate networking, security groups, images, keypairs (DAG os_migrate_pre_workload)"
$PY scripts/run_dag.py --dag os_migrate_pre_workload --conf '{"tenant": "demo"}'
echo "== migrate the server demo-vm with its volume and floating IP (DAG os_migrate_workloads)"
$PY scripts/run_dag.py --dag os_migrate_workloads \
  --conf '{"tenant": "demo", "servers": ["demo-vm"]}'

echo "== destination project dst now holds"
$PY scripts/show_project.py --cloud devcloud-dst --clouds-yaml "$CLOUDS"
echo "== staged YAML: $OS_MIGRATE_STAGING_ROOT/demo"
