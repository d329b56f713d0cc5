#!/usr/bin/env bash
# The main job on the local cloud: start devcloud, seed a sample tenant in project `src`, start
# Airflow, migrate the tenant to project `dst` through the os_migrate_pre_workload DAG (triggered
# over the REST API, as a user would), and print what now exists in `dst`.
# Leaves the cloud and Airflow running (UI: http://127.0.0.1:18080, admin/admin); `make stop`.
set -euo pipefail
cd "$(dirname "$0")/.."
CLOUDS="${DEVCLOUD_CLOUDS_YAML:-$PWD/.devcloud/clouds.yaml}"
PY=.venv/bin/python
echo "== local cloud"; devcloud/devcloud.sh up
echo "== sample tenant in project src"
$PY scripts/sample_tenant.py seed --cloud devcloud-src --clouds-yaml "$CLOUDS"
echo "== airflow"; scripts/airflow.sh connections-devcloud; scripts/airflow.sh start
echo "== migrate (DAG os_migrate_pre_workload)"
CONF="${DEMO_CONF:-}"; [ -n "$CONF" ] || CONF='{"tenant": "demo"}'
$PY scripts/run_dag.py --conf "$CONF"
echo "== destination project dst now holds"
$PY scripts/show_project.py --cloud devcloud-dst --clouds-yaml "$CLOUDS"
echo "== staged YAML: ${OS_MIGRATE_STAGING_ROOT:-$PWD/.airflow/staging}/demo"
