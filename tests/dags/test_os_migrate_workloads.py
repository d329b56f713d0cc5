"""The workloads DAG: graph, Params, rendering, and whole runs with the core replaced.

The core functions are patched where the operator module imports them; the hook is real and
reads ``AIRFLOW_CONN_*`` connections, with the openstacksdk ``Connection`` patched at the hook's
import site. Runs go through ``dag.test()`` (mapping, trigger rules, XCom, skips for real).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from unittest import mock

import pytest
from airflow.sdk.exceptions import ParamValidationError
from dagtools import load_dag, render

from os_migrate.exceptions import ValidationError
from os_migrate.report import safe_stem
from os_migrate.workload import MigrationFailed
from os_migrate_airflow.operators import workload as op_module

GROUP = ("prepare", "copy_disks", "create_server", "finalize")


@pytest.fixture(scope="module")
def dag():
    return load_dag("os_migrate_workloads")


def test_task_graph(dag):
    edges = {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks}

    assert edges["check_conf"] == ["create_dst_project", "lock_data_dir"]
    assert edges["lock_data_dir"] == ["create_dst_project", "unlock_data_dir"]
    assert edges["create_dst_project"] == ["export_workloads"]
    assert edges["export_workloads"] == ["deploy_conversion_hosts"]
    assert edges["deploy_conversion_hosts"] == ["preflight", "remove_conversion_hosts"]
    assert {"migrate_server.prepare", "select_volumes", "approval"} <= set(edges["preflight"])
    # the approval sits between pre-flight and the first server step / volume selection
    assert edges["approval"] == ["migrate_server.prepare", "select_volumes"]
    assert edges["select_volumes"] == ["migrate_volume"]
    assert edges["migrate_volume"] == ["remove_conversion_hosts", "summary", "unlock_data_dir"]
    assert edges["summary"] == ["remove_conversion_hosts", "unlock_data_dir"]
    assert edges["remove_conversion_hosts"] == ["unlock_data_dir"]
    unlock = dag.get_task("unlock_data_dir")
    assert unlock.is_teardown and dag.get_task("lock_data_dir").is_setup
    assert unlock.upstream_task_ids >= {"lock_data_dir", "summary", "migrate_volume"}
    remove = dag.get_task("remove_conversion_hosts")
    assert remove.is_teardown and dag.get_task("deploy_conversion_hosts").is_setup
    assert edges["migrate_server.prepare"] == ["migrate_server.copy_disks"]
    assert edges["migrate_server.copy_disks"] == ["migrate_server.create_server"]
    assert edges["migrate_server.create_server"] == ["migrate_server.finalize"]
    assert edges["migrate_server.finalize"] == ["summary"]
    assert dag.max_active_runs == 16  # different tenants in parallel; the lock refuses a shared data dir


def test_per_server_tasks_are_mapped_labelled_by_server_and_copies_use_the_pool(dag):
    for step in GROUP:
        task = dag.get_task(f"migrate_server.{step}")
        assert task.map_index_template == "{{ task.server_name }}"
    copy_disks = dag.get_task("migrate_server.copy_disks")
    assert copy_disks.pool == "conversion_hosts"
    assert copy_disks.max_active_tis_per_dagrun == 4
    assert {dag.get_task(f"migrate_server.{s}").pool for s in GROUP if s != "copy_disks"} == {"default_pool"}
    assert dag.get_task("migrate_server.finalize").trigger_rule == "all_done"
    assert dag.get_task("summary").trigger_rule == "all_done"
    assert [link.name for link in dag.get_task("summary").operator_extra_links] == ["Migration report"]
    assert dag.params["on_preflight_failure"] == "stop"
    assert dag.params.get_param("on_preflight_failure").schema["section"] == "Wave"


def test_params_render_as_native_objects(dag):
    conf = {
        "src_conn_id": "a",
        "dst_conn_id": "b",
        "servers": ["web", {"regex": "^db-"}],
        "migration_params": {"boot_disk_copy": True},
        "dry_run": True,
    }

    check = render(dag, "preflight", **conf)
    assert (check.src_conn_id, check.dst_conn_id) == ("a", "b")
    assert check.servers == ["web", {"regex": "^db-"}]
    assert check.overrides == {"boot_disk_copy": True}
    assert check.check_only is True


def test_the_flavor_map_is_a_wave_param_rendered_into_every_workload_task(dag):
    schema = dag.params.get_param("flavor_map").schema
    assert schema["section"] == "Wave" and schema["type"] == "object"
    assert dag.params["flavor_map"] == {}
    flavor_map = {"m1.small": "m1.medium", "m1.large": "m2.large"}

    assert render(dag, "preflight", flavor_map=flavor_map).flavor_map == flavor_map
    assert render(dag, "preflight").flavor_map == {}
    # the mapped per-server steps get the same template (their runs are checked in the wave test)
    for step in GROUP:
        assert dag.get_task(f"migrate_server.{step}").flavor_map == "{{ params.flavor_map }}"


def test_servers_from_the_form_one_per_line_with_string_regexes(dag):
    """The form's Servers box gives a list of lines (blank ones included), or None once emptied."""
    lines = ["demo-vm", "regex:^db-", ""]

    assert render(dag, "preflight", servers=lines).servers == lines
    assert render(dag, "export_workloads", servers=None).servers == []  # never None ("every server")
    assert render(dag, "preflight").servers == []


@pytest.mark.parametrize(
    ("conf", "param"),
    [
        pytest.param({"servers": [{"glob": "web*"}]}, "servers", id="bad-filter"),
        pytest.param({"servers": [{"regex": "(open"}]}, "servers", id="bad-regex"),
        pytest.param(
            {"migration_params": {"port_creation_mode": "magic"}}, "migration_params", id="bad-mode"
        ),
        pytest.param({"migration_params": {"copy_methd": "image"}}, "migration_params", id="unknown-knob"),
        pytest.param({"flavor_map": {"m1.small": 2}}, "flavor_map", id="flavor-map-not-a-name"),
        pytest.param({"flavor_map": {"m1.small": ""}}, "flavor_map", id="flavor-map-empty-name"),
        pytest.param({"flavor_map": ["m1.small"]}, "flavor_map", id="flavor-map-not-an-object"),
    ],
)
def test_bad_conf_is_refused_before_the_run(dag, conf, param):
    params = copy.deepcopy(dag.params)
    with pytest.raises(ParamValidationError, match=f"param {param}:"):
        params.update(conf)
        params.validate()


# -- whole runs with the core patched --------------------------------------------------------------


@pytest.fixture
def connections(create_connection_without_db):
    from airflow.sdk import Connection

    for conn_id in ("cloud_a", "cloud_b", "cloud_b_admin"):
        create_connection_without_db(
            Connection(
                conn_id=conn_id,
                conn_type="openstack",
                host=f"https://{conn_id}:5000/v3",
                login="u",
                password="p",
                extra=json.dumps({"project_name": "acme"}),
            )
        )


@pytest.fixture
def core(connections):
    """The core functions replaced by fakes recording their calls."""
    from os_migrate_airflow.hooks import openstack as hook_module

    calls = []

    def record(name, result):
        def fake(*args, **kwargs):
            calls.append((name, args[-1] if name not in ("export", "preflight") else None, kwargs))
            if isinstance(result, Exception):
                raise result
            return result(*args, **kwargs) if callable(result) else result

        return fake

    fakes = {
        "export_workloads": record(
            "export",
            {
                "data_dir": "/d",
                "servers": ["web", "db"],
                "counts": {"workloads": 2, "detached_volumes": 0},
                "files": {},
                "changed": {},
            },
        ),
        "preflight": record(
            "preflight",
            {
                "servers": ["web", "db", "old"],
                "migrate": ["web", "db"],
                "skip": [{"server": "old", "reason": "name taken"}],
                "done": [],
                "needs": {},
                "warnings": [],
            },
        ),
        "prepare_server": record(
            "prepare",
            lambda s, d, dd, name, overrides, flavor_map=None, ssh_resolver=None: {
                "server": name,
                "action": "skip" if name == "old" else "migrate",
                "reason": "name taken",
                "source_status": "SHUTOFF",
            },
        ),
        "copy_server_disks": record(
            "copy",
            lambda s, d, dd, name, overrides, flavor_map=None, ssh_resolver=None: {
                "server": name,
                "action": "migrate",
                "disks": [],
            },
        ),
        "create_destination_server": record(
            "create",
            lambda s, d, dd, name, overrides, flavor_map=None, ssh_resolver=None: {
                "server": name,
                "destination_id": f"dst-{name}",
            },
        ),
        "finalize_server": record(
            "finalize",
            lambda s, d, dd, name, overrides, flavor_map=None, ssh_resolver=None: {
                "server": name,
                "result": "skipped" if name == "old" else "migrated",
                "reason": "name taken" if name == "old" else None,
            },
        ),
    }
    patches = [mock.patch.object(op_module, n, side_effect=f) for n, f in fakes.items()]
    patches.append(
        mock.patch.object(hook_module, "SDKConnection", side_effect=lambda **kw: kw["auth"]["auth_url"])
    )
    for p in patches:
        p.start()
    yield SimpleCalls(calls, fakes)
    for p in patches:
        p.stop()


class SimpleCalls(list):
    def __init__(self, calls, fakes):
        super().__init__()
        self.calls, self.fakes = calls, fakes

    def steps(self, name):
        return sorted(server for step, server, _ in self.calls if step == name)


CONF = {
    "tenant": "acme",
    "src_conn_id": "cloud_a",
    "dst_conn_id": "cloud_b",
    "servers": ["web", "db", "old"],
    "migration_params": {"boot_disk_copy": True},
    "flavor_map": {"m1.small": "m1.medium"},
}


def states(run):
    return {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}


def summary_of(run):
    ti = next(ti for ti in run.get_task_instances() if ti.task_id == "summary")
    return ti.xcom_pull(task_ids="summary")


@pytest.mark.usefixtures("airflow_db")
def test_a_wave_maps_one_group_per_server_and_skips_a_taken_name(dag, core, tmp_path):
    run = dag.test(run_conf={**CONF, "data_dir": str(tmp_path)})

    assert run.state == "success"
    s = states(run)
    assert s[("create_dst_project", -1)] == "skipped"  # create_dst_project is off by default
    assert s[("export_workloads", -1)] == "success"
    assert s[("migrate_server.prepare", 2)] == "skipped"
    assert s[("migrate_server.copy_disks", 2)] == "skipped"
    assert s[("migrate_server.finalize", 2)] == "success"
    assert core.steps("copy") == ["db", "web"]
    assert core.steps("finalize") == ["db", "old", "web"]
    assert all(
        kw["overrides"] == {"boot_disk_copy": True} and kw["flavor_map"] == {"m1.small": "m1.medium"}
        for step, _, kw in core.calls
        if step in ("preflight", "prepare", "copy", "finalize")
    )
    labels = {
        ti.rendered_map_index for ti in run.get_task_instances() if ti.task_id == "migrate_server.prepare"
    }
    assert labels == {"web", "db", "old"}
    summary = summary_of(run)
    assert summary["migrated"] == ["db", "web"]
    assert summary["skipped"] == [{"server": "old", "reason": "name taken"}]
    assert summary["failed"] == []
    [preflight_kw] = [kw for step, _, kw in core.calls if step == "preflight"]
    assert preflight_kw["on_failure"] == "stop"  # the hand-triggered DAG's default
    # the report: both files in the data dir, only their paths in XCom
    report = summary["report"]
    assert report["json"] == str(tmp_path / "reports" / f"os_migrate_workloads__{safe_stem(run.run_id)}.json")
    assert report["totals"]["servers_migrated"] == 2 and report["totals"]["servers_skipped"] == 1
    doc = json.loads(Path(report["json"]).read_text())
    assert {s["server"]: s["status"] for s in doc["servers"]} == {
        "web": "migrated",
        "db": "migrated",
        "old": "skipped",
    }
    assert doc["tenant"] == "acme" and doc["run_id"] == run.run_id
    assert "<h2>Timeline</h2>" in Path(report["html"]).read_text()


@pytest.mark.usefixtures("airflow_db")
def test_a_failed_copy_is_finalized_and_fails_the_run(dag, core, tmp_path):
    from os_migrate.workload import SourceDiskUnreadable

    def copy_disks(s, d, dd, name, overrides, flavor_map=None, ssh_resolver=None):
        if name == "db":
            raise SourceDiskUnreadable("cannot read the boot volume of db")
        return {"server": name, "disks": []}

    def finalize(s, d, dd, name, overrides, flavor_map=None, ssh_resolver=None):
        if name == "db":
            raise MigrationFailed("db: rolled back")
        return {"server": name, "result": "skipped" if name == "old" else "migrated"}

    with (
        mock.patch.object(op_module, "copy_server_disks", side_effect=copy_disks),
        mock.patch.object(op_module, "finalize_server", side_effect=finalize),
    ):
        run = dag.test(run_conf={**CONF, "data_dir": str(tmp_path)})

    assert run.state == "failed"
    s = states(run)
    assert s[("migrate_server.copy_disks", 1)] == "failed"
    assert s[("migrate_server.create_server", 1)] == "upstream_failed"
    assert s[("migrate_server.finalize", 1)] == "failed"
    assert s[("migrate_server.finalize", 0)] == "success"
    assert s[("summary", -1)] == "failed"
    copy_ti = next(
        ti
        for ti in run.get_task_instances()
        if ti.task_id == "migrate_server.copy_disks" and ti.map_index == 1
    )
    assert copy_ti.try_number == 1  # an unreadable disk is not retried


@pytest.mark.usefixtures("airflow_db")
def test_on_preflight_failure_skip_is_passed_to_the_preflight_and_its_skips_do_not_run(dag, core, tmp_path):
    skipped = {
        "servers": ["web", "db", "old"],
        "migrate": ["web", "old"],
        "skip": [{"server": "db", "reason": "pre-flight: flavor 'x' not found", "preflight": True}],
        "done": [],
        "needs": {},
        "warnings": [],
    }
    with mock.patch.object(op_module, "preflight", return_value=skipped) as preflight:
        run = dag.test(run_conf={**CONF, "data_dir": str(tmp_path), "on_preflight_failure": "skip"})

    assert run.state == "success"
    assert preflight.call_args.kwargs["on_failure"] == "skip"
    assert core.steps("prepare") == ["old", "web"]  # db is not mapped
    summary = summary_of(run)
    assert {"server": "db", "reason": "pre-flight: flavor 'x' not found", "preflight": True} in summary[
        "skipped"
    ]
    doc = json.loads(Path(summary["report"]["json"]).read_text())
    assert [(s["server"], s["status"]) for s in doc["servers"] if s["server"] == "db"] == [("db", "skipped")]


@pytest.mark.usefixtures("airflow_db")
def test_a_failed_preflight_stops_the_wave_before_any_server_step(dag, core, tmp_path):
    error = ValidationError(["server 'web': params.key_name: keypair 'ops' not found"])
    with mock.patch.object(op_module, "preflight", side_effect=error):
        run = dag.test(run_conf={**CONF, "data_dir": str(tmp_path)})

    assert run.state == "failed"
    assert states(run)[("preflight", -1)] == "failed"
    assert core.steps("prepare") == []


@pytest.mark.usefixtures("airflow_db")
def test_a_dry_run_exports_and_checks_only(dag, core, tmp_path):
    run = dag.test(run_conf={**CONF, "data_dir": str(tmp_path), "dry_run": True})

    assert run.state == "success"
    assert core.steps("prepare") == []
    assert summary_of(run)["dry_run"] is True


# -- create the destination project first -----------------------------------------------------------


def test_create_dst_project_params_and_rendering(dag):
    for name, default in (("create_dst_project", False), ("dst_admin_conn_id", "openstack_dst_admin")):
        assert dag.params[name] == default
        assert dag.params.get_param(name).schema["section"] == "Clouds and data"
    task = render(
        dag, "create_dst_project", create_dst_project=True, dst_admin_conn_id="adm", dst_conn_id="b"
    )
    assert (task.enabled, task.admin_conn_id, task.dst_conn_id, task.role) == (True, "adm", "b", "member")
    assert render(dag, "create_dst_project").enabled is False
    assert dag.get_task("export_workloads").trigger_rule == "none_failed"


PROJECT = {
    "project": {"id": "p-1", "name": "acme", "domain_id": "default"},
    "user": {"id": "u-1", "name": "u", "domain_id": "default"},
    "role": "member",
    "created_project": True,
    "assigned_role": True,
    "changed": True,
}


@pytest.mark.usefixtures("airflow_db")
def test_create_dst_project_runs_first_with_the_admin_connection(dag, core, tmp_path):
    from os_migrate_airflow.operators import projects as projects_module

    with mock.patch.object(projects_module, "ensure_connection_project", return_value=PROJECT) as ensure:
        run = dag.test(
            run_conf={
                **CONF,
                "data_dir": str(tmp_path),
                "create_dst_project": True,
                "dst_admin_conn_id": "cloud_b_admin",
                "dry_run": True,
            }
        )

    assert run.state == "success"
    assert states(run)[("create_dst_project", -1)] == "success"
    ensure.assert_called_once_with("https://cloud_b_admin:5000/v3", "https://cloud_b:5000/v3", role="member")
    assert core.calls[0][0] == "export"


@pytest.mark.usefixtures("airflow_db")
def test_a_missing_admin_connection_fails_the_run_before_the_export(dag, core, tmp_path):
    run = dag.test(
        run_conf={
            **CONF,
            "data_dir": str(tmp_path),
            "create_dst_project": True,
            "dst_admin_conn_id": "no_such_admin",
        }
    )

    assert run.state == "failed"
    s = states(run)
    assert s[("create_dst_project", -1)] == "failed"
    assert s[("export_workloads", -1)] == "upstream_failed"
    assert core.calls == []


def test_approval_param_off_by_default_in_run_options_and_rendered_into_the_approval(dag):
    param = dag.params.get_param("approval")
    assert param.value is False and param.schema["type"] == "boolean"
    assert param.schema["section"] == "Run options"

    off = render(dag, "approval", tenant="t1")
    on = render(dag, "approval", tenant="t1", data_dir="/srv/t1", approval=True, flavor_map={"m1": "m2"})

    assert off.required is False and on.required is True
    assert on.flavor_map == {"m1": "m2"} and on.tenant == "t1"
    assert on.data_dir == "/srv/t1" and on.subject == "Approve the migration wave of tenant t1"
    assert on.ignore_downstream_trigger_rules is True  # Reject skips the whole wave


def test_lock_tasks_render_the_tenant_data_dir(dag):
    lock = render(dag, "lock_data_dir", tenant="t1", data_dir="/srv/t1")
    unlock = render(dag, "unlock_data_dir", tenant="t1", data_dir="/srv/t1")
    assert lock.data_dir == unlock.data_dir == "/srv/t1"
