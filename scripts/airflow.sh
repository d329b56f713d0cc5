#!/usr/bin/env bash
# Embedded Airflow for this checkout: SQLite metadata DB, LocalExecutor, loopback only.
#   scripts/airflow.sh start     db migrate, fixed dev login admin/admin, start the 4 processes
#   scripts/airflow.sh stop      stop them by PID file
#   scripts/airflow.sh status    show which run
# OS_MIGRATE_EXECUTOR=celery: the native scale-out cluster instead, state under .cluster/:
# PostgreSQL 15 and Redis from Debian's packages (installed with apt-get if missing) on loopback
# ports of their own, then api-server, scheduler, dag-processor, triggerer and two Celery workers
# (worker-1, worker-2: own hostnames, queues `default` + their own name) sharing one config
# (deploy/airflow-celery.env + keys generated once in .cluster/secrets.env). Stop: by PID files.
#   scripts/airflow.sh connections-devcloud   (re)create openstack_src, openstack_dst and their _admin
#                                             twins for devcloud (DEVCLOUD_CLOUDS=2: dst = the second cloud)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
RUN="$AIRFLOW_HOME/run"
LOGS="$AIRFLOW_HOME/logs"
SERVICES=(api-server scheduler dag-processor triggerer)
WORKERS=()
if [ "$OS_MIGRATE_EXECUTOR" = celery ]; then
  WORKERS=(worker-1 worker-2)
  SERVICES+=("${WORKERS[@]}")
  . scripts/cluster_backing.sh  # PostgreSQL, Redis and the cluster's keys
fi
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

# Start one Airflow service in a session of its own (stopped by process group). A Celery worker
# gets a hostname of its own: in its own UTS namespace when root (its task instances then record
# it as their hostname, as on separate machines), and its own queue beside the default one. Log
# servers stay off (they bind every interface): the API server reads task logs from the shared
# $AIRFLOW_HOME/logs.
launch() {
  local svc="$1"
  case "$svc" in
    scheduler|triggerer) set -- airflow "$svc" --skip-serve-logs ;;
    worker-*)
      set -- airflow celery worker --celery-hostname "osm-$svc" \
        --queues "$AIRFLOW__OPERATORS__DEFAULT_QUEUE,$svc" --skip-serve-logs
      if [ "$(id -u)" = 0 ]; then
        set -- unshare --uts sh -c 'hostname "$0" && exec "$@"' "osm-$svc" "$@"
      fi ;;
    *) set -- airflow "$svc" ;;
  esac
  setsid nohup "$@" >"$LOGS/$svc.log" 2>&1 </dev/null &
  echo $! >"$RUN/$svc.pid"
}

start() {
  if [ "$OS_MIGRATE_EXECUTOR" = celery ]; then backing_start; fi
  init_db
  for svc in "${SERVICES[@]}"; do
    running "$svc" || launch "$svc"
  done
  local url="http://127.0.0.1:$AIRFLOW_API_PORT/api/v2/monitor/health"
  for _ in $(seq 1 90); do
    if curl -sf "$url" 2>/dev/null | grep -q '"scheduler": *{"status": *"healthy"' && workers_up; then
      echo "airflow: up at http://127.0.0.1:$AIRFLOW_API_PORT (admin/admin)"; return 0
    fi
    for svc in "${SERVICES[@]}"; do
      running "$svc" || { echo "airflow: $svc exited; end of $LOGS/$svc.log:" >&2; tail -30 "$LOGS/$svc.log" >&2; return 1; }
    done
    sleep 2
  done
  echo "airflow: not healthy after 180 s; logs in $LOGS" >&2
  for svc in "${SERVICES[@]}"; do echo "--- $svc" >&2; tail -15 "$LOGS/$svc.log" >&2; done
  return 1
}

# Every Celery worker logged that it is ready (true without workers).
workers_up() {
  local w
  for w in "${WORKERS[@]}"; do
    grep -q "osm-$w.* ready" "$LOGS/$w.log" 2>/dev/null || return 1
  done
}

# SIGTERM to every service's process group at once, up to 20 s for all to exit, then SIGKILL.
stop() {
  local svc pid pids=()
  for svc in "${SERVICES[@]}"; do
    if running "$svc"; then
      pid="$(cat "$RUN/$svc.pid")"; pids+=("$pid")
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  for _ in $(seq 1 40); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.5
  done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  for svc in "${SERVICES[@]}"; do rm -f "$RUN/$svc.pid"; done
  echo "airflow: stopped"
  if [ "$OS_MIGRATE_EXECUTOR" = celery ]; then backing_stop; fi
}

status() {
  local rc=0
  for svc in "${SERVICES[@]}"; do
    if running "$svc"; then echo "$svc: running (pid $(cat "$RUN/$svc.pid"))"; else echo "$svc: stopped"; rc=1; fi
  done
  if [ "$OS_MIGRATE_EXECUTOR" = celery ]; then backing_status || rc=1; fi
  return $rc
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  connections-devcloud)
    if [ "$OS_MIGRATE_EXECUTOR" = celery ]; then backing_start; fi
    init_db; connections_devcloud ;;
  *) echo "usage: $0 start|stop|status|connections-devcloud" >&2; exit 2 ;;
esac
