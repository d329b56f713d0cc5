#!/usr/bin/env bash
# Embedded Airflow for this checkout: SQLite metadata DB, LocalExecutor, loopback only.
#   scripts/airflow.sh start     db migrate, fixed dev login admin/admin, start the 4 processes
#   scripts/airflow.sh stop      stop them by PID file
#   scripts/airflow.sh status    show which run
#   scripts/airflow.sh connections-devcloud   (re)create openstack_src, openstack_dst and their _admin
#                                             twins for devcloud (DEVCLOUD_CLOUDS=2: dst = the second cloud)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
RUN="$AIRFLOW_HOME/run"
LOGS="$AIRFLOW_HOME/logs"
SERVICES=(api-server scheduler dag-processor triggerer)
mkdir -p "$RUN" "$LOGS" "$OS_MIGRATE_STAGING_ROOT"

running() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

init_db() {
  airflow db migrate >"$LOGS/db-migrate.log" 2>&1 || { tail -20 "$LOGS/db-migrate.log"; exit 1; }
  # Dev-only login for SimpleAuthManager (see README: use FAB/Keycloak in production).
  echo '{"admin": "admin"}' >"$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
  # Fixed pool capping concurrent disk copies of os_migrate_workloads across runs. Created once with
  # $OS_MIGRATE_COPY_SLOTS slots; a size changed later (UI Admin > Pools, `airflow pools set`) is kept.
  airflow pools get conversion_hosts >/dev/null 2>&1 ||
    airflow pools set conversion_hosts "${OS_MIGRATE_COPY_SLOTS:-2}" \
      "concurrent disk copies through conversion hosts" >/dev/null
}

connections_devcloud() {
  local clouds="${DEVCLOUD_CLOUDS_YAML:-$OS_MIGRATE_ROOT/.devcloud/clouds.yaml}"
  # One cloud (default): src and dst are two projects of devcloud. DEVCLOUD_CLOUDS=2: dst is the
  # second, independent devcloud (clouds devcloud2-*). Only cloud names go into the connections.
  local dst_prefix=devcloud
  case "${DEVCLOUD_CLOUDS:-1}" in
    1) ;;
    2) dst_prefix=devcloud2 ;;
    *) echo "DEVCLOUD_CLOUDS must be 1 or 2" >&2; return 2 ;;
  esac
  local conn cloud
  for conn in openstack_src=devcloud-src openstack_src_admin=devcloud-admin \
              "openstack_dst=$dst_prefix-dst" "openstack_dst_admin=$dst_prefix-admin"; do
    cloud="${conn#*=}"; conn="${conn%%=*}"
    airflow connections delete "$conn" >/dev/null 2>&1 || true
    airflow connections add "$conn" --conn-json \
      "{\"conn_type\": \"openstack\", \"extra\": {\"cloud\": \"$cloud\", \"clouds_yaml\": \"$clouds\"}}" >/dev/null
    echo "connection $conn -> cloud $cloud"
  done
  echo "clouds.yaml: $clouds"
}

start() {
  init_db
  for svc in "${SERVICES[@]}"; do
    if running "$svc"; then continue; fi
    local args=()
    case "$svc" in scheduler|triggerer) args=(--skip-serve-logs) ;; esac
    setsid nohup airflow "$svc" "${args[@]}" >"$LOGS/$svc.log" 2>&1 < /dev/null &
    echo $! >"$RUN/$svc.pid"
  done
  local url="http://127.0.0.1:$AIRFLOW_API_PORT/api/v2/monitor/health"
  for _ in $(seq 1 90); do
    if curl -sf "$url" 2>/dev/null | grep -q '"scheduler": *{"status": *"healthy"'; then
      echo "airflow: up at http://127.0.0.1:$AIRFLOW_API_PORT (admin/admin)"; return 0
    fi
    sleep 2
  done
  echo "airflow: not healthy after 180 s; logs in $LOGS" >&2; return 1
}

stop() {
  for svc in "${SERVICES[@]}"; do
    if running "$svc"; then
      local pid; pid="$(cat "$RUN/$svc.pid")"
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$RUN/$svc.pid"
  done
  echo "airflow: stopped"
}

status() {
  local rc=0
  for svc in "${SERVICES[@]}"; do
    if running "$svc"; then echo "$svc: running (pid $(cat "$RUN/$svc.pid"))"; else echo "$svc: stopped"; rc=1; fi
  done
  return $rc
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  connections-devcloud) init_db; connections_devcloud ;;
  *) echo "usage: $0 start|stop|status|connections-devcloud" >&2; exit 2 ;;
esac
