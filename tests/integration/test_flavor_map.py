"""Flavor mapping on the real local cloud: a server gets the mapped destination flavor.

Reuses the projects, member users and networking of :mod:`.test_workloads` (``wl-src`` and
``wl-dst``, made idempotently; networking copied with os_migrate's own import) and adds one small
server of its own, ``wl-vm-flavor`` (public ``cirros``, flavor ``m1.tiny``, no volume, no floating
IP), so no disk is copied: the destination server is recreated from the image. Only that server and
its destination ports are removed at the start and at the end; the rest of the projects is left to
:mod:`.test_workloads`.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from os_migrate.cloud import RequestCounter
from os_migrate.exceptions import ValidationError
from os_migrate.workload import export_workloads, migrate_server, preflight

from .conftest import connect, wait_for
from .test_workloads import DST, KEY, SG, SRC, copy_networking, ensure_networking, ensure_project, member

SERVER = "wl-vm-flavor"
SOURCE_FLAVOR, MAPPED_FLAVOR, MISSING_FLAVOR = "m1.tiny", "m1.small", "osm-no-such-flavor"


def remove_server(conn, macs=()) -> None:
    """Delete ``SERVER`` in one project, then the ports left with the given MAC addresses."""
    for s in list(conn.compute.servers(name=f"^{SERVER}$")):
        conn.compute.delete_server(s)
        conn.compute.wait_for_delete(s, wait=300)
    for port in list(conn.network.ports(project_id=conn.current_project_id)):
        if port.mac_address in macs and not port.device_id:
            conn.network.delete_port(port)


@pytest.fixture(scope="module")
def flv(tmp_path_factory):
    admin = connect("devcloud-admin")
    for name in (SRC, DST):
        ensure_project(admin, name)
    src, dst = member(SRC), member(DST)
    remove_server(dst)
    remove_server(src)
    net = ensure_networking(src)
    copy_networking(src, dst, tmp_path_factory.mktemp("pre-workload"))
    server = src.compute.create_server(
        name=SERVER,
        flavor_id=src.compute.find_flavor(SOURCE_FLAVOR, ignore_missing=False).id,
        image_id=src.image.find_image("cirros", ignore_missing=False).id,
        networks=[{"uuid": net["network"].id}],
        key_name=KEY,
        security_groups=[{"name": SG}],
    )
    src.compute.wait_for_server(server, wait=300)
    macs = tuple(p.mac_address for p in src.network.ports(device_id=server.id))
    data_dir = tmp_path_factory.mktemp("flavor-map")
    export_workloads(src, data_dir, servers=[SERVER])
    yield SimpleNamespace(src=src, dst=dst, data_dir=data_dir, macs=macs)
    remove_server(dst, macs)
    remove_server(src)


def test_a_mapping_to_a_missing_flavor_fails_preflight_with_zero_writes(flv):
    with (
        RequestCounter(flv.src) as src_requests,
        RequestCounter(flv.dst) as dst_requests,
        pytest.raises(ValidationError) as excinfo,
    ):
        preflight(
            flv.src, flv.dst, flv.data_dir, servers=[SERVER], flavor_map={SOURCE_FLAVOR: MISSING_FLAVOR}
        )

    assert (
        f"server {SERVER!r}: flavor_map[{SOURCE_FLAVOR!r}]: flavor {MISSING_FLAVOR!r} not found in the destination"
        in excinfo.value.errors
    )
    assert (src_requests.writes, dst_requests.writes) == (0, 0)
    assert dst_requests.reads > 0  # the destination was really asked
    assert list(flv.dst.compute.servers(name=f"^{SERVER}$")) == []


def test_a_server_migrated_with_a_flavor_map_gets_the_mapped_flavor(flv):
    flavor_map = {SOURCE_FLAVOR: MAPPED_FLAVOR}
    mapped = flv.dst.compute.find_flavor(MAPPED_FLAVOR, ignore_missing=False)

    report = preflight(flv.src, flv.dst, flv.data_dir, servers=[SERVER], flavor_map=flavor_map)

    assert report["flavors"][SERVER] == {
        "source": SOURCE_FLAVOR,
        "destination": MAPPED_FLAVOR,
        "field": f"flavor_map[{SOURCE_FLAVOR!r}]",
        "vcpus": mapped.vcpus,
        "ram": mapped.ram,
        "disk": mapped.disk,
    }
    assert report["needs"]["cores"] == mapped.vcpus and report["needs"]["ram"] == mapped.ram

    result = migrate_server(flv.src, flv.dst, flv.data_dir, SERVER, flavor_map=flavor_map)

    assert result["result"] == "migrated"
    created = wait_for(
        lambda: next(iter(flv.dst.compute.servers(name=f"^{SERVER}$", details=True)), None),
        "destination server listed",
    )
    created = flv.dst.compute.get_server(created.id)
    assert created.status == "ACTIVE"
    assert created.flavor.original_name == MAPPED_FLAVOR
    source = next(iter(flv.src.compute.servers(name=f"^{SERVER}$", details=True)))
    assert source.flavor.original_name == SOURCE_FLAVOR  # the source keeps its flavor
