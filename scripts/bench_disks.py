"""Disk-copy benchmark against the local cloud (issue 8, item 7): a script, not a test.

In projects ``bench-disks-src``/``bench-disks-dst`` (made here as the devcloud admin, member user
each), one conversion host per project (a devcloud server from an image with
``os_migrate_conversion_host=true``: a real sshd in its own network namespace, on ``public``) and
``--servers`` source servers, each booted from a volume with a second, data volume attached. Every
disk is ``--size-gib`` GiB holding 25% random data in 8 extents, the rest never written (written
straight into the Cinder backing files); plus one detached volume of the same size full of random
data (the dense case).

The devcloud's NFS Cinder cannot snapshot, so an attached volume is read through the temporary
volume ``osm-tmp-<id>`` the copiers make from a snapshot, and reuse when it exists: the script
makes that volume with the same bytes (what a snapshot would hold). How a source disk is made
readable depends on the source cloud and is not measured here; what is measured starts there.

Measured in one run, each phase after ``sync`` and a drop of the page cache:

1. one server, disk after disk: (a) ``conversion_host`` (:class:`ConversionHostCopier`: volume
   made, both attached, nbdcopy through the SSH tunnel while the source is hashed, destination
   hashed, both detached); (b) the raw pipe between the same hosts for the same devices: on the
   source host ``cat <dev> | ssh <dst host> 'dd of=<dev> conv=fsync'`` (OpenSSH host to host,
   same cipher as the tunnel, started from the migrator over paramiko; the attaches are not
   timed); (c) the ``image`` method (:class:`ImageDiskCopier`: upload, streamed copy through
   the migrator, volume from image); then (a) and (b) for the dense volume;
2. all servers with pools of 1, 2, 4 (a thread pool standing in for the Airflow copy pool; one
   slot copies one server's disks one after the other, as the copy task does), then one raw pipe
   per server at once.

CPU use of the machine (``/proc/stat``) is sampled during every phase. Figures go to
``bench-out/bench_disks.json``. Everything made is deleted at the end, also after Ctrl-C
(``--cleanup`` only deletes what an earlier run left).

Usage: ``.venv/bin/python scripts/bench_disks.py [--quick] [--servers N] [--size-gib N]
[--pools 1,2,4] [--json PATH] [--clouds-yaml PATH] [--cleanup]``
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime
import json
import logging
import os
import platform
import re
import shlex
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import openstack.config
import openstack.connection

from os_migrate.cloud import find_or_none
from os_migrate.workload import cloudops
from os_migrate.workload.cloudops import GIB, tmp_name
from os_migrate.workload.conversion_host import (
    DEFAULT_CIPHER,
    ConversionHost,
    HostAccess,
    new_keypair,
)
from os_migrate.workload.disk_copy import DiskSource, VolumeSpec, make_copier

REPO = Path(__file__).resolve().parents[1]
SRC, DST = "bench-disks-src", "bench-disks-dst"
PASSWORD = "devcloud-bench"
HOST, HOST_IMAGE, HOST_KEY = "bench-host", "bench-convhost", "bench-host-key"
MIB = 1024**2
EXTENTS = 8  # per disk, each 1/32 of it: 25% data
LOG = logging.getLogger("bench_disks")


# ------------------------------------------------------------------ projects, hosts, disks


def connect(clouds_yaml: Path, project: str | None = None):
    """The devcloud admin, or ``<project>-member`` (explicit auth; never OS_* variables)."""
    config = openstack.config.OpenStackConfig(config_files=[str(clouds_yaml)], load_envvars=False)
    admin = config.get_one(cloud="devcloud-admin")
    if project is None:
        return openstack.connection.Connection(config=admin)
    auth = {
        "auth_url": admin.config["auth"]["auth_url"],
        "username": f"{project}-member",
        "password": PASSWORD,
        "project_name": project,
        "user_domain_name": "Default",
        "project_domain_name": "Default",
    }
    return openstack.connection.Connection(
        auth_type="password", auth=auth, region_name=admin.region_name, interface="public"
    )


def ensure_projects(admin) -> None:
    """Both projects with a member user and room for the disks (idempotent)."""
    ident = admin.identity
    role = ident.find_role("member", ignore_missing=False)
    for name in (SRC, DST):
        project = find_or_none(ident.find_project, name, domain_id="default") or ident.create_project(
            name=name, domain_id="default", description="OS Migrate disk benchmark"
        )
        user = find_or_none(ident.find_user, f"{name}-member", domain_id="default") or ident.create_user(
            name=f"{name}-member", password=PASSWORD, domain_id="default", default_project_id=project.id
        )
        if not ident.validate_user_has_project_role(project, user, role):
            ident.assign_project_role_to_user(project, user, role)
        admin.set_volume_quotas(project.id, volumes=100, snapshots=50, gigabytes=4000)
        admin.set_compute_quotas(project.id, instances=20, cores=40, ram=51200)
        admin.set_network_quotas(project.id, port=100)


def wipe(conn) -> None:
    """Delete the project's servers, volumes, own images and the host keypair."""
    servers = list(conn.compute.servers())
    for s in servers:
        conn.compute.delete_server(s, ignore_missing=True)
    for s in servers:
        cloudops.wait_server_gone(conn, s.id, what=f"server {s.name}")
    for v in cloudops.project_volumes(conn):
        cloudops.delete_volume(conn, v, what="volume")
    for img in list(conn.image.images(owner=conn.current_project_id)):
        conn.image.delete_image(img, ignore_missing=True)
    conn.compute.delete_keypair(HOST_KEY, ignore_missing=True)


def boot_host(conn, key_dir: Path, side: str):
    """Start booting the project's conversion host; returns ``(server, private key file)``."""
    image = conn.image.create_image(
        name=HOST_IMAGE, data=bytes(MIB), disk_format="raw", container_format="bare",
        visibility="private", os_migrate_conversion_host="true",
    )  # fmt: skip
    private, public = new_keypair()
    conn.compute.create_keypair(name=HOST_KEY, public_key=public)
    key_file = key_dir / f"{side}-host"
    key_file.touch(mode=0o600)
    key_file.write_text(private)
    server = conn.compute.create_server(
        name=HOST, image_id=image.id, key_name=HOST_KEY,
        flavor_id=conn.compute.find_flavor("m1.tiny", ignore_missing=False).id,
        networks=[{"uuid": conn.network.find_network("public", ignore_missing=False).id}],
    )  # fmt: skip
    return server, key_file


def host_settings(conn, side: str, server, key_file: Path) -> dict:
    """``copy_settings.<side>_host`` of a booted host: address, host key from its console log."""
    server = conn.compute.wait_for_server(server, status="ACTIVE", wait=300)
    deadline = time.monotonic() + 120
    while True:
        out = conn.compute.get_server_console_output(server)["output"]
        m = re.search(r"-----BEGIN SSH HOST KEY KEYS-----\n(.*?)-----END SSH HOST KEY KEYS-----", out, re.S)
        if m:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"no host key in the console log of {server.name}")
        time.sleep(1)
    return {
        "server": server.id,
        "address": server.addresses["public"][0]["addr"],
        "host_key": " ".join(m.group(1).split()[:2]),
        "private_key_file": str(key_file),
        "name": f"{HOST}-{side}",
    }


def extents(size: int) -> list[tuple[int, int]]:
    """(offset, length) of the data: one extent in each eighth of the disk, at varying places."""
    length = size // (4 * EXTENTS)
    eighth = size // EXTENTS
    return [(k * eighth + (k % 4) * (eighth - length) // 3, length) for k in range(EXTENTS)]


def write_extents(files: list[Path], size: int) -> int:
    """Write the same random extents into every file (backing files); returns the data bytes."""
    with contextlib.ExitStack() as stack:
        handles = [stack.enter_context(open(f, "r+b")) for f in files]
        for offset, length in extents(size):
            for pos in range(offset, offset + length, 16 * MIB):
                chunk = os.urandom(min(16 * MIB, offset + length - pos))
                for h in handles:
                    h.seek(pos)
                    h.write(chunk)
        for h in handles:
            h.flush()
            os.fsync(h.fileno())
    return sum(length for _, length in extents(size))


def make_volume(conn, name: str, size_gib: int, **kwargs):
    vol = conn.block_storage.create_volume(name=name, size=size_gib, **kwargs)
    return cloudops.wait_volume(conn, vol.id, "available", what=f"volume {name}", timeout=300)


def make_dense(src, size_gib: int, nfs: Path) -> dict:
    """A detached volume full of random data (the dense case), as a pseudo-server of one disk."""
    vol = make_volume(src, "bench-dense", size_gib)
    with open(nfs / f"volume-{vol.id}", "r+b") as f:
        for _ in range(size_gib * GIB // (16 * MIB)):
            f.write(os.urandom(16 * MIB))
        os.fsync(f.fileno())
    disk = {"role": "dense", "device": None, "id": vol.id, "temp": vol.id, "data_bytes": size_gib * GIB}
    return {"name": "bench-dense", "id": None, "disks": [disk]}


def make_server(src, i: int, size_gib: int, nfs: Path) -> dict:
    """Source server ``bench-vm-<i>`` booted from a volume, with a data volume; for each disk its
    stand-in snapshot volume ``osm-tmp-<id>`` holding the same bytes."""
    disks = []
    for role, dev in (("boot", "/dev/vda"), ("data", "/dev/vdb")):
        vol = make_volume(src, f"bench-{role}-{i}", size_gib)
        if role == "boot":
            src.block_storage.set_volume_bootable_status(vol, True)
        temp = make_volume(src, tmp_name(vol.id), size_gib)
        data = write_extents([nfs / f"volume-{vol.id}", nfs / f"volume-{temp.id}"], size_gib * GIB)
        disks.append({"role": role, "device": dev, "id": vol.id, "temp": temp.id, "data_bytes": data})
    bdm = [
        {"boot_index": 0 if d["role"] == "boot" else -1, "uuid": d["id"], "source_type": "volume",
         "destination_type": "volume", "device_name": d["device"], "delete_on_termination": False}
        for d in disks
    ]  # fmt: skip
    server = src.compute.create_server(
        name=f"bench-vm-{i}", flavor_id=src.compute.find_flavor("m1.tiny", ignore_missing=False).id,
        networks=[{"uuid": src.network.find_network("public", ignore_missing=False).id}],
        block_device_mapping=bdm,
    )  # fmt: skip
    server = src.compute.wait_for_server(server, status="ACTIVE", wait=300)
    return {"name": server.name, "id": server.id, "disks": disks}


# ------------------------------------------------------------------ measuring


class CpuSampler:
    """Samples the machine's CPU use (``/proc/stat``) every half second in a thread."""

    def __init__(self):
        self.samples: list[tuple[float, float]] = []  # (busy, iowait) fractions of all cores
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def _read() -> list[int]:
        with open("/proc/stat") as f:
            return [int(x) for x in f.readline().split()[1:]]

    def _run(self) -> None:
        prev = self._read()
        while not self._stop.wait(0.5):
            cur = self._read()
            d = [c - p for c, p in zip(cur, prev)]
            prev = cur
            total = sum(d) or 1
            self.samples.append(((total - d[3] - d[4]) / total, d[4] / total))

    def mark(self) -> int:
        return len(self.samples)

    def since(self, mark: int) -> dict:
        """Mean and peak busy %, mean iowait %, of all cores since ``mark``."""
        got = self.samples[mark:] or [(0.0, 0.0)]
        busy = sorted(b for b, _ in got)
        return {
            "busy_pct": round(100 * sum(busy) / len(busy), 1),
            "busy_p90_pct": round(100 * busy[int(0.9 * (len(busy) - 1))], 1),
            "iowait_pct": round(100 * sum(w for _, w in got) / len(got), 1),
            "cores": os.cpu_count(),
        }

    def stop(self) -> None:
        self._stop.set()


def drop_caches() -> None:
    """Flush dirty pages and drop the page cache, so that no phase reads what another left cached."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError as e:
        LOG.warning("cannot drop the page cache (%s); figures may be warmer", e)


class Bench:
    """The run: connections, host settings, source servers, and the measurements."""

    def __init__(self, args, clouds_yaml: Path):
        self.args = args
        self.clouds_yaml = clouds_yaml
        self.size_gib = args.size_gib
        self.settings: dict = {}
        self.servers: list[dict] = []
        self.dense: dict = {}
        self.made: list[str] = []  # destination volumes of the copies (list.append is thread-safe)
        self.cpu = CpuSampler()

    def conns(self):
        """Fresh member connections (one pair per thread, as each Airflow task has its own)."""
        return connect(self.clouds_yaml, SRC), connect(self.clouds_yaml, DST)

    def copy_disk(self, method: str, server: dict, disk: dict, tag: str) -> dict:
        """One disk with ``method`` (what it made is deleted after the phase, not timed)."""
        src, dst = self.conns()
        copier = make_copier(method, src, dst, **self.settings, progress_interval=60)
        source = DiskSource(
            "volume", disk["id"], server_id=server["id"], device=disk["device"],
            is_root=disk["role"] == "boot", label=f"{server['name']} {disk['role']}",
        )  # fmt: skip
        spec = VolumeSpec(name=f"bench-{tag}-{disk['id'][:8]}", size=self.size_gib, metadata={"bench": tag})
        t0 = time.monotonic()
        try:
            result = copier.copy(source, spec)
        finally:
            copier.close()
        wall = time.monotonic() - t0
        self.made.append(result.volume_id)
        return {
            "method": method, "disk": disk["role"], "logical_bytes": self.size_gib * GIB,
            "data_bytes": disk["data_bytes"], "moved_bytes": result.bytes,
            "transfer_s": round(result.seconds, 2), "verify_s": round(result.verify_seconds, 2),
            "wall_s": round(wall, 2),
        }  # fmt: skip

    def copy_server(self, method: str, server: dict, tag: str) -> dict:
        """The server's disks one after the other (as the copy task does)."""
        t0 = time.monotonic()
        disks = [self.copy_disk(method, server, d, tag) for d in server["disks"]]
        t1 = time.monotonic()
        return {"server": server["name"], "wall_s": round(t1 - t0, 2), "span": (t0, t1), "disks": disks}

    # raw pipes ------------------------------------------------------------------------------------
    def raw_server(self, server: dict, tag: str, ready: threading.Barrier | None = None) -> dict:
        """The server's disks through the raw pipe, one after the other; attaches not timed."""
        src, dst = self.conns()
        hosts = [
            ConversionHost(conn, HostAccess.from_settings(self.settings[f"{side}_host"], side=side), role)
            for conn, side, role in ((src, "src", "source"), (dst, "dst", "destination"))
        ]
        src_host, dst_host = hosts
        wd = f"/run/bench-disks/{tag}-{server['name']}"
        pairs = []
        q = shlex.quote
        try:
            private, public = new_keypair(f"bench-disks-{tag}-{server['name']}")
            dst_host.session.check(
                "umask 077 && mkdir -p ~/.ssh && cat >> ~/.ssh/authorized_keys",
                stdin=public + "\n",
                what="key",
            )
            src_host.session.check(f"umask 077 && mkdir -p {wd} && cat > {wd}/id", stdin=private, what="key")
            src_host.session.check(
                f"cat > {wd}/known_hosts", stdin=f"{dst_host.access.address} {dst_host.access.host_key}\n",
                what="known_hosts",
            )  # fmt: skip
            for disk in server["disks"]:
                vol = make_volume(dst, f"bench-{tag}-{disk['id'][:8]}", self.size_gib)
                pairs.append((disk, vol.id, src_host.attach(disk["temp"], self.size_gib),
                              dst_host.attach(vol.id, self.size_gib)))  # fmt: skip
            if ready is not None:
                ready.wait()
            ssh = (
                f"ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile={wd}/known_hosts "
                f"-o IdentitiesOnly=yes -i {wd}/id -c {DEFAULT_CIPHER} root@{dst_host.access.address}"
            )
            t0 = time.monotonic()
            disks = []
            for disk, _, sdev, ddev in pairs:
                t1 = time.monotonic()
                remote = f"dd of={ddev} bs=4M iflag=fullblock conv=fsync status=none"
                src_host.session.check(f"cat {sdev} | {ssh} {q(remote)}", what="raw pipe", timeout=3600)
                disks.append({
                    "method": "raw pipe", "disk": disk["role"], "logical_bytes": self.size_gib * GIB,
                    "data_bytes": disk["data_bytes"], "moved_bytes": self.size_gib * GIB,
                    "transfer_s": round(time.monotonic() - t1, 2), "verify_s": 0.0,
                    "wall_s": round(time.monotonic() - t1, 2),
                })  # fmt: skip
            t1 = time.monotonic()
        finally:
            for disk, vol_id, _, _ in pairs:
                src_host.detach(disk["temp"])
                dst_host.detach(vol_id)
                cloudops.delete_volume(dst, dst.block_storage.get_volume(vol_id), what="raw copy")
            dst_host.session.run(f"sed -i '/bench-disks-{tag}-{server['name']}/d' ~/.ssh/authorized_keys")
            src_host.session.run(f"rm -rf {wd}")
            for h in hosts:
                h.close()
        return {"server": server["name"], "wall_s": round(t1 - t0, 2), "span": (t0, t1), "disks": disks}

    # phases ---------------------------------------------------------------------------------------
    def phase(self, name: str, fn) -> dict:
        """Run ``fn`` (-> one dict per server, with the ``span`` of its timed part); the phase's
        wall time runs from the first start to the last end; then delete what it made."""
        drop_caches()
        mark = self.cpu.mark()
        out = fn()
        cpu = self.cpu.since(mark)
        spans = [s.pop("span") for s in out]
        wall = round(max(e for _, e in spans) - min(b for b, _ in spans), 2)
        print(f"  {name:<28} {wall:7.1f} s", flush=True)
        self.tidy()
        return {"phase": name, "wall_s": wall, "cpu": cpu, "servers": out}

    def tidy(self) -> None:
        """Delete the copies and the images of the image method (not the stand-in snapshot
        volumes: the next phases read them)."""
        src, dst = self.conns()
        while self.made:
            cloudops.delete_volume(dst, dst.block_storage.get_volume(self.made.pop()), what="copy")
        for conn in (src, dst):
            for img in list(conn.image.images(owner=conn.current_project_id)):
                if img.name.startswith("osm-tmp-"):
                    cloudops.delete_image(conn, img, what="benchmark image")

    def in_pool(self, size: int, fn, servers: list[dict]) -> list[dict]:
        with concurrent.futures.ThreadPoolExecutor(max_workers=size) as pool:
            return list(pool.map(fn, servers))

    def run(self) -> list[dict]:
        one = self.servers[:1]
        phases = [
            self.phase("conversion_host 1", lambda: [self.copy_server("conversion_host", one[0], "ch")]),
            self.phase("raw pipe 1", lambda: [self.raw_server(one[0], "raw")]),
            self.phase(
                "conversion_host dense", lambda: [self.copy_server("conversion_host", self.dense, "chd")]
            ),
            self.phase("raw pipe dense", lambda: [self.raw_server(self.dense, "rawd")]),
        ]
        if not self.args.no_image:
            phases.append(self.phase("image 1", lambda: [self.copy_server("image", one[0], "img")]))
        many = self.servers
        n = len(many)
        for size in self.args.pools:
            phases.append(
                self.phase(
                    f"conversion_host {n} pool {size}",
                    lambda size=size: self.in_pool(
                        size, lambda s: self.copy_server("conversion_host", s, f"p{size}"), many
                    ),
                )
            )
        barrier = threading.Barrier(n)
        phases.append(
            self.phase(
                f"raw pipe {n} at once",
                lambda: self.in_pool(n, lambda s: self.raw_server(s, "r4", barrier), many),
            )
        )
        return phases


# ------------------------------------------------------------------ report


def rates(d: dict) -> dict:
    t = d["transfer_s"] or 1e-9
    return {"mbps_logical": d["logical_bytes"] / t / 1e6, "mbps_moved": d["moved_bytes"] / t / 1e6}


def print_tables(phases: list[dict]) -> None:
    head = (
        f"{'phase':<26} {'disk':<5} {'logical':>8} {'moved':>8} {'xfer s':>7} {'MB/s log':>8} "
        f"{'MB/s mov':>8} {'verify s':>8} {'wall s':>7}"
    )
    print(head)
    print("-" * len(head))
    for p in phases[:5]:
        for s in p["servers"]:
            for d in s["disks"]:
                r = rates(d)
                print(
                    f"{p['phase']:<26} {d['disk']:<5} {d['logical_bytes'] / MIB:>7.0f}M "
                    f"{d['moved_bytes'] / MIB:>7.0f}M {d['transfer_s']:>7.1f} {r['mbps_logical']:>8.0f} "
                    f"{r['mbps_moved']:>8.0f} {d['verify_s']:>8.1f} {d['wall_s']:>7.1f}"
                )
            print(f"{p['phase']:<26} {'server':<5} {'':>44} {s['wall_s']:>7.1f}")
    print()
    head = f"{'phase':<26} {'wall s':>7} {'per server s':>12} {'disks/min':>9} {'CPU busy %':>10} {'p90 %':>6} {'iowait %':>8}"
    print(head)
    print("-" * len(head))
    for p in phases:
        per = [s["wall_s"] for s in p["servers"]]
        ndisks = sum(len(s["disks"]) for s in p["servers"])
        c = p["cpu"]
        print(
            f"{p['phase']:<26} {p['wall_s']:>7.1f} {sum(per) / len(per):>12.1f} {60 * ndisks / p['wall_s']:>9.1f} "
            f"{c['busy_pct']:>10.0f} {c['busy_p90_pct']:>6.0f} {c['iowait_pct']:>8.0f}"
        )


def targets(phases: list[dict]) -> dict:
    """The issue's targets (see the README section): the figures and whether each is met."""
    by = {p["phase"]: p for p in phases}
    names = [p["phase"] for p in phases]
    ch = {d["disk"]: d for d in by["conversion_host 1"]["servers"][0]["disks"]}
    raw = {d["disk"]: d for d in by["raw pipe 1"]["servers"][0]["disks"]}
    out: dict = {}
    c, r = (
        by["conversion_host dense"]["servers"][0]["disks"][0],
        by["raw pipe dense"]["servers"][0]["disks"][0],
    )
    dense = r["transfer_s"] / c["transfer_s"]
    out["dense_vs_raw"] = {"value": round(dense, 2), "target": ">= 0.90", "ok": dense >= 0.9}
    dense = r["transfer_s"] / (c["transfer_s"] + c["verify_s"])
    out["dense_verified_vs_raw"] = {"value": round(dense, 2), "target": "(info)", "ok": None}
    for disk in ch:
        c, r = ch[disk], raw[disk]
        sparse = c["transfer_s"] / r["transfer_s"]
        out[f"sparse_{disk}_vs_full"] = {"value": round(sparse, 2), "target": "<= 0.35", "ok": sparse <= 0.35}
        wall = c["wall_s"] / r["transfer_s"]
        out[f"sparse_{disk}_wall_vs_full"] = {"value": round(wall, 2), "target": "(info)", "ok": None}
    pools = {int(n.rsplit(" ", 1)[1]): by[n]["wall_s"] for n in names if " pool " in n}
    raw_many = next(by[n]["wall_s"] for n in names if n.endswith("at once"))
    if 1 in pools and max(pools) > 1:
        top = max(pools)
        speedup = pools[1] / pools[top]
        vs_raw = pools[top] / raw_many
        out[f"pool{top}_speedup_vs_pool1"] = {
            "value": round(speedup, 2),
            "target": ">= 1.8",
            "ok": speedup >= 1.8,
        }
        out[f"pool{top}_wall_vs_raw_at_once"] = {
            "value": round(vs_raw, 2),
            "target": "<= 1.10",
            "ok": vs_raw <= 1.1,
        }
    return out


# ------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_yaml = os.environ.get("DEVCLOUD_CLOUDS_YAML", str(REPO / ".devcloud" / "clouds.yaml"))
    parser.add_argument("--clouds-yaml", default=default_yaml, help="devcloud clouds.yaml")
    parser.add_argument(
        "--devcloud-home", default=os.environ.get("DEVCLOUD_HOME"), help="default: next to clouds.yaml"
    )
    parser.add_argument("--servers", type=int, default=4, help="servers of the concurrent phases")
    parser.add_argument("--size-gib", type=int, default=4, help="size of every disk")
    parser.add_argument("--pools", default="1,2,4", help="pool sizes of the concurrent phases")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 GiB disks, 2 servers, pools 1,2")
    parser.add_argument("--no-image", action="store_true", help="skip the image method")
    parser.add_argument("--cleanup", action="store_true", help="only delete what an earlier run left")
    parser.add_argument("--json", default=str(REPO / "bench-out" / "bench_disks.json"), help="figures")
    args = parser.parse_args(argv)
    if args.quick:
        args.size_gib, args.servers, args.pools = 1, 2, "1,2"
    args.pools = [int(x) for x in args.pools.split(",")]
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    clouds_yaml = Path(args.clouds_yaml)
    nfs = Path(args.devcloud_home or clouds_yaml.parent) / "data" / "cinder" / "nfs-export"

    admin = connect(clouds_yaml)
    ensure_projects(admin)
    src, dst = connect(clouds_yaml, SRC), connect(clouds_yaml, DST)
    key_dir = Path(tempfile.mkdtemp(prefix="bench-disks-"))
    bench = Bench(args, clouds_yaml)
    started = time.monotonic()
    try:
        for conn in (dst, src):
            wipe(conn)
        if args.cleanup:
            return 0
        t0 = time.monotonic()
        booting = {side: boot_host(conn, key_dir, side) for side, conn in (("src", src), ("dst", dst))}
        bench.servers = [make_server(src, i, args.size_gib, nfs) for i in range(args.servers)]
        bench.dense = make_dense(src, args.size_gib, nfs)
        for side, conn in (("src", src), ("dst", dst)):
            bench.settings[f"{side}_host"] = host_settings(conn, side, *booting[side])
        print(
            f"setup: 2 conversion hosts, {args.servers} servers x 2 disks of {args.size_gib} GiB "
            f"({time.monotonic() - t0:.0f} s)",
            flush=True,
        )
        phases = bench.run()
    finally:
        bench.cpu.stop()
        print("cleaning up ...", flush=True)
        try:
            for conn in (dst, src):
                wipe(conn)
        except KeyboardInterrupt:
            print("cleanup interrupted: run again with --cleanup", file=sys.stderr)
            raise
        finally:
            shutil.rmtree(key_dir, ignore_errors=True)
    print()
    print(
        f"{args.size_gib} GiB disks, 25% random data in {EXTENTS} extents; one host per project; "
        f"MB/s = 10^6 bytes/s of transfer time; total run {time.monotonic() - started:.0f} s"
    )
    print_tables(phases)
    result = targets(phases)
    print()
    for name, t in result.items():
        mark = "info" if t["ok"] is None else ("ok  " if t["ok"] else "MISS")
        print(f"  {mark} {name:<32} {t['value']:>6} (target {t['target']})")
    doc = {
        "date": datetime.date.today().isoformat(),
        "machine": {"cores": os.cpu_count(), "platform": platform.platform()},
        "args": {k: v for k, v in vars(args).items() if k not in ("clouds_yaml",)},
        "phases": phases,
        "targets": result,
    }
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\nfigures: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
