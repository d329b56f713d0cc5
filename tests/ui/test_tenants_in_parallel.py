"""Tenants in parallel, one run per data dir, approval through the REST API, staged-data assets.

On an embedded Airflow of its own (scheduler with LocalExecutor, parallelism 4, pool
``conversion_hosts`` of 2 slots) against the local cloud:

* a pre-workload run of tenant ``ta`` (REST API) imports the sample tenant's networking into project
  dst and emits the asset ``os_migrate_staged_ta``: the consumer DAG below, scheduled on that asset,
  gets an asset-triggered run with the event's extra ``{tenant, data_dir}``;
* two workloads runs of two tenants (data dirs ``<staging>/ta`` and ``<staging>/tb``), one server
  each (``demo-vm`` and ``demo-vm2`` of project src), both with ``approval``: both wait in the HITL
  step with the plan as body and nothing stopped; both are approved through
  ``PATCH .../taskInstances/approval/-1/hitlDetails``; their ``copy_disks`` tasks overlap in time
  (start/end from the REST API) and both servers end ACTIVE in dst;
* a run of tenant ``tc`` with approval, rejected through the API: every later step is skipped,
  the teardown unlocks, the source server stays ACTIVE and nothing lands in dst;
* a third run on tenant ``ta``'s data dir while the first holds it fails at ``lock_data_dir``
  with the holder's run id in the message; no later task of it runs.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from ..integration.conftest import wait_for
from .conftest import OUTPUT, embedded_airflow

PRE_WORKLOAD, WORKLOADS = "os_migrate_pre_workload", "os_migrate_workloads"
CONSUMER = "staged_consumer_ta"
SERVER_A, SERVER_B = "demo-vm", "demo-vm2"
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


def seed_second_server(src) -> None:
    """``demo-vm2``: like demo-vm (cirros, m1.tiny, groups web/ssh, keypair demo-key) with a 1 GiB
    data volume ``demo-data2``, no floating IP."""
    net, compute, pid = src.network, src.compute, src.current_project_id
    subnet = net.find_subnet("app-subnet", project_id=pid, ignore_missing=False)
    port = net.create_port(
        network_id=subnet.network_id,
        name=f"{SERVER_B}-port",
        fixed_ips=[{"subnet_id": subnet.id}],
        security_group_ids=[
            net.find_security_group(g, project_id=pid, ignore_missing=False).id for g in ("web", "ssh")
        ],
    )
    server = compute.create_server(
        name=SERVER_B,
        image_id=src.image.find_image("cirros", ignore_missing=False).id,
        flavor_id=compute.find_flavor("m1.tiny", ignore_missing=False).id,
        networks=[{"port": port.id}],
        key_name="demo-key",
    )
    server = compute.wait_for_server(server, status="ACTIVE", wait=300)
    volume = src.block_storage.create_volume(name="demo-data2", size=1)
    src.block_storage.wait_for_status(volume, "available", wait=300)
    compute.create_volume_attachment(server, volume=volume.id)
    src.block_storage.wait_for_status(volume, "in-use", wait=300)


@pytest.fixture(scope="module")
def clouds(sample_cloud):
    src, dst = sample_cloud
    seed_second_server(src)
    return src, dst


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


def when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


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


def test_two_tenants_in_parallel_approved_through_the_api_and_one_run_per_data_dir(api, clouds, staged):
    src, dst = clouds
    conf = {"approval": True, "flavor_map": {}, "migration_params": {}}
    run_a = trigger(api, WORKLOADS, {**conf, "tenant": "ta", "servers": [SERVER_A]}, "wl-ta")
    run_b = trigger(api, WORKLOADS, {**conf, "tenant": "tb", "servers": [SERVER_B]}, "wl-tb")

    # a second run on ta's data dir while wl-ta holds it: refused at lock_data_dir
    wait_for(lambda: ti_state(api, WORKLOADS, run_a, "lock_data_dir") == "success", "wl-ta locked", 300)
    run_a2 = trigger(api, WORKLOADS, {"tenant": "ta", "servers": [SERVER_A]}, "wl-ta-again")
    again = api.wait_for_end(WORKLOADS, run_a2, timeout=300)
    states = api.task_states(WORKLOADS, run_a2)
    assert again["state"] == "failed"
    assert states[("lock_data_dir", -1)] == "failed"
    ran = {task for (task, _), state in states.items() if state in ("success", "failed", "running")}
    assert ran <= {"check_conf", "lock_data_dir", "summary"}, states  # nothing exported, stopped, copied
    log = OUTPUT / "airflow-home-parallel" / "logs" / f"dag_id={WORKLOADS}" / f"run_id={run_a2}"
    text = (log / "task_id=lock_data_dir" / "attempt=1.log").read_text()
    assert "is in use by" in text and "run_id wl-ta" in text and ".os-migrate.lock" in text

    # both wait for approval with the plan; nothing is stopped meanwhile
    for run_id in (run_a, run_b):
        wait_for(
            lambda r=run_id: ti_state(api, WORKLOADS, r, "approval") == "awaiting_input",
            f"{run_id} awaiting approval",
            600,
        )
    hitl = {
        r: api.get(f"/dags/{WORKLOADS}/dagRuns/{r}/taskInstances/approval/-1/hitlDetails")
        for r in (run_a, run_b)
    }
    assert f"| {SERVER_A} | m1.tiny -> m1.tiny |" in hitl[run_a]["body"]
    assert f"| {SERVER_B} | m1.tiny -> m1.tiny |" in hitl[run_b]["body"]
    assert "Expected bytes to copy: 1.0 GiB" in hitl[run_b]["body"]
    assert hitl[run_a]["subject"] == "Approve the migration wave of tenant ta"
    assert {s.name: s.status for s in src.compute.servers()} == {SERVER_A: "ACTIVE", SERVER_B: "ACTIVE"}

    for run_id in (run_a, run_b):  # the REST approval
        assert respond(api, run_id, "Approve")["chosen_options"] == ["Approve"]

    runs = {r: api.wait_for_end(WORKLOADS, r, timeout=900) for r in (run_a, run_b)}
    for run_id, run in runs.items():
        assert run["state"] == "success", api.task_states(WORKLOADS, run_id)
    copies = {r: ti(api, WORKLOADS, r, "migrate_server.copy_disks", 0) for r in (run_a, run_b)}
    starts = [when(c["start_date"]) for c in copies.values()]
    ends = [when(c["end_date"]) for c in copies.values()]
    overlap = (min(ends) - max(starts)).total_seconds()
    print(f"copy_disks: {[(str(s), str(e)) for s, e in zip(starts, ends)]}; overlap {overlap:.1f} s")
    assert overlap > 0, f"copy_disks of the two tenants did not overlap: {copies}"
    servers = {s.name: s.status for s in dst.compute.servers()}
    assert servers == {SERVER_A: "ACTIVE", SERVER_B: "ACTIVE"}
    staging = OUTPUT / "airflow-home-parallel" / "staging"
    assert (
        not (staging / "ta" / ".os-migrate.lock").exists()
        and not (staging / "tb" / ".os-migrate.lock").exists()
    )
