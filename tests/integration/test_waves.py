"""Migration waves end to end: a wave plan scheduled by a real embedded Airflow on the local cloud.

Three tenants, each a pair of projects of its own (``wv-<t>-src`` -> ``wv-<t>-dst``, member users,
connections ``osm_wv_<t>_src``/``_dst`` in the Airflow's environment):

* tenant ``wv-a``: ``wv-a-1`` (m1.tiny, cirros, a 1 GiB data volume with known bytes; ``wv-b-1``
  has one too) and
  ``wv-a-odd`` on flavor ``wv-odd``, which the tenant's flavor map sends to a flavor the
  destination lacks: pre-flight fails for that server only; policy ``skip``;
* tenant ``wv-b``: ``wv-b-1``; tenant ``wv-c``: ``wv-c-1``.

Plan: wave ``first`` (tenants a and b, starts a few minutes after the Airflow is up, change window
1 h), wave ``second`` (tenant c, same start, approval required), wave ``later`` (tenant c, starts
tomorrow). Each tenant's pre-workload (network, subnet) runs in its wave before its servers.

Checks: ``first`` runs at its scheduled time by itself (no trigger) and succeeds with ``wv-a-1``
and ``wv-b-1`` migrated (ACTIVE in the destination on the same fixed IP, the data volume's bytes
equal) and ``wv-a-odd`` reported skipped naming the missing flavor (and left ACTIVE in the source);
the two tenants' copy tasks overlap in time; a hand-triggered tenant run on ``wv-a``'s data dir
while the wave holds it is refused at ``lock_data_dir``; ``second`` waits in its approval step
until it is approved through the REST API, then migrates ``wv-c-1``; ``later``, triggered by hand,
is refused by ``check_window`` and writes nothing; the reports' figures equal what the clouds hold.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import shutil
import time
from pathlib import Path

import pytest
import yaml

from ..ui.conftest import HITL_SETTLE_S, REPO_ROOT, AirflowApi, embedded_airflow
from .conftest import connect, wait_for
from .test_workloads import PASSWORD, ensure_project, member  # a project with a member user

OUTPUT = REPO_ROOT / "test-output" / "waves"
AUTH_URL = "http://127.0.0.1:5000/v3"
TENANTS = ("wv-a", "wv-b", "wv-c")
CIDR = {"wv-a": "10.81.0.0/24", "wv-b": "10.82.0.0/24", "wv-c": "10.83.0.0/24"}
SERVERS = {"wv-a": ["wv-a-1", "wv-a-odd"], "wv-b": ["wv-b-1"], "wv-c": ["wv-c-1"]}
ODD_FLAVOR, MISSING_FLAVOR = "wv-odd", "wv-missing-flavor"
MIB, GIB = 1024**2, 1024**3
PAYLOAD = hashlib.sha256(b"wave payload").digest() * (MIB // 32)  # 1 MiB of known bytes


def clean(conn) -> None:
    """Delete the project's servers, volumes, images, ports, routers, subnets and networks."""
    pid = conn.current_project_id
    for server in list(conn.compute.servers()):
        conn.compute.delete_server(server)
    for server in list(conn.compute.servers()):
        conn.compute.wait_for_delete(server, wait=300)
    for volume in list(conn.block_storage.volumes()):
        wait_for(
            lambda v=volume: (
                conn.block_storage.get_volume(v).status not in ("attaching", "detaching", "in-use")
            ),
            f"volume {volume.id} detached",
            timeout=120,
        )
        conn.block_storage.delete_volume(volume, ignore_missing=True)
    for image in list(conn.image.images(owner=pid)):
        conn.image.delete_image(image, ignore_missing=True)
    for port in list(conn.network.ports(project_id=pid)):
        if port.device_owner and port.device_owner.startswith("network:"):
            continue
        conn.network.delete_port(port, ignore_missing=True)
    for subnet in list(conn.network.subnets(project_id=pid)):
        conn.network.delete_subnet(subnet, ignore_missing=True)
    for net in list(conn.network.networks(project_id=pid)):
        conn.network.delete_network(net, ignore_missing=True)


def seed(conn, tenant: str, admin) -> dict[str, str]:
    """Network, subnet and the tenant's servers; returns {server: fixed IP}."""
    net = conn.network.create_network(name="wv-net")
    conn.network.create_subnet(name="wv-sub", network_id=net.id, ip_version=4, cidr=CIDR[tenant])
    image = admin.image.find_image("cirros")
    ips = {}
    for name in SERVERS[tenant]:
        flavor = conn.compute.find_flavor(ODD_FLAVOR if name.endswith("-odd") else "m1.tiny")
        server = conn.compute.create_server(
            name=name, flavor_id=flavor.id, image_id=image.id, networks=[{"uuid": net.id}]
        )
        server = conn.compute.wait_for_server(server, wait=300)
        ips[name] = next(a["addr"] for addrs in server.addresses.values() for a in addrs)
    if tenant in ("wv-a", "wv-b"):  # a data volume each: their copies take long enough to overlap
        volume = conn.block_storage.create_volume(name=f"{tenant}-data", size=1)
        conn.block_storage.wait_for_status(volume, "available", wait=300)
        write_volume(conn, volume)
        server = conn.compute.find_server(f"{tenant}-1")
        conn.compute.create_volume_attachment(server, volume_id=volume.id)
        wait_for(lambda: conn.block_storage.get_volume(volume).status == "in-use", f"{tenant}-data attached")
    return ips


def write_volume(conn, volume) -> None:
    """Known bytes at the start of ``volume`` (through its Cinder NFS backing file, as the other tests)."""
    from .conftest import volume_file

    path = volume_file(volume.id)
    with open(path, "r+b") as f:
        f.write(PAYLOAD)


def volume_sha(volume_id: str) -> str:
    from .conftest import volume_file

    h = hashlib.sha256()
    with open(volume_file(volume_id), "rb") as f:
        for block in iter(lambda: f.read(4 * MIB), b""):
            h.update(block)
    return h.hexdigest()


def conn_env(tenant: str, side: str) -> tuple[str, str]:
    return f"AIRFLOW_CONN_OSM_WV_{tenant[-1].upper()}_{side.upper()}", json.dumps(
        {
            "conn_type": "openstack",
            "host": AUTH_URL,
            "login": f"{tenant}-{side}-member",
            "password": PASSWORD,
            "extra": {
                "project_name": f"{tenant}-{side}",
                "user_domain_name": "Default",
                "project_domain_name": "Default",
                "region_name": "RegionOne",
            },
        }
    )


def write_plan(path: Path, start: datetime.datetime) -> None:
    tenant_base = {"pre_workload": {"resource_types": ["networks", "subnets"]}}

    def tenant(name: str, **extra):
        return {"tenant": name, "servers": ["regex:^%s-" % name], **tenant_base, **extra}

    plan = {
        "version": 1,
        # connection ids from a template; an env var name cannot hold "-", hence "wv_a" below
        "defaults": {"src_conn_id": "osm_{tenant}_src", "dst_conn_id": "osm_{tenant}_dst"},
        "waves": [
            {
                "name": "first",
                "start": start.isoformat(),
                "end": (start + datetime.timedelta(hours=1)).isoformat(),
                "on_preflight_failure": "skip",
                "concurrency": {"servers": 4, "copies_per_host_pair": 2},
                "tenants": [tenant("wv-a", flavor_map={ODD_FLAVOR: MISSING_FLAVOR}), tenant("wv-b")],
            },
            {
                "name": "second",
                "start": start.isoformat(),
                "end": (start + datetime.timedelta(hours=1)).isoformat(),
                "approval": True,
                "tenants": [tenant("wv-c")],
            },
            {
                "name": "later",
                "start": (start + datetime.timedelta(days=1)).isoformat(),
                "tenants": [tenant("wv-c", pre_workload=False)],
            },
        ],
    }
    for wave in plan["waves"]:
        for t in wave["tenants"]:
            key = t["tenant"].replace("-", "_")
            t["src_conn_id"], t["dst_conn_id"] = f"osm_{key}_src", f"osm_{key}_dst"
    path.write_text(yaml.safe_dump(plan, sort_keys=False))


@pytest.fixture(scope="module")
def wave_cloud():
    admin = connect("devcloud-admin")
    if admin.compute.find_flavor(ODD_FLAVOR) is None:
        admin.compute.create_flavor(name=ODD_FLAVOR, vcpus=1, ram=512, disk=1, is_public=True)
    ips = {}
    for t in TENANTS:
        for side in ("src", "dst"):
            ensure_project(admin, f"{t}-{side}")
            clean(member(f"{t}-{side}"))
        ips.update(seed(member(f"{t}-src"), t, admin))
    return ips


@pytest.fixture(scope="module")
def wave_airflow(wave_cloud):
    """An embedded Airflow whose dag-processor reads the plan; yields (api, the waves' start, staging root)."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    staging = OUTPUT / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    env = {"OS_MIGRATE_STAGING_ROOT": str(staging)}
    for t in TENANTS:
        for side in ("src", "dst"):
            key, value = conn_env(t, side)
            env[key] = value
    # The waves start 100 s from now: time for Airflow to start and parse the plan (parsed later,
    # a date-time wave still runs once, with its start as logical date).
    start = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=100)).replace(microsecond=0)
    plan = OUTPUT / "waves.yml"
    write_plan(plan, start.astimezone(datetime.timezone(datetime.timedelta(hours=1))))
    env["OS_MIGRATE_WAVE_PLAN"] = str(plan)
    with embedded_airflow("waves-airflow-home", env) as url:
        api = AirflowApi(url)
        for wave in ("first", "second", "later"):
            api.wait_for_dag(f"os_migrate_wave_{wave}")
        # a tenant DAG comes up paused in a fresh Airflow (wave DAGs do not: their plan decides)
        api.session.patch(
            f"{url}/api/v2/dags/os_migrate_workloads", json={"is_paused": False}, timeout=30
        ).raise_for_status()
        yield api, start, staging


def write(api, method: str, path: str, body: dict):
    """A REST write, retried a few times on a 5xx: the embedded SQLite metadata DB refuses a write
    now and then while the scheduler and workers write too (PostgreSQL in production)."""
    for _ in range(5):
        resp = api.session.request(method, f"{api.base_url}/api/v2{path}", json=body, timeout=30)
        if resp.status_code < 500:
            break
        time.sleep(3)
    return resp


def task_instances(api, dag_id, run_id):
    return api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=500)["task_instances"]


def wait_for_run(api, dag_id, timeout):
    def first_run():
        runs = api.get(f"/dags/{dag_id}/dagRuns", limit=10)["dag_runs"]
        return runs[0] if runs else None

    return wait_for(first_run, f"a run of {dag_id}", timeout=timeout, interval=5)


def test_waves_run_on_schedule_with_approval_skip_policy_and_reports(wave_cloud, wave_airflow):
    api, start, staging = wave_airflow
    ips = wave_cloud
    # -- the scheduled runs appear at the waves' start, not before
    if datetime.datetime.now(datetime.UTC) < start - datetime.timedelta(seconds=5):
        assert not api.get("/dags/os_migrate_wave_first/dagRuns")["dag_runs"], "ran before its start"
    first = wait_for_run(api, "os_migrate_wave_first", timeout=600)
    assert first["run_type"] == "scheduled"
    started = datetime.datetime.fromisoformat(first["logical_date"])
    assert abs((started - start).total_seconds()) < 1
    second = wait_for_run(api, "os_migrate_wave_second", timeout=120)

    # -- a tenant run on wv-a's data dir while the wave holds it is refused at lock_data_dir
    wait_for(
        lambda: any(
            ti["task_id"] == "wv-a.lock_data_dir" and ti["state"] == "success"
            for ti in task_instances(api, "os_migrate_wave_first", first["dag_run_id"])
        ),
        "wave first locked wv-a's data dir",
        timeout=300,
        interval=3,
    )
    clash = write(
        api,
        "post",
        "/dags/os_migrate_workloads/dagRuns",
        {
            "logical_date": None,
            "conf": {
                "tenant": "wv-a",
                "src_conn_id": "osm_wv_a_src",
                "dst_conn_id": "osm_wv_a_dst",
                "servers": ["wv-a-1"],
            },
        },
    )
    assert clash.status_code in (200, 201), clash.text
    clash_run = api.wait_for_end("os_migrate_workloads", clash.json()["dag_run_id"], timeout=300)
    assert clash_run["state"] == "failed"
    clash_states = api.task_states("os_migrate_workloads", clash_run["dag_run_id"])
    assert clash_states[("lock_data_dir", -1)] == "failed"
    assert clash_states.get(("export_workloads", -1)) in ("upstream_failed", None)

    # -- wave first finishes by itself
    first = api.wait_for_end("os_migrate_wave_first", first["dag_run_id"], timeout=1200)
    assert first["state"] == "success", api.task_states("os_migrate_wave_first", first["dag_run_id"])

    # the two tenants' copies overlapped in time
    tis = {
        (ti["task_id"], ti["rendered_map_index"]): ti
        for ti in task_instances(api, "os_migrate_wave_first", first["dag_run_id"])
    }
    a_copy = tis[("wv-a.migrate_server.copy_disks", "wv-a-1")]
    b_copy = tis[("wv-b.migrate_server.copy_disks", "wv-b-1")]
    iv = [
        (datetime.datetime.fromisoformat(t["start_date"]), datetime.datetime.fromisoformat(t["end_date"]))
        for t in (a_copy, b_copy)
    ]
    overlap = (min(iv[0][1], iv[1][1]) - max(iv[0][0], iv[1][0])).total_seconds()
    print(f"copy tasks of wv-a and wv-b overlapped {overlap:.1f} s")
    assert overlap > 0

    # -- wave second waits for approval; approve through the REST API
    wait_for(
        lambda: any(
            ti["task_id"] == "approval" and ti["state"] == "awaiting_input"
            for ti in task_instances(api, "os_migrate_wave_second", second["dag_run_id"])
        ),
        "wave second waiting for approval",
        timeout=900,
        interval=5,
    )
    time.sleep(HITL_SETTLE_S)  # see HITL_SETTLE_S: an instant answer can be lost to an Airflow race
    hitl = api.get(
        f"/dags/os_migrate_wave_second/dagRuns/{second['dag_run_id']}/taskInstances/approval/-1/hitlDetails"
    )
    assert hitl["subject"] == "Approve migration wave second"
    assert "wv-c" in hitl["body"] and "| wv-c-1 | m1.tiny -> m1.tiny |" in hitl["body"], hitl["body"]
    assert not member("wv-c-dst").compute.find_server("wv-c-1"), "migrated before the approval"
    assert member("wv-c-src").compute.find_server("wv-c-1").status == "ACTIVE", "stopped before the approval"
    approve = write(
        api,
        "patch",
        f"/dags/os_migrate_wave_second/dagRuns/{second['dag_run_id']}/taskInstances/approval/-1/hitlDetails",
        {"chosen_options": ["Approve"], "params_input": {}},
    )
    assert approve.status_code == 200, approve.text
    second = api.wait_for_end("os_migrate_wave_second", second["dag_run_id"], timeout=900)
    assert second["state"] == "success", api.task_states("os_migrate_wave_second", second["dag_run_id"])

    # -- the clouds: migrated servers ACTIVE on the same address, the odd one untouched
    for tenant, name in (("wv-a", "wv-a-1"), ("wv-b", "wv-b-1"), ("wv-c", "wv-c-1")):
        dst = member(f"{tenant}-dst")
        server = dst.compute.find_server(name)
        assert server is not None, name
        server = dst.compute.get_server(server.id)
        assert server.status == "ACTIVE"
        assert ips[name] in [a["addr"] for addrs in server.addresses.values() for a in addrs]
        assert (
            member(f"{tenant}-src")
            .compute.get_server(member(f"{tenant}-src").compute.find_server(name).id)
            .status
            == "SHUTOFF"
        )
    assert member("wv-a-dst").compute.find_server("wv-a-odd") is None
    assert (
        member("wv-a-src").compute.get_server(member("wv-a-src").compute.find_server("wv-a-odd").id).status
        == "ACTIVE"
    )
    dst_a = member("wv-a-dst")
    dst_volume = next(v for v in dst_a.block_storage.volumes() if v.name == "wv-a-data")
    src_volume = next(v for v in member("wv-a-src").block_storage.volumes() if v.name == "wv-a-data")
    assert dst_volume.size == src_volume.size == 1
    assert volume_sha(dst_volume.id) == volume_sha(src_volume.id)

    # -- the wave reports: JSON and HTML; figures equal what the clouds hold
    reports = sorted((staging / "waves" / "first").glob("*.json"))
    assert reports, list(staging.rglob("*"))
    report = json.loads(reports[-1].read_text())
    assert reports[-1].with_suffix(".html").exists()
    assert [t["tenant"] for t in report["tenants"]] == ["wv-a", "wv-b"]
    servers = {s["server"]: s for s in report["servers"]}
    assert servers["wv-a-1"]["status"] == "migrated" and servers["wv-b-1"]["status"] == "migrated"
    assert servers["wv-a-odd"]["status"] == "skipped"
    assert MISSING_FLAVOR in servers["wv-a-odd"]["reason"]
    assert servers["wv-a-1"]["bytes"] == dst_volume.size * GIB
    assert servers["wv-a-1"]["downtime_s"] > 0
    second_report = json.loads(sorted((staging / "waves" / "second").glob("*.json"))[-1].read_text())
    assert [(s["server"], s["status"]) for s in second_report["servers"]] == [("wv-c-1", "migrated")]

    # -- wave later, triggered by hand a day early: refused by check_window, nothing written
    resp = write(api, "post", "/dags/os_migrate_wave_later/dagRuns", {"logical_date": None})
    assert resp.status_code in (200, 201), resp.text
    later = api.wait_for_end("os_migrate_wave_later", resp.json()["dag_run_id"], timeout=300)
    assert later["state"] == "failed"
    states = api.task_states("os_migrate_wave_later", later["dag_run_id"])
    assert states[("check_window", -1)] == "failed"
    assert all(
        s in ("upstream_failed", None)
        for (task_id, _), s in states.items()
        if task_id != "check_window" and not task_id.endswith("unlock_data_dir") and task_id != "report"
    )
