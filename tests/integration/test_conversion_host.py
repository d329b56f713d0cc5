"""Copy method ``conversion_host`` on the real local cloud: disks go host to host over SSH.

Projects ``ch-src``/``ch-dst`` (member users, like the workload tests), networking copied with the
pre-workload import. One conversion host per project (a devcloud server booted from an image with
``os_migrate_conversion_host=true``: a real sshd in its own network namespace, attached volumes as
loop devices), reached at its fixed IP on ``public`` with a keypair made here and the host key read
from its console log. Source servers:

- ``ch-vm-bfv``: booted from a volume made from ``cirros``, with a 1 GiB data volume ``ch-data``
  holding three random extents (the rest never written) and volume metadata;
- ``ch-vm-img``: booted from an image of known bytes, migrated with ``boot_disk_copy``.

Bytes are checked independently of the tool: the destination volumes' Cinder backing files are
hashed here and compared with hashes computed here from the known extents.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from os_migrate.cloud import find_or_none
from os_migrate.exceptions import ValidationError
from os_migrate.workload import export_workloads, migrate_server, preflight, prepare_server
from os_migrate.workload.cloudops import SHA256_KEY, SOURCE_ID_KEY
from os_migrate.workload.conversion_host import HostAccess, HostSession

from .conftest import connect, wait_for
from .test_workloads import (
    GIB,
    HW_IMAGE,
    HW_PROPS,
    MIB,
    NFS_EXPORT,
    backing_file_sha256,
    copy_networking,
    create_volume,
    ensure_image,
    ensure_networking,
    ensure_project,
    expected_sha256,
    hw_image_bytes,
    leftovers,
    member,
    set_member_connection,
    wipe_workloads,
)

SRC, DST = "ch-src", "ch-dst"
BFV, IMG = "ch-vm-bfv", "ch-vm-img"
HOST, HOST_IMAGE, HOST_KEY = "ch-host", "ch-convhost", "ch-host-key"
#: (offset, length) of the random extents of ``ch-data``; everything else is never written.
EXTENTS = ((0, 4 * MIB), (300 * MIB, 8 * MIB), (GIB - 2 * MIB, 2 * MIB))


def keypair() -> tuple[str, str]:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, public.decode()


def write_key(path: Path, private: str) -> str:
    path.write_text(private)
    path.chmod(0o600)
    return str(path)


def host_key_from_console(conn, server) -> str:
    out = conn.compute.get_server_console_output(server)["output"]
    block = re.search(r"-----BEGIN SSH HOST KEY KEYS-----\n(.*?)-----END SSH HOST KEY KEYS-----", out, re.S)
    assert block, out
    return " ".join(block.group(1).split()[:2])


def extent_bytes() -> list[bytes]:
    rng = random.Random(20261203)
    return [rng.randbytes(length) for _, length in EXTENTS]


def sparse_sha256(size: int = GIB) -> str:
    """sha256 of a ``size``-byte disk holding :data:`EXTENTS` and zeros elsewhere."""
    h = hashlib.sha256()
    pos = 0
    zeros = bytes(8 * MIB)
    for (offset, _), data in zip(EXTENTS, extent_bytes()):
        while pos < offset:
            n = min(offset - pos, len(zeros))
            h.update(zeros[:n])
            pos += n
        h.update(data)
        pos += len(data)
    while pos < size:
        n = min(size - pos, len(zeros))
        h.update(zeros[:n])
        pos += n
    return h.hexdigest()


def boot_host(conn, public_net, key_dir: Path, side: str) -> dict:
    """The project's conversion host (made fresh): its settings for ``copy_settings``."""
    image = ensure_image(conn, HOST_IMAGE, b"\0" * MIB, os_migrate_conversion_host="true")
    if find_or_none(conn.compute.find_keypair, HOST_KEY) is not None:
        conn.compute.delete_keypair(HOST_KEY)
    private, public = keypair()
    conn.compute.create_keypair(name=HOST_KEY, public_key=public)
    server = conn.compute.create_server(
        name=HOST,
        image_id=image.id,
        flavor_id=conn.compute.find_flavor("m1.tiny", ignore_missing=False).id,
        key_name=HOST_KEY,
        networks=[{"uuid": public_net.id}],
    )
    server = conn.compute.wait_for_server(server, status="ACTIVE", wait=300)
    return {
        "server": HOST,
        "address": server.addresses["public"][0]["addr"],
        "host_key": host_key_from_console(conn, server),
        "private_key_file": write_key(key_dir / f"{side}-host", private),
    }


def host_processes(conn) -> list[str]:
    """Command lines of the processes in the project's conversion host, sshd listener excepted."""
    server = find_or_none(conn.compute.find_server, HOST)
    ns = f"dcch-{server.id}"
    pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
    out = []
    for pid in pids:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        if "sshd" not in cmd:
            out.append(cmd)
    return out


def host_leftovers(ch) -> list[str]:
    """Anything a copy left on the hosts: processes, work dirs, temporary keys, attachments."""
    out = []
    for side in ("src", "dst"):
        conn = getattr(ch, side)
        out += [f"{side} process: {c}" for c in host_processes(conn)]
        session = HostSession(HostAccess.from_settings(ch.settings[f"{side}_host"], side=side))
        try:
            _, listing, _ = session.run(
                "ls /run/os-migrate 2>/dev/null; grep -c os-migrate- ~/.ssh/authorized_keys"
            )
        finally:
            session.close()
        lines = listing.split()
        out += [f"{side} workdir {d}" for d in lines[:-1]]
        if lines and lines[-1] != "0":
            out.append(f"{side}: {lines[-1]} temporary key(s) in authorized_keys")
        host = find_or_none(conn.compute.find_server, HOST)
        out += [f"{side} attachment {a.volume_id}" for a in conn.compute.volume_attachments(host)]
    return out


@pytest.fixture(scope="module")
def ch(tmp_path_factory):
    admin = connect("devcloud-admin")
    for name in (SRC, DST):
        ensure_project(admin, name)
    src, dst = member(SRC), member(DST)
    wipe_workloads(dst)
    wipe_workloads(src)
    net = ensure_networking(src)
    copy_networking(src, dst, tmp_path_factory.mktemp("ch-pre-workload"))
    public = src.network.find_network("public", ignore_missing=False)
    key_dir = tmp_path_factory.mktemp("ch-keys")
    settings = {
        "src_host": boot_host(src, public, key_dir, "src"),
        "dst_host": boot_host(dst, public, key_dir, "dst"),
        "progress_interval": 1,
    }
    # the source servers
    data = create_volume(src, "ch-data")
    src.block_storage.set_volume_metadata(data, purpose="ch-test", owner="team-a")
    with open(NFS_EXPORT / f"volume-{data.id}", "r+b") as f:
        for (offset, _), chunk in zip(EXTENTS, extent_bytes()):
            f.seek(offset)
            f.write(chunk)
    cirros = src.image.find_image("cirros", ignore_missing=False)
    boot = create_volume(src, "ch-boot", image_id=cirros.id)
    flavor = src.compute.find_flavor("m1.tiny", ignore_missing=False)
    bfv = src.compute.create_server(
        name=BFV,
        flavor_id=flavor.id,
        networks=[{"uuid": net["network"].id}],
        block_device_mapping=[
            {"boot_index": 0, "uuid": boot.id, "source_type": "volume", "destination_type": "volume",
             "device_name": "/dev/vda", "delete_on_termination": False},
            {"boot_index": -1, "uuid": data.id, "source_type": "volume", "destination_type": "volume",
             "device_name": "/dev/vdb", "delete_on_termination": False},
        ],
    )  # fmt: skip
    hw_image = ensure_image(src, HW_IMAGE, hw_image_bytes(), **HW_PROPS)
    img = src.compute.create_server(
        name=IMG, image_id=hw_image.id, flavor_id=flavor.id, networks=[{"uuid": net["network"].id}]
    )
    servers = {s.name: src.compute.wait_for_server(s, status="ACTIVE", wait=300) for s in (bfv, img)}
    data_dir = tmp_path_factory.mktemp("ch-workloads")
    export_workloads(src, data_dir, servers=[BFV, IMG])
    return SimpleNamespace(
        admin=admin,
        src=src,
        dst=dst,
        data_dir=data_dir,
        key_dir=key_dir,
        settings=settings,
        servers=servers,
        volumes={"data": data, "boot": boot},
        boot_sha=backing_file_sha256(boot.id),
    )


def overrides(settings: dict) -> dict:
    return {"copy_method": "conversion_host", "copy_settings": settings, "boot_disk_copy": True}


def test_preflight_names_the_host_and_the_problem_before_any_stop(ch):
    other_private, other_public = keypair()
    wrong_key = dict(ch.settings["dst_host"], private_key_file=write_key(ch.key_dir / "wrong", other_private))
    changed = dict(ch.settings["src_host"], host_key=" ".join(other_public.split()[:2]))
    cases = [
        ({"dst_host": wrong_key}, f"destination host {HOST} ({wrong_key['address']}): it refuses the key"),
        ({"src_host": changed}, f"source host {HOST} ({changed['address']}): its host key changed"),
    ]
    for change, message in cases:
        with pytest.raises(ValidationError) as err:
            preflight(
                ch.src, ch.dst, ch.data_dir, servers=[BFV], overrides=overrides({**ch.settings, **change})
            )
        assert message in str(err.value), str(err.value)

    # a host without nbdkit: hidden in the destination host's own mount namespace only
    session = HostSession(HostAccess.from_settings(ch.settings["dst_host"], side="dst"))
    try:
        path = session.check("command -v nbdkit", what="locate").strip()
        session.check(f"mount --bind /bin/false {path}", what="hide nbdkit")
        try:
            with pytest.raises(ValidationError) as err:
                preflight(ch.src, ch.dst, ch.data_dir, servers=[BFV], overrides=overrides(ch.settings))
            assert (
                f"destination host {HOST} ({ch.settings['dst_host']['address']}): missing tool(s): nbdkit"
                in str(err.value)
            )
        finally:
            session.check(f"umount {path}", what="unhide nbdkit")
    finally:
        session.close()

    report = preflight(ch.src, ch.dst, ch.data_dir, servers=[BFV, IMG], overrides=overrides(ch.settings))
    assert sorted(report["migrate"]) == [BFV, IMG]
    for server in ch.servers.values():  # nothing was stopped
        assert ch.src.compute.get_server(server.id).status == "ACTIVE"


def test_servers_migrate_through_conversion_hosts_sparse_and_verified(ch):
    results = {
        name: migrate_server(ch.src, ch.dst, ch.data_dir, name, overrides=overrides(ch.settings))
        for name in (BFV, IMG)
    }
    for result in results.values():
        assert result["result"] == "migrated", result
        assert {c["method"] for c in result["copies"]} == {"conversion_host"}

    by_source = {}
    for vol in ch.dst.block_storage.volumes():
        by_source.setdefault((vol.metadata or {}).get(SOURCE_ID_KEY), []).append(vol)
    # one destination volume per source disk
    data, boot = ch.volumes["data"], ch.volumes["boot"]
    img_id = ch.servers[IMG].id
    for source_id in (data.id, boot.id, img_id):
        assert len(by_source.get(source_id, [])) == 1, (source_id, by_source.get(source_id))
    dst_data = by_source[data.id][0]
    dst_boot = by_source[boot.id][0]
    dst_img_boot = by_source[img_id][0]

    # the bytes: sparse data volume = the known extents and zeros; boot volumes = their sources
    want = sparse_sha256()
    assert dst_data.metadata[SHA256_KEY] == want
    assert backing_file_sha256(dst_data.id) == want
    assert backing_file_sha256(dst_boot.id) == ch.boot_sha == dst_boot.metadata[SHA256_KEY]
    assert dst_img_boot.metadata[SHA256_KEY] == expected_sha256(hw_image_bytes())
    assert backing_file_sha256(dst_img_boot.id) == expected_sha256(hw_image_bytes())
    # holes read as zeros through the file, and only the data crossed the wire
    with open(NFS_EXPORT / f"volume-{dst_data.id}", "rb") as f:
        f.seek(100 * MIB)
        assert f.read(MIB) == bytes(MIB)
    copies = {c["volume_id"]: c for r in results.values() for c in r["copies"]}
    data_copy = copies[dst_data.id]
    assert 14 * MIB <= data_copy["bytes"] < 0.1 * GIB, data_copy  # 14 MiB of data in a 1 GiB disk

    # metadata kept, bootable flags, image metadata
    assert dst_data.metadata["purpose"] == "ch-test" and dst_data.metadata["owner"] == "team-a"
    assert dst_boot.is_bootable and not dst_data.is_bootable
    assert {k: dst_img_boot.volume_image_metadata[k] for k in HW_PROPS} == HW_PROPS

    # the servers run on them; nothing left on the hosts or in the source
    for name in (BFV, IMG):
        server = find_or_none(ch.dst.compute.find_server, name)
        assert ch.dst.compute.get_server(server.id).status == "ACTIVE"
    assert host_leftovers(ch) == []
    assert leftovers(ch.src) == []
    attached = {a.volume_id for a in ch.src.compute.volume_attachments(ch.servers[BFV])}
    assert attached == {boot.id, data.id}
    # the source volume is unchanged
    assert backing_file_sha256(data.id) == want

    # idempotent: a second run copies nothing
    again = migrate_server(ch.src, ch.dst, ch.data_dir, BFV, overrides=overrides(ch.settings))
    assert again["result"] == "migrated"
    assert (
        len([v for v in ch.dst.block_storage.volumes() if (v.metadata or {}).get(SOURCE_ID_KEY) == data.id])
        == 1
    )
    wait_for(lambda: host_leftovers(ch) == [], "no leftovers on the hosts", timeout=10)


def test_detached_volumes_migrate_with_either_method(ch):
    """Detached sparse volumes: through the conversion hosts (nbdcopy, and qemu-img), and through the
    image APIs."""
    from os_migrate.workload.volumes import migrate_volume

    made = {}
    for name in ("ch-detached-ch", "ch-detached-img", "ch-detached-qemu"):
        vol = create_volume(ch.src, name)
        ch.src.block_storage.set_volume_metadata(vol, purpose="detached", origin=name)
        with open(NFS_EXPORT / f"volume-{vol.id}", "r+b") as f:
            for (offset, _), chunk in zip(EXTENTS, extent_bytes()):
                f.seek(offset)
                f.write(chunk)
        made[name] = vol
    export_workloads(ch.src, ch.data_dir, servers=[BFV, IMG])
    methods = {
        "ch-detached-ch": overrides(ch.settings),
        "ch-detached-img": {"copy_method": "image"},
        # the fallback where a host lacks nbdcopy
        "ch-detached-qemu": overrides({**ch.settings, "tool": "qemu-img"}),
    }
    want = sparse_sha256()
    for name, vol in made.items():
        result = migrate_volume(ch.src, ch.dst, ch.data_dir, name, overrides=methods[name])
        assert result["result"] == "migrated", result
        assert result["copy"]["method"] == methods[name]["copy_method"]
        (copy,) = [
            v for v in ch.dst.block_storage.volumes() if (v.metadata or {}).get(SOURCE_ID_KEY) == vol.id
        ]
        assert copy.name == name and copy.status == "available" and not copy.attachments
        assert copy.metadata[SHA256_KEY] == want == backing_file_sha256(copy.id)
        assert (copy.metadata["purpose"], copy.metadata["origin"]) == ("detached", name)
        again = migrate_volume(ch.src, ch.dst, ch.data_dir, name, overrides=methods[name])
        assert again["result"] == "done" and again["destination_id"] == copy.id
        assert ch.src.block_storage.get_volume(vol.id).status == "available"  # the source untouched
        assert backing_file_sha256(vol.id) == want
    assert host_leftovers(ch) == []
    assert leftovers(ch.src) == [] and leftovers(ch.dst) == []


KILL = "ch-vm-kill"


def dense_volume(conn, name: str, size_gib: int, data_mib: int) -> tuple:
    """A volume whose first ``data_mib`` MiB are random; returns (volume, sha256 of all its bytes)."""
    vol = conn.block_storage.create_volume(name=name, size=size_gib, metadata={"purpose": "ch-kill"})
    vol = conn.block_storage.wait_for_status(vol, "available", wait=300)
    h = hashlib.sha256()
    with open(NFS_EXPORT / f"volume-{vol.id}", "r+b") as f:
        for _ in range(data_mib // 64):
            chunk = random.randbytes(64 * MIB)
            f.write(chunk)
            h.update(chunk)
    zeros = bytes(64 * MIB)
    for _ in range((size_gib * GIB - data_mib * MIB) // len(zeros)):
        h.update(zeros)
    return vol, h.hexdigest()


def airflow_connections(monkeypatch, ch) -> None:
    """``ch_src``/``ch_dst`` (openstack) and ``ch_src_host``/``ch_dst_host`` (ssh) in env form."""
    for side, project in (("src", SRC), ("dst", DST)):
        set_member_connection(monkeypatch, f"ch_{side}", project)
        host = ch.settings[f"{side}_host"]
        monkeypatch.setenv(
            f"AIRFLOW_CONN_CH_{side.upper()}_HOST",
            json.dumps(
                {
                    "conn_type": "ssh",
                    "host": host["address"],
                    "login": "root",
                    "extra": {
                        "private_key": Path(host["private_key_file"]).read_text(),
                        "host_key": host["host_key"],
                        "server": host["server"],
                    },
                }
            ),
        )


KILLED_COPY = """
import json, sys
import openstack
from os_migrate.workload import copy_server_disks
args = json.loads(sys.argv[1])
def member(project):
    return openstack.connection.Connection(auth_type="password", region_name="RegionOne", auth={
        "auth_url": args["auth_url"], "username": project + "-member", "password": args["password"],
        "project_name": project, "user_domain_name": "Default", "project_domain_name": "Default"})
copy_server_disks(member(args["src"]), member(args["dst"]), args["data_dir"], args["server"],
                  overrides=args["overrides"])
"""


def test_killed_copy_then_dag_rerun_converges_without_leaks(ch, airflow_db, monkeypatch, caplog, tmp_path):
    """SIGKILL of the copying process mid-stream; the DAG (SSH Connections) then converges."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    from .conftest import REPO_ROOT
    from .test_workloads import AUTH_URL, PASSWORD

    src, dst = ch.src, ch.dst
    big, want = dense_volume(src, "ch-big", 2, 1536)
    cirros = src.image.find_image("cirros", ignore_missing=False)
    server = src.compute.create_server(
        name=KILL,
        image_id=cirros.id,
        flavor_id=src.compute.find_flavor("m1.tiny", ignore_missing=False).id,
        networks="none",
        block_device_mapping=[
            {"boot_index": 0, "uuid": cirros.id, "source_type": "image", "destination_type": "local",
             "delete_on_termination": True},
            {"boot_index": -1, "uuid": big.id, "source_type": "volume", "destination_type": "volume",
             "device_name": "/dev/vdb", "delete_on_termination": False},
        ],
    )  # fmt: skip
    server = src.compute.wait_for_server(server, status="ACTIVE", wait=300)
    export_workloads(src, ch.data_dir, servers=[KILL])
    prepare_server(src, dst, ch.data_dir, KILL, overrides=overrides(ch.settings))

    # 1. the copy runs in its own process, which is SIGKILLed while nbdcopy streams
    args = {
        "auth_url": AUTH_URL,
        "password": PASSWORD,
        "src": SRC,
        "dst": DST,
        "data_dir": str(ch.data_dir),
        "server": KILL,
        "overrides": overrides(ch.settings),
    }
    proc = subprocess.Popen([sys.executable, "-c", KILLED_COPY, json.dumps(args)])
    try:
        wait_for(
            lambda: (
                any("nbdcopy" in c and big.id[:20] in c for c in host_processes(src))
                or proc.poll() is not None
            ),
            "nbdcopy streaming ch-big on the source host",
            timeout=300,
            interval=0.2,
        )
        time.sleep(0.5)
        assert proc.poll() is None, "the copy finished before it could be killed; make the disk bigger"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert host_leftovers(ch)  # the killed process could not clean up: this is what the re-run must fix

    # 2. the whole wave again through Airflow, hosts given as SSH Connections
    airflow_connections(monkeypatch, ch)
    dag = DagBag(dag_folder=str(REPO_ROOT / "dags" / "os_migrate_workloads.py")).dags["os_migrate_workloads"]
    caplog.set_level(logging.INFO)
    run = dag.test(
        run_conf={
            "tenant": "ch",
            "src_conn_id": "ch_src",
            "dst_conn_id": "ch_dst",
            "data_dir": str(ch.data_dir),
            "servers": [KILL],
            "migration_params": {"boot_disk_copy": True},
            "copy_method": "conversion_host",
            "src_host_conn_id": "ch_src_host",
            "dst_host_conn_id": "ch_dst_host",
        }
    )
    states = {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states

    # one destination volume per source volume, verified; nothing left on the hosts or clouds
    (copy,) = [v for v in dst.block_storage.volumes() if (v.metadata or {}).get(SOURCE_ID_KEY) == big.id]
    assert copy.metadata[SHA256_KEY] == want == backing_file_sha256(copy.id)
    assert copy.metadata["purpose"] == "ch-kill"
    assert host_leftovers(ch) == []
    assert leftovers(src) == []
    assert [a["server_id"] for a in src.block_storage.get_volume(big.id).attachments] == [server.id]
    assert backing_file_sha256(big.id) == want  # the source was only read

    # 3. no private key in the staged data, XCom or the task logs
    secrets = [
        line
        for side in ("src", "dst")
        for line in Path(ch.settings[f"{side}_host"]["private_key_file"]).read_text().splitlines()
        if line and not line.startswith("-----")
    ]
    staged = [p.read_text(errors="replace") for p in Path(ch.data_dir).rglob("*") if p.is_file()]
    with create_session() as session:
        xcoms = [str(x.value) for x in session.query(XComModel).filter(XComModel.run_id == run.run_id)]
    assert xcoms and staged
    for secret in secrets:
        assert not any(secret in text for text in staged + xcoms + [caplog.text])


def test_dag_with_managed_hosts_deploys_copies_and_removes_them(ch, airflow_db, monkeypatch, tmp_path):
    """conversion_hosts=managed: the run deploys a host per project, copies, and its teardown removes them."""
    from airflow.dag_processing.dagbag import DagBag

    from .conftest import REPO_ROOT

    src, dst = ch.src, ch.dst
    data = create_volume(src, "ch-managed-data")
    with open(NFS_EXPORT / f"volume-{data.id}", "r+b") as f:
        for (offset, _), chunk in zip(EXTENTS, extent_bytes()):
            f.seek(offset)
            f.write(chunk)
    export_workloads(src, ch.data_dir, servers=[BFV])
    airflow_connections(monkeypatch, ch)
    monkeypatch.setenv("OS_MIGRATE_KEY_DIR", str(tmp_path / "keys"))
    dag = DagBag(dag_folder=str(REPO_ROOT / "dags" / "os_migrate_workloads.py")).dags["os_migrate_workloads"]
    run = dag.test(
        run_conf={
            "tenant": "chm",
            "src_conn_id": "ch_src",
            "dst_conn_id": "ch_dst",
            "data_dir": str(ch.data_dir),
            "servers": [],
            "volumes": ["ch-managed-data"],
            "copy_method": "conversion_host",
            "conversion_hosts": "managed",
            "host_image": HOST_IMAGE,
            "host_flavor": "m1.tiny",
            "host_network": "public",
            "host_allow_from": ["172.24.4.0/24"],
        }
    )
    states = {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    assert states[("deploy_conversion_hosts", -1)] == "success"
    assert states[("remove_conversion_hosts", -1)] == "success"
    (copy,) = [v for v in dst.block_storage.volumes() if (v.metadata or {}).get(SOURCE_ID_KEY) == data.id]
    assert copy.metadata[SHA256_KEY] == sparse_sha256() == backing_file_sha256(copy.id)
    # the teardown removed everything it made, in both projects, and the keys
    for conn in (src, dst):
        assert [s.name for s in conn.compute.servers() if s.name.startswith("osm-convhost-")] == []
        assert [k.name for k in conn.compute.keypairs() if k.name.startswith("osm-convhost-")] == []
        assert [
            g.name
            for g in conn.network.security_groups(project_id=conn.current_project_id)
            if g.name.startswith("osm-convhost-")
        ] == []
        assert [
            p.name
            for p in conn.network.ports(project_id=conn.current_project_id)
            if p.name.startswith("osm-convhost-")
        ] == []
    assert not any((tmp_path / "keys").rglob("*.key"))
    assert leftovers(src) == []
