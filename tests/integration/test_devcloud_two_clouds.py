"""Two devclouds (``DEVCLOUD_CLOUDS=2``): two independent control planes on one machine.

``make test`` starts both. Without the second cloud every test here fails with a message saying how
to start it (``two_clouds()`` in conftest).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import requests

from .conftest import (
    CLOUDS_YAML,
    DEVCLOUD2_HOME,
    DEVCLOUD_HOME,
    REPO_ROOT,
    TWO_CLOUDS_HINT,
    connect,
    wait_for,
)
from .test_devcloud import PEER_TABLE, _ip_json

REGIONS = {1: "RegionOne", 2: "RegionTwo"}
KEYSTONE_PORT = {1: 5000, 2: 15000}
#: Port of each service type in each cloud's catalog.
SERVICE_PORTS = {
    1: {
        "identity": 5000,
        "image": 9292,
        "placement": 8778,
        "compute": 8774,
        "network": 9696,
        "volumev3": 8776,
    },
    2: {
        "identity": 15000,
        "image": 19292,
        "placement": 18778,
        "compute": 18774,
        "network": 19696,
        "volumev3": 18776,
    },
}
#: A GET each service answers for any authenticated admin (``{p}`` = the token's project id).
PROBES = {
    "image": "/v2/images",
    "placement": "/resource_providers",
    "compute": "/v2.1/flavors",
    "network": "/v2.0/networks",
    "volumev3": "/v3/{p}/types",
}


def test_each_catalog_lists_only_its_own_endpoints_and_region(clouds2):
    for index in (1, 2):
        admin = clouds2[f"admin{index}"]
        assert admin.config.region_name == REGIONS[index]
        assert [r.id for r in admin.identity.regions()] == [REGIONS[index]]
        services = {s.id: s.type for s in admin.identity.services()}
        seen = {}
        for endpoint in admin.identity.endpoints():
            url = urlsplit(endpoint.url)
            assert url.hostname == "127.0.0.1", endpoint.url
            assert endpoint.region_id == REGIONS[index], endpoint
            seen[services[endpoint.service_id]] = url.port
        assert seen == SERVICE_PORTS[index]


def test_a_token_of_cloud_1_is_refused_by_every_service_of_cloud_2(clouds2):
    token1 = clouds2["admin1"].auth_token
    admin2 = clouds2["admin2"]
    token2 = admin2.auth_token
    project2 = admin2.current_project_id
    keystone2 = f"http://127.0.0.1:{KEYSTONE_PORT[2]}/v3/auth/tokens"
    # Keystone 2 cannot validate it (own fernet keys) ...
    r = requests.get(keystone2, headers={"X-Auth-Token": token2, "X-Subject-Token": token1}, timeout=30)
    assert r.status_code == 404, (r.status_code, r.text[:200])
    # ... and the same token is fine where it was issued
    keystone1 = f"http://127.0.0.1:{KEYSTONE_PORT[1]}/v3/auth/tokens"
    r = requests.get(keystone1, headers={"X-Auth-Token": token1, "X-Subject-Token": token1}, timeout=30)
    assert r.status_code == 200, r.status_code
    for stype, path in PROBES.items():
        url = f"http://127.0.0.1:{SERVICE_PORTS[2][stype]}" + path.format(p=project2)
        headers = {"OpenStack-API-Version": "placement 1.0"} if stype == "placement" else {}
        refused = requests.get(url, headers={**headers, "X-Auth-Token": token1}, timeout=30)
        assert refused.status_code == 401, (stype, refused.status_code, refused.text[:200])
        # the control: cloud 2's own token is accepted by the same call
        ok = requests.get(url, headers={**headers, "X-Auth-Token": token2}, timeout=30)
        assert ok.status_code == 200, (stype, ok.status_code, ok.text[:200])


def test_projects_users_and_compute_hosts_are_distinct(clouds2):
    for role in ("src", "dst"):
        one, two = clouds2[f"{role}1"], clouds2[f"{role}2"]
        assert one.current_project_id != two.current_project_id
        assert one.current_user_id != two.current_user_id
    hosts = {
        index: {s.host for s in clouds2[f"admin{index}"].compute.services(binary="nova-compute")}
        for index in (1, 2)
    }
    assert hosts == {1: {"devcloud"}, 2: {"devcloud2"}}
    volume_hosts = {
        index: {s.host.split("@")[0] for s in clouds2[f"admin{index}"].block_storage.services()}
        for index in (1, 2)
    }
    assert volume_hosts == {1: {"devcloud"}, 2: {"devcloud2"}}


def test_public_networks_differ_in_id_and_range(clouds2):
    nets = {}
    for index in (1, 2):
        admin = clouds2[f"admin{index}"]
        admin_project = admin.current_project_id
        (net,) = list(admin.network.networks(name="public", project_id=admin_project))
        assert net.is_router_external
        (subnet,) = list(admin.network.subnets(network_id=net.id))
        nets[index] = (net.id, ipaddress.ip_network(subnet.cidr))
    assert nets[1][0] != nets[2][0]
    assert not nets[1][1].overlaps(nets[2][1]), nets
    # the second cloud's id is unknown to the first
    assert clouds2["admin1"].network.find_network(nets[2][0]) is None


def test_cloud_2_configs_name_none_of_cloud_1s_services():
    """Cloud 2's config files point at its own database, broker and Keystone only."""
    confs = [p for p in (DEVCLOUD2_HOME / "etc").rglob("*") if p.suffix in (".conf", ".ini")]
    assert len(confs) >= 8, f"no cloud 2 configs under {DEVCLOUD2_HOME}/etc{TWO_CLOUDS_HINT}"
    urls = set()
    for conf in confs:
        urls |= set(re.findall(r"(?:https?|mysql\+pymysql|rabbit)://[^\s]+", conf.read_text()))
    ports = {urlsplit(u).port for u in urls}
    assert ports, urls
    assert ports <= {13306, 15672, 15000}, sorted(urls)
    cloud1 = str(DEVCLOUD_HOME) + "/"
    for conf in confs:
        for line in conf.read_text().splitlines():
            # paths of cloud 2 live in cloud2/, only the shared venv is cloud 1's directory
            if cloud1 in line:
                for path in re.findall(re.escape(cloud1) + r"\S*", line):
                    assert path.startswith((str(DEVCLOUD2_HOME) + "/", str(DEVCLOUD_HOME / "venv"))), (
                        conf,
                        line,
                    )


def test_a_volume_of_cloud_2_is_a_file_in_cloud_2s_export(clouds2):
    src2 = clouds2["src2"]
    volume = src2.block_storage.create_volume(name="two-clouds-probe", size=1)
    try:
        wait_for(
            lambda: src2.block_storage.get_volume(volume.id).status in ("available", "error"),
            "volume available",
            timeout=120,
        )
        assert src2.block_storage.get_volume(volume.id).status == "available"
        mine = DEVCLOUD2_HOME / "data" / "cinder" / "nfs-export" / f"volume-{volume.id}"
        theirs = Path(DEVCLOUD_HOME) / "data" / "cinder" / "nfs-export" / f"volume-{volume.id}"
        assert mine.is_file(), mine
        assert mine.stat().st_size == 1024**3
        assert not theirs.exists()
        # cloud 1 does not know it
        assert clouds2["admin1"].block_storage.find_volume(volume.id, all_projects=True) is None
    finally:
        src2.block_storage.delete_volume(volume.id, ignore_missing=True)
        src2.block_storage.wait_for_delete(volume, wait=120)


CONVHOST = Path(__file__).resolve().parents[2] / "devcloud" / "convhost.py"


def _convhost(base: Path, *args: str) -> str:
    return subprocess.run(
        ["python3", str(CONVHOST), "--base", str(base), *args], capture_output=True, text=True, check=True
    ).stdout


def _netns() -> set[str]:
    return set(
        subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout.split()
    )


def test_teardown_all_of_one_cloud_spares_the_other_clouds_hosts(tmp_path):
    """What `devcloud.sh stop` of one cloud runs: the other cloud's conversion hosts keep running.

    Two hosts built without Nova, each in its own state dir (as cloud 1's and cloud 2's
    ``data/convhost``), on their own private test subnets.
    """
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True)
    bases = {1: tmp_path / "one", 2: tmp_path / "two"}
    ids = {n: str(uuid.uuid4()) for n in bases}
    try:
        for n, base in bases.items():
            _convhost(
                base, "create", ids[n], "--key-file", str(tmp_path / "k.pub"),
                "--ip", f"10.251.{n}.10/24", "--network", f"two-clouds-test-{n}",
            )  # fmt: skip
        assert {f"dcch-{ids[1]}", f"dcch-{ids[2]}"} <= _netns()
        # (the real clouds' hosts are named as spared too: this test must never touch them)
        real = [f"--spare={h / 'data' / 'convhost'}" for h in (DEVCLOUD_HOME, DEVCLOUD2_HOME)]
        _convhost(bases[1], "teardown-all", *real)
        assert f"dcch-{ids[1]}" not in _netns()
        assert f"dcch-{ids[2]}" in _netns()
        status = json.loads(_convhost(bases[2], "status"))
        assert status[0]["netns"] and status[0]["sshd"], status
    finally:
        for n, base in bases.items():
            _convhost(base, "delete", ids[n])
    assert not {f"dcch-{ids[1]}", f"dcch-{ids[2]}"} & _netns()


def test_airflow_connections_of_two_clouds_point_dst_at_cloud_2(tmp_path):
    """`DEVCLOUD_CLOUDS=2 scripts/airflow.sh connections-devcloud`: src at cloud 1, dst at cloud 2,
    each with an admin twin; the connections carry cloud names only (no credentials)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW_", "AIRFLOW__")) and k != "OS_MIGRATE_STAGING_ROOT"
    }
    env.update(
        AIRFLOW_HOME=str(tmp_path / "airflow"),
        DEVCLOUD_CLOUDS_YAML=str(CLOUDS_YAML),
        DEVCLOUD_CLOUDS="2",
        PATH=f"{REPO_ROOT / '.venv' / 'bin'}:{env.get('PATH', '')}",
    )
    script = REPO_ROOT / "scripts" / "airflow.sh"
    out = subprocess.run(
        [str(script), "connections-devcloud"], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "password" not in (out.stdout + out.stderr).lower()
    exported = tmp_path / "connections.json"
    subprocess.run(
        ["airflow", "connections", "export", str(exported)], env=env, capture_output=True, check=True
    )
    conns = json.loads(exported.read_text())
    expected = {
        "openstack_src": ("devcloud-src", "RegionOne"),
        "openstack_src_admin": ("devcloud-admin", "RegionOne"),
        "openstack_dst": ("devcloud2-dst", "RegionTwo"),
        "openstack_dst_admin": ("devcloud2-admin", "RegionTwo"),
    }
    for conn_id, (cloud, region) in expected.items():
        conn = conns[conn_id]
        assert not conn.get("password") and not conn.get("login"), conn_id
        extra = json.loads(conn["extra"])
        assert extra == {"cloud": cloud, "clouds_yaml": str(CLOUDS_YAML)}, extra
        session = connect(cloud)
        assert session.config.region_name == region
        session.authorize()


def test_hosts_on_two_external_networks_reach_each_other_over_ssh(tmp_path):
    """A conversion host of one cloud logs in to one of the other cloud over SSH at its fixed IP.

    Two hosts built without Nova, as on cloud 1's and cloud 2's ``public`` (each bridge holds its
    subnet's gateway), on test subnets of the devclouds' external range 172.24.0.0/16. The ssh
    client runs inside the first host's network namespace.
    """
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True)
    bases = {1: tmp_path / "one", 2: tmp_path / "two"}
    ids = {n: str(uuid.uuid4()) for n in bases}
    try:
        for n, base in bases.items():
            _convhost(
                base, "create", ids[n], "--key-file", str(tmp_path / "k.pub"),
                "--ip", f"172.24.{249 + n}.10/24", "--gateway", f"172.24.{249 + n}.1",
                "--network", f"two-clouds-peer-{n}",
            )  # fmt: skip
        known = bases[2] / ids[2] / "known_hosts"
        out = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                f"dcch-{ids[1]}",
                "ssh",
                "-F",
                "/dev/null",
                "-i",
                str(tmp_path / "k"),
                "-o",
                "BatchMode=yes",
                "-o",
                f"UserKnownHostsFile={known}",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "ConnectTimeout=10",
                "root@172.24.251.10",
                "ip -4 -o addr show; echo $SSH_CLIENT",
            ],  # fmt: skip
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        # logged in to the second host (its address), from the first host's address
        assert "172.24.251.10/24" in out.stdout
        assert out.stdout.split()[-3] == "172.24.250.10", out.stdout
        # what enters from a devcloud bridge is routed by the peering table only: devcloud
        # bridges and nothing else
        table = _ip_json("-4", "route", "show", "table", PEER_TABLE)
        assert {r["dst"] for r in table} >= {"172.24.250.0/24", "172.24.251.0/24", "default"}
        for route in table:
            if route["dst"] == "default":
                assert route.get("type") == "unreachable", route
            else:
                assert route["dev"].startswith("dcbr") and "gateway" not in route, route
                assert ipaddress.ip_network(route["dst"]).subnet_of(ipaddress.ip_network("172.24.0.0/16"))
    finally:
        for n, base in bases.items():
            _convhost(base, "delete", ids[n])
