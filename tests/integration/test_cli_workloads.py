"""A server (the demo workload) migrated src -> dst with the ``os-migrate`` command alone.

The sample tenant with ``demo-vm`` (cirros, fixed IP 10.10.1.20, floating IP, 1 GiB data volume)
is seeded in ``src``; the pre-workload types go over with ``os-migrate import``, then
``workloads export``, ``preflight`` and ``migrate`` run as subprocesses; a second ``migrate``
finds the server done and creates nothing. Both projects are cleaned at the end.
"""

from __future__ import annotations

import pytest

from os_migrate import TENANT_TYPES
from os_migrate.cloud import find_or_none

from .conftest import connect
from .test_cli import json_of, os_migrate

SERVER = "demo-vm"
#: Every pre-workload type but images (the server boots from the public cirros).
PRE_TYPES = ",".join(t for t in TENANT_TYPES if t != "images")
#: Only the server's keypair (other tests leave keypairs of their own with the same user).
KEYS = ["--filter", "keypairs=demo-key"]


@pytest.fixture(scope="module")
def wave(tmp_path_factory):
    import sample_tenant

    src, dst = connect("devcloud-src"), connect("devcloud-dst")
    sample_tenant.clean(src)
    sample_tenant.clean(dst)
    # keypairs belong to the user, not the project: start from no demo-key in the destination
    dst.compute.delete_keypair(sample_tenant.SERVER["keypair"], ignore_missing=True)
    sample_tenant.seed(src)
    sample_tenant.seed_server(src)
    data = str(tmp_path_factory.mktemp("cli-wl") / "data")
    clouds = ["--src-cloud", "devcloud-src", "--dst-cloud", "devcloud-dst", "--data-dir", data]
    out = {"src": src, "dst": dst}
    json_of(
        os_migrate(
            "export",
            "--src-cloud",
            "devcloud-src",
            "--data-dir",
            data,
            "--types",
            PRE_TYPES,
            *KEYS,
            "-f",
            "json",
        )
    )
    json_of(
        os_migrate(
            "import",
            "--dst-cloud",
            "devcloud-dst",
            "--data-dir",
            data,
            "--types",
            PRE_TYPES,
            *KEYS,
            "-f",
            "json",
        )
    )
    out["export"] = json_of(
        os_migrate("workloads", "export", "--src-cloud", "devcloud-src", "--data-dir", data, "-f", "json")
    )
    out["preflight"] = json_of(
        os_migrate("workloads", "preflight", *clouds, "--server", SERVER, "-f", "json")
    )
    out["migrate"] = json_of(
        os_migrate("workloads", "migrate", *clouds, "--server", "regex:^demo-", "-f", "json")
    )
    out["again"] = json_of(os_migrate("workloads", "migrate", *clouds, "--server", SERVER, "-f", "json"))
    yield out
    sample_tenant.clean(dst)
    # leave src as the session fixture ``seeded_src`` promises: exactly the sample tenant
    sample_tenant.clean(src)
    sample_tenant.seed(src)


def test_export_and_preflight_select_the_server(wave):
    assert wave["export"]["servers"] == [SERVER]
    assert wave["preflight"]["migrate"] == [SERVER]


def test_migrate_recreates_the_server_in_the_destination(wave):
    summary = wave["migrate"]["summary"]
    assert summary["migrated"] == [SERVER] and summary["failed"] == []
    dst = wave["dst"]
    servers = [s for s in dst.compute.servers() if s.name == SERVER]
    assert len(servers) == 1 and servers[0].status == "ACTIVE"
    ips = [a["addr"] for addrs in servers[0].addresses.values() for a in addrs]
    assert "10.10.1.20" in ips
    volumes = [v for v in dst.block_storage.volumes() if v.name == "demo-data"]
    assert len(volumes) == 1 and volumes[0].status == "in-use"
    # the source is only stopped
    assert find_or_none(wave["src"].compute.find_server, SERVER).status == "SHUTOFF"


def test_second_migrate_creates_nothing(wave):
    again = wave["again"]
    assert again["summary"]["migrated"] == [] and again["summary"]["failed"] == []
    assert again["preflight"]["done"] == [SERVER]
    assert len([s for s in wave["dst"].compute.servers() if s.name == SERVER]) == 1
