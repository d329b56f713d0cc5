"""A tenant migrated by the native CeleryExecutor cluster (PostgreSQL, Redis, two Celery workers),
with one worker killed mid-copy.

Projects ``cl-src`` -> ``cl-dst`` of the local cloud (member users, Connections
``osm_cl_src``/``osm_cl_dst`` in the cluster's environment). The source holds a network, a subnet
and 6 servers ``cl-vm-1..6``, each with a 1 GiB data volume ``cl-vm-N-data`` whose first MiB is
known bytes of its own. ``os_migrate_pre_workload`` copies the network and subnet, then one
``os_migrate_workloads`` run migrates all 6 servers; pool ``conversion_hosts`` has 2 slots.

While two ``copy_disks`` run, the worker running one of them is killed with SIGKILL (the worker
and its task processes). Checks:

* from every try's start/end times (REST API): never more than 2 copies at once, and 2 reached;
* the killed copy's first try ran on the killed worker, its last try on the other one and
  succeeded; task instances ran on both workers (their recorded hostnames);
* every server is ACTIVE in the destination with its volume's bytes; each server and volume
  exists once there, and no temporary image or volume is left on either side.

Figures (``report_figure``): cluster start time, the run's wall time and throughput, the peak of
copies at once, which worker ran which tasks, the recovery time after the kill.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import signal
import time
from collections import Counter

import psutil
import pytest

from os_migrate.workload.cloudops import TMP_PREFIX

from ..integration.conftest import connect, volume_file, wait_for
from ..integration.test_waves import clean
from ..integration.test_workloads import ensure_project, member, member_connection_json
from .conftest import WORKERS, celery_cluster

TENANT = "cl"
SRC, DST = "cl-src", "cl-dst"
SERVERS = tuple(f"cl-vm-{i}" for i in range(1, 7))
MIB, GIB = 1024**2, 1024**3
COPY_TASK = "migrate_server.copy_disks"
POOL_SLOTS = 2


def payload(server: str) -> bytes:
    """1 MiB of known bytes, different per server."""
    return hashlib.sha256(server.encode()).digest() * (MIB // 32)


@pytest.fixture(scope="module")
def cluster_tenant():
    """Empty ``cl-dst``; ``cl-src`` with a network, a subnet and the 6 servers with their volumes."""
    admin = connect("devcloud-admin")
    for project in (SRC, DST):
        ensure_project(admin, project)
        clean(member(project))
    src = member(SRC)
    net = src.network.create_network(name="cl-net")
    src.network.create_subnet(name="cl-sub", network_id=net.id, ip_version=4, cidr="10.84.0.0/24")
    image = admin.image.find_image("cirros")
    flavor = src.compute.find_flavor("m1.tiny")
    servers = [
        src.compute.create_server(
            name=name, flavor_id=flavor.id, image_id=image.id, networks=[{"uuid": net.id}]
        )
        for name in SERVERS
    ]
    volumes = [src.block_storage.create_volume(name=f"{name}-data", size=1) for name in SERVERS]
    for server, volume in zip(servers, volumes):
        src.block_storage.wait_for_status(volume, "available", wait=300)
        with open(volume_file(volume.id), "r+b") as f:
            f.write(payload(server.name))
        src.compute.wait_for_server(server, wait=300)
        src.compute.create_volume_attachment(server, volume_id=volume.id)
    for volume in volumes:
        wait_for(
            lambda v=volume: src.block_storage.get_volume(v).status == "in-use", f"{volume.name} attached"
        )
    return src


@pytest.fixture(scope="module")
def cluster(cluster_tenant):
    env = {
        f"AIRFLOW_CONN_OSM_CL_{side.upper()}": member_connection_json(f"cl-{side}") for side in ("src", "dst")
    }
    with celery_cluster(env) as started:
        for dag_id in ("os_migrate_pre_workload", "os_migrate_workloads"):
            started.api.wait_for_dag(dag_id)
            started.api.session.patch(
                f"{started.api.base_url}/api/v2/dags/{dag_id}", json={"is_paused": False}, timeout=30
            ).raise_for_status()
        yield started


def trigger(api, dag_id: str, conf: dict) -> str:
    resp = api.session.post(
        f"{api.base_url}/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf}, timeout=30
    )
    assert resp.status_code in (200, 201), resp.text
    return resp.json()["dag_run_id"]


def task_instances(api, dag_id: str, run_id: str) -> list[dict]:
    return api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=500)["task_instances"]


def tries(api, dag_id: str, run_id: str, task_id: str, map_index: int) -> list[dict]:
    """Every try of one task instance, oldest first."""
    found = api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}/tries")
    return sorted(found["task_instances"], key=lambda t: t["try_number"])


def ts(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value)


def peak_overlap(intervals: list[tuple[datetime.datetime, datetime.datetime]]) -> int:
    """Most intervals open at one instant (an interval ending when another starts does not overlap)."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    peak = now = 0
    for _, step in events:  # at equal times -1 sorts first
        now += step
        peak = max(peak, now)
    return peak


def kill_tree(pid: int) -> list[int]:
    """SIGKILL ``pid`` and every process below it (a Celery worker and its task processes)."""
    root = psutil.Process(pid)
    procs = [root, *root.children(recursive=True)]
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
    psutil.wait_procs(procs, timeout=10)
    return [p.pid for p in procs]


def test_pool_caps_copies_and_a_killed_worker_is_survived(cluster, report_figure):
    api = cluster.api
    report_figure(
        f"cluster start (PostgreSQL, Redis, 4 Airflow services, 2 workers): {cluster.start_seconds:.0f} s"
    )
    conns = {"src_conn_id": "osm_cl_src", "dst_conn_id": "osm_cl_dst"}
    pre = trigger(
        api, "os_migrate_pre_workload", {"tenant": TENANT, **conns, "resource_types": ["networks", "subnets"]}
    )
    pre_run = api.wait_for_end("os_migrate_pre_workload", pre, timeout=600)
    assert pre_run["state"] == "success", api.task_states("os_migrate_pre_workload", pre)

    started = time.monotonic()
    run_id = trigger(api, "os_migrate_workloads", {"tenant": TENANT, **conns, "servers": ["regex:^cl-vm-"]})

    # -- while two copies run, kill the worker of the newer one (copying for 2 s at least)
    def copy_to_kill():
        state = api.get(f"/dags/os_migrate_workloads/dagRuns/{run_id}")["state"]
        assert state not in ("success", "failed"), f"run {state} before two copies ran at once for 2 s"
        running = [
            ti
            for ti in task_instances(api, "os_migrate_workloads", run_id)
            if ti["task_id"] == COPY_TASK and ti["state"] == "running" and ti["hostname"]
        ]
        if len(running) < POOL_SLOTS:
            return None
        newest = max(running, key=lambda ti: ts(ti["start_date"]))
        age = datetime.datetime.now(datetime.UTC) - ts(newest["start_date"])
        return newest if age.total_seconds() >= 2 else None

    victim = wait_for(copy_to_kill, "two copy_disks running", timeout=900, interval=1)
    killed_host = victim["hostname"]
    killed_worker = killed_host.removeprefix("osm-")
    assert killed_worker in WORKERS, killed_host
    killed_at = datetime.datetime.now(datetime.UTC)
    killed_pids = kill_tree(cluster.pid(killed_worker))
    print(f"killed {killed_worker} (pids {killed_pids}) during copy of {victim['rendered_map_index']}")

    run = api.wait_for_end("os_migrate_workloads", run_id, timeout=1500)
    wall = time.monotonic() - started
    states = api.task_states("os_migrate_workloads", run_id)
    assert run["state"] == "success", (states, cluster.log_tail("scheduler"))

    # -- every try of every copy: at most 2 at once, and 2 reached
    tis = task_instances(api, "os_migrate_workloads", run_id)
    copies = [ti for ti in tis if ti["task_id"] == COPY_TASK]
    assert sorted(ti["rendered_map_index"] for ti in copies) == sorted(SERVERS)
    copy_tries = [
        t for ti in copies for t in tries(api, "os_migrate_workloads", run_id, COPY_TASK, ti["map_index"])
    ]
    assert all(t["start_date"] and t["end_date"] for t in copy_tries), copy_tries
    intervals = [(ts(t["start_date"]), ts(t["end_date"])) for t in copy_tries]
    peak = peak_overlap(intervals)
    report_figure(f"copy_disks at once (pool {POOL_SLOTS} slots, {len(intervals)} tries): max {peak}")
    assert peak == POOL_SLOTS

    # -- the killed copy: first try on the killed worker, retried on the other one, success
    victim_tries = tries(api, "os_migrate_workloads", run_id, COPY_TASK, victim["map_index"])
    assert victim_tries[0]["hostname"] == killed_host
    assert victim_tries[0]["state"] != "success"
    assert victim_tries[-1]["state"] == "success" and len(victim_tries) >= 2
    survivor = f"osm-{next(w for w in WORKERS if w != killed_worker)}"
    assert victim_tries[-1]["hostname"] == survivor
    retry_start = (ts(victim_tries[-1]["start_date"]) - killed_at).total_seconds()
    retry_end = (ts(victim_tries[-1]["end_date"]) - killed_at).total_seconds()
    report_figure(
        f"SIGKILL of {killed_worker} mid-copy ({victim['rendered_map_index']}): retried on {survivor} "
        f"{retry_start:.0f} s later, copied {retry_end:.0f} s after the kill "
        f"(heartbeat timeout 60 s + retry delay 30 s)"
    )

    # -- who ran what (last tries, plus the killed one)
    by_host = Counter(ti["hostname"] for ti in tis if ti["hostname"])
    copies_by_host = Counter(t["hostname"] for t in copy_tries if t["hostname"])
    report_figure(f"task instances per worker: {dict(sorted(by_host.items()))}")
    report_figure(f"copy_disks tries per worker: {dict(sorted(copies_by_host.items()))}")
    assert set(by_host) | set(copies_by_host) == {f"osm-{w}" for w in WORKERS}
    report_figure(
        f"6-server run (6 x 1 GiB volumes, image method): {wall:.0f} s wall, "
        f"{6 * GIB / MIB / wall:.1f} MiB/s logical, including the worker loss"
    )

    # -- the clouds: every server once, ACTIVE, its volume's bytes; nothing temporary left
    src, dst = member(SRC), member(DST)
    dst_servers = list(dst.compute.servers())
    assert sorted(s.name for s in dst_servers) == sorted(SERVERS)
    assert all(s.status == "ACTIVE" for s in dst_servers), [(s.name, s.status) for s in dst_servers]
    dst_volumes = list(dst.block_storage.volumes())
    data = {v.name: v for v in dst_volumes if v.name and v.name.endswith("-data")}
    assert sorted(data) == sorted(f"{name}-data" for name in SERVERS), [v.name for v in dst_volumes]
    assert len(dst_volumes) == len(SERVERS), [v.name for v in dst_volumes]
    for server in dst_servers:
        volume = data[f"{server.name}-data"]
        assert volume.status == "in-use" and volume.size == 1
        assert volume.attachments[0]["server_id"] == server.id
        with open(volume_file(volume.id), "rb") as f:
            assert f.read(MIB) == payload(server.name), server.name
    for conn in (src, dst):
        leftovers = [i.name for i in conn.image.images(owner=conn.current_project_id)] + [
            v.name for v in conn.block_storage.volumes()
        ]
        assert not [n for n in leftovers if n and n.startswith(TMP_PREFIX)], leftovers
    assert all(s.status == "SHUTOFF" for s in src.compute.servers())
