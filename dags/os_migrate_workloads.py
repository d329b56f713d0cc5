"""
### OS Migrate: workloads (cold migration of servers)

Moves servers with their Cinder volumes, ports and floating IPs from a **source** to a
**destination** OpenStack project, after the pre-workload content (networks, security groups,
images, keypairs) is there. Export to `workloads.yml` (and `detached_volumes.yml`) in the data
dir, pre-flight every reference and quota, then one mapped task group per server.

**Flow**: `check_conf` (unknown conf keys fail the run) → `lock_data_dir` → `create_dst_project` (only with
`create_dst_project`; skipped otherwise) → `export_workloads` (source) →
`deploy_conversion_hosts` (managed hosts only; its teardown `remove_conversion_hosts` runs last) → `preflight` (both clouds, reads only;
fails listing every missing resource before anything is touched) → `approval` (only with `approval`) → `migrate_server[<name>]`:
`prepare` (stop the source, require SHUTOFF) → `copy_disks` (pool `conversion_hosts`, at most 4
at once per run; verified copies of the boot/data volumes, through the image APIs or host to
host over SSH) → `create_server` (ports, block device mapping, wait
ACTIVE, floating IPs) → `finalize` (always: clean temporaries; on failure roll the destination
back and restore the source) → `summary`; and after pre-flight, `select_volumes` →
`migrate_volume[<name>]` (pool `conversion_hosts`): each selected detached volume copied on its own.

**Params**

| name | meaning |
|---|---|
| `tenant` | tenant name; the data dir is `<staging root>/<tenant>` |
| `src_conn_id` / `dst_conn_id` | Airflow Connections (conn_type `openstack`) of the two clouds |
| `data_dir` | explicit data dir; empty = `$OS_MIGRATE_STAGING_ROOT/<tenant>` |
| `create_dst_project` / `dst_admin_conn_id` | first task `create_dst_project`: with the admin Connection, create the project `dst_conn_id` is scoped to if missing and give its user the `member` role there (no write when both exist); off (default) = the task is skipped |
| `volumes` | detached volumes (`detached_volumes.yml`) to migrate too: names and regexes as for servers; empty = none |
| `servers` | the wave: exact names and regexes (`regex:^db-`, `re:^db-`, `/^db-/` or `{"regex": "^db-"}`); empty = nothing |
| `migration_params` | `_migration_params` overrides for the run, e.g. `{"boot_disk_copy": true}` |
| `on_preflight_failure` | `stop` (default): any pre-flight problem fails the run; `skip`: servers with problems are skipped and reported, the others go on |
| `flavor_map` | source flavor name → destination flavor name, e.g. `{"m1.small": "m1.medium"}`; a record's `_migration_params.flavor_name` wins; unmapped flavors keep their name; pre-flight logs which flavor each server gets |
| `copy_method` | `image` or `conversion_host`; empty = each record's (default `image`) |
| `src_host_conn_id` / `dst_host_conn_id` | Airflow SSH Connections of the two conversion hosts (`conversion_host`) |
| `conversion_hosts` | `provided` (the connections above) or `managed`: `deploy_conversion_hosts` makes one host per project from `host_image`, `host_flavor`, `host_network` (+ `host_floating_network`, `host_address`, `host_allow_from`) and the teardown `remove_conversion_hosts` removes them unless `keep_hosts` |
| `dry_run` | export and pre-flight only |
| `approval` | wait for a human approval (HITL) after pre-flight, before any server is stopped |

In the trigger form the Params are grouped in four sections: **Clouds and data**, **Wave**
(servers, migration params, flavor map), **Disk copy** (method, conversion hosts) and **Run options** (dry run, approval). In the Servers box, write one
server name or regex per line.

Re-running is safe: a server whose name is taken in the destination by a server os-migrate did
not create is skipped; finished servers are not touched again; interrupted ones resume.

**Data dir lock and approval**: `lock_data_dir` (setup, after `check_conf`) creates
`<data dir>/.os-migrate.lock` naming the run; a second run on the same data dir fails there at once,
naming the holder, and touches nothing; runs of different tenants go in parallel.
`unlock_data_dir` (its teardown) releases it, also when the run fails. With `approval` on,
`approval` (after `preflight`) waits under **Required Actions** for a human to approve the plan
(servers to stop with their destination flavors, expected bytes, skipped servers); Reject skips
every later step, so nothing is stopped.
"""

from __future__ import annotations

import datetime

from airflow.sdk import DAG, Param, TriggerRule, task, task_group

from os_migrate.workload.records import COPY_METHODS, FLAVOR_MAP_SCHEMA, MIGRATION_PARAMS_SCHEMA
from os_migrate_airflow.dag_support import (
    FILTER_ITEM_SCHEMA,
    TENANT_PATTERN,
    create_dst_project_params,
    reject_unknown_conf,
    tenant_data_dir,
)
from os_migrate_airflow.operators.approval import PlanApprovalOperator
from os_migrate_airflow.operators.conversion_hosts import (
    ConversionHostsDeployOperator,
    ConversionHostsRemoveOperator,
)
from os_migrate_airflow.operators.locks import DataDirLockOperator, DataDirUnlockOperator
from os_migrate_airflow.operators.projects import ProjectEnsureOperator
from os_migrate_airflow.operators.workload import (
    DetachedVolumeMigrateOperator,
    DetachedVolumeSelectOperator,
    ServerCopyDisksOperator,
    ServerCreateOperator,
    ServerFinalizeOperator,
    ServerPrepareOperator,
    WorkloadExportOperator,
    WorkloadPreflightOperator,
    WorkloadSummaryOperator,
)

DAG_ID = "os_migrate_workloads"
#: Pool capping concurrent disk copies across all runs (created by scripts/airflow.sh with 2 slots;
#: resize it in the UI, Admin > Pools, or with `airflow pools set conversion_hosts <slots> <description>`).
COPY_POOL = "conversion_hosts"
#: Cap of concurrent disk copies within one run (``max_active_tis_per_dagrun`` of the mapped copy).
MAX_COPIES_PER_RUN = 4
DEFAULT_ARGS = {
    "owner": "os-migrate",
    "retries": 2,
    "retry_delay": datetime.timedelta(seconds=30),
    # nothing hangs forever: 2 h per task; the copy operators default to 24 h
    # (os_migrate_airflow.operators.workload.COPY_EXECUTION_TIMEOUT), deferred waits to their trigger's timeout
    "execution_timeout": datetime.timedelta(hours=2),
}
#: Rendered on the worker when a task runs.
DATA_DIR = "{{ os_migrate_data_dir(params.tenant, params.data_dir) }}"
COMMON = {
    "data_dir": DATA_DIR,
    "src_conn_id": "{{ params.src_conn_id }}",
    "dst_conn_id": "{{ params.dst_conn_id }}",
    "overrides": "{{ params.migration_params }}",
    "flavor_map": "{{ params.flavor_map }}",
    "copy_method": "{{ params.copy_method }}",
    "src_host_conn_id": "{{ params.src_host_conn_id }}",
    "dst_host_conn_id": "{{ params.dst_host_conn_id }}",
    "host_settings": "{{ ti.xcom_pull(task_ids='deploy_conversion_hosts') }}",
}
#: Managed hosts act only with copy_method conversion_host and conversion_hosts managed.
HOSTS_MODE = (
    "{{ 'managed' if params.copy_method == 'conversion_host' and params.conversion_hosts == 'managed' "
    "else 'provided' }}"
)
HOSTS = {
    "tenant": "{{ params.tenant }}",
    "mode": HOSTS_MODE,
    "src_conn_id": "{{ params.src_conn_id }}",
    "dst_conn_id": "{{ params.dst_conn_id }}",
}
#: The wave; an empty box in the form gives None, which must select nothing (the core reads None as "all").
SERVERS = "{{ params.servers or [] }}"
VOLUMES = "{{ params.volumes or [] }}"
#: Trigger form sections (Param ``section``).
CLOUDS, WAVE, COPY, OPTIONS = "Clouds and data", "Wave", "Disk copy", "Run options"

with DAG(
    dag_id=DAG_ID,
    description="Cold-migrate servers with their volumes, ports and floating IPs",
    doc_md=__doc__,
    schedule=None,
    catchup=False,
    max_active_runs=16,  # runs on different data dirs go in parallel; lock_data_dir refuses a second one
    default_args=DEFAULT_ARGS,
    tags=["os-migrate", "openstack", "workloads"],
    render_template_as_native_obj=True,
    user_defined_macros={"os_migrate_data_dir": tenant_data_dir},
    params={
        "tenant": Param(
            "demo",
            type="string",
            pattern=TENANT_PATTERN,
            title="Tenant",
            description="Tenant name (letters, digits, '_', '.', '-'; max 64); names the data dir.",
            section=CLOUDS,
        ),
        "src_conn_id": Param(
            "openstack_src",
            type="string",
            minLength=1,
            title="Source connection",
            description="Airflow Connection id of the source cloud.",
            section=CLOUDS,
        ),
        "dst_conn_id": Param(
            "openstack_dst",
            type="string",
            minLength=1,
            title="Destination connection",
            description="Airflow Connection id of the destination cloud.",
            section=CLOUDS,
        ),
        "data_dir": Param(
            None,
            type=["null", "string"],
            title="Data dir",
            description="Directory of the YAML data (the pre-workload run's). Leave empty for "
            "$OS_MIGRATE_STAGING_ROOT/<tenant>, resolved on the worker.",
            section=CLOUDS,
        ),
        **create_dst_project_params(CLOUDS),
        "servers": Param(
            [],
            type=["null", "array"],
            items=FILTER_ITEM_SCHEMA,
            title="Servers",
            description="The wave, one item per line: an exact server name, or a regex written "
            '"regex:<pattern>", "re:<pattern>" or "/<pattern>/" (matches anywhere in the name; anchor '
            'it with ^ and $); through the API also {"regex": "<pattern>"}. Empty: nothing is migrated.',
            section=WAVE,
        ),
        "volumes": Param(
            [],
            type=["null", "array"],
            items=FILTER_ITEM_SCHEMA,
            title="Detached volumes",
            description="Volumes of detached_volumes.yml to migrate too, one name or regex per line "
            "(as for servers). Empty: none.",
            section=WAVE,
        ),
        "migration_params": Param(
            {},
            **MIGRATION_PARAMS_SCHEMA,
            title="Migration params",
            description="Overrides of each server's _migration_params for "
            'this run, e.g. {"boot_disk_copy": true, '
            '"floating_ip_mode": "new"}. Empty object: use the records as they are.',
            section=WAVE,
        ),
        "flavor_map": Param(
            {},
            **FLAVOR_MAP_SCHEMA,
            title="Flavor map",
            description='Source flavor name -> destination flavor name, e.g. {"m1.small": "m1.medium"}. '
            "A server's own _migration_params.flavor_name wins; an unmapped flavor keeps its name. "
            "Pre-flight logs the flavor each server gets and fails on a flavor missing in the destination.",
            section=WAVE,
        ),
        "on_preflight_failure": Param(
            "stop",
            type="string",
            enum=["stop", "skip"],
            title="On pre-flight failure",
            description="stop: any pre-flight problem fails the run before a server is touched; skip: "
            "a server with problems (or that does not fit the destination quota) is skipped and "
            "reported, the others are migrated.",
            section=WAVE,
        ),
        "copy_method": Param(
            None,
            type=["null", "string"],
            enum=[None, *COPY_METHODS],
            title="Copy method",
            description="How disk bytes travel: 'image' (through the image APIs) or 'conversion_host' "
            "(host to host over SSH; needs the two host connections below). Empty: each record's "
            "_migration_params.copy_method (default image).",
            section=COPY,
        ),
        "src_host_conn_id": Param(
            None,
            type=["null", "string"],
            title="Source conversion host",
            description="Airflow SSH Connection of the conversion host in the source project (host, "
            "login, extra private_key or key_file, host_key, server).",
            section=COPY,
        ),
        "dst_host_conn_id": Param(
            None,
            type=["null", "string"],
            title="Destination conversion host",
            description="Airflow SSH Connection of the conversion host in the destination project.",
            section=COPY,
        ),
        "conversion_hosts": Param(
            "provided",
            type="string",
            enum=["provided", "managed"],
            title="Conversion hosts",
            description="provided: the two SSH Connections above; managed: deploy a host in each project "
            "for this run (image, flavor, network below) and remove it at the end.",
            section=COPY,
        ),
        "host_image": Param(
            None,
            type=["null", "string"],
            title="Managed: image",
            description="Host image (name or id).",
            section=COPY,
        ),
        "host_flavor": Param(
            None,
            type=["null", "string"],
            title="Managed: flavor",
            description="Host flavor (name or id).",
            section=COPY,
        ),
        "host_network": Param(
            None,
            type=["null", "string"],
            title="Managed: network",
            description="Network of the hosts' ports (name or id, in each project).",
            section=COPY,
        ),
        "host_floating_network": Param(
            None,
            type=["null", "string"],
            title="Managed: floating IP network",
            description="External network for the hosts' floating IPs; empty: no floating IP.",
            section=COPY,
        ),
        "host_address": Param(
            "fixed",
            type="string",
            enum=["fixed", "floating"],
            title="Managed: address to connect to",
            description="fixed IP (the worker shares the network) or floating IP.",
            section=COPY,
        ),
        "host_allow_from": Param(
            [],
            type="array",
            items={"type": "string"},
            title="Managed: SSH allowed from",
            description="CIDRs of the Airflow workers (the peer host is always allowed).",
            section=COPY,
        ),
        "keep_hosts": Param(
            False,
            type="boolean",
            title="Managed: keep the hosts",
            description="Keep the deployed hosts after the run, for the next wave.",
            section=COPY,
        ),
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="Export and pre-flight only; no server is touched.",
            section=OPTIONS,
        ),
        "approval": Param(
            False,
            type="boolean",
            title="Approval required",
            description="After pre-flight, wait for a human to approve the plan (Required Actions in "
            "the UI, or the REST API) before any server is stopped; Reject stops nothing.",
            section=OPTIONS,
        ),
    },
) as dag:
    check_conf = task(task_id="check_conf")(reject_unknown_conf)()
    create_dst_project = ProjectEnsureOperator(
        task_id="create_dst_project",
        enabled="{{ params.create_dst_project }}",
        admin_conn_id="{{ params.dst_admin_conn_id }}",
        dst_conn_id="{{ params.dst_conn_id }}",
    )
    # runs after create_dst_project whether it ran or was skipped (create_dst_project off)
    export = WorkloadExportOperator(
        task_id="export_workloads", servers=SERVERS, trigger_rule=TriggerRule.NONE_FAILED, **COMMON
    )
    check = WorkloadPreflightOperator(
        task_id="preflight",
        servers=SERVERS,
        check_only="{{ params.dry_run }}",
        on_failure="{{ params.on_preflight_failure }}",
        **COMMON,
    )

    @task_group(group_id="migrate_server")
    def migrate_server(server_name: str):
        """One server: prepare -> copy_disks -> create_server -> finalize (always)."""
        prepare = ServerPrepareOperator(task_id="prepare", server_name=server_name, **COMMON)
        copy_disks = ServerCopyDisksOperator(
            task_id="copy_disks",
            server_name=server_name,
            pool=COPY_POOL,
            max_active_tis_per_dagrun=MAX_COPIES_PER_RUN,
            **COMMON,
        )
        create = ServerCreateOperator(task_id="create_server", server_name=server_name, **COMMON)
        finalize = ServerFinalizeOperator(task_id="finalize", server_name=server_name, **COMMON)
        prepare >> copy_disks >> create >> finalize

    servers = migrate_server.expand(server_name=check.output)
    summary = WorkloadSummaryOperator(
        task_id="summary",
        data_dir=DATA_DIR,  # the report is written also when pre-flight stopped the run
        preflight_task_id="preflight",
        finalize_task_id="migrate_server.finalize",
    )
    deploy = ConversionHostsDeployOperator(
        task_id="deploy_conversion_hosts",
        image="{{ params.host_image }}",
        flavor="{{ params.host_flavor }}",
        network="{{ params.host_network }}",
        floating_network="{{ params.host_floating_network }}",
        address="{{ params.host_address }}",
        allow_from="{{ params.host_allow_from }}",
        **HOSTS,
    )
    remove = ConversionHostsRemoveOperator(
        task_id="remove_conversion_hosts", keep="{{ params.keep_hosts }}", **HOSTS
    ).as_teardown(setups=deploy)
    check_conf >> create_dst_project >> export >> deploy >> check >> servers >> summary >> remove
    select_volumes = DetachedVolumeSelectOperator(
        task_id="select_volumes", volumes=VOLUMES, check_only="{{ params.dry_run }}", **COMMON
    )
    volumes = DetachedVolumeMigrateOperator.partial(
        task_id="migrate_volume", pool=COPY_POOL, max_active_tis_per_dagrun=MAX_COPIES_PER_RUN, **COMMON
    ).expand(volume_name=select_volumes.output)
    check >> select_volumes >> volumes >> remove
    volumes >> summary  # the report lists the detached volumes too

    # One run per data dir (setup/teardown: unlocked when the run fails too), and the approval
    # between pre-flight and the first server stop.
    lock = DataDirLockOperator(task_id="lock_data_dir", data_dir=DATA_DIR)
    unlock = DataDirUnlockOperator(task_id="unlock_data_dir", data_dir=DATA_DIR).as_teardown(setups=lock)
    approval = PlanApprovalOperator(
        task_id="approval",
        required="{{ params.approval }}",
        tenant="{{ params.tenant }}",
        data_dir=DATA_DIR,
        overrides="{{ params.migration_params }}",
        flavor_map="{{ params.flavor_map }}",
    )
    check_conf >> lock >> create_dst_project
    check >> approval >> [servers, select_volumes]
    [summary, remove, volumes] >> unlock
