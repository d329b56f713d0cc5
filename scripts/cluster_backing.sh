# Backing services of the native CeleryExecutor cluster (sourced by scripts/airflow.sh when
# OS_MIGRATE_EXECUTOR=celery): PostgreSQL 15 (metadata DB and Celery result backend) and Redis
# (broker) from Debian's packages, each with its own data dir, config and PID file under
# $OS_MIGRATE_CLUSTER_DIR, listening on 127.0.0.1 only, password protected.
#   backing_start    install the packages if missing, generate the keys once, start both
#   backing_stop     stop both by the PIDs in their PID files
#   backing_status   show whether they run
PG_BIN=/usr/lib/postgresql/15/bin
PG_DATA="$OS_MIGRATE_CLUSTER_DIR/postgres"
PG_RUN="$OS_MIGRATE_CLUSTER_DIR/postgres-run"  # its unix socket (TCP on loopback is what we use)
PG_LOG="$OS_MIGRATE_CLUSTER_DIR/postgres.log"
REDIS_DIR="$OS_MIGRATE_CLUSTER_DIR/redis"
REDIS_PID="$REDIS_DIR/redis.pid"
SECRETS="$OS_MIGRATE_CLUSTER_DIR/secrets.env"

# PostgreSQL refuses to run as root: as root, its tools run as Debian's `postgres` user.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

install_backing() {
  local missing=()
  [ -x "$PG_BIN/initdb" ] || missing+=(postgresql-15)
  command -v redis-server >/dev/null || missing+=(redis-server)
  [ ${#missing[@]} = 0 ] && return 0
  echo "cluster: apt-get install ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Passwords and keys of this install, made once (mode 600, under the checkout's .cluster/, which
# git ignores): the Fernet key, the API's secret key and JWT secret every process must share.
make_secrets() {
  [ -f "$SECRETS" ] && return 0
  mkdir -p "$OS_MIGRATE_CLUSTER_DIR"
  local tmp="$SECRETS.tmp"
  (
    umask 077
    python - >"$tmp" <<'EOF'
import secrets
from cryptography.fernet import Fernet

print(f"OS_MIGRATE_PG_PASSWORD={secrets.token_hex(16)}")
print(f"OS_MIGRATE_REDIS_PASSWORD={secrets.token_hex(16)}")
print(f"AIRFLOW__CORE__FERNET_KEY={Fernet.generate_key().decode()}")
print(f"AIRFLOW__API__SECRET_KEY={secrets.token_hex(32)}")
print(f"AIRFLOW__API_AUTH__JWT_SECRET={secrets.token_hex(32)}")
EOF
  )
  mv "$tmp" "$SECRETS"
}

pg_pid() { [ -f "$PG_DATA/postmaster.pid" ] && head -1 "$PG_DATA/postmaster.pid"; }
pg_running() { local pid; pid="$(pg_pid)" && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }
redis_running() { [ -f "$REDIS_PID" ] && kill -0 "$(cat "$REDIS_PID")" 2>/dev/null; }

pg_start() {
  pg_running && return 0
  mkdir -p "$PG_RUN"
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    rm -rf "$PG_DATA" && mkdir -p "$PG_DATA"
    local pwfile="$OS_MIGRATE_CLUSTER_DIR/.pgpass-init"
    (umask 077; echo "$OS_MIGRATE_PG_PASSWORD" >"$pwfile")
    [ "$(id -u)" = 0 ] && chown postgres: "$PG_DATA" "$PG_RUN" "$pwfile"
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U airflow --pwfile="$pwfile" --auth=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >"$OS_MIGRATE_CLUSTER_DIR/initdb.log" 2>&1 ||
      { rm -f "$pwfile"; echo "cluster: initdb failed:" >&2; tail -20 "$OS_MIGRATE_CLUSTER_DIR/initdb.log" >&2; return 1; }
    rm -f "$pwfile"
  fi
  [ "$(id -u)" = 0 ] && chown postgres: "$PG_RUN" && touch "$PG_LOG" && chown postgres: "$PG_LOG"
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -c port=$OS_MIGRATE_PG_PORT -c unix_socket_directories=$PG_RUN" \
    >/dev/null || { echo "cluster: PostgreSQL did not start; end of $PG_LOG:" >&2; tail -20 "$PG_LOG" >&2; return 1; }
  PGPASSWORD="$OS_MIGRATE_PG_PASSWORD" psql -h 127.0.0.1 -p "$OS_MIGRATE_PG_PORT" -U airflow -d postgres \
    -tAc "SELECT 1 FROM pg_database WHERE datname = 'airflow'" | grep -q 1 ||
    PGPASSWORD="$OS_MIGRATE_PG_PASSWORD" psql -h 127.0.0.1 -p "$OS_MIGRATE_PG_PORT" -U airflow -d postgres \
      -qc "CREATE DATABASE airflow"
  echo "cluster: PostgreSQL on 127.0.0.1:$OS_MIGRATE_PG_PORT (pid $(pg_pid))"
}

redis_start() {
  redis_running && return 0
  mkdir -p "$REDIS_DIR"
  (
    umask 077
    cat >"$REDIS_DIR/redis.conf" <<EOF
bind 127.0.0.1
port $OS_MIGRATE_REDIS_PORT
protected-mode yes
requirepass $OS_MIGRATE_REDIS_PASSWORD
daemonize yes
pidfile $REDIS_PID
logfile $REDIS_DIR/redis.log
dir $REDIS_DIR
save ""
appendonly no
EOF
  )
  redis-server "$REDIS_DIR/redis.conf" ||
    { echo "cluster: Redis did not start; end of its log:" >&2; tail -20 "$REDIS_DIR/redis.log" >&2; return 1; }
  for _ in $(seq 1 50); do
    REDISCLI_AUTH="$OS_MIGRATE_REDIS_PASSWORD" redis-cli -h 127.0.0.1 -p "$OS_MIGRATE_REDIS_PORT" ping 2>/dev/null |
      grep -q PONG && { echo "cluster: Redis on 127.0.0.1:$OS_MIGRATE_REDIS_PORT (pid $(cat "$REDIS_PID"))"; return 0; }
    sleep 0.2
  done
  echo "cluster: Redis does not answer; end of its log:" >&2; tail -20 "$REDIS_DIR/redis.log" >&2; return 1
}

backing_start() {
  install_backing
  make_secrets
  . scripts/env.sh  # again: the DB and broker URLs need the secrets
  pg_start
  redis_start
}

# Stop a process by PID (SIGTERM; PostgreSQL: SIGINT, its fast shutdown), wait up to 30 s, then SIGKILL.
stop_pid() {
  local pid="$1" sig="$2"
  kill "-$sig" "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  kill -KILL "$pid" 2>/dev/null || true
}

backing_stop() {
  if redis_running; then stop_pid "$(cat "$REDIS_PID")" TERM; fi
  rm -f "$REDIS_PID"
  if pg_running; then stop_pid "$(pg_pid)" INT; fi
  echo "cluster: PostgreSQL and Redis stopped"
}

backing_status() {
  local rc=0
  if pg_running; then echo "postgresql: running (pid $(pg_pid))"; else echo "postgresql: stopped"; rc=1; fi
  if redis_running; then echo "redis: running (pid $(cat "$REDIS_PID"))"; else echo "redis: stopped"; rc=1; fi
  return $rc
}
