# Environment of the embedded Airflow (SQLite + LocalExecutor; or the native CeleryExecutor
# cluster, OS_MIGRATE_EXECUTOR=celery) for this checkout.
# Source it: `. scripts/env.sh`. Everything listens on 127.0.0.1 only.
_here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export OS_MIGRATE_ROOT="$_here"
# OS_MIGRATE_EXECUTOR=celery: the native scale-out cluster instead (scripts/airflow.sh starts
# PostgreSQL, Redis, the 4 Airflow processes and 2 Celery workers; all state under .cluster/).
export OS_MIGRATE_EXECUTOR="${OS_MIGRATE_EXECUTOR:-local}"
# Sourced before in this shell for the other mode: drop the defaults that sourcing set (a value
# changed since is kept), so the two modes never share a home, port or executor settings.
if [ -n "${OS_MIGRATE_ENV_EXECUTOR:-}" ] && [ "$OS_MIGRATE_ENV_EXECUTOR" != "$OS_MIGRATE_EXECUTOR" ]; then
  [ "${AIRFLOW_HOME:-}" = "${OS_MIGRATE_ENV_HOME:-}" ] && unset AIRFLOW_HOME
  [ "${AIRFLOW_API_PORT:-}" = "${OS_MIGRATE_ENV_PORT:-}" ] && unset AIRFLOW_API_PORT
  [ "${OS_MIGRATE_STAGING_ROOT:-}" = "${OS_MIGRATE_ENV_STAGING:-}" ] && unset OS_MIGRATE_STAGING_ROOT
  if [ "$OS_MIGRATE_ENV_EXECUTOR" = celery ]; then
    for _v in $(sed -n 's/^\([A-Z_][A-Z0-9_]*\)=.*/\1/p' "$_here/deploy/airflow-celery.env") \
              AIRFLOW__DATABASE__SQL_ALCHEMY_CONN AIRFLOW__CELERY__RESULT_BACKEND AIRFLOW__CELERY__BROKER_URL; do
      unset "$_v"
    done
    unset _v
  fi
fi
case "$OS_MIGRATE_EXECUTOR" in
  local) ;;
  celery)
    export OS_MIGRATE_CLUSTER_DIR="${OS_MIGRATE_CLUSTER_DIR:-$_here/.cluster}"
    export AIRFLOW_HOME="${AIRFLOW_HOME:-$OS_MIGRATE_CLUSTER_DIR/airflow}"
    export AIRFLOW_API_PORT="${AIRFLOW_API_PORT:-18280}"
    export OS_MIGRATE_PG_PORT="${OS_MIGRATE_PG_PORT:-15432}"
    export OS_MIGRATE_REDIS_PORT="${OS_MIGRATE_REDIS_PORT:-16379}"
    # the settings shared with docker-compose.yaml
    set -a; . "$_here/deploy/airflow-celery.env"; set +a
    # passwords and keys generated once per install by `scripts/airflow.sh start` (never committed)
    if [ -f "$OS_MIGRATE_CLUSTER_DIR/secrets.env" ]; then
      set -a; . "$OS_MIGRATE_CLUSTER_DIR/secrets.env"; set +a
      export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql+psycopg2://airflow:$OS_MIGRATE_PG_PASSWORD@127.0.0.1:$OS_MIGRATE_PG_PORT/airflow"
      export AIRFLOW__CELERY__RESULT_BACKEND="db+postgresql+psycopg2://airflow:$OS_MIGRATE_PG_PASSWORD@127.0.0.1:$OS_MIGRATE_PG_PORT/airflow"
      export AIRFLOW__CELERY__BROKER_URL="redis://:$OS_MIGRATE_REDIS_PASSWORD@127.0.0.1:$OS_MIGRATE_REDIS_PORT/0"
    fi
    ;;
  *) echo "OS_MIGRATE_EXECUTOR must be local or celery, not '$OS_MIGRATE_EXECUTOR'" >&2; return 2 ;;
esac
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
export OS_MIGRATE_ENV_EXECUTOR="$OS_MIGRATE_EXECUTOR" OS_MIGRATE_ENV_HOME="$AIRFLOW_HOME" \
       OS_MIGRATE_ENV_PORT="$AIRFLOW_API_PORT" OS_MIGRATE_ENV_STAGING="$OS_MIGRATE_STAGING_ROOT"
unset _here
