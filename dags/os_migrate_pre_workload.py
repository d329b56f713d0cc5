"""
### OS Migrate: pre-workload resources

Copies one tenant's networking and security resources (address groups included), images (with
their data), keypairs and server groups from a **source** to a **destination** OpenStack cloud, the way OS Migrate does: export to YAML in a data dir, validate, then create or
update in dependency order. Re-running is safe: unchanged resources are left alone.

**Flow**: `check_conf` (unknown conf keys fail the run) → `lock_data_dir` → `export_<type>` (source, in parallel) and
`create_dst_project` (only with `create_dst_project`; skipped otherwise) → `validate` (destination; fails before any write,
listing every problem) → `import_<type>`, chained in the dependency order the core's registry
derives from the resource classes (e.g. `import_networks` → `import_subnets` → `import_routers` →
`import_router_interfaces`; `import_security_groups` → `import_address_groups` →
`import_security_group_rules`), independent chains in parallel; `import_images` streams data from
the source, verified by checksum → `summary`.

**Params**

| name | meaning |
|---|---|
| `tenant` | tenant name; the data dir is `<staging root>/<tenant>` |
| `src_conn_id` / `dst_conn_id` | Airflow Connections (conn_type `openstack`) of the two clouds |
| `data_dir` | explicit data dir; empty = `$OS_MIGRATE_STAGING_ROOT/<tenant>` (default root `$AIRFLOW_HOME/staging`) |
| `create_dst_project` / `dst_admin_conn_id` | first task `create_dst_project`: with the admin Connection, create the project `dst_conn_id` is scoped to if missing and give its user the `member` role there (no write when both exist); off (default) = the task is skipped |
| `resource_types` | types to migrate; the tasks of the other types are skipped |
| `<type>_filter` | e.g. `networks_filter`: names and regexes of that type, one per line in the form: `db-net`, `regex:^app-` (also `re:^app-` or `/^app-/`); empty = all |
| `filters` | the same as one JSON object (for the API): `{"networks": ["db-net", {"regex": "^app-"}]}`; a missing type means all; merged with the `<type>_filter` Params |
| `export` | export first (default); off = import the staged YAML as it is, after editing it |
| `stage_image_data` | also stage verified image data files in the data dir (air-gapped moves) |
| `dry_run` | log the import plan without changing the destination |
| `import_concurrency` | most write requests an import task has in flight at once (bulk creates and parallel writes; 1 = one at a time) |

In the trigger form the Params are grouped in four sections: **Clouds and data** (tenant,
connections, data dir), **Selection** (types), **Name filters** (one text area per type, one
name or regex per line) and **Run options** (export, image data, dry run). Tasks of types the run did not select show as *skipped*; `validate`, the imports and
`summary` run as long as nothing upstream failed (trigger rule `none_failed`), so a skipped type
never holds up the selected types after it.

**Data dir lock**: `lock_data_dir` (setup, after `check_conf`) creates `<data dir>/.os-migrate.lock`
naming the run; a second run on the same data dir fails there at once, naming the holder (runs of
different tenants go in parallel). `unlock_data_dir` (its teardown) releases it, also when the run fails.

**Asset**: on success (not a dry run) `summary` emits an event of the asset
`os_migrate_staged_<tenant>` (through the alias `os_migrate_staged`, extra `tenant`, `data_dir`): a DAG
scheduled on `Asset(name="os_migrate_staged_<tenant>")` runs when the tenant's data is staged.
"""

from __future__ import annotations

import datetime
import functools

from airflow.sdk import DAG, Param, TriggerRule, chain, task

from os_migrate.apply import DEFAULT_CONCURRENCY
from os_migrate.resources import DATA_TYPES, IMPORT_CHAINS, PARENT_FILTER, PRE_WORKLOAD_TYPES
from os_migrate_airflow.assets import STAGED_ALIAS, summarize_and_stage
from os_migrate_airflow.dag_support import (
    FILTER_ITEM_SCHEMA,
    TENANT_PATTERN,
    create_dst_project_params,
    filters_schema,
    reject_unknown_conf,
    run_filters,
    selected_types_template,
    tenant_data_dir,
)
from os_migrate_airflow.operators import (
    OpenStackExportOperator,
    OpenStackImportOperator,
    OpenStackValidateOperator,
)
from os_migrate_airflow.operators.locks import DataDirLockOperator, DataDirUnlockOperator
from os_migrate_airflow.operators.projects import ProjectEnsureOperator

DAG_ID = "os_migrate_pre_workload"
#: Import chains (IMPORT_CHAINS: each a dependency chain, independent of the others), the types
#: whose import streams data from the source (DATA_TYPES) and all types come from the core's
#: registry, which derives them from the resource classes' declarations.
RESOURCE_TYPES = PRE_WORKLOAD_TYPES
#: Form help of a parent type's filter: it also selects its children (a router's interfaces).
CHILDREN_NOTE = {
    parent: f" Also selects their {child.replace('_', ' ')}." for child, (parent, _) in PARENT_FILTER.items()
}
DEFAULT_ARGS = {
    "owner": "os-migrate",
    "retries": 2,
    "retry_delay": datetime.timedelta(seconds=30),
    # nothing hangs forever; 6 h: the images task streams every image of the tenant
    "execution_timeout": datetime.timedelta(hours=6),
}
#: Rendered on the worker when a task runs (staging root comes from the worker's environment).
DATA_DIR = "{{ os_migrate_data_dir(params.tenant, params.data_dir) }}"
#: Trigger form sections (Param ``section``).
CLOUDS, SELECTION, FILTERS_SECTION, OPTIONS = "Clouds and data", "Selection", "Name filters", "Run options"
SRC_CONN_ID = "{{ params.src_conn_id }}"
DST_CONN_ID = "{{ params.dst_conn_id }}"
FILTERS = "{{ os_migrate_filters(params) }}"

with DAG(
    dag_id=DAG_ID,
    description="Export, validate and import a tenant's networks, routers, security groups, "
    "images and keypairs",
    doc_md=__doc__,
    schedule=None,
    catchup=False,
    max_active_runs=16,  # runs on different data dirs go in parallel; lock_data_dir refuses a second one
    default_args=DEFAULT_ARGS,
    tags=["os-migrate", "openstack", "pre-workload"],
    render_template_as_native_obj=True,
    user_defined_macros={
        "os_migrate_data_dir": tenant_data_dir,
        "os_migrate_filters": functools.partial(run_filters, resource_types=RESOURCE_TYPES),
    },
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
            description="Airflow Connection id of the source cloud (conn_type openstack).",
            section=CLOUDS,
        ),
        "dst_conn_id": Param(
            "openstack_dst",
            type="string",
            minLength=1,
            title="Destination connection",
            description="Airflow Connection id of the destination cloud (conn_type openstack).",
            section=CLOUDS,
        ),
        "data_dir": Param(
            None,
            type=["null", "string"],
            title="Data dir",
            description="Directory for the exported YAML. Leave empty for "
            "$OS_MIGRATE_STAGING_ROOT/<tenant> (default root $AIRFLOW_HOME/staging), resolved on the worker.",
            section=CLOUDS,
        ),
        **create_dst_project_params(CLOUDS),
        "resource_types": Param(
            list(RESOURCE_TYPES),
            type="array",
            items={"type": "string", "enum": list(RESOURCE_TYPES)},
            uniqueItems=True,
            minItems=1,
            examples=list(RESOURCE_TYPES),
            title="Resource types",
            description="Types to migrate. The tasks of the other types are skipped.",
            section=SELECTION,
        ),
        **{
            f"{type_key}_filter": Param(
                None,
                type=["null", "array"],
                items=FILTER_ITEM_SCHEMA,
                title=type_key.replace("_", " ").capitalize(),
                description=f"Only the {type_key.replace('_', ' ')} named here, one per line: an exact "
                'name, or a regex written "regex:<pattern>", "re:<pattern>" or "/<pattern>/" (matches '
                "anywhere in the name; anchor it with ^ and $). Empty: all of them."
                + CHILDREN_NOTE.get(type_key, ""),
                section=FILTERS_SECTION,
            )
            for type_key in RESOURCE_TYPES
        },
        "filters": Param(
            {},
            **filters_schema(RESOURCE_TYPES),
            title="All filters as JSON",
            description='The filters above as one object, as the REST API takes them, e.g. {"networks": '
            '["db-net", {"regex": "^app-"}]}; merged with them. A type that is not listed is not '
            "filtered; an empty list selects none of its resources.",
            section=FILTERS_SECTION,
        ),
        "export": Param(
            True,
            type="boolean",
            title="Export first",
            description="Export from the source before importing. Turn off to import the staged "
            "YAML as it is, e.g. after editing it (an export would refresh it from the source).",
            section=OPTIONS,
        ),
        "stage_image_data": Param(
            False,
            type="boolean",
            title="Stage image data",
            description="Also download image data (verified) into <data dir>/image_data/, so the "
            "import reads it from there instead of the source cloud (air-gapped moves).",
            section=OPTIONS,
        ),
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="Export and validate, then only log what the import would change.",
            section=OPTIONS,
        ),
        "import_concurrency": Param(
            DEFAULT_CONCURRENCY,
            type="integer",
            minimum=1,
            maximum=64,
            title="Import concurrency",
            description="Most write requests each import task has in flight at once (1: one at a "
            "time). Lower it for a destination with tight API rate limits.",
            section=OPTIONS,
        ),
    },
) as dag:
    exports = {
        type_key: OpenStackExportOperator(
            task_id=f"export_{type_key}",
            types=selected_types_template(type_key, enabled="export"),
            filters=FILTERS,
            data_dir=DATA_DIR,
            src_conn_id=SRC_CONN_ID,
            stage_image_data="{{ params.stage_image_data }}",
        )
        for type_key in RESOURCE_TYPES
    }

    check_conf = task(task_id="check_conf")(reject_unknown_conf)()
    create_dst_project = ProjectEnsureOperator(
        task_id="create_dst_project",
        enabled="{{ params.create_dst_project }}",
        admin_conn_id="{{ params.dst_admin_conn_id }}",
        dst_conn_id=DST_CONN_ID,
    )

    validate = OpenStackValidateOperator(
        task_id="validate",
        types="{{ params.resource_types }}",
        filters=FILTERS,
        data_dir=DATA_DIR,
        dst_conn_id=DST_CONN_ID,
        trigger_rule=TriggerRule.NONE_FAILED,  # runs after exports of unselected types were skipped
    )
    list(exports.values()) >> validate
    create_dst_project >> validate  # skipped when off; validate runs on none_failed

    imports = {
        type_key: OpenStackImportOperator(
            task_id=f"import_{type_key}",
            types=selected_types_template(type_key),
            filters=FILTERS,
            data_dir=DATA_DIR,
            plan_only="{{ params.dry_run }}",
            concurrency="{{ params.import_concurrency }}",
            dst_conn_id=DST_CONN_ID,
            src_conn_id=SRC_CONN_ID if type_key in DATA_TYPES else None,
            trigger_rule=TriggerRule.NONE_FAILED,  # an unselected upstream type is skipped, not failed
        )
        for type_key in RESOURCE_TYPES
    }
    for chain_ in IMPORT_CHAINS:
        chain(validate, *(imports[type_key] for type_key in chain_))

    # the tenant's staged data as an asset event (Asset os_migrate_staged_<tenant>, see assets.py)
    summary = task(task_id="summary", trigger_rule=TriggerRule.NONE_FAILED, outlets=[STAGED_ALIAS])(
        summarize_and_stage
    )(
        exports={type_key: op.output for type_key, op in exports.items()},
        imports={type_key: op.output for type_key, op in imports.items()},
        tenant="{{ params.tenant }}",
        dry_run="{{ params.dry_run }}",
        data_dir=DATA_DIR,
    )

    # one run per data dir (setup/teardown: unlocked when the run fails too)
    lock = DataDirLockOperator(task_id="lock_data_dir", data_dir=DATA_DIR)
    unlock = DataDirUnlockOperator(task_id="unlock_data_dir", data_dir=DATA_DIR).as_teardown(setups=lock)
    check_conf >> lock >> [*exports.values(), create_dst_project]
    summary >> unlock
