#!/usr/bin/env bash
# devcloud: a loopback-only OpenStack control plane for OS Migrate on Airflow.
# Usage: [DEVCLOUD_CLOUDS=1|2] devcloud/devcloud.sh {install|configure|start|stop|status|seed|up|reset|smoke|restart-service NAME}
# See devcloud/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
ROOT_DC=${DEVCLOUD_HOME:-$REPO/.devcloud}
# DEVCLOUD_CLOUDS=2: a second, independent control plane beside the first (see
# README "Two clouds").  DEVCLOUD_INSTANCE (1 or 2) picks the instance a command
# acts on; without it the command runs for every instance (see main).
CLOUDS=${DEVCLOUD_CLOUDS:-1}
INSTANCE=${DEVCLOUD_INSTANCE:-1}
[[ $CLOUDS =~ ^[12]$ ]] || { echo "DEVCLOUD_CLOUDS must be 1 or 2, not '$CLOUDS'" >&2; exit 2; }
[[ $INSTANCE =~ ^[12]$ ]] || { echo "DEVCLOUD_INSTANCE must be 1 or 2, not '$INSTANCE'" >&2; exit 2; }
# instance 1 keeps the historical layout; instance 2 lives in $ROOT_DC/cloud2
# (so a reset of instance 1 removes it too) and shares instance 1's venv
if [[ $INSTANCE == 1 ]]; then DC=$ROOT_DC; else DC=$ROOT_DC/cloud$INSTANCE; fi
VENV=$ROOT_DC/venv
CLOUDS_YAML=$ROOT_DC/clouds.yaml           # one file, both clouds' entries
BASE_PYTHON=${DEVCLOUD_PYTHON:-}
PW=devcloud                      # every dev password (loopback-only test cloud)
OFF=$(( (INSTANCE - 1) * 10000 ))          # every port of instance 2 is +10000 ...
if [[ $INSTANCE == 1 ]]; then
    HOSTNAME_OS=devcloud         # nova/cinder service host name
    REGION=RegionOne
    CLOUD_PREFIX=devcloud        # clouds.yaml names devcloud-admin, -src, -dst
    MQ_DIST_PORT=25672
    RABBIT_NODE=rabbit@localhost
else
    HOSTNAME_OS=devcloud$INSTANCE
    REGION=RegionTwo
    CLOUD_PREFIX=devcloud$INSTANCE
    # ... except Erlang distribution: 35672 would be inside the kernel's
    # ephemeral port range (32768-60999), where a client socket may hold it
    MQ_DIST_PORT=26672
    RABBIT_NODE=rabbit$INSTANCE@localhost
fi
DB_PORT=$(( ${DEVCLOUD_DB_PORT:-3306} + OFF ))
MQ_PORT=$((5672 + OFF))
EPMD_PORT=$((4369 + OFF))
KS_PORT=$((5000 + OFF))
KS_URL=http://127.0.0.1:$KS_PORT
TRANSPORT_URL="rabbit://guest:guest@127.0.0.1:$MQ_PORT/"
STOP_TIMEOUT=${DEVCLOUD_STOP_TIMEOUT:-20}

OS_PACKAGES=(keystone==30.0.0 glance==33.0.0 neutron==29.0.0 nova==34.0.0
             openstack-placement==16.0.0 cinder==29.0.0
             gunicorn python-openstackclient openstacksdk PyMySQL)
APT_PACKAGES=(mariadb-server rabbitmq-server nfs-common qemu-utils
              openssh-server nbdkit libnbd-bin iproute2)

# name:port:wsgi-module of the API services (all gunicorn, 1 worker, threads)
APIS=(keystone:$KS_PORT:keystone.wsgi.api
      glance:$((9292 + OFF)):glance.wsgi.api
      placement:$((8778 + OFF)):placement.wsgi.api
      neutron:$((9696 + OFF)):neutron.wsgi.api
      nova-api:$((8774 + OFF)):nova.wsgi.osapi_compute
      cinder-api:$((8776 + OFF)):cinder.wsgi.api)
DAEMONS=(nova-conductor nova-scheduler nova-compute cinder-scheduler cinder-volume)
# stop order: reverse of start order
ALL_PROCS=(mariadb epmd rabbitmq keystone glance placement neutron nova-api
           nova-conductor nova-scheduler nova-compute cinder-api
           cinder-scheduler cinder-volume)

log() { printf '[%s %s] %s\n' "$CLOUD_PREFIX" "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- install

find_base_python() {
    if [[ -n $BASE_PYTHON ]]; then echo "$BASE_PYTHON"; return; fi
    local p
    for p in /root/.pyenv/versions/3.11.7/bin/python3 python3.11 python3.12 python3; do
        if command -v "$p" >/dev/null 2>&1; then command -v "$p"; return; fi
    done
    die "no python3 found (set DEVCLOUD_PYTHON)"
}

apt_missing() {
    local p missing=()
    for p in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$p")
    done
    echo "${missing[@]:-}"
}

install_apt() {
    local missing
    missing=$(apt_missing)
    if [[ -z $missing ]]; then log "apt: ${APT_PACKAGES[*]} already installed"; return; fi
    log "apt: installing $missing"
    local made_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        # keep the postinst scripts from starting system services on 0.0.0.0
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    # shellcheck disable=SC2086
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends $missing; } || { [[ $made_policy = 1 ]] && rm -f /usr/sbin/policy-rc.d; die "apt-get failed"; }
    [[ $made_policy = 1 ]] && rm -f /usr/sbin/policy-rc.d
    # a postinst may still have started something (no systemd here): stop it
    pkill_system_services
}

pkill_system_services() {
    local f pid
    for f in /run/mysqld/mysqld.pid /var/run/rabbitmq/pid /run/sshd.pid; do
        [[ -s $f ]] || continue
        pid=$(cat "$f")
        kill -0 "$pid" 2>/dev/null && { log "stopping system service pid $pid ($f)"; kill "$pid" || true; }
    done
    return 0
}

venv_stamp() {
    {
        printf '%s\n' "${OS_PACKAGES[@]}"
        [[ -f $HERE/constraints.txt ]] && cat "$HERE/constraints.txt"
        cat "$HERE/devcloud_fakemech/pyproject.toml" "$HERE/devcloud_fakemech/devcloud_fakemech.py"
    } | md5sum | cut -d' ' -f1
}

install_venv() {
    mkdir -p "$ROOT_DC/state"
    local stamp; stamp=$(venv_stamp)
    if [[ -x $VENV/bin/python && -f $ROOT_DC/state/venv.stamp && $(cat "$ROOT_DC/state/venv.stamp") == "$stamp" ]]; then
        log "venv: up to date ($VENV)"
        return
    fi
    if [[ ! -x $VENV/bin/python ]]; then
        local py; py=$(find_base_python)
        log "venv: creating with $py"
        "$py" -m venv "$VENV"
        "$VENV/bin/pip" install -q --upgrade pip
    fi
    local cons=()
    if [[ -f $HERE/constraints.txt ]]; then
        cons=(-c "$HERE/constraints.txt")
        log "venv: pip install with devcloud/constraints.txt"
    else
        log "venv: pip install (no constraints.txt yet: will freeze the result)"
    fi
    # build the local package from a copy: setuptools leaves build/ and
    # *.egg-info next to the sources it builds
    rm -rf "$ROOT_DC/build" && mkdir -p "$ROOT_DC/build"
    cp -r "$HERE/devcloud_fakemech" "$ROOT_DC/build/devcloud_fakemech"
    "$VENV/bin/pip" install -q "${cons[@]}" "${OS_PACKAGES[@]}" "$ROOT_DC/build/devcloud_fakemech"
    rm -rf "$ROOT_DC/build"
    if [[ ! -f $HERE/constraints.txt ]]; then
        "$VENV/bin/pip" freeze --exclude-editable | grep -v -i '^devcloud-fakemech' \
            > "$HERE/constraints.txt"
        log "venv: wrote $HERE/constraints.txt"
    fi
    venv_stamp > "$ROOT_DC/state/venv.stamp"
}

# Nova loads virt drivers only as nova.virt.<name>: drop ours into the package
# (with convhost.py, which it imports as nova.virt.devcloud_convhost).
install_fake_virt() {
    local virt; virt=$(echo "$VENV"/lib/python3*/site-packages/nova/virt)
    [[ -d $virt ]] || die "nova is not installed in $VENV"
    cmp -s "$HERE/devcloud_fake.py" "$virt/devcloud_fake.py" || cp "$HERE/devcloud_fake.py" "$virt/devcloud_fake.py"
    cmp -s "$HERE/convhost.py" "$virt/devcloud_convhost.py" || cp "$HERE/convhost.py" "$virt/devcloud_convhost.py"
}

# conversion hosts (convhost.py): network namespaces, sshd, loop devices
convhost() {
    local py=python3
    [[ -x $VENV/bin/python ]] && py=$VENV/bin/python
    "$py" "$HERE/convhost.py" --base "$DC/data/convhost" "$@"
}

cmd_install() {
    local t0=$SECONDS
    install_apt
    install_venv
    install_fake_virt
    log "install: done in $((SECONDS - t0))s"
}

# ---------------------------------------------------------------- helpers

need_venv() { [[ -x $VENV/bin/python ]] || die "no venv at $VENV: run '$0 install'"; }

db_url() { echo "mysql+pymysql://os:$PW@127.0.0.1:$DB_PORT/$1?charset=utf8"; }

nfs_share() { echo "127.0.0.1:$DC/data/cinder/nfs-export"; }
nfs_mountpoint() {
    echo "$DC/data/cinder/mnt/$(printf '%s' "$(nfs_share)" | md5sum | cut -d' ' -f1)"
}

pidfile() { echo "$DC/run/$1.pid"; }

# state dir of the other instance (its conversion hosts are not ours)
other_dc() { if [[ $INSTANCE == 1 ]]; then echo "$ROOT_DC/cloud2"; else echo "$ROOT_DC"; fi; }

# pid of NAME if it runs (pid file present, process alive and still the
# leader of the session we created for it), else nothing
proc_pid() {
    local f; f=$(pidfile "$1")
    [[ -s $f ]] || return 1
    local pid; pid=$(cat "$f")
    [[ -r /proc/$pid/stat ]] || return 1
    local stat; stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    stat=${stat##*) }                 # drop "pid (comm) "
    # fields now: state ppid pgrp session ...
    local state sid; read -r state _ _ sid _ <<<"$stat"
    [[ $state != Z && $sid == "$pid" ]] || return 1
    echo "$pid"
}

# Close every fd above 2 of this (sub)shell. A long-lived service must not keep
# a descriptor of its caller: a `flock LOCKFILE devcloud.sh start` would
# otherwise leave the lock held by every service until the cloud stops.
close_inherited_fds() {
    local fd
    for fd in /proc/$BASHPID/fd/*; do
        fd=${fd##*/}
        if [[ $fd =~ ^[0-9]+$ ]] && ((fd > 2)); then eval "exec $fd>&-"; fi
    done
    return 0
}

# start_proc NAME ENV... -- CMD ARGS...: detached (own session), pid file
start_proc() {
    local name=$1; shift
    local envs=()
    while [[ $1 != -- ]]; do envs+=("$1"); shift; done
    shift
    if pid=$(proc_pid "$name"); then
        log "$name: already running (pid $pid)"
        return 0
    fi
    mkdir -p "$DC/run" "$DC/logs"
    ( cd "$DC" && close_inherited_fds && exec env "${envs[@]}" setsid nohup "$@" >>"$DC/logs/$name.out" 2>&1 </dev/null ) &
    local pid=$!
    echo "$pid" > "$(pidfile "$name")"
    log "$name: started (pid $pid)"
}

stop_proc() {
    local name=$1 pid
    if ! pid=$(proc_pid "$name"); then
        rm -f "$(pidfile "$name")"
        return 0
    fi
    local members; members=$(ps -e -o pid=,sid= | awk -v s="$pid" '$2 == s {print $1}')
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < STOP_TIMEOUT * 5; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name: did not stop in ${STOP_TIMEOUT}s, killing"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    # leftovers of its session (gunicorn worker, erlang children, privsep)
    local m
    for m in $members; do
        [[ $m == "$pid" ]] && continue
        kill -0 "$m" 2>/dev/null || continue
        local sid; sid=$(ps -o sid= -p "$m" 2>/dev/null | tr -d ' ') || continue
        [[ $sid == "$pid" ]] && kill -KILL "$m" 2>/dev/null || true
    done
    rm -f "$(pidfile "$name")"
    log "$name: stopped"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_http NAME PORT: any HTTP answer < 500 means the app is loaded
wait_http() {
    local name=$1 port=$2 code i
    for ((i = 0; i < 600; i++)); do
        code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' "http://127.0.0.1:$port/" || true)
        if [[ $code =~ ^[1-4] ]]; then log "$name: answers HTTP $code on :$port"; return 0; fi
        proc_pid "$name" >/dev/null || die "$name exited; see $DC/logs/$name.*"
        sleep 0.5
    done
    die "$name: no HTTP answer on :$port; see $DC/logs/$name.*"
}

# ---------------------------------------------------------------- mariadb / rabbitmq

mysql_cli() { mariadb --no-defaults --socket="$DC/run/mysqld.sock" -uroot "$@"; }

start_mariadb() {
    mkdir -p "$DC/mysql" "$DC/run/internal" "$DC/logs"
    if [[ ! -d $DC/mysql/mysql ]]; then
        log "mariadb: initialising $DC/mysql"
        mariadb-install-db --no-defaults --datadir="$DC/mysql" --user=root \
            --auth-root-authentication-method=socket --skip-test-db \
            >"$DC/logs/mariadb-install-db.log" 2>&1 \
            || die "mariadb-install-db failed; see $DC/logs/mariadb-install-db.log"
    fi
    start_proc mariadb -- mariadbd --no-defaults --user=root \
        --datadir="$DC/mysql" --socket="$DC/run/mysqld.sock" \
        --pid-file="$DC/run/internal/mariadbd.pid" \
        --bind-address=127.0.0.1 --port="$DB_PORT" --skip-name-resolve \
        --max-connections=2000 --innodb-buffer-pool-size=128M \
        --innodb-flush-log-at-trx-commit=2 --log-error="$DC/logs/mariadb.log"
    local i
    for ((i = 0; i < 120; i++)); do
        mysql_cli -e 'select 1' >/dev/null 2>&1 && return 0
        proc_pid mariadb >/dev/null || die "mariadb exited; see $DC/logs/mariadb.log"
        sleep 0.5
    done
    die "mariadb did not come up; see $DC/logs/mariadb.log"
}

rabbit_env() {
    echo HOME="$DC/rabbitmq" \
        RABBITMQ_NODENAME=$RABBIT_NODE \
        RABBITMQ_CONF_ENV_FILE="$DC/rabbitmq/rabbitmq-env.conf" \
        RABBITMQ_CONFIG_FILE="$DC/rabbitmq/rabbitmq.conf" \
        RABBITMQ_ADVANCED_CONFIG_FILE="$DC/rabbitmq/advanced.config" \
        RABBITMQ_ENABLED_PLUGINS_FILE="$DC/rabbitmq/enabled_plugins" \
        RABBITMQ_MNESIA_BASE="$DC/rabbitmq/mnesia" \
        RABBITMQ_LOG_BASE="$DC/logs/rabbitmq" \
        RABBITMQ_PID_FILE="$DC/run/internal/rabbitmq.pid" \
        RABBITMQ_DIST_PORT=$MQ_DIST_PORT \
        ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT=$EPMD_PORT
}

start_rabbitmq() {
    mkdir -p "$DC/run/internal"
    # our own epmd, loopback only (rabbit would otherwise spawn one on 0.0.0.0)
    start_proc epmd -- epmd -address 127.0.0.1 -port "$EPMD_PORT"
    local i
    for ((i = 0; i < 50; i++)); do port_open "$EPMD_PORT" && break; sleep 0.2; done
    # shellcheck disable=SC2046
    start_proc rabbitmq $(rabbit_env) -- /usr/lib/rabbitmq/bin/rabbitmq-server
}

wait_rabbitmq() {
    local i
    for ((i = 0; i < 240; i++)); do
        port_open "$MQ_PORT" && { log "rabbitmq: listening on :$MQ_PORT"; return 0; }
        proc_pid rabbitmq >/dev/null || die "rabbitmq exited; see $DC/logs/rabbitmq*"
        sleep 0.5
    done
    die "rabbitmq did not come up; see $DC/logs/rabbitmq*"
}

ensure_nfs_mount() {
    local src=$DC/data/cinder/nfs-export mp; mp=$(nfs_mountpoint)
    mkdir -p "$src" "$mp"
    if ! mountpoint -q "$mp"; then
        mount --bind "$src" "$mp" || die "mount --bind $src $mp failed (needs root/CAP_SYS_ADMIN)"
        log "cinder: bind-mounted $src on $mp"
    fi
}

release_nfs_mount() {
    local mp; mp=$(nfs_mountpoint)
    if mountpoint -q "$mp" 2>/dev/null; then umount "$mp" || umount -l "$mp"; fi
}

# ---------------------------------------------------------------- configs

authtoken() {
    cat <<EOF
[keystone_authtoken]
www_authenticate_uri = $KS_URL
auth_url = $KS_URL
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $1
password = $PW
region_name = $REGION
service_token_roles = service
service_token_roles_required = true

EOF
}

# ksauth SECTION USER: a keystoneauth password section
ksauth() {
    cat <<EOF
[$1]
auth_type = password
auth_url = $KS_URL
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $2
password = $PW
region_name = $REGION

EOF
}

write_configs() {
    local E=$DC/etc
    mkdir -p "$E"/{keystone,glance,placement,nova,neutron,cinder} "$DC/rabbitmq" \
        "$DC"/data/{glance/images,glance/staging,glance/tasks,nova/instances,nova/lock,neutron/lock,cinder/lock,cinder/conversion,cinder/nfs-export,cinder/mnt,placement} \
        "$DC/logs/rabbitmq" "$DC/run" "$DC/state"
    local S=$VENV/etc

    # --- rabbitmq
    cat > "$DC/rabbitmq/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$MQ_PORT
distribution.listener.interface = 127.0.0.1
distribution.listener.port_range.min = $MQ_DIST_PORT
distribution.listener.port_range.max = $MQ_DIST_PORT
loopback_users.guest = true
log.file.level = warning
log.console = false
EOF
    echo '[].' > "$DC/rabbitmq/enabled_plugins"
    : > "$DC/rabbitmq/rabbitmq-env.conf"

    # --- keystone
    cat > "$E/keystone/keystone.conf" <<EOF
[DEFAULT]
log_file = $DC/logs/keystone.log

[database]
connection = $(db_url keystone)

[token]
provider = fernet

[fernet_tokens]
key_repository = $E/keystone/fernet-keys

[credential]
key_repository = $E/keystone/credential-keys
EOF

    # --- glance
    cp "$S/glance/glance-api-paste.ini" "$E/glance/glance-api-paste.ini"
    { cat <<EOF
[DEFAULT]
log_file = $DC/logs/glance.log
bind_host = 127.0.0.1
workers = 1
enabled_backends = file:file

[database]
connection = $(db_url glance)

[glance_store]
default_backend = file

[file]
filesystem_store_datadir = $DC/data/glance/images/

[os_glance_staging_store]
filesystem_store_datadir = $DC/data/glance/staging/

[os_glance_tasks_store]
filesystem_store_datadir = $DC/data/glance/tasks/

[paste_deploy]
flavor = keystone

[oslo_concurrency]
lock_path = $DC/data/glance

EOF
      authtoken glance; } > "$E/glance/glance-api.conf"

    # --- placement
    { cat <<EOF
[DEFAULT]
log_file = $DC/logs/placement.log

[api]
auth_strategy = keystone

[placement_database]
connection = $(db_url placement)

EOF
      authtoken placement; } > "$E/placement/placement.conf"

    # --- neutron
    cp "$S/neutron/api-paste.ini" "$E/neutron/api-paste.ini"
    { cat <<EOF
[DEFAULT]
log_file = $DC/logs/neutron.log
state_path = $DC/data/neutron
api_paste_config = $E/neutron/api-paste.ini
bind_host = 127.0.0.1
api_workers = 1
rpc_workers = 0
core_plugin = ml2
service_plugins = router
auth_strategy = keystone
allow_overlapping_ips = true
transport_url = $TRANSPORT_URL
notify_nova_on_port_status_changes = true
notify_nova_on_port_data_changes = true
dhcp_agent_notification = false

[database]
connection = $(db_url neutron)

[oslo_concurrency]
lock_path = $DC/data/neutron/lock

EOF
      authtoken neutron; ksauth nova nova; ksauth placement placement; } > "$E/neutron/neutron.conf"
    cat > "$E/neutron/ml2_conf.ini" <<EOF
[ml2]
type_drivers = flat,vlan,vxlan
project_network_types = vxlan
mechanism_drivers = devcloud_fake
extension_drivers = port_security

[ml2_type_flat]
flat_networks = public

[ml2_type_vlan]
network_vlan_ranges = public

[ml2_type_vxlan]
vni_ranges = 1:4000
EOF

    # --- nova (nova.conf: api/conductor/scheduler; nova-cpu.conf: compute, no DB)
    cp "$S/nova/api-paste.ini" "$E/nova/api-paste.ini"
    local nova_common
    nova_common=$(cat <<EOF
[DEFAULT]
host = $HOSTNAME_OS
my_ip = 127.0.0.1
state_path = $DC/data/nova
instances_path = $DC/data/nova/instances
transport_url = $TRANSPORT_URL
compute_driver = devcloud_fake.UploadingFakeDriver
osapi_compute_listen = 127.0.0.1
metadata_listen = 127.0.0.1
osapi_compute_workers = 1
metadata_workers = 1
allow_resize_to_same_host = true

[api]
auth_strategy = keystone

[conductor]
workers = 1

[scheduler]
workers = 1
discover_hosts_in_cells_interval = 60

[vnc]
enabled = false

[oslo_concurrency]
lock_path = $DC/data/nova/lock

[nova_sys_admin]
helper_command = $VENV/bin/privsep-helper --config-file @CONF@

[privsep_osbrick]
helper_command = $VENV/bin/privsep-helper --config-file @CONF@

[cinder]
os_region_name = $REGION
auth_type = password
auth_url = $KS_URL
project_domain_name = Default
user_domain_name = Default
project_name = service
username = nova
password = $PW

[service_user]
send_service_user_token = true
auth_type = password
auth_url = $KS_URL
project_domain_name = Default
user_domain_name = Default
project_name = service
username = nova
password = $PW

$(authtoken nova)

$(ksauth placement placement)

$(ksauth neutron neutron)
EOF
)
    { echo "${nova_common//@CONF@/$E/nova/nova.conf}"; cat <<EOF

[api_database]
connection = $(db_url nova_api)

[database]
connection = $(db_url nova_cell1)
EOF
    } > "$E/nova/nova.conf"
    echo "${nova_common//@CONF@/$E/nova/nova-cpu.conf}" > "$E/nova/nova-cpu.conf"
    printf '[DEFAULT]\nlog_file = %s\n' "$DC/logs/nova-api.log" > "$E/nova/nova-api.conf"

    # --- cinder
    cp "$S/cinder/api-paste.ini" "$E/cinder/api-paste.ini"
    nfs_share > "$E/cinder/nfs_shares"
    { cat <<EOF
[DEFAULT]
host = $HOSTNAME_OS
my_ip = 127.0.0.1
state_path = $DC/data/cinder
transport_url = $TRANSPORT_URL
auth_strategy = keystone
api_paste_config = $E/cinder/api-paste.ini
osapi_volume_listen = 127.0.0.1
osapi_volume_workers = 1
enabled_backends = nfs
default_volume_type = __DEFAULT__
image_conversion_dir = $DC/data/cinder/conversion
# Lets a tenant upload an attached volume to an image: the only API path to read the root volume
# of a boot-from-volume server here (the NFS driver has no snapshot support by default).
enable_force_upload = true

[database]
connection = $(db_url cinder)

[oslo_concurrency]
lock_path = $DC/data/cinder/lock

[nfs]
volume_driver = cinder.volume.drivers.nfs.NfsDriver
volume_backend_name = nfs
nfs_shares_config = $E/cinder/nfs_shares
nfs_mount_point_base = $DC/data/cinder/mnt
nfs_sparsed_volumes = true
nas_secure_file_operations = false
nas_secure_file_permissions = false

[cinder_sys_admin]
helper_command = $VENV/bin/privsep-helper --config-file $E/cinder/cinder.conf

[privsep_osbrick]
helper_command = $VENV/bin/privsep-helper --config-file $E/cinder/cinder.conf

EOF
      authtoken cinder; ksauth nova nova; } > "$E/cinder/cinder.conf"
}

# what configure's work depends on: the rendered configs (not the script text,
# so editing devcloud.sh does not force a re-configure and restart)
config_stamp() {
    { find "$DC/etc" -type f \( -name '*.conf' -o -name '*.ini' -o -name nfs_shares \) \
          -print0 | sort -z | xargs -0 cat
      cat "$DC/rabbitmq/rabbitmq.conf"; } | md5sum | cut -d' ' -f1
}

# ---------------------------------------------------------------- configure

# run VENV binary, output to a log; die with the log tail on failure
vrun() {
    local logf=$DC/logs/configure-$1.log; shift
    if ! "$@" >>"$logf" 2>&1; then
        tail -n 30 "$logf" >&2
        die "failed: $* (see $logf)"
    fi
}

create_databases() {
    local db sql=""
    for db in keystone glance placement nova_api nova_cell0 nova_cell1 neutron cinder; do
        sql+="CREATE DATABASE IF NOT EXISTS $db CHARACTER SET utf8mb4;"
    done
    sql+="CREATE USER IF NOT EXISTS 'os'@'127.0.0.1' IDENTIFIED BY '$PW';"
    sql+="CREATE USER IF NOT EXISTS 'os'@'localhost' IDENTIFIED BY '$PW';"
    sql+="GRANT ALL PRIVILEGES ON *.* TO 'os'@'127.0.0.1';"
    sql+="GRANT ALL PRIVILEGES ON *.* TO 'os'@'localhost'; FLUSH PRIVILEGES;"
    mysql_cli -e "$sql"
}

sync_identity_image_placement_cinder() {
    local B=$VENV/bin E=$DC/etc
    vrun keystone "$B/keystone-manage" --config-file "$E/keystone/keystone.conf" db_sync
    mkdir -p "$E/keystone/fernet-keys" "$E/keystone/credential-keys"
    [[ -f $E/keystone/fernet-keys/0 ]] || vrun keystone "$B/keystone-manage" \
        --config-file "$E/keystone/keystone.conf" fernet_setup --keystone-user root --keystone-group root
    [[ -f $E/keystone/credential-keys/0 ]] || vrun keystone "$B/keystone-manage" \
        --config-file "$E/keystone/keystone.conf" credential_setup --keystone-user root --keystone-group root
    chmod 700 "$E/keystone/fernet-keys" "$E/keystone/credential-keys"
    vrun keystone "$B/keystone-manage" --config-file "$E/keystone/keystone.conf" bootstrap \
        --bootstrap-password "$PW" --bootstrap-username admin \
        --bootstrap-project-name admin --bootstrap-role-name admin \
        --bootstrap-service-name keystone --bootstrap-region-id "$REGION" \
        --bootstrap-admin-url "$KS_URL/v3" \
        --bootstrap-internal-url "$KS_URL/v3" \
        --bootstrap-public-url "$KS_URL/v3"
    vrun glance "$B/glance-manage" --config-dir "$E/glance" db_sync
    vrun placement "$B/placement-manage" --config-dir "$E/placement" db sync
    vrun cinder "$B/cinder-manage" --config-file "$E/cinder/cinder.conf" db sync
}

sync_compute_network() {
    local B=$VENV/bin E=$DC/etc
    local NC=(--config-file "$E/nova/nova.conf")
    vrun nova "$B/nova-manage" "${NC[@]}" api_db sync
    if ! "$B/nova-manage" "${NC[@]}" cell_v2 list_cells 2>/dev/null | grep -q ' cell0 '; then
        vrun nova "$B/nova-manage" "${NC[@]}" cell_v2 map_cell0 \
            --database_connection "$(db_url nova_cell0)"
    fi
    if ! "$B/nova-manage" "${NC[@]}" cell_v2 list_cells 2>/dev/null | grep -q ' cell1 '; then
        vrun nova "$B/nova-manage" "${NC[@]}" cell_v2 create_cell --name cell1
    fi
    vrun nova "$B/nova-manage" "${NC[@]}" db sync
    vrun neutron "$B/neutron-db-manage" --config-file "$E/neutron/neutron.conf" \
        --config-file "$E/neutron/ml2_conf.ini" upgrade heads
}

cmd_configure() {
    need_venv
    install_fake_virt
    mkdir -p "$DC/state" "$DC/logs"
    write_configs
    local stamp; stamp=$(config_stamp)
    if [[ -f $DC/state/configured.stamp && $(cat "$DC/state/configured.stamp") == "$stamp" \
          && -d $DC/mysql/keystone ]]; then
        log "configure: configs unchanged, databases in place; nothing to do"
        return 0
    fi
    local t0=$SECONDS
    # configs changed: OpenStack services must pick them up on the next start
    local n
    for n in "${DAEMONS[@]}"; do stop_proc "$n"; done
    local a; for a in "${APIS[@]}"; do stop_proc "${a%%:*}"; done
    start_mariadb
    create_databases
    log "configure: db syncs (two in parallel; logs in $DC/logs/configure-*.log)"
    rm -f "$DC"/logs/configure-*.log
    sync_identity_image_placement_cinder & local p1=$!
    sync_compute_network & local p2=$!
    local rc=0
    wait "$p1" || rc=1
    wait "$p2" || rc=1
    [[ $rc == 0 ]] || die "configure: a db sync failed"
    # service users, roles and catalog need a running keystone
    start_api keystone
    wait_api keystone
    vrun catalog "$VENV/bin/python" "$HERE/dcadmin.py" --instance "$INSTANCE" catalog
    echo "$stamp" > "$DC/state/configured.stamp"
    rm -f "$DC/state/hosts-discovered"
    log "configure: done in $((SECONDS - t0))s"
}

# ---------------------------------------------------------------- start / stop

api_entry() {
    local a
    for a in "${APIS[@]}"; do [[ ${a%%:*} == "$1" ]] && { echo "$a"; return; }; done
    die "unknown api $1"
}

start_api() {
    local name=$1 entry port module E=$DC/etc
    entry=$(api_entry "$name"); port=$(cut -d: -f2 <<<"$entry"); module=$(cut -d: -f3 <<<"$entry")
    local run=("$VENV/bin/python" "$HERE/wsgi_run.py" "$name" "127.0.0.1:$port" "$module")
    case $name in
        keystone)  start_proc "$name" OS_KEYSTONE_CONFIG_DIR="$E/keystone" \
                       OS_KEYSTONE_CONFIG_FILES=keystone.conf -- "${run[@]}" ;;
        glance)    start_proc "$name" OS_GLANCE_CONFIG_DIR="$E/glance" -- "${run[@]}" ;;
        placement) start_proc "$name" OS_PLACEMENT_CONFIG_DIR="$E/placement" -- "${run[@]}" ;;
        neutron)   start_proc "$name" -- "${run[@]}" -- --config-file "$E/neutron/neutron.conf" \
                       --config-file "$E/neutron/ml2_conf.ini" ;;
        nova-api)  start_proc "$name" OS_NOVA_CONFIG_DIR="$E/nova" \
                       'OS_NOVA_CONFIG_FILES=api-paste.ini;nova.conf;nova-api.conf' -- "${run[@]}" ;;
        cinder-api) start_proc "$name" -- "${run[@]}" -- --config-file "$E/cinder/cinder.conf" \
                       --log-file "$DC/logs/cinder-api.log" ;;
    esac
}

wait_api() {
    local entry; entry=$(api_entry "$1")
    wait_http "$1" "$(cut -d: -f2 <<<"$entry")"
}

start_daemon() {
    local name=$1 E=$DC/etc conf
    case $name in
        nova-compute) conf=$E/nova/nova-cpu.conf ;;
        nova-*) conf=$E/nova/nova.conf ;;
        cinder-*) conf=$E/cinder/cinder.conf ;;
    esac
    start_proc "$name" -- "$VENV/bin/$name" --config-file "$conf" --log-file "$DC/logs/$name.log"
}

cmd_start() {
    need_venv
    [[ -f $DC/state/configured.stamp ]] || die "not configured: run '$0 configure' (or up)"
    install_fake_virt
    local t0=$SECONDS
    start_mariadb
    start_rabbitmq
    ensure_nfs_mount
    local a n
    for a in "${APIS[@]}"; do start_api "${a%%:*}"; done
    wait_rabbitmq
    local since started=()
    since=$(date +%s)
    for n in "${DAEMONS[@]}"; do
        proc_pid "$n" >/dev/null || started+=("$n")
        start_daemon "$n"
    done
    for a in "${APIS[@]}"; do wait_api "${a%%:*}"; done
    for n in "${DAEMONS[@]}"; do proc_pid "$n" >/dev/null || die "$n exited; see $DC/logs/$n.*"; done
    local discover=1
    [[ -f $DC/state/hosts-discovered ]] && discover=0
    "$VENV/bin/python" "$HERE/dcadmin.py" --instance "$INSTANCE" wait-compute --discover "$discover" \
        --nova-conf "$DC/etc/nova/nova.conf" --since "$since" --started "${started[@]}" \
        || die "compute/volume services did not come up; see $DC/logs/{nova,cinder}-*.log"
    touch "$DC/state/hosts-discovered"
    for n in "${DAEMONS[@]}"; do proc_pid "$n" >/dev/null || die "$n exited; see $DC/logs/$n.*"; done
    log "start: all up in $((SECONDS - t0))s"
}

cmd_stop() {
    local i
    for ((i = ${#ALL_PROCS[@]} - 1; i >= 0; i--)); do
        local n=${ALL_PROCS[i]}
        # OpenStack services in parallel, then rabbitmq, epmd, mariadb in order
        case $n in mariadb|epmd|rabbitmq) ;; *) stop_proc "$n" & ;; esac
    done
    wait
    # nova-compute is gone: remove the conversion hosts' namespaces, sshd and
    # loop devices (their state stays; nova-compute rebuilds them at start)
    # (only this cloud's hosts: the other instance's hosts are spared)
    local gone; gone=$(convhost teardown-all --spare "$(other_dc)/data/convhost") \
        || log "convhost teardown-all failed"
    [[ -n $gone ]] && log "conversion hosts stopped: $(wc -l <<<"$gone")"
    stop_proc rabbitmq
    stop_proc epmd
    stop_proc mariadb
    release_nfs_mount   # start bind-mounts it again; a stopped cloud leaves no mount behind
    log "stop: done"
}

cmd_status() {
    local bad=0 n pid
    printf '%-18s %-8s %s\n' PROCESS STATE PID
    for n in "${ALL_PROCS[@]}"; do
        if pid=$(proc_pid "$n"); then
            printf '%-18s %-8s %s\n' "$n" running "$pid"
        else
            printf '%-18s %-8s %s\n' "$n" stopped -
            bad=1
        fi
    done
    # pid -> service name, for every process in the sessions we started
    declare -A owner=()
    local m
    for n in "${ALL_PROCS[@]}"; do
        pid=$(proc_pid "$n") || continue
        for m in $(ps -e -o pid=,sid= | awk -v s="$pid" '$2 == s {print $1}'); do owner[$m]=$n; done
    done
    echo
    echo "Listening sockets of devcloud processes:"
    local line proto addr p
    while IFS= read -r line; do
        [[ -n $line ]] || continue
        proto=$(awk '{print $1}' <<<"$line"); addr=$(awk '{print $5}' <<<"$line")
        local names=""
        for p in $(grep -o 'pid=[0-9]*' <<<"$line" | cut -d= -f2); do
            [[ -n ${owner[$p]:-} ]] && names=${owner[$p]}
        done
        [[ -n $names ]] || continue
        local flag=""
        case $addr in
            127.*|'[::1]':*|'[::ffff:127.'*) ;;
            *) flag="  <-- NOT LOOPBACK"; bad=1 ;;
        esac
        printf '  %-18s %-4s %s%s\n' "$names" "$proto" "$addr" "$flag"
    done < <(ss -Hltunp 2>/dev/null | sort -t: -k2 -n)
    if [[ ${#owner[@]} -gt 0 ]]; then
        local list; list=$(IFS=,; echo "${!owner[*]}")
        local rss; rss=$(ps -o rss= -p "$list" 2>/dev/null | awk '{s+=$1} END {print int(s/1024)}' || true)
        echo
        echo "Total RSS of devcloud processes: ${rss} MiB (${#owner[@]} processes)"
    fi
    status_convhosts || bad=1
    mountpoint -q "$(nfs_mountpoint)" 2>/dev/null && echo "Cinder NFS bind mount: present" \
        || { echo "Cinder NFS bind mount: MISSING"; bad=1; }
    [[ -f $CLOUDS_YAML ]] && echo "clouds.yaml: $CLOUDS_YAML ($CLOUD_PREFIX-admin, $CLOUD_PREFIX-src, $CLOUD_PREFIX-dst; region $REGION)"
    return $bad
}

# conversion hosts: each namespace, its sshd and its listeners (which must be
# the host's own addresses); exit 1 on anything else
status_convhosts() {
    local bad=0 ns addr line
    # this cloud's hosts only (those with state under our data/convhost)
    local hosts; hosts=$(ip netns list 2>/dev/null | awk '$1 ~ /^dcch-/ {print $1}' \
        | while read -r ns; do if [[ -f $DC/data/convhost/${ns#dcch-}/host.json ]]; then echo "$ns"; fi; done)
    [[ -n $hosts ]] || return 0
    echo
    echo "Conversion hosts (network namespaces, sshd listeners):"
    for ns in $hosts; do
        local mine; mine=$(ip -n "$ns" -4 -o addr show | awk '{split($4, a, "/"); print a[1]}')
        echo "  $ns  ${mine//$'\n'/ }"
        while IFS= read -r line; do
            [[ -n $line ]] || continue
            addr=$(awk '{print $4}' <<<"$line")
            local flag="  <-- NOT AN ADDRESS OF THIS HOST"
            grep -qxF "${addr%:*}" <<<"$mine" && flag=""
            [[ -n $flag ]] && bad=1
            printf '    %s%s\n' "$addr" "$flag"
        done < <(ip netns exec "$ns" ss -Hltn 2>/dev/null)
    done
    return $bad
}

# restart-service NAME: stop and start one service of a running devcloud
# (reloads the installed driver for nova-compute) and wait until it is back
cmd_restart_service() {
    local name=${1:-} n a
    [[ -n $name ]] || die "usage: $0 restart-service NAME"
    need_venv
    install_fake_virt
    for n in "${DAEMONS[@]}"; do
        [[ $n == "$name" ]] || continue
        local since; since=$(date +%s)
        stop_proc "$name"
        start_daemon "$name"
        "$VENV/bin/python" "$HERE/dcadmin.py" --instance "$INSTANCE" wait-compute --discover 0 \
            --nova-conf "$DC/etc/nova/nova.conf" --since "$since" --started "$name" \
            || die "$name did not come back; see $DC/logs/$name.log"
        proc_pid "$name" >/dev/null || die "$name exited; see $DC/logs/$name.*"
        log "$name: restarted"
        return 0
    done
    for a in "${APIS[@]}"; do
        [[ ${a%%:*} == "$name" ]] || continue
        stop_proc "$name"
        start_api "$name"
        wait_api "$name"
        log "$name: restarted"
        return 0
    done
    die "unknown service $name (one of: ${DAEMONS[*]} ${APIS[*]%%:*})"
}

# ---------------------------------------------------------------- seed / smoke / up / reset

cmd_seed() {
    need_venv
    "$VENV/bin/python" "$HERE/dcadmin.py" --instance "$INSTANCE" seed --clouds-yaml "$CLOUDS_YAML" \
        --image-file "$DC/data/cirros.raw"
    log "seed: done; clouds.yaml is $CLOUDS_YAML (clouds $CLOUD_PREFIX-admin, $CLOUD_PREFIX-src, $CLOUD_PREFIX-dst)"
}

cmd_smoke() {
    need_venv
    [[ -f $CLOUDS_YAML ]] || die "no $CLOUDS_YAML: run '$0 seed'"
    OS_CLIENT_CONFIG_FILE=$CLOUDS_YAML "$VENV/bin/python" "$HERE/smoke.py" \
        --cloud "$CLOUD_PREFIX-src" --admin-cloud "$CLOUD_PREFIX-admin" "$@"
}

cmd_up() {
    local t0=$SECONDS
    cmd_install
    cmd_configure
    cmd_start
    cmd_seed
    log "up: done in $((SECONDS - t0))s"
}

cmd_reset() {
    cmd_stop
    release_nfs_mount
    # (instance 1's state holds instance 2's: main stops instance 2 first)
    if grep -q " $DC/" /proc/mounts; then
        die "something is still mounted under $DC; not deleting"
    fi
    local e
    for e in "$DC"/* "$DC"/.[!.]*; do
        [[ -e $e ]] || continue
        [[ $e == "$VENV" || $e == "$DC/state/venv.stamp" || $e == "$DC/state" ]] && continue
        rm -rf "$e"
    done
    find "$DC/state" -mindepth 1 ! -name venv.stamp -exec rm -rf {} + 2>/dev/null || true
    log "reset: state removed (kept $VENV)"
}

# ---------------------------------------------------------------- main

usage() {
    sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

run_cmd() {
    local cmd=$1; shift
    case $cmd in
        install|configure|start|stop|status|seed|up|reset|smoke) "cmd_$cmd" "$@" ;;
        restart-service) cmd_restart_service "$@" ;;
        *) usage ;;
    esac
}

# the same script for another instance, in its own process (every setting at
# the top depends on the instance number)
run_instance() { local n=$1; shift; DEVCLOUD_INSTANCE=$n "$HERE/devcloud.sh" "$@"; }

# MiB of RSS of every process in the sessions of the pid files under DIR/run
rss_mib() {
    local f pid sids=()
    for f in "$1"/run/*.pid; do
        [[ -s $f ]] || continue
        pid=$(cat "$f")
        kill -0 "$pid" 2>/dev/null && sids+=("$pid")
    done
    [[ ${#sids[@]} -gt 0 ]] || { echo 0; return; }
    ps -e -o sid=,rss= | awk -v s=" ${sids[*]} " 'index(s, " " $1 " ") {t += $2} END {print int(t / 1024)}'
}

cloud2_running() {
    local f=$ROOT_DC/cloud2/run/keystone.pid
    [[ -s $f ]] && kill -0 "$(cat "$f")" 2>/dev/null
}

# Without DEVCLOUD_INSTANCE a command acts on clouds 1..DEVCLOUD_CLOUDS, except
# stop and reset, which stop every instance that has state (a stopped machine
# leaves nothing behind, whatever DEVCLOUD_CLOUDS says).
main() {
    local cmd=${1:-}
    [[ -n $cmd ]] || usage
    shift || true
    if [[ -n ${DEVCLOUD_INSTANCE:-} ]]; then run_cmd "$cmd" "$@"; return; fi
    local t0=$SECONDS rc=0
    case $cmd in
        stop|reset)
            if [[ -d $ROOT_DC/cloud2 ]]; then run_instance 2 stop; fi
            run_cmd "$cmd" "$@" ;;
        status)
            run_cmd status || rc=1
            if [[ $CLOUDS == 2 ]]; then
                printf '\n== cloud 2 (%s)\n' "$ROOT_DC/cloud2"
                run_instance 2 status || rc=1
                echo
                echo "Total RSS of both clouds: $(( $(rss_mib "$ROOT_DC") + $(rss_mib "$ROOT_DC/cloud2") )) MiB"
            elif cloud2_running; then
                echo; echo "Cloud 2 runs too: DEVCLOUD_CLOUDS=2 $0 status"
            fi
            return $rc ;;
        restart-service) run_cmd "$cmd" "$@" ;;
        *)
            run_cmd "$cmd" "$@"
            if [[ $CLOUDS == 2 ]]; then
                run_instance 2 "$cmd" "$@"
                log "$cmd: both clouds done in $((SECONDS - t0))s"
            fi ;;
    esac
}

# Everything above is definitions; this single line is read in full before it
# runs, so editing the file while a command runs cannot confuse bash.
{ main "$@"; exit $?; }
