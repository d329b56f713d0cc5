"""The local cloud's data plane: conversion hosts are real SSH hosts with real block devices.

A server booted from an image with the property ``os_migrate_conversion_host=true`` becomes a
network namespace with a real sshd (devcloud/convhost.py, built by the devcloud's Nova driver).
Everything here goes through openstacksdk and SSH (paramiko) as a migration tool would; only the
volume's known bytes are written straight into its Cinder backing file, and the leftover checks
look at the machine (namespaces, processes, loop devices).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import subprocess
import uuid
from pathlib import Path

import paramiko
import psutil
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from os_migrate.cloud import find_or_none

from .conftest import CLOUDS_YAML, connect, wait_for
from .test_devcloud import assert_devcloud_routes_and_listeners_stay_local

DEVCLOUD_HOME = Path(os.environ.get("DEVCLOUD_HOME", CLOUDS_YAML.parent))
MARKER = "os_migrate_conversion_host"
MIB = 1024 * 1024
GIB = 1024 * MIB


def new_keypair():
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, public.decode()


def host_key_from_console(conn, server) -> tuple[str, str]:
    """(type, base64) of the host key that the console log shows, as cloud-init prints it."""
    out = conn.compute.get_server_console_output(server)["output"]
    block = re.search(r"-----BEGIN SSH HOST KEY KEYS-----\n(.*?)-----END SSH HOST KEY KEYS-----", out, re.S)
    assert block, out
    keytype, blob = block.group(1).split()[:2]
    return keytype, blob


class Host:
    """A booted conversion host: server, address, key material, an SSH session."""

    def __init__(self, conn, server, private_key: str):
        self.conn = conn
        self.server = server
        self.private_key = private_key
        self.ip = server.addresses["public"][0]["addr"]
        self.keytype, self.hostkey = host_key_from_console(conn, server)
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.RejectPolicy())  # only the key the console showed
        client.get_host_keys().add(
            self.ip,
            self.keytype,
            paramiko.PKey.from_type_string(self.keytype, base64.b64decode(self.hostkey)),
        )
        pkey = paramiko.Ed25519Key.from_private_key(io.StringIO(private_key))
        client.connect(
            self.ip, username="root", pkey=pkey, look_for_keys=False, allow_agent=False, timeout=15
        )
        self.ssh = client

    def run(self, command: str, check: bool = True) -> str:
        _, stdout, stderr = self.ssh.exec_command(command, timeout=60)
        out = stdout.read().decode()
        rc = stdout.channel.recv_exit_status()
        if check:
            assert rc == 0, (command, rc, stderr.read().decode())
        return out


@pytest.fixture(scope="module")
def clouds():
    return {
        "src": connect("devcloud-src"),
        "dst": connect("devcloud-dst"),
        "admin": connect("devcloud-admin"),
    }


@pytest.fixture(scope="module")
def hosts(clouds):
    """One conversion host in src and one in dst, each with its own keypair, on the shared network."""
    tag = uuid.uuid4().hex[:8]
    made: list[tuple] = []
    result = {}
    try:
        public = find_or_none(clouds["admin"].network.find_network, "public")
        servers = {}
        keys = {}
        for side in ("src", "dst"):
            conn = clouds[side]
            image = conn.image.create_image(
                name=f"convhost-{tag}",
                container_format="bare",
                disk_format="raw",
                data=b"\0" * MIB,
                visibility="private",
                **{MARKER: "true"},
            )
            made.append((conn.image.delete_image, image))
            wait_for(
                lambda c=conn, i=image: c.image.get_image(i).status == "active",
                "image active",
                timeout=180,
                interval=1,
            )
            private, public_key = new_keypair()
            keypair = conn.compute.create_keypair(name=f"convhost-{tag}", public_key=public_key)
            made.append((conn.compute.delete_keypair, keypair))
            flavor = find_or_none(conn.compute.find_flavor, "m1.tiny")
            server = conn.compute.create_server(
                name=f"convhost-{side}-{tag}",
                image_id=image.id,
                flavor_id=flavor.id,
                key_name=keypair.name,
                networks=[{"uuid": public.id}],
            )
            made.append((conn.compute.delete_server, server))
            servers[side], keys[side] = server, private
        for side, server in servers.items():
            conn = clouds[side]
            server = conn.compute.wait_for_server(server, status="ACTIVE", wait=180)
            result[side] = Host(conn, server, keys[side])
        yield result
    finally:
        for host in result.values():
            host.ssh.close()
        for delete, resource in reversed(made):
            try:
                delete(resource)
            except Exception as e:  # report, keep cleaning
                print(f"cleanup of {resource.id}: {e}")


def loops_of(path: Path) -> list[str]:
    out = subprocess.run(["losetup", "-n", "-O", "NAME", "-j", str(path)], capture_output=True, text=True)
    return out.stdout.split()


def namespaces() -> list[str]:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout.split()


def sshd_processes(server_id: str) -> list[int]:
    config = str(DEVCLOUD_HOME / "data" / "convhost" / server_id / "sshd_config")
    found = []
    for p in psutil.process_iter(["cmdline"]):
        if config in (p.info["cmdline"] or []):
            found.append(p.pid)
    return found


def test_conversion_hosts_ssh_block_devices_peer_and_cleanup(clouds, hosts):
    src_host, dst_host = hosts["src"], hosts["dst"]
    src = clouds["src"]

    # 1. each host is a real SSH host on its fixed IP, with the recorded host key
    for host in (src_host, dst_host):
        sid = host.server.id
        assert f"dcch-{sid}" in namespaces()
        assert host.ip in host.run("ip -4 -o addr show")
        assert host.run("id -un").strip() == "root"
        known_hosts = (DEVCLOUD_HOME / "data" / "convhost" / sid / "known_hosts").read_text()
        assert f"{host.ip} {host.keytype} {host.hostkey}" in known_hosts
        for tool in ("nbdkit", "nbdcopy", "qemu-img", "sha256sum"):
            host.run(f"command -v {tool}")
    assert_devcloud_routes_and_listeners_stay_local()

    # 2. a volume attached by Nova is a block device at /dev/disk/by-id/virtio-<serial>
    volume = src.block_storage.create_volume(size=1, name=f"convhost-data-{src_host.server.id[:8]}")
    try:
        src.block_storage.wait_for_status(volume, "available", wait=120)
        backing = DEVCLOUD_HOME / "data" / "cinder" / "nfs-export" / f"volume-{volume.id}"
        head = os.urandom(MIB)
        tail = b"devcloud-convhost-end-marker"
        with open(backing, "r+b") as f:
            f.write(head)
            f.seek(GIB - len(tail))
            f.write(tail)
        device = f"/dev/disk/by-id/virtio-{volume.id[:20]}"
        assert src_host.run(f"test -e {device} || echo absent").strip() == "absent"
        src.compute.create_volume_attachment(src_host.server, volume=volume.id)
        src.block_storage.wait_for_status(volume, "in-use", wait=120)
        assert src_host.run(f"blockdev --getsize64 {device}").strip() == str(GIB)
        got_head = src_host.run(f"dd if={device} bs=1M count=1 status=none | sha256sum").split()[0]
        assert got_head == hashlib.sha256(head).hexdigest()
        got_tail = src_host.run(f"tail -c {len(tail)} {device}")
        assert got_tail == tail.decode()
        assert len(loops_of(backing)) == 1
        # the device is the host's own: the dst host does not see it, nor does the root namespace
        assert dst_host.run(f"test -e {device} || echo absent").strip() == "absent"
        assert not Path(device).exists()

        # 3. the src host reaches the dst host over SSH (dst's key, dst's recorded host key)
        sftp = src_host.ssh.open_sftp()
        tmp = f"/tmp/convhost-peer-{uuid.uuid4().hex[:8]}"
        src_host.run(f"mkdir -m 700 {tmp}")
        with sftp.open(f"{tmp}/key", "w") as f:
            f.write(dst_host.private_key)
        sftp.chmod(f"{tmp}/key", 0o600)
        with sftp.open(f"{tmp}/known_hosts", "w") as f:
            f.write(f"{dst_host.ip} {dst_host.keytype} {dst_host.hostkey}\n")
        sftp.close()
        try:
            peer = src_host.run(
                f"ssh -i {tmp}/key -o UserKnownHostsFile={tmp}/known_hosts -o StrictHostKeyChecking=yes "
                f"-o BatchMode=yes -o ConnectTimeout=10 root@{dst_host.ip} 'ip -4 -o addr show'"
            )
            assert dst_host.ip in peer
        finally:
            src_host.run(f"rm -rf {tmp}")

        # 4. detach: the link and the loop device are gone
        src.compute.delete_volume_attachment(src_host.server, volume.id)
        src.block_storage.wait_for_status(volume, "available", wait=120)
        assert src_host.run(f"test -e {device} || echo absent").strip() == "absent"
        assert loops_of(backing) == []
    finally:
        src.block_storage.delete_volume(volume, ignore_missing=True)

    # 5. delete the servers: no namespace, sshd, veth, loop device or state left
    for host in (src_host, dst_host):
        host.ssh.close()
        host.conn.compute.delete_server(host.server)
    for host in (src_host, dst_host):
        host.conn.compute.wait_for_delete(host.server, wait=120)
        sid = host.server.id
        assert f"dcch-{sid}" not in namespaces()
        assert sshd_processes(sid) == []
        assert not (DEVCLOUD_HOME / "data" / "convhost" / sid).exists()
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True, check=True).stdout
    leftover_links = [line.split()[0] for line in links.splitlines() if line.startswith(("dcv", "dci"))]
    if not [n for n in namespaces() if n.startswith("dcch-")]:
        assert leftover_links == []
        assert "dcbr" not in links


def test_conversion_host_comes_back_after_stop_and_compute_restart(clouds):
    """`devcloud.sh stop` tears every host down; nova-compute rebuilds them when it adopts the servers."""
    src = clouds["src"]
    tag = uuid.uuid4().hex[:8]
    public = find_or_none(clouds["admin"].network.find_network, "public")
    image = src.image.create_image(
        name=f"convhost-{tag}",
        container_format="bare",
        disk_format="raw",
        data=b"\0" * MIB,
        **{MARKER: "true"},
    )
    private, public_key = new_keypair()
    keypair = src.compute.create_keypair(name=f"convhost-{tag}", public_key=public_key)
    server = volume = None
    base = DEVCLOUD_HOME / "data" / "convhost"
    script = Path(__file__).resolve().parents[2] / "devcloud" / "convhost.py"
    try:
        server = src.compute.create_server(
            name=f"convhost-restart-{tag}",
            image_id=image.id,
            flavor_id=find_or_none(src.compute.find_flavor, "m1.tiny").id,
            key_name=keypair.name,
            networks=[{"uuid": public.id}],
        )
        server = src.compute.wait_for_server(server, status="ACTIVE", wait=180)
        volume = src.block_storage.create_volume(size=1, name=f"convhost-restart-{tag}")
        src.block_storage.wait_for_status(volume, "available", wait=120)
        src.compute.create_volume_attachment(server, volume=volume.id)
        src.block_storage.wait_for_status(volume, "in-use", wait=120)
        device = f"/dev/disk/by-id/virtio-{volume.id[:20]}"
        before = Host(src, server, private)
        assert before.run(f"blockdev --getsize64 {device}").strip() == str(GIB)
        before.ssh.close()

        # what `devcloud.sh stop` does after stopping the services
        subprocess.run(["python3", str(script), "--base", str(base), "teardown-all"], check=True)
        assert f"dcch-{server.id}" not in namespaces()
        assert sshd_processes(server.id) == []
        # nova-compute adopts the server at start and rebuilds its host
        subprocess.run(
            [str(script.parent / "devcloud.sh"), "restart-service", "nova-compute"],
            check=True,
            env=dict(os.environ, DEVCLOUD_HOME=str(DEVCLOUD_HOME)),
        )
        after = wait_for(
            lambda: _try_host(src, server, private), "SSH to the rebuilt host", timeout=60, interval=1
        )
        assert (after.keytype, after.hostkey) == (before.keytype, before.hostkey)  # same host key
        assert after.run(f"blockdev --getsize64 {device}").strip() == str(GIB)
        after.ssh.close()
    finally:
        if server is not None:
            src.compute.delete_server(server)
            src.compute.wait_for_delete(server, wait=120)
        if volume is not None:
            src.block_storage.wait_for_status(volume, "available", wait=120)
            src.block_storage.delete_volume(volume)
        src.compute.delete_keypair(keypair)
        src.image.delete_image(image)
    assert f"dcch-{server.id}" not in namespaces()
    assert not (base / server.id).exists()


def _try_host(conn, server, private):
    try:
        return Host(conn, server, private)
    except (OSError, paramiko.SSHException):
        return None
