"""The pre-workload DAG, run in-process by Airflow (``dag.test``) against the real local cloud."""

from __future__ import annotations

import json

import pytest

from .conftest import CLOUDS_YAML, NETWORK_TYPES


@pytest.fixture
def devcloud_connections(monkeypatch):
    """Airflow Connections ``osm_src``/``osm_dst`` naming devcloud clouds (env form, as in prod)."""
    for side in ("src", "dst"):
        monkeypatch.setenv(
            f"AIRFLOW_CONN_OSM_{side.upper()}",
            json.dumps(
                {
                    "conn_type": "openstack",
                    "extra": {"cloud": f"devcloud-{side}", "clouds_yaml": str(CLOUDS_YAML)},
                }
            ),
        )


def dst_contents(dst):
    net, pid = dst.network, dst.current_project_id
    return {
        "networks": sorted(n.name for n in net.networks(project_id=pid)),
        "subnets": sorted(s.name for s in net.subnets(project_id=pid)),
        "routers": sorted(r.name for r in net.routers(project_id=pid)),
        "security_groups": sorted(g.name for g in net.security_groups(project_id=pid)),
        "address_groups": sorted(g.name for g in net.address_groups(project_id=pid)),
        "server_groups": sorted(g.name for g in dst.compute.server_groups()),
    }


def test_dag_migrates_the_sample_tenant_and_a_rerun_changes_nothing(
    airflow_db, devcloud_connections, seeded_src, empty_dst, tmp_path
):
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag().get_dag("os_migrate_pre_workload")
    conf = {
        "tenant": "e2e",
        "src_conn_id": "osm_src",
        "dst_conn_id": "osm_dst",
        "data_dir": str(tmp_path),
        "resource_types": [*NETWORK_TYPES, "server_groups"],
    }
    run = dag.test(run_conf=conf)
    assert run.state == "success"
    assert dst_contents(empty_dst) == {
        "networks": ["app-net", "db-net"],
        "subnets": ["app-subnet", "app-subnet-b", "db-subnet"],
        "routers": ["edge-router"],
        "security_groups": ["db", "default", "ssh", "web"],
        "address_groups": ["office"],
        "server_groups": ["app-anti-affinity"],
    }
    summary = next(ti for ti in run.get_task_instances() if ti.task_id == "summary").xcom_pull(
        task_ids="summary"
    )
    assert summary["totals"]["create"] > 0

    again = dag.test(run_conf=conf)
    assert again.state == "success"
    summary = next(ti for ti in again.get_task_instances() if ti.task_id == "summary").xcom_pull(
        task_ids="summary"
    )
    assert summary["totals"]["create"] == 0 and summary["totals"]["update"] == 0


def test_dag_fails_in_validate_and_writes_nothing_on_bad_data(
    airflow_db, devcloud_connections, seeded_src, empty_dst, tmp_path
):
    from airflow.dag_processing.dagbag import DagBag

    # A hand-added record the export keeps (no source twin): a typo'd field.
    (tmp_path / "networks.yml").write_text(
        "os_migrate_version: 1\nresources:\n- type: openstack.network.Network\n"
        "  params: {name: extra-net, is_sharde: true}\n"
    )
    dag = DagBag().get_dag("os_migrate_pre_workload")
    run = dag.test(
        run_conf={
            "tenant": "bad",
            "src_conn_id": "osm_src",
            "dst_conn_id": "osm_dst",
            "data_dir": str(tmp_path),
            "resource_types": ["networks", "subnets"],
        }
    )
    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["export_networks"] == "success"
    assert states["validate"] == "failed"
    assert states["import_networks"] == "upstream_failed"
    assert dst_contents(empty_dst)["networks"] == []
