"""Staged-data assets and a rejected approval, on a real embedded Airflow.

On an embedded Airflow of its own (scheduler with LocalExecutor, parallelism 4, pool
``conversion_hosts`` of 2 slots) against the local cloud:

* a pre-workload run of tenant ``ta`` (REST API) imports the sample tenant's networking into project
  dst and emits the asset ``os_migrate_staged_ta``: the consumer DAG below, scheduled on that asset,
  gets an asset-triggered run with the event's extra ``{tenant, data_dir}``;
* a run of tenant ``tc`` with approval, rejected through the API: every later step is skipped,
  the teardown unlocks, the source server stays ACTIVE and nothing lands in dst.

Two tenants running at once (overlap of their copies), one run per data dir and the approval
of a whole wave through the REST API are tested in tests/integration/test_waves.py.
"""

from __future__ import annotations

import json
import time

import pytest

from ..integration.conftest import wait_for
from .conftest import HITL_SETTLE_S, OUTPUT, embedded_airflow

PRE_WORKLOAD, WORKLOADS = "os_migrate_pre_workload", "os_migrate_workloads"
CONSUMER = "staged_consumer_ta"
SERVER_A = "demo-vm"
BUNDLE_DIR = OUTPUT / "consumer-dags"
CONSUMER_DAG = f'''
from airflow.sdk import DAG, Asset, task

with DAG("{CONSUMER}", schedule=[Asset(name="os_migrate_staged_ta")], catchup=False):
    task(task_id="noop")(lambda: None)()
'''


@pytest.fixture(scope="module")
def airflow_ui():
    """The embedded Airflow with a second DAG bundle holding the asset consumer."""
    BUNDLE_DIR.mkdir(parents=True, exist_ok=True)
    (BUNDLE_DIR / f"{CONSUMER}.py").write_text(CONSUMER_DAG)
    local = "airflow.dag_processing.bundles.local.LocalDagBundle"
    bundles = [
        {"name": "dags-folder", "classpath": local, "kwargs": {}},
        {"name": "test-consumers", "classpath": local, "kwargs": {"path": str(BUNDLE_DIR)}},
    ]
    extra = {"AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles)}
    with embedded_airflow("airflow-home-parallel", extra) as url:
        yield url


@pytest.fixture(scope="module")
def clouds(sample_cloud):
    return sample_cloud


def trigger(api, dag_id: str, conf: dict, run_id: str) -> str:
    resp = api.session.post(
        f"{api.base_url}/api/v2/dags/{dag_id}/dagRuns",
        json={"logical_date": None, "dag_run_id": run_id, "conf": conf},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    return run_id


def ti(api, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict:
    path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
    return api.get(path if map_index < 0 else f"{path}/{map_index}")


def ti_state(api, dag_id, run_id, task_id, map_index=-1):
    try:
        return ti(api, dag_id, run_id, task_id, map_index)["state"]
    except Exception:  # not created yet (mapped task before expansion)
        return None


@pytest.fixture(scope="module")
def staged(api, clouds):
    """The pre-workload run of tenant ta (REST API), finished."""
    for dag_id in (PRE_WORKLOAD, WORKLOADS, CONSUMER):
        api.wait_for_dag(dag_id)
    for dag_id in (PRE_WORKLOAD, WORKLOADS, CONSUMER):  # new DAGs come up paused
        resp = api.session.patch(
            f"{api.base_url}/api/v2/dags/{dag_id}", json={"is_paused": False}, timeout=30
        )
        resp.raise_for_status()
    known = api.run_ids(CONSUMER)
    run_id = trigger(api, PRE_WORKLOAD, {"tenant": "ta"}, "pre-ta")
    run = api.wait_for_end(PRE_WORKLOAD, run_id, timeout=900)
    assert run["state"] == "success", api.task_states(PRE_WORKLOAD, run_id)
    return known


def test_pre_workload_success_triggers_the_dag_scheduled_on_the_tenants_asset(api, staged):
    consumer_run = api.wait_for_new_run(CONSUMER, staged, timeout=120)

    assert consumer_run["run_type"] == "asset_triggered"
    events = api.get("/assets/events", source_dag_id=PRE_WORKLOAD, source_run_id="pre-ta")["asset_events"]
    assert [e["name"] for e in events] == ["os_migrate_staged_ta"]
    assert events[0]["extra"]["tenant"] == "ta"
    assert events[0]["extra"]["data_dir"].endswith("/staging/ta")
    summary = api.get(f"/dags/{PRE_WORKLOAD}/dagRuns/pre-ta/taskInstances/summary/xcomEntries/return_value")
    assert summary["value"]["staged_asset"] == "os_migrate_staged_ta"


def respond(api, run_id: str, option: str) -> dict:
    """Answer the approval step of ``run_id`` through the REST API."""
    resp = api.session.patch(
        f"{api.base_url}/api/v2/dags/{WORKLOADS}/dagRuns/{run_id}/taskInstances/approval/-1/hitlDetails",
        json={"chosen_options": [option], "params_input": {}},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_reject_through_the_api_stops_nothing(api, clouds, staged):
    src, dst = clouds
    run_id = trigger(
        api, WORKLOADS, {"tenant": "tc", "servers": [SERVER_A], "approval": True}, "wl-tc-reject"
    )
    wait_for(lambda: ti_state(api, WORKLOADS, run_id, "approval") == "awaiting_input", "approval step", 600)

    time.sleep(HITL_SETTLE_S)  # see HITL_SETTLE_S: an instant answer can be lost to an Airflow race
    assert respond(api, run_id, "Reject")["chosen_options"] == ["Reject"]
    run = api.wait_for_end(WORKLOADS, run_id, timeout=300)
    states = api.task_states(WORKLOADS, run_id)
    assert run["state"] == "success", states
    assert states[("approval", -1)] == "success"
    for task in ("migrate_server.prepare", "migrate_server.copy_disks", "select_volumes", "summary"):
        assert {s for (t, _), s in states.items() if t == task} == {"skipped"}, (task, states)
    assert states[("unlock_data_dir", -1)] == "success"
    assert src.compute.find_server(SERVER_A).status == "ACTIVE"
    assert list(dst.compute.servers()) == []
    assert not (OUTPUT / "airflow-home-parallel" / "staging" / "tc" / ".os-migrate.lock").exists()
