"""The pre-workload DAG: task graph, what each task receives for a given run conf, and the summary."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest
from airflow.dag_processing.dagbag import DagBag
from dagtools import load_dag, render

from os_migrate.resources import DATA_TYPES, IMPORT_CHAINS, PRE_WORKLOAD_TYPES
from os_migrate_airflow.dag_support import STAGING_ROOT_ENV, summarize_run

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "os_migrate_pre_workload.py"
#: Every type, from the core's registry (the DAG builds its tasks from it).
ALL_TYPES = list(PRE_WORKLOAD_TYPES)


@pytest.fixture(scope="module")
def dag():
    return load_dag("os_migrate_pre_workload")


def test_resource_types_match_the_core(dag):
    import os_migrate

    assert dag.params["resource_types"] == list(os_migrate.TENANT_TYPES) == ALL_TYPES


def test_task_graph(dag):
    edges = {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks}

    for type_key in ALL_TYPES:
        assert edges[f"export_{type_key}"] == ["summary", "validate"]
    # one chain per group of dependent types, from the registry
    assert edges["validate"] == sorted(f"import_{chain[0]}" for chain in IMPORT_CHAINS)
    for chain in IMPORT_CHAINS:
        for before, after in zip(chain, chain[1:]):
            assert edges[f"import_{before}"] == [f"import_{after}", "summary"]
        assert edges[f"import_{chain[-1]}"] == ["summary"]
    assert edges["summary"] == ["unlock_data_dir"]
    # the data-dir lock: a setup after check_conf, its teardown last (runs of other tenants in parallel)
    assert edges["check_conf"] == ["lock_data_dir"]
    assert edges["lock_data_dir"] == sorted(
        ["create_dst_project", "unlock_data_dir", *(f"export_{t}" for t in ALL_TYPES)]
    )
    assert dag.get_task("lock_data_dir").is_setup and dag.get_task("unlock_data_dir").is_teardown
    assert dag.max_active_runs == 16


def test_todays_chains_include_the_new_types(dag):
    edges = {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks}

    assert edges["import_networks"] == ["import_subnets", "summary"]
    assert edges["import_routers"] == ["import_router_interfaces", "summary"]
    # a rule's remote address group exists (with its exact addresses) before the rule
    assert edges["import_security_groups"] == ["import_address_groups", "summary"]
    assert edges["import_address_groups"] == ["import_security_group_rules", "summary"]
    assert "import_server_groups" in edges["validate"]


def test_parsing_makes_no_connection_lookup():
    with mock.patch("airflow.sdk.BaseHook.get_connection", side_effect=AssertionError("lookup at parse")):
        bag = DagBag(dag_folder=str(DAG_FILE))

    assert bag.import_errors == {}


def test_exports_read_the_source_and_imports_write_the_destination(dag):
    conf = {"src_conn_id": "cloud_a", "dst_conn_id": "cloud_b"}

    assert render(dag, "export_networks", **conf).src_conn_id == "cloud_a"
    assert render(dag, "export_networks", **conf).dst_conn_id is None
    assert render(dag, "validate", **conf).dst_conn_id == "cloud_b"
    assert render(dag, "validate", **conf).src_conn_id is None
    assert render(dag, "import_networks", **conf).dst_conn_id == "cloud_b"
    # image data is streamed from the source: only those import tasks get the source connection
    assert DATA_TYPES == ("images",)
    for type_key in ALL_TYPES:
        expected = "cloud_a" if type_key in DATA_TYPES else None
        assert render(dag, f"import_{type_key}", **conf).src_conn_id == expected


def test_templated_params_arrive_as_native_objects(dag):
    filters = {"networks": ["db-net", {"regex": "^app-"}]}

    task = render(dag, "import_networks", filters=filters, dry_run=True)

    assert task.types == ["networks"]
    assert task.filters == filters
    assert task.plan_only is True
    assert task.concurrency == 8
    assert render(dag, "import_networks", import_concurrency=3).concurrency == 3
    assert render(dag, "validate", resource_types=["subnets", "networks"]).types == ["subnets", "networks"]


def test_per_type_filters_of_the_form_merge_into_the_filters(dag):
    """The form's text areas (one line per item, blank lines included) add to the JSON filters."""
    conf = {
        "networks_filter": ["db-net", "regex:^app-", ""],
        "security_groups_filter": ["/^web/"],
        "filters": {"networks": [{"regex": "^x"}], "subnets": []},
    }

    assert render(dag, "validate", **conf).filters == {
        "networks": [{"regex": "^x"}, "db-net", "regex:^app-", ""],
        "security_groups": ["/^web/"],
        "subnets": [],
    }
    assert render(dag, "export_networks").filters == {}  # defaults: nothing filtered


def test_every_resource_type_has_a_filter_text_area_in_the_form(dag):
    for type_key in ALL_TYPES:
        schema = dag.params.get_param(f"{type_key}_filter").schema
        assert schema["section"] == "Name filters"
        assert "items" in schema and "type" not in schema["items"]  # one string per line


def test_unselected_types_render_to_an_empty_selection(dag):
    conf = {"resource_types": ["security_groups", "security_group_rules"]}

    assert render(dag, "export_networks", **conf).types == []
    assert render(dag, "import_routers", **conf).types == []
    assert render(dag, "export_security_groups", **conf).types == ["security_groups"]
    assert render(dag, "import_security_group_rules", **conf).types == ["security_group_rules"]


def test_data_dir_defaults_to_staging_root_read_at_run_time(dag, monkeypatch, tmp_path):
    monkeypatch.setenv(STAGING_ROOT_ENV, str(tmp_path / "staging"))  # after the DAG was parsed

    assert render(dag, "export_networks", tenant="acme").data_dir == str(tmp_path / "staging" / "acme")


def test_data_dir_falls_back_to_airflow_home(dag, monkeypatch, tmp_path):
    monkeypatch.delenv(STAGING_ROOT_ENV, raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))

    assert render(dag, "validate", tenant="acme").data_dir == str(tmp_path / "staging" / "acme")


def test_explicit_data_dir_wins(dag):
    assert render(dag, "import_subnets", tenant="acme", data_dir="/srv/x").data_dir == "/srv/x"


def test_summary_adds_up_counts_and_names_unselected_types():
    exports = {
        "networks": {"data_dir": "/d", "counts": {"networks": 3}, "changed": {"networks": True}},
        "subnets": {"data_dir": "/d", "counts": {"subnets": 2}, "changed": {"subnets": False}},
        "routers": {"skipped": True, "reason": "resource type not selected", "data_dir": "/d"},
    }
    imports = {
        "networks": {"dry_run": False, "counts": {"create": 2, "update": 1, "unchanged": 0, "skip": 0}},
        "subnets": {"dry_run": False, "counts": {"create": 0, "update": 0, "unchanged": 2, "skip": 0}},
        "routers": {"skipped": True, "reason": "resource type not selected", "data_dir": "/d"},
    }

    summary = summarize_run(exports, imports, tenant="acme", dry_run="False")

    assert summary == {
        "tenant": "acme",
        "dry_run": False,
        "exported": {"networks": 3, "subnets": 2},
        "imported": {
            "networks": {"create": 2, "update": 1, "unchanged": 0, "skip": 0},
            "subnets": {"create": 0, "update": 0, "unchanged": 2, "skip": 0},
        },
        "totals": {"create": 2, "update": 1, "unchanged": 2, "skip": 0},
        "not_selected": ["routers"],
    }


@pytest.mark.usefixtures("airflow_db")
def test_run_with_unknown_connection_fails_cleanly_at_connection_lookup(dag, tmp_path):
    """End to end without a cloud: Params pass, unselected types skip, the lookup fails without retries."""
    dr = dag.test(
        run_conf={
            "tenant": "acme",
            "src_conn_id": "no_such_src",
            "dst_conn_id": "no_such_dst",
            "data_dir": str(tmp_path),
            "resource_types": ["networks"],
        }
    )

    states = {ti.task_id: ti.state for ti in dr.get_task_instances()}
    assert dr.state == "failed"
    assert states["export_networks"] == "failed"
    assert {t: s for t, s in states.items() if t.startswith("export_") and t != "export_networks"} == {
        f"export_{t}": "skipped" for t in ALL_TYPES if t != "networks"
    }
    assert states["validate"] == "upstream_failed"
    ti = next(ti for ti in dr.get_task_instances() if ti.task_id == "export_networks")
    assert ti.try_number == 1  # a missing Connection is not retried


@pytest.mark.usefixtures("airflow_db")
def test_full_run_with_core_patched_passes_native_params_and_sums_up(
    dag, tmp_path, create_connection_without_db
):
    """A whole run in-process, with the core replaced: wiring, rendering, XCom and the summary."""
    import json

    from airflow.sdk import Connection

    from os_migrate_airflow.hooks import openstack as hook_module
    from os_migrate_airflow.operators import openstack as op_module

    for conn_id in ("cloud_a", "cloud_b"):
        create_connection_without_db(
            Connection(
                conn_id=conn_id,
                conn_type="openstack",
                host=f"https://{conn_id}:5000/v3",
                login="u",
                password="p",
                extra=json.dumps(
                    {"project_name": "acme", "project_domain_name": "Default", "user_domain_name": "Default"}
                ),
            )
        )

    def fake_export(conn, data_dir, *, types, filters, stage_image_data=False):
        return {"data_dir": data_dir, "counts": {types[0]: 2}, "files": {}, "changed": {types[0]: True}}

    def fake_import(conn, data_dir, *, types, filters, dry_run, src_conn=None, options=None, concurrency=8):
        return {
            "dry_run": dry_run,
            "counts": {"create": 2, "update": 0, "unchanged": 0, "skip": 0},
            "plan_files": {},
            "actions": [{"type": types[0], "name": "x", "action": "create"}],
        }

    with (
        mock.patch.object(hook_module, "SDKConnection", side_effect=lambda **kw: kw["auth"]["auth_url"]),
        mock.patch.object(op_module, "export_resources", side_effect=fake_export) as export,
        mock.patch.object(op_module, "validate_data_dir", return_value=[]) as validate,
        mock.patch.object(op_module, "import_resources", side_effect=fake_import) as import_,
    ):
        dr = dag.test(
            run_conf={
                "tenant": "acme",
                "src_conn_id": "cloud_a",
                "dst_conn_id": "cloud_b",
                "data_dir": str(tmp_path),
                "resource_types": ["networks", "subnets"],
                "filters": {"networks": [{"regex": "^app-"}]},
                "dry_run": True,
            }
        )

    assert dr.state == "success"
    states = {ti.task_id: ti.state for ti in dr.get_task_instances()}
    selected = {"export_networks", "export_subnets", "import_networks", "import_subnets"}
    assert {t: s for t, s in states.items() if t.startswith(("export_", "import_"))} == {
        task_id: "success" if task_id in selected else "skipped"
        for type_key in ALL_TYPES
        for task_id in (f"export_{type_key}", f"import_{type_key}")
    }
    assert states["validate"] == states["summary"] == "success"
    assert sorted(c.kwargs["types"] for c in export.call_args_list) == [["networks"], ["subnets"]]
    assert {c.args[0] for c in export.call_args_list} == {"https://cloud_a:5000/v3"}
    assert validate.call_args.kwargs == {
        "conn": "https://cloud_b:5000/v3",
        "types": ["networks", "subnets"],
        "filters": {"networks": [{"regex": "^app-"}]},
    }
    assert [c.kwargs["types"] for c in import_.call_args_list] == [["networks"], ["subnets"]]
    assert all(c.kwargs["dry_run"] is True for c in import_.call_args_list)
    summary = next(ti for ti in dr.get_task_instances() if ti.task_id == "summary").xcom_pull(
        task_ids="summary"
    )
    assert summary["exported"] == {"networks": 2, "subnets": 2}
    assert summary["totals"]["create"] == 4
    assert summary["dry_run"] is True
    assert len(summary["not_selected"]) == len(ALL_TYPES) - 2
    states = {ti.task_id: ti.state for ti in dr.get_task_instances()}
    assert states["export_routers"] == states["import_routers"] == "skipped"
    assert states["validate"] == states["summary"] == "success"


def test_export_can_be_switched_off_to_import_edited_yaml(dag):
    assert render(dag, "export_networks").types == ["networks"]
    assert render(dag, "export_networks", export=False).types == []
    # the imports still run
    assert render(dag, "import_networks", export=False).types == ["networks"]


def test_check_conf_fails_on_a_typo_before_any_export(dag):
    from airflow.sdk.exceptions import AirflowFailException

    from os_migrate_airflow import dag_support

    assert sorted(dag.get_task("check_conf").downstream_task_ids) == ["lock_data_dir"]
    assert {f"export_{t}" for t in ALL_TYPES} <= dag.get_task("lock_data_dir").downstream_task_ids
    params = dict(dag.params.items())
    for conf, ok in (
        ({"tenant": "acme", "dry_run": True}, True),
        ({"tenant": "acme", "dryrun": True}, False),
    ):
        context = {"dag_run": mock.Mock(conf=conf), "params": params}
        with mock.patch("airflow.sdk.get_current_context", return_value=context):
            if ok:
                assert dag_support.reject_unknown_conf() == {"conf_keys": sorted(conf)}
            else:
                with pytest.raises(AirflowFailException, match=r"unknown conf key\(s\) \['dryrun'\]"):
                    dag_support.reject_unknown_conf()


@pytest.mark.usefixtures("airflow_db")
def test_a_skipped_type_does_not_skip_the_selected_types_after_it(
    dag, tmp_path, create_connection_without_db
):
    """Export off and types picked from the middle of the chains: skipped tasks, selected ones still run."""
    import json

    from airflow.sdk import Connection

    from os_migrate_airflow.hooks import openstack as hook_module
    from os_migrate_airflow.operators import openstack as op_module

    for conn_id in ("cloud_a", "cloud_b"):
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
    counts = {"create": 0, "update": 0, "unchanged": 1, "skip": 0}
    with (
        mock.patch.object(hook_module, "SDKConnection", side_effect=lambda **kw: kw["auth"]["auth_url"]),
        mock.patch.object(op_module, "export_resources") as export,
        mock.patch.object(op_module, "validate_data_dir", return_value=[]),
        mock.patch.object(
            op_module, "import_resources", return_value={"dry_run": False, "counts": counts, "plan_files": {}}
        ) as import_,
    ):
        dr = dag.test(
            run_conf={
                "src_conn_id": "cloud_a",
                "dst_conn_id": "cloud_b",
                "data_dir": str(tmp_path),
                "resource_types": ["subnets", "security_group_rules"],
                "export": False,
            }
        )

    states = {ti.task_id: ti.state for ti in dr.get_task_instances()}
    assert dr.state == "success"
    export.assert_not_called()
    assert {t for t, s in states.items() if s == "skipped"} == {"create_dst_project"} | {
        f"export_{t}" for t in ALL_TYPES
    } | {f"import_{t}" for t in ALL_TYPES if t not in ("subnets", "security_group_rules")}
    assert (
        states["validate"] == states["import_subnets"] == states["import_security_group_rules"] == "success"
    )
    assert states["summary"] == "success"
    assert sorted(c.kwargs["types"] for c in import_.call_args_list) == [
        ["security_group_rules"],
        ["subnets"],
    ]


def test_validate_imports_and_summary_tolerate_skipped_upstreams(dag):
    for task in dag.tasks:
        if task.task_id == "validate" or task.task_id.startswith("import_") or task.task_id == "summary":
            assert task.trigger_rule == "none_failed", task.task_id


def test_create_dst_project_comes_before_validate_and_is_off_by_default(dag):
    task = dag.get_task("create_dst_project")
    assert sorted(task.downstream_task_ids) == ["validate"]
    assert sorted(task.upstream_task_ids) == ["lock_data_dir"]
    assert dag.params["create_dst_project"] is False
    assert dag.params["dst_admin_conn_id"] == "openstack_dst_admin"
    rendered = render(
        dag, "create_dst_project", create_dst_project=True, dst_admin_conn_id="adm", dst_conn_id="b"
    )
    assert (rendered.enabled, rendered.admin_conn_id, rendered.dst_conn_id) == (True, "adm", "b")
    assert render(dag, "create_dst_project").enabled is False


def test_summary_emits_the_tenants_staged_asset_through_the_alias(tmp_path):
    from airflow.sdk import Asset, AssetAlias

    from os_migrate_airflow.assets import STAGED_ALIAS, staged_asset, summarize_and_stage

    dag = load_dag("os_migrate_pre_workload")
    assert dag.get_task("summary").outlets == [AssetAlias("os_migrate_staged")]
    events = mock.MagicMock()

    summary = summarize_and_stage({}, {}, tenant="t1", dry_run=False, data_dir="/d/t1", outlet_events=events)

    assert staged_asset("t1") == Asset(name="os_migrate_staged_t1")
    events.__getitem__.assert_called_with(STAGED_ALIAS)
    events.__getitem__.return_value.add.assert_called_once_with(
        Asset(name="os_migrate_staged_t1"), extra={"tenant": "t1", "data_dir": "/d/t1"}
    )
    assert summary["staged_asset"] == "os_migrate_staged_t1"
    events.reset_mock()
    assert (
        summarize_and_stage({}, {}, tenant="t1", dry_run=True, outlet_events=events)["staged_asset"] is None
    )
    events.__getitem__.assert_not_called()  # a dry run stages nothing
