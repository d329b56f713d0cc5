"""Workload migration on the real local cloud (no mocks): servers with volumes, ports, FIPs.

Runs in projects of its own, ``wl-src`` and ``wl-dst`` (created idempotently with member users
``wl-src-member``/``wl-dst-member``), because other tests clean the networking of ``src``/``dst``.
Networking, security group and keypair are made in ``wl-src`` and copied to ``wl-dst`` with
os_migrate's own pre-workload import (the order of a real migration). Every session starts by
deleting the servers, volumes, floating IPs and images left in both projects by an earlier one.

Scenario (source ``wl-src``):

- ``wl-vm-img``: booted from an image of its own (``wl-hw-image``: 4 MiB of known bytes with
  ``hw_firmware_type``, ``hw_machine_type``, ``hw_disk_bus`` properties); one port with two fixed
  IPs (two subnets) and an allowed address pair, a floating IP, security group ``wl-web``,
  keypair ``wl-key``; a 1 GiB data volume at ``/dev/vdb`` whose first 8 MiB are known random
  bytes (volume made from a raw image). Migrated with ``boot_disk_copy`` (its root disk becomes
  a boot volume of type ``fast`` in the destination);
- ``wl-vm-bfv``: booted from volume: the boot volume is made from the public ``cirros`` (an
  image the tenant does not own) and carries ``hw_firmware_type=uefi``, ``hw_machine_type=q35``,
  ``hw_disk_bus=scsi`` as volume image metadata, attached as ``/dev/sda``; a second 1 GiB volume
  of type ``fast`` with known bytes at ``/dev/vdb``;
- ``wl-vm-bad``: uses keypair ``wl-key-src-only`` and security group ``wl-src-only``, which are
  not copied to the destination (pre-flight must refuse it);
- ``wl-detached``: a volume attached to nothing (exported to ``detached_volumes.yml``).

Bytes are checked independently of the tool: the expected sha256 of a 1 GiB volume is computed
locally (payload + zeros); the destination volume is read back through the API (detached from
the destination server, uploaded to an image, downloaded), and boot volumes through their Cinder
NFS backing files.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from types import SimpleNamespace

import openstack.connection
import pytest
from openstack import exceptions as sdk_exc

import os_migrate
from os_migrate.cloud import RequestCounter, find_or_none
from os_migrate.exceptions import ValidationError
from os_migrate.workload import (
    copy_server_disks,
    export_workloads,
    migrate_server,
    preflight,
    prepare_server,
)
from os_migrate.workload.cloudops import SHA256_KEY, SOURCE_ID_KEY, TMP_PREFIX
from os_migrate.workload.store import load_detached_volumes, load_servers

from .conftest import DEVCLOUD_HOME, DST_ADMIN_CLOUD, REPO_ROOT, connect, volume_file, wait_for

GIB = 1024**3
MIB = 1024**2
PASSWORD = "devcloud"
AUTH_URL = "http://127.0.0.1:5000/v3"
SRC, DST = "wl-src", "wl-dst"
NET, SUB_A, SUB_B, ROUTER = "wl-net", "wl-sub-a", "wl-sub-b", "wl-router"
SG, KEY = "wl-web", "wl-key"
BAD_SG, BAD_KEY = "wl-src-only", "wl-key-src-only"
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIrNOmf/9KKvUcTUdE6uXLHn0eWAiKFGTw5AvbD3doQy wl-key"
VM_IMG, VM_BFV, VM_BAD = "wl-vm-img", "wl-vm-bfv", "wl-vm-bad"
PAYLOAD_IMAGE = "wl-payload"
HW_IMAGE = "wl-hw-image"
NFS_EXPORT = DEVCLOUD_HOME / "data" / "cinder" / "nfs-export"
HW_PROPS = {"hw_firmware_type": "uefi", "hw_machine_type": "q35", "hw_disk_bus": "scsi"}


# -- environment -----------------------------------------------------------------------------------


def cloud_of(project: str) -> str:
    """Admin cloud of the devcloud cloud holding ``project`` (the destination may be cloud 2)."""
    return DST_ADMIN_CLOUD if project == DST else "devcloud-admin"


def auth_url_region(project: str) -> tuple[str, str]:
    """``(auth_url, region_name)`` of the cloud holding ``project``."""
    if cloud_of(project) == "devcloud-admin":
        return AUTH_URL, "RegionOne"
    admin = connect(cloud_of(project))
    return admin.config.auth["auth_url"], admin.config.region_name


def member(project: str):
    """Connection of the member user of ``project``."""
    auth_url, region = auth_url_region(project)
    return openstack.connection.Connection(
        auth_type="password",
        region_name=region,
        auth={
            "auth_url": auth_url,
            "username": f"{project}-member",
            "password": PASSWORD,
            "project_name": project,
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
    )


def ensure_project(admin, name: str):
    """Project ``name`` with member user ``<name>-member`` and roomy quotas (idempotent)."""
    role = find_or_none(admin.identity.find_role, "member")
    project = find_or_none(
        admin.identity.find_project, name, domain_id="default"
    ) or admin.identity.create_project(
        name=name, domain_id="default", description="os-migrate workload tests"
    )
    user = find_or_none(
        admin.identity.find_user, f"{name}-member", domain_id="default"
    ) or admin.identity.create_user(
        name=f"{name}-member", password=PASSWORD, domain_id="default", default_project_id=project.id
    )
    if not admin.identity.validate_user_has_project_role(project, user, role):
        admin.identity.assign_project_role_to_user(project, user, role)
    admin.set_network_quotas(
        project.id,
        network=20,
        subnet=40,
        router=10,
        port=100,
        floatingip=20,
        security_group=50,
        security_group_rule=500,
    )
    admin.set_volume_quotas(project.id, volumes=40, snapshots=40, gigabytes=200)
    admin.set_compute_quotas(project.id, instances=20, cores=40, ram=51200)
    return project


def volume_status(conn, volume_id):
    try:
        return conn.block_storage.get_volume(volume_id).status
    except sdk_exc.NotFoundException:
        return None


def wait_volume(conn, volume_id, status, timeout=600):
    return wait_for(
        lambda: volume_status(conn, volume_id) == status and conn.block_storage.get_volume(volume_id),
        f"volume {volume_id} {status}",
        timeout,
    )


def wipe_workloads(conn) -> None:
    """Delete the servers, floating IPs, volumes, snapshots and own images of a project."""
    pid = conn.current_project_id
    servers = list(conn.compute.servers())
    for s in servers:
        conn.compute.delete_server(s, ignore_missing=True)
    for s in servers:
        conn.compute.wait_for_delete(s, wait=300)
    for fip in list(conn.network.ips(project_id=pid)):
        conn.network.delete_ip(fip, ignore_missing=True)
    for port in list(conn.network.ports(project_id=pid)):
        if not (port.device_owner or "").startswith("network:"):
            conn.network.delete_port(port, ignore_missing=True)
    vols = list(conn.block_storage.volumes())
    for v in vols:
        wait_for(
            lambda v=v: (
                volume_status(conn, v.id)
                not in ("in-use", "attaching", "detaching", "creating", "downloading", "uploading")
            ),
            f"volume {v.id} settled",
        )
        conn.block_storage.delete_volume(v, ignore_missing=True)
    for snap in list(conn.block_storage.snapshots()):
        conn.block_storage.delete_snapshot(snap, ignore_missing=True)
    for v in vols:
        wait_for(lambda v=v: volume_status(conn, v.id) is None, f"volume {v.id} deleted")
    for img in list(conn.image.images(owner=pid)):
        if img.name not in (PAYLOAD_IMAGE, HW_IMAGE):
            conn.image.delete_image(img, ignore_missing=True)


def ensure_networking(src) -> dict:
    """Network with two subnets behind a router to ``public``, security groups, keypairs."""
    net = src.network
    pid = src.current_project_id
    network = find_or_none(net.find_network, NET, project_id=pid) or net.create_network(name=NET)
    subnets = {}
    for name, cidr in ((SUB_A, "10.60.1.0/24"), (SUB_B, "10.60.2.0/24")):
        subnets[name] = find_or_none(net.find_subnet, name, project_id=pid) or net.create_subnet(
            name=name,
            network_id=network.id,
            cidr=cidr,
            ip_version=4,
            allocation_pools=[{"start": cidr.replace("0/24", "100"), "end": cidr.replace("0/24", "200")}],
        )
    router = find_or_none(net.find_router, ROUTER, project_id=pid)
    if router is None:
        public = net.find_network("public", ignore_missing=False)
        router = net.create_router(name=ROUTER, external_gateway_info={"network_id": public.id})
    attached = {
        f["subnet_id"]
        for p in net.ports(device_id=router.id, device_owner="network:router_interface")
        for f in p.fixed_ips
    }
    for subnet in subnets.values():
        if subnet.id not in attached:
            net.add_interface_to_router(router, subnet=subnet.id)
    groups = {}
    for name in (SG, BAD_SG):
        group = find_or_none(net.find_security_group, name, project_id=pid)
        if group is None:
            group = net.create_security_group(name=name, description=f"{name} test group")
            net.create_security_group_rule(
                security_group_id=group.id,
                direction="ingress",
                ether_type="IPv4",
                protocol="tcp",
                port_range_min=80,
                port_range_max=80,
                remote_ip_prefix="0.0.0.0/0",
            )
        groups[name] = group
    for name in (KEY, BAD_KEY):
        if find_or_none(src.compute.find_keypair, name) is None:
            src.compute.create_keypair(name=name, public_key=PUBLIC_KEY)
    return {"network": network, "subnets": subnets, "groups": groups}


def copy_networking(src, dst, data_dir: Path) -> None:
    """Pre-workload content src -> dst with os_migrate itself (not the test-only items)."""
    types = [
        "networks",
        "subnets",
        "routers",
        "router_interfaces",
        "security_groups",
        "security_group_rules",
        "keypairs",
    ]
    filters = {
        "networks": [NET],
        "subnets": [SUB_A, SUB_B],
        "routers": [ROUTER],
        "security_groups": [SG],
        "keypairs": [KEY],
    }
    os_migrate.export_resources(src, data_dir, types=types, filters=filters)
    os_migrate.import_resources(dst, data_dir, types=types, filters=filters)


def payload() -> bytes:
    return random.Random(20261129).randbytes(8 * MIB)


def hw_image_bytes() -> bytes:
    return random.Random(4242).randbytes(4 * MIB)


def expected_sha256(data: bytes, size: int = GIB) -> str:
    """sha256 of ``data`` followed by zeros up to ``size`` bytes (a volume made from it)."""
    h = hashlib.sha256(data)
    zeros = bytes(8 * MIB)
    left = size - len(data)
    while left > 0:
        h.update(zeros[: min(left, len(zeros))])
        left -= min(left, len(zeros))
    return h.hexdigest()


def ensure_image(src, name, data, **properties):
    """An active private raw image of the project holding ``data`` (idempotent)."""
    img = next(
        (i for i in src.image.images(owner=src.current_project_id, name=name) if i.status == "active"), None
    )
    if img is None:
        img = src.image.create_image(
            name=name,
            data=data,
            disk_format="raw",
            container_format="bare",
            visibility="private",
            allow_duplicates=True,
            **properties,
        )
    return img


def create_volume(conn, name, *, image_id=None, volume_type=None):
    kwargs = {
        "name": name,
        "size": 1,
        "description": f"{name} for workload tests",
        "metadata": {"purpose": "wl-test"},
    }
    if image_id:
        kwargs["image_id"] = image_id
    if volume_type:
        kwargs["volume_type"] = volume_type
    vol = conn.block_storage.create_volume(**kwargs)
    return wait_volume(conn, vol.id, "available")


def build_scenario(src, net) -> dict:
    """The three source servers (see module docstring); returns their SDK objects."""
    cirros = src.image.find_image("cirros", ignore_missing=False)
    flavor = src.compute.find_flavor("m1.tiny", ignore_missing=False)
    image = ensure_image(src, PAYLOAD_IMAGE, payload())
    hw_image = ensure_image(src, HW_IMAGE, hw_image_bytes(), **HW_PROPS)
    public = src.network.find_network("public", ignore_missing=False)
    # wl-vm-img
    port = src.network.create_port(
        name="wl-img-nic0",
        network_id=net["network"].id,
        security_group_ids=[net["groups"][SG].id],
        fixed_ips=[
            {"subnet_id": net["subnets"][SUB_A].id, "ip_address": "10.60.1.10"},
            {"subnet_id": net["subnets"][SUB_B].id, "ip_address": "10.60.2.10"},
        ],
        allowed_address_pairs=[{"ip_address": "10.60.1.250"}],
    )
    data1 = create_volume(src, "wl-data-1", image_id=image.id)
    vm_img = src.compute.create_server(
        name=VM_IMG,
        image_id=hw_image.id,
        flavor_id=flavor.id,
        networks=[{"port": port.id}],
        key_name=KEY,
        metadata={"role": "web", "tier": "front"},
        tags=["wl", "web"],
        description="image-booted test server",
        block_device_mapping=[
            {
                "boot_index": 0,
                "uuid": hw_image.id,
                "source_type": "image",
                "destination_type": "local",
                "delete_on_termination": True,
            },
            {
                "boot_index": -1,
                "uuid": data1.id,
                "source_type": "volume",
                "destination_type": "volume",
                "device_name": "/dev/vdb",
                "delete_on_termination": False,
            },
        ],
    )
    # wl-vm-bfv
    boot = create_volume(src, "wl-boot-2", image_id=cirros.id)
    src.block_storage.set_volume_image_metadata(boot, **HW_PROPS)
    data2 = create_volume(src, "wl-data-2", image_id=image.id, volume_type="fast")
    src.block_storage.set_volume_bootable_status(data2, False)
    vm_bfv = src.compute.create_server(
        name=VM_BFV,
        flavor_id=flavor.id,
        networks=[{"uuid": net["network"].id, "fixed_ip": "10.60.1.20"}],
        key_name=KEY,
        security_groups=[{"name": SG}],
        block_device_mapping=[
            {
                "boot_index": 0,
                "uuid": boot.id,
                "source_type": "volume",
                "destination_type": "volume",
                "device_name": "/dev/sda",
                "delete_on_termination": False,
            },
            {
                "boot_index": -1,
                "uuid": data2.id,
                "source_type": "volume",
                "destination_type": "volume",
                "device_name": "/dev/vdb",
                "delete_on_termination": False,
            },
        ],
    )
    # a volume attached to nothing
    create_volume(src, "wl-detached", volume_type="fast")
    # wl-vm-bad
    vm_bad = src.compute.create_server(
        name=VM_BAD,
        image_id=cirros.id,
        flavor_id=flavor.id,
        networks=[{"uuid": net["network"].id}],
        key_name=BAD_KEY,
        security_groups=[{"name": BAD_SG}],
    )
    servers = {}
    for s in (vm_img, vm_bfv, vm_bad):
        servers[s.name] = src.compute.wait_for_server(s, status="ACTIVE", wait=300)
    fip = src.network.create_ip(floating_network_id=public.id)
    src.network.update_ip(fip, port_id=port.id, fixed_ip_address="10.60.1.10")
    return {
        "servers": servers,
        "volumes": {"wl-data-1": data1, "wl-boot-2": boot, "wl-data-2": data2},
        "fip": fip,
        "port": port,
    }


def source_facts(src, server_id) -> dict:
    """What must not change in a source server (beyond its power state)."""
    s = src.compute.get_server(server_id)
    ports = sorted(src.network.ports(device_id=server_id), key=lambda p: p.id)
    return {
        "name": s.name,
        "metadata": s.metadata,
        "tags": sorted(s.tags or []),
        "flavor": s.flavor.original_name if hasattr(s.flavor, "original_name") else s.flavor,
        "key_name": s.key_name,
        "description": s.description,
        "ports": [(p.id, p.mac_address, sorted(f["ip_address"] for f in p.fixed_ips)) for p in ports],
        "fips": sorted(
            (f.floating_ip_address, f.port_id)
            for f in src.network.ips(project_id=src.current_project_id)
            if f.port_id in {p.id for p in ports}
        ),
        "volumes": sorted((a.volume_id, a.device) for a in src.compute.volume_attachments(s)),
    }


def leftovers(conn) -> list[str]:
    """Temporary resources (``osm-tmp-*``) left in a project."""
    pid = conn.current_project_id
    out = [
        f"image {i.name} {i.status}"
        for i in conn.image.images(owner=pid)
        if (i.name or "").startswith(TMP_PREFIX)
    ]
    out += [
        f"volume {v.name} {v.status}"
        for v in conn.block_storage.volumes()
        if (v.name or "").startswith(TMP_PREFIX)
    ]
    out += [
        f"snapshot {s.name} {s.status}"
        for s in conn.block_storage.snapshots()
        if (s.name or "").startswith(TMP_PREFIX)
    ]
    return out


def dst_volumes_of(dst, source_id) -> list:
    return [v for v in dst.block_storage.volumes() if (v.metadata or {}).get(SOURCE_ID_KEY) == source_id]


def read_volume_via_image(conn, server_id, volume_id) -> str:
    """sha256 of a destination volume's bytes through the API: detach, upload, download."""
    conn.compute.delete_volume_attachment(server_id, volume_id)
    wait_volume(conn, volume_id, "available")
    info = conn.block_storage.upload_volume_to_image(
        volume_id, f"wl-readback-{volume_id}", disk_format="raw", container_format="bare"
    )
    image_id = info["image_id"]
    try:
        wait_for(lambda: conn.image.get_image(image_id).status == "active", "read-back image active", 600)
        wait_volume(conn, volume_id, "available")
        h = hashlib.sha256()
        resp = conn.image.download_image(image_id, stream=True)
        for chunk in resp.iter_content(chunk_size=4 * MIB):
            h.update(chunk)
        return h.hexdigest()
    finally:
        conn.image.delete_image(image_id, ignore_missing=True)
        conn.compute.create_volume_attachment(server_id, volume=volume_id)
        wait_volume(conn, volume_id, "in-use")


def backing_file_sha256(volume_id) -> str:
    h = hashlib.sha256()
    with volume_file(volume_id).open("rb") as fh:
        while chunk := fh.read(8 * MIB):
            h.update(chunk)
    return h.hexdigest()


@pytest.fixture(scope="module")
def wl(tmp_path_factory):
    """The scenario: projects, networking copied to the destination, three source servers."""
    admin, dst_admin = connect("devcloud-admin"), connect(DST_ADMIN_CLOUD)
    ensure_project(admin, SRC)
    ensure_project(dst_admin, DST)
    src, dst = member(SRC), member(DST)
    wipe_workloads(dst)
    wipe_workloads(src)
    # what the pre-flight test expects missing (a previous session may have added it)
    if find_or_none(dst.compute.find_keypair, BAD_KEY) is not None:
        dst.compute.delete_keypair(BAD_KEY)
    for group in list(dst.network.security_groups(project_id=dst.current_project_id, name=BAD_SG)):
        dst.network.delete_security_group(group)
    net = ensure_networking(src)
    copy_networking(src, dst, tmp_path_factory.mktemp("pre-workload"))
    scenario = build_scenario(src, net)
    facts = {name: source_facts(src, s.id) for name, s in scenario["servers"].items()}
    data_dir = tmp_path_factory.mktemp("workloads")
    return SimpleNamespace(
        admin=admin,
        dst_admin=dst_admin,
        src=src,
        dst=dst,
        data_dir=data_dir,
        facts=facts,
        expected=expected_sha256(payload()),
        **scenario,
    )


def member_connection_json(project: str) -> str:
    """An ``openstack`` Airflow Connection (JSON, env form) for the member user of ``project``."""
    auth_url, region = auth_url_region(project)
    return json.dumps(
        {
            "conn_type": "openstack",
            "host": auth_url,
            "login": f"{project}-member",
            "password": PASSWORD,
            "extra": {
                "project_name": project,
                "user_domain_name": "Default",
                "project_domain_name": "Default",
                "region_name": region,
            },
        }
    )


def set_member_connection(monkeypatch, conn_id: str, project: str) -> None:
    """Airflow Connection ``conn_id`` (env form, as in prod) for the member user of ``project``."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", member_connection_json(project))


@pytest.fixture
def workloads_dag(airflow_db, monkeypatch):
    """The workloads DAG with Airflow Connections ``wl_src``/``wl_dst`` (env form, as in prod)."""
    from airflow.dag_processing.dagbag import DagBag

    set_member_connection(monkeypatch, "wl_src", SRC)
    set_member_connection(monkeypatch, "wl_dst", DST)
    bag = DagBag(dag_folder=str(REPO_ROOT / "dags" / "os_migrate_workloads.py"))
    return bag.dags["os_migrate_workloads"]


def run_dag(dag, wl, **conf):
    run = dag.test(
        run_conf={
            "tenant": "wl",
            "src_conn_id": "wl_src",
            "dst_conn_id": "wl_dst",
            "data_dir": str(wl.data_dir),
            **conf,
        }
    )
    states = {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}
    return run, states


def record_of(data_dir, name):
    return next(s for s in load_servers(data_dir) if s.name == name)


class WorkerKilled(BaseException):
    """Stands for SIGKILL of the worker: no ``except Exception`` handler runs."""


# -- export ----------------------------------------------------------------------------------------


def test_export_records_ports_fixed_ips_floating_ips_and_volumes(wl):
    summary = export_workloads(wl.src, wl.data_dir, servers=[{"regex": "^wl-vm-"}])

    assert summary["servers"] == [VM_BAD, VM_BFV, VM_IMG]
    img = record_of(wl.data_dir, VM_IMG)
    (port,) = img.ports
    assert [(f["subnet"]["name"], f["ip_address"]) for f in port["fixed_ips"]] == [
        (SUB_A, "10.60.1.10"),
        (SUB_B, "10.60.2.10"),
    ]
    assert port["mac_address"] == wl.port.mac_address
    assert port["allowed_address_pairs"] == [
        {"ip_address": "10.60.1.250", "mac_address": wl.port.mac_address}
    ]
    assert [sg["name"] for sg in port["security_groups"]] == [SG]
    assert img.floating_ips == [
        {
            "floating_ip_address": wl.fip.floating_ip_address,
            "fixed_ip_address": "10.60.1.10",
            "description": "",
            "floating_network": {"name": "public", "project_name": None, "domain_name": None},
        }
    ]
    assert img.params["image"]["name"] == HW_IMAGE
    assert (img.params["key_name"], img.params["metadata"], img.params["tags"]) == (
        KEY,
        {"role": "web", "tier": "front"},
        ["web", "wl"],
    )
    assert [(v["name"], v["device"], v["size"], v["boot_index"]) for v in img.volumes] == [
        ("wl-data-1", "/dev/vdb", 1, None)
    ]
    bfv = record_of(wl.data_dir, VM_BFV)
    assert bfv.params["image"] is None
    assert [(v["name"], v["device"], v["boot_index"], v["volume_type"]) for v in bfv.volumes] == [
        ("wl-boot-2", "/dev/sda", 0, "__DEFAULT__"),
        ("wl-data-2", "/dev/vdb", None, "fast"),
    ]
    assert {k: bfv.boot_volume()["volume_image_metadata"][k] for k in HW_PROPS} == HW_PROPS
    detached = load_detached_volumes(wl.data_dir)
    assert [(v.name, v.params["volume_type"], v.params["size"]) for v in detached] == [
        ("wl-detached", "fast", 1)
    ]


def test_server_booted_from_a_volume_of_an_unowned_image_exports(wl):
    cirros = wl.src.image.find_image("cirros", ignore_missing=False)
    assert cirros.owner != wl.src.current_project_id

    summary = export_workloads(wl.src, wl.data_dir, servers=[VM_BFV])

    assert summary["servers"] == [VM_BFV]
    boot = record_of(wl.data_dir, VM_BFV).boot_volume()
    assert boot["volume_image_metadata"]["image_name"] == "cirros"
    assert record_of(wl.data_dir, VM_BFV).info["boot_index_source"] == "bootable_volume"


# -- pre-flight ------------------------------------------------------------------------------------


def test_preflight_names_the_missing_keypair_and_group_and_changes_nothing(wl, workloads_dag):
    with (
        RequestCounter(wl.src) as src_requests,
        RequestCounter(wl.dst) as dst_requests,
        pytest.raises(ValidationError) as excinfo,
    ):
        preflight(wl.src, wl.dst, wl.data_dir, servers=[VM_BAD])
    errors = "\n".join(excinfo.value.errors)
    assert f"keypair '{BAD_KEY}' not found in the destination" in errors
    assert f"security group '{BAD_SG}' not found in the destination" in errors
    assert src_requests.writes == 0 and dst_requests.writes == 0

    run, states = run_dag(workloads_dag, wl, servers=[VM_BAD])

    assert run.state == "failed"
    assert states[("preflight", -1)] == "failed"
    assert not any(
        task.startswith("migrate_server.") and state == "success" for (task, _), state in states.items()
    )
    assert wl.src.compute.get_server(wl.servers[VM_BAD].id).status == "ACTIVE"
    assert not [s for s in wl.dst.compute.servers() if s.name == VM_BAD]


# -- the image-booted server, interrupted twice, then re-run by the DAG ----------------------------

IMG_OVERRIDES = {"boot_disk_copy": True, "boot_volume_params": {"volume_type": "fast"}}


def test_interrupted_copy_then_dag_rerun_converges(wl, workloads_dag, monkeypatch):
    src, dst = wl.src, wl.dst
    data1 = wl.volumes["wl-data-1"]
    preflight(src, dst, wl.data_dir, servers=[VM_IMG], overrides=IMG_OVERRIDES)
    assert (
        prepare_server(src, dst, wl.data_dir, VM_IMG, overrides=IMG_OVERRIDES)["source_status"] == "SHUTOFF"
    )

    # 1. On a source without force upload (the detach path), the worker dies right after asking
    #    Cinder to upload the detached data volume.
    from os_migrate.workload import disk_copy, migrate

    def detach_only_copier(method, src_conn, dst_conn, *, journal=None, **kwargs):
        return disk_copy.make_copier(method, src_conn, dst_conn, journal=journal, access_order=("detach",))

    real_upload = src.block_storage.upload_volume_to_image

    def dying_upload(volume, name, force=False, **kwargs):
        result = real_upload(volume, name, force=force, **kwargs)
        if not force:
            raise WorkerKilled()
        return result

    def dying_reattach(*args, **kwargs):
        raise WorkerKilled()

    with monkeypatch.context() as m:
        m.setattr(migrate, "make_copier", detach_only_copier)
        m.setattr(src.block_storage, "upload_volume_to_image", dying_upload)
        m.setattr(disk_copy, "reattach_volume", dying_reattach)
        with pytest.raises(WorkerKilled):
            copy_server_disks(src, dst, wl.data_dir, VM_IMG, overrides=IMG_OVERRIDES)
    assert not src.block_storage.get_volume(data1.id).attachments  # left detached
    state = json.loads((wl.data_dir / "workload_state" / f"{wl.servers[VM_IMG].id}.json").read_text())
    assert list(state["detached"]) == [data1.id]

    # 2. The stream from source to destination Glance is cut at 300 MiB; a killed upload of an
    #    earlier try also left a queued destination image behind.
    real_download = src.image.download_image

    def cut_download(image, stream=False, **kwargs):
        response = real_download(image, stream=stream, **kwargs)
        inner = response.iter_content

        def iter_content(chunk_size=1, **kw):
            sent = 0
            for chunk in inner(chunk_size=chunk_size, **kw):
                sent += len(chunk)
                if sent > 300 * MIB:
                    raise ConnectionResetError("connection reset mid-stream (simulated)")
                yield chunk

        response.iter_content = iter_content
        return response

    dst.image.create_image(
        name=f"{TMP_PREFIX}{data1.id}", disk_format="raw", container_format="bare", allow_duplicates=True
    )
    with monkeypatch.context() as m:
        m.setattr(src.image, "download_image", cut_download)
        with pytest.raises(Exception):
            copy_server_disks(src, dst, wl.data_dir, VM_IMG, overrides=IMG_OVERRIDES)
    assert [
        i.status
        for i in dst.image.images(owner=dst.current_project_id)
        if i.name == f"{TMP_PREFIX}{data1.id}"
    ] in ([], ["queued"])

    # 3. Re-run the whole wave through Airflow. The server steps defer their long waits (the
    #    default; copies wait in the worker unless deferrable, COPY_DEFERRABLE): each defers to the
    #    trigger, which dag.test runs inline, then the step runs again.
    from os_migrate_airflow.triggers.openstack import OpenStackResourceStatusTrigger

    events = []
    real_run = OpenStackResourceStatusTrigger.run

    async def spying_run(self):
        async for event in real_run(self):
            events.append((self.kind, event.payload["status"]))
            yield event

    monkeypatch.setattr(OpenStackResourceStatusTrigger, "run", spying_run)
    run, states = run_dag(workloads_dag, wl, servers=[VM_IMG], migration_params=IMG_OVERRIDES)
    assert run.state == "success", states
    # at least the destination server going ACTIVE deferred
    assert ("server", "done") in set(events), events
    assert all(status == "done" for _, status in events), events
    for step in ("prepare", "copy_disks", "create_server", "finalize"):
        assert states[(f"migrate_server.{step}", 0)] == "success"

    # One destination server, ACTIVE, same fixed IPs, the floating IP on the port owning them.
    (server,) = [s for s in dst.compute.servers() if s.name == VM_IMG]
    assert server.status == "ACTIVE"
    (port,) = list(dst.network.ports(device_id=server.id))
    assert sorted(f["ip_address"] for f in port.fixed_ips) == ["10.60.1.10", "10.60.2.10"]
    assert port.mac_address == wl.port.mac_address
    assert [p["ip_address"] for p in port.allowed_address_pairs] == ["10.60.1.250"]
    (fip,) = list(dst.network.ips(port_id=port.id))
    assert fip.fixed_ip_address == "10.60.1.10"
    assert (server.key_name, server.metadata["role"], sorted(server.tags)) == (KEY, "web", ["web", "wl"])

    # Root = boot volume made from the root disk (boot index 0), hw_* kept, type from params.
    admin_view = wl.dst_admin.compute.get_server(server.id)
    attachments = {a.device: a.volume_id for a in dst.compute.volume_attachments(server)}
    root = dst.block_storage.get_volume(attachments[admin_view.root_device_name])
    assert root.metadata[SOURCE_ID_KEY] == wl.servers[VM_IMG].id
    assert root.volume_type == "fast" and root.is_bootable
    assert {k: root.volume_image_metadata.get(k) for k in HW_PROPS} == HW_PROPS
    assert backing_file_sha256(root.id) == expected_sha256(hw_image_bytes())

    # The data volume: same bytes as the source, read back through the API.
    (data_copy,) = dst_volumes_of(dst, data1.id)
    assert data_copy.metadata[SHA256_KEY] == wl.expected
    assert backing_file_sha256(data1.id) == wl.expected
    assert read_volume_via_image(dst, server.id, data_copy.id) == wl.expected

    # Nothing temporary left anywhere; the source volume is attached again; source stopped.
    assert leftovers(src) == [] and leftovers(dst) == []
    assert [a["server_id"] for a in src.block_storage.get_volume(data1.id).attachments] == [
        wl.servers[VM_IMG].id
    ]
    assert src.compute.get_server(wl.servers[VM_IMG].id).status == "SHUTOFF"


def test_rerunning_a_migrated_server_creates_no_duplicates(wl):
    src, dst = wl.src, wl.dst
    before = (
        len(list(dst.compute.servers())),
        len(list(dst.block_storage.volumes())),
        len(list(dst.network.ports(project_id=dst.current_project_id))),
        len(list(dst.network.ips(project_id=dst.current_project_id))),
        len(list(dst.image.images(owner=dst.current_project_id))),
    )

    result = migrate_server(src, dst, wl.data_dir, VM_IMG, overrides=IMG_OVERRIDES)

    assert result["result"] == "migrated" and "copies" not in result
    after = (
        len(list(dst.compute.servers())),
        len(list(dst.block_storage.volumes())),
        len(list(dst.network.ports(project_id=dst.current_project_id))),
        len(list(dst.network.ips(project_id=dst.current_project_id))),
        len(list(dst.image.images(owner=dst.current_project_id))),
    )
    assert after == before
    assert len(dst_volumes_of(dst, wl.volumes["wl-data-1"].id)) == 1


# -- the server booted from volume -----------------------------------------------------------------


def test_boot_from_volume_server_keeps_root_metadata_type_and_bytes(wl):
    src, dst = wl.src, wl.dst
    bfv = wl.servers[VM_BFV]
    boot, data2 = wl.volumes["wl-boot-2"], wl.volumes["wl-data-2"]
    assert {a.volume_id for a in src.compute.volume_attachments(bfv)} == {boot.id, data2.id}
    preflight(src, dst, wl.data_dir, servers=[VM_BFV])

    migrate_server(src, dst, wl.data_dir, VM_BFV)

    (server,) = [s for s in dst.compute.servers() if s.name == VM_BFV]
    assert server.status == "ACTIVE"
    admin_view = wl.dst_admin.compute.get_server(server.id)
    attachments = {a.device: a.volume_id for a in dst.compute.volume_attachments(server)}
    root = dst.block_storage.get_volume(attachments[admin_view.root_device_name])
    assert admin_view.root_device_name == "/dev/sda"
    assert root.metadata[SOURCE_ID_KEY] == boot.id
    assert root.volume_type == "__DEFAULT__"
    assert {k: root.volume_image_metadata.get(k) for k in HW_PROPS} == HW_PROPS
    assert backing_file_sha256(root.id) == backing_file_sha256(boot.id)
    (data_copy,) = dst_volumes_of(dst, data2.id)
    assert data_copy.volume_type == "fast"
    assert backing_file_sha256(data_copy.id) == wl.expected
    assert leftovers(src) == [] and leftovers(dst) == []


# -- Nova port mode, recreated from the destination image ------------------------------------------


def test_after_fixing_the_preflight_cause_nova_mode_recreates_from_the_image(wl):
    src, dst = wl.src, wl.dst
    dst.compute.create_keypair(name=BAD_KEY, public_key=PUBLIC_KEY)
    dst.network.create_security_group(name=BAD_SG, description="made by hand in the destination")
    overrides = {"port_creation_mode": "nova"}
    preflight(src, dst, wl.data_dir, servers=[VM_BAD], overrides=overrides)

    result = migrate_server(src, dst, wl.data_dir, VM_BAD, overrides=overrides)

    assert result["result"] == "migrated"
    (server,) = [s for s in dst.compute.servers() if s.name == VM_BAD]
    cirros = dst.image.find_image("cirros", ignore_missing=False)
    assert server.status == "ACTIVE" and server.image["id"] == cirros.id
    assert server.key_name == BAD_KEY
    (src_port,) = wl.facts[VM_BAD]["ports"]
    (port,) = list(dst.network.ports(device_id=server.id))
    assert sorted(f["ip_address"] for f in port.fixed_ips) == src_port[2]
    assert [sg["name"] for sg in server.security_groups] == [BAD_SG]


# -- the sources -----------------------------------------------------------------------------------


def test_source_servers_were_never_deleted_or_changed_beyond_the_stop(wl):
    for name, before in wl.facts.items():
        server = wl.src.compute.get_server(wl.servers[name].id)
        after = source_facts(wl.src, server.id)
        # A volume detached for the upload is attached back; Nova may pick another device name.
        assert [v for v, _ in after.pop("volumes")] == [v for v, _ in before["volumes"]], name
        assert after == {k: v for k, v in before.items() if k != "volumes"}, name
        expected = (
            "ACTIVE"
            if name == VM_BFV and not [s for s in wl.dst.compute.servers() if s.name == VM_BFV]
            else "SHUTOFF"
        )
        assert server.status == expected, name


# -- a server in a server group --------------------------------------------------------------------

GROUP_VM, GROUP = "wl-grp-vm", "wl-grp"


def test_a_server_joins_the_destination_group_of_the_same_name(wl):
    src, dst = wl.src, wl.dst
    for conn in (src, dst):
        for g in conn.compute.server_groups():
            if g.name == GROUP:
                conn.compute.delete_server_group(g)
    src_group = src.compute.create_server_group(name=GROUP, policy="soft-affinity")
    vm = src.compute.create_server(
        name=GROUP_VM,
        image_id=src.image.find_image("cirros", ignore_missing=False).id,
        flavor_id=src.compute.find_flavor("m1.tiny", ignore_missing=False).id,
        networks=[{"uuid": src.network.find_network(NET, ignore_missing=False).id, "fixed_ip": "10.60.1.30"}],
        scheduler_hints={"group": src_group.id},
    )
    src.compute.wait_for_server(vm, status="ACTIVE", wait=300)

    export_workloads(src, wl.data_dir, servers=[GROUP_VM])
    record = record_of(wl.data_dir, GROUP_VM)
    assert record.params["server_group"]["name"] == GROUP

    with pytest.raises(ValidationError) as excinfo:
        preflight(src, dst, wl.data_dir, servers=[GROUP_VM])
    assert excinfo.value.errors == [
        f"server {GROUP_VM!r}: params.server_group: server group {GROUP!r} not found in the destination"
    ]
    assert not [s for s in dst.compute.servers() if s.name == GROUP_VM]

    dst_group = dst.compute.create_server_group(name=GROUP, policy="soft-affinity")
    preflight(src, dst, wl.data_dir, servers=[GROUP_VM])
    assert migrate_server(src, dst, wl.data_dir, GROUP_VM)["result"] == "migrated"

    (server,) = [s for s in dst.compute.servers() if s.name == GROUP_VM]
    assert dst.compute.get_server_group(dst_group.id).member_ids == [server.id]
    assert dst.compute.get_server(server.id).server_groups == [dst_group.id]
