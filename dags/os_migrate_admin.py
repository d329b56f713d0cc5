"""
### OS Migrate: admin content (identity, flavors, quotas)

Recreates, in the **destination** cloud, what an admin must set up before tenants can move:
the domains, projects (nested ones after their parents), users (never a password), groups with
their members, roles and role assignments of the selected projects, the flavors they use (public
ones, and private ones with access for those projects) and the projects' quotas. Needs admin
connections on both sides; re-running is safe (unchanged resources are left alone).

**Flow**: `check_conf` → `lock_data_dir` (setup: a second run on the same data dir fails here,
naming the holder) → `export` (source, one pass: the projects filter decides the scope) →
`validate` (destination; every problem at once, before any write: admin role, references, a
same-named flavor of other size) → `import_<type>` in dependency order → `summary` →
`unlock_data_dir` (teardown; also when the run fails).

**Params**

| name | meaning |
|---|---|
| `name` | names the data dir, `<staging root>/<name>` (default `admin`) |
| `src_conn_id` / `dst_conn_id` | admin Airflow Connections of the two clouds |
| `projects_filter` | projects to migrate (the export fails, before reading anything else, without it): names and regexes (`regex:^team-`), one per line |
| `flavors_filter` | optional: only these flavors |
| `resource_types` | admin types to migrate; the others' tasks are skipped |
| `quota_mode` | `copy` the source's limits, `keep` the destination's, or `raise` them to what the migrated content needs |
| `user_password_variable` | Airflow Variable holding the initial password of created users; empty = users are created disabled |
| `export` / `dry_run` | as in `os_migrate_pre_workload` |
"""

from __future__ import annotations

import datetime
import functools

from airflow.sdk import DAG, Param, TriggerRule, chain, task

from os_migrate.resources import ADMIN_TYPES
from os_migrate_airflow.dag_support import (
    FILTER_ITEM_SCHEMA,
    TENANT_PATTERN,
    filters_schema,
    reject_unknown_conf,
    run_filters,
    selected_types_template,
    summarize_run,
    tenant_data_dir,
)
from os_migrate_airflow.operators import (
    OpenStackExportOperator,
    OpenStackImportOperator,
    OpenStackValidateOperator,
)
from os_migrate_airflow.operators.locks import DataDirLockOperator, DataDirUnlockOperator

DAG_ID = "os_migrate_admin"
DEFAULT_ARGS = {
    "owner": "os-migrate",
    "retries": 2,
    "retry_delay": datetime.timedelta(seconds=30),
    # nothing hangs forever: admin resources are API calls of seconds each
    "execution_timeout": datetime.timedelta(hours=2),
}
DATA_DIR = "{{ os_migrate_data_dir(params.name, params.data_dir) }}"
FILTERS = "{{ os_migrate_filters(params) }}"
CLOUDS, SELECTION, OPTIONS = "Clouds and data", "Selection", "Run options"
SRC_CONN_ID = "{{ params.src_conn_id }}"
DST_CONN_ID = "{{ params.dst_conn_id }}"

with DAG(
    dag_id=DAG_ID,
    description="Export, validate and import domains, projects, users, groups, role assignments, "
    "flavors and quotas (admin)",
    doc_md=__doc__,
    schedule=None,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["os-migrate", "openstack", "admin"],
    render_template_as_native_obj=True,
    user_defined_macros={
        "os_migrate_data_dir": tenant_data_dir,
        "os_migrate_filters": functools.partial(run_filters, resource_types=ADMIN_TYPES),
    },
    params={
        "name": Param(
            "admin",
            type="string",
            pattern=TENANT_PATTERN,
            title="Data set name",
            description="Names the data dir (letters, digits, '_', '.', '-').",
            section=CLOUDS,
        ),
        "src_conn_id": Param(
            "openstack_src_admin",
            type="string",
            minLength=1,
            title="Source admin connection",
            description="Airflow Connection id of the source cloud, with the admin role.",
            section=CLOUDS,
        ),
        "dst_conn_id": Param(
            "openstack_dst_admin",
            type="string",
            minLength=1,
            title="Destination admin connection",
            description="Airflow Connection id of the destination cloud, with the admin role.",
            section=CLOUDS,
        ),
        "data_dir": Param(
            None,
            type=["null", "string"],
            title="Data dir",
            description="Directory for the exported YAML; empty: $OS_MIGRATE_STAGING_ROOT/<name>.",
            section=CLOUDS,
        ),
        "projects_filter": Param(
            None,
            type=["null", "array"],
            items=FILTER_ITEM_SCHEMA,
            title="Projects",
            description="Projects to migrate (needed by the export), one per line: an exact name or "
            'a regex written "regex:<pattern>". Their ancestors, the users and groups with roles on '
            "them, the roles, domains, flavors and quotas come along.",
            section=SELECTION,
        ),
        "flavors_filter": Param(
            None,
            type=["null", "array"],
            items=FILTER_ITEM_SCHEMA,
            title="Flavors",
            description="Only these flavors (names or regexes, one per line); empty: every public "
            "flavor and the private ones of the selected projects.",
            section=SELECTION,
        ),
        "resource_types": Param(
            list(ADMIN_TYPES),
            type="array",
            items={"type": "string", "enum": list(ADMIN_TYPES)},
            uniqueItems=True,
            minItems=1,
            title="Resource types",
            description="Admin types to migrate. The tasks of the other types are skipped.",
            section=SELECTION,
        ),
        "filters": Param(
            {},
            **filters_schema(ADMIN_TYPES),
            title="All filters as JSON",
            description='Filters of any admin type as one object, e.g. {"users": ["regex:^svc-"]}; '
            "merged with the ones above.",
            section=SELECTION,
        ),
        "quota_mode": Param(
            "copy",
            type="string",
            enum=["copy", "keep", "raise"],
            title="Quota mode",
            description="copy: the destination gets the source's limits; keep: the destination's "
            "limits stay; raise: a destination limit lower than what the project will use there "
            "(its usage plus the source's) is raised to it.",
            section=OPTIONS,
        ),
        "user_password_variable": Param(
            None,
            type=["null", "string"],
            title="Initial password Variable",
            description="Key of an Airflow Variable (or secrets backend entry) with the initial "
            "password of the users this run creates. Empty: users are created disabled and the "
            "operator enables them. Import never enables an existing disabled user.",
            section=OPTIONS,
        ),
        "export": Param(
            True,
            type="boolean",
            title="Export first",
            description="Export from the source first; off: import the staged YAML as it is.",
            section=OPTIONS,
        ),
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="Export and validate, then only log what the import would change.",
            section=OPTIONS,
        ),
    },
) as dag:
    check_conf = task(task_id="check_conf")(reject_unknown_conf)()
    export = OpenStackExportOperator(
        task_id="export",
        types="{{ params.resource_types if params.export else [] }}",
        filters=FILTERS,
        data_dir=DATA_DIR,
        src_conn_id=SRC_CONN_ID,
    )
    validate = OpenStackValidateOperator(
        task_id="validate",
        types="{{ params.resource_types }}",
        filters=FILTERS,
        data_dir=DATA_DIR,
        dst_conn_id=DST_CONN_ID,
        trigger_rule=TriggerRule.NONE_FAILED,  # after a skipped export (export off)
    )
    imports = {
        type_key: OpenStackImportOperator(
            task_id=f"import_{type_key}",
            types=selected_types_template(type_key),
            filters=FILTERS,
            data_dir=DATA_DIR,
            plan_only="{{ params.dry_run }}",
            dst_conn_id=DST_CONN_ID,
            quota_mode="{{ params.quota_mode }}" if type_key == "quotas" else None,
            user_password_variable="{{ params.user_password_variable }}" if type_key == "users" else None,
            trigger_rule=TriggerRule.NONE_FAILED,
        )
        for type_key in ADMIN_TYPES
    }
    chain(export, validate, *imports.values())
    summary = task(task_id="summary", trigger_rule=TriggerRule.NONE_FAILED)(summarize_run)(
        exports=dict.fromkeys(ADMIN_TYPES, export.output),
        imports={type_key: op.output for type_key, op in imports.items()},
        tenant="{{ params.name }}",
        dry_run="{{ params.dry_run }}",
    )

    # one run per data dir (setup/teardown: unlocked when the run fails too)
    lock = DataDirLockOperator(task_id="lock_data_dir", data_dir=DATA_DIR)
    unlock = DataDirUnlockOperator(task_id="unlock_data_dir", data_dir=DATA_DIR).as_teardown(setups=lock)
    check_conf >> lock >> export
    summary >> unlock
