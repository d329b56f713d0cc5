"""The admin DAG: task graph, Params, and what each task receives for a given run conf."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import ParamValidationError
from dagtools import load_dag, render

from os_migrate.resources import ADMIN_TYPES


@pytest.fixture(scope="module")
def dag():
    return load_dag("os_migrate_admin")


def test_task_graph_is_one_export_then_imports_in_dependency_order(dag):
    edges = {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks}
    assert edges["check_conf"] == ["lock_data_dir"]
    assert edges["lock_data_dir"] == ["export", "unlock_data_dir"]
    assert edges["summary"] == ["unlock_data_dir"]
    assert dag.get_task("unlock_data_dir").is_teardown
    assert edges["export"] == ["summary", "validate"]
    assert edges["validate"] == [f"import_{ADMIN_TYPES[0]}"]
    for before, after in zip(ADMIN_TYPES, ADMIN_TYPES[1:]):
        assert edges[f"import_{before}"] == [f"import_{after}", "summary"]
    assert dag.params["resource_types"] == list(ADMIN_TYPES)
    assert dag.max_active_runs == 1


def test_bad_options_are_refused_by_the_params(dag):
    with pytest.raises(ParamValidationError):
        render(dag, "import_quotas", projects_filter=["p"], quota_mode="max")


def test_a_run_renders_admin_connections_filters_and_options(dag):
    conf = {
        "projects_filter": ["web", "regex:^team-"],
        "flavors_filter": ["m1.big"],
        "quota_mode": "raise",
        "user_password_variable": "osm_initial_password",
    }
    export = render(dag, "export", **conf)
    assert export.src_conn_id == "openstack_src_admin" and export.dst_conn_id is None
    assert export.types == list(ADMIN_TYPES)
    assert export.filters == {"projects": ["web", "regex:^team-"], "flavors": ["m1.big"]}
    quotas = render(dag, "import_quotas", **conf)
    assert quotas.dst_conn_id == "openstack_dst_admin"
    assert (quotas.types, quotas.quota_mode, quotas.user_password_variable) == (["quotas"], "raise", None)
    users = render(dag, "import_users", **conf)
    assert (users.quota_mode, users.user_password_variable) == (None, "osm_initial_password")
    assert render(dag, "export", export=False, **conf).types == []
    assert render(dag, "import_flavors", resource_types=["projects"], **conf).types == []
