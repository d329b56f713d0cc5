# Environment of the embedded Airflow (SQLite + LocalExecutor) for this checkout.
# Source it: `. scripts/env.sh`. Everything listens on 127.0.0.1 only.
_here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export OS_MIGRATE_ROOT="$_here"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$_here/.airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$_here/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="${AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL:-10}"
export AIRFLOW_API_PORT="${AIRFLOW_API_PORT:-18080}"
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT="$AIRFLOW_API_PORT"
export AIRFLOW__API__BASE_URL="http://127.0.0.1:$AIRFLOW_API_PORT"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$AIRFLOW_API_PORT/execution/"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin}"
# The Connection form's Test button and POST /api/v2/connections/test (Airflow 3 ships them disabled).
# Anyone who may edit connections can then make the API server call out: keep it to trusted users.
export AIRFLOW__CORE__TEST_CONNECTION="${AIRFLOW__CORE__TEST_CONNECTION:-Enabled}"
export OS_MIGRATE_STAGING_ROOT="${OS_MIGRATE_STAGING_ROOT:-$AIRFLOW_HOME/staging}"
export PATH="$_here/.venv/bin:$PATH"
unset _here
