"""A wave with one server failing pre-flight under ``on_failure: skip``, and its report.

Reuses the projects, member users and networking of :mod:`.test_workloads` (``wl-src`` and
``wl-dst``; networking copied with os_migrate's own import) and adds two small servers of its
own (public ``cirros``, flavor ``m1.tiny``, no floating IP): ``wl-rep-ok`` with a blank 1 GiB data
volume ``wl-rep-data``, and ``wl-rep-bad``, whose record names a destination flavor that does not
exist (``_migration_params.flavor_name``). Pre-flight with ``skip`` lets ``wl-rep-ok`` go and
reports ``wl-rep-bad``; the report built from the step results is checked against what the
destination holds. Only these servers, their volumes and ports are removed at start and end.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from os_migrate.report import build_report, format_table, load_report, render_html, write_report
from os_migrate.serialization import load_resources, write_resources
from os_migrate.workload import export_workloads, migrate_server, preflight
from os_migrate.workload.checks import runnable
from os_migrate.workload.cloudops import SHA256_KEY
from os_migrate.workload.records import workload_file

from .conftest import connect, wait_for
from .test_workloads import (
    DST,
    GIB,
    KEY,
    SG,
    SRC,
    copy_networking,
    dst_volumes_of,
    ensure_networking,
    ensure_project,
    member,
    volume_status,
    wait_volume,
)

OK, BAD, DATA = "wl-rep-ok", "wl-rep-bad", "wl-rep-data"
FLAVOR, MISSING_FLAVOR = "m1.tiny", "osm-no-such-flavor-rep"


def remove_mine(conn, macs=(), source_volume_ids=()) -> None:
    """Delete this test's servers, then its volumes (by name, or made from the given source
    volumes) and the ports left with the given MAC addresses."""
    servers = [s for name in (OK, BAD) for s in conn.compute.servers(name=f"^{name}$")]
    for s in servers:
        conn.compute.delete_server(s)
    for s in servers:
        conn.compute.wait_for_delete(s, wait=300)
    vols = [v for v in conn.block_storage.volumes() if v.name == DATA]
    for sid in source_volume_ids:
        vols += [v for v in dst_volumes_of(conn, sid) if v.id not in {x.id for x in vols}]
    for v in vols:
        wait_for(
            lambda v=v: volume_status(conn, v.id) not in ("in-use", "detaching", "creating"),
            f"volume {v.id} settled",
        )
        conn.block_storage.delete_volume(v, ignore_missing=True)
    for v in vols:
        wait_for(lambda v=v: volume_status(conn, v.id) is None, f"volume {v.id} deleted")
    for port in list(conn.network.ports(project_id=conn.current_project_id)):
        if port.mac_address in macs and not port.device_id:
            conn.network.delete_port(port)


@pytest.fixture(scope="module")
def wave(tmp_path_factory):
    admin = connect("devcloud-admin")
    for name in (SRC, DST):
        ensure_project(admin, name)
    src, dst = member(SRC), member(DST)
    remove_mine(src)
    net = ensure_networking(src)
    copy_networking(src, dst, tmp_path_factory.mktemp("pre-workload"))
    flavor = src.compute.find_flavor(FLAVOR, ignore_missing=False)
    image = src.image.find_image("cirros", ignore_missing=False)
    servers = {
        name: src.compute.create_server(
            name=name,
            flavor_id=flavor.id,
            image_id=image.id,
            networks=[{"uuid": net["network"].id}],
            key_name=KEY,
            security_groups=[{"name": SG}],
        )
        for name in (OK, BAD)
    }
    data = src.block_storage.create_volume(name=DATA, size=1, description="report test data volume")
    wait_volume(src, data.id, "available")
    for s in servers.values():
        src.compute.wait_for_server(s, wait=300)
    src.compute.create_volume_attachment(servers[OK], volume=data)
    wait_volume(src, data.id, "in-use")
    macs = tuple(p.mac_address for s in servers.values() for p in src.network.ports(device_id=s.id))
    remove_mine(dst, macs, (data.id,))
    data_dir = tmp_path_factory.mktemp("report")
    export_workloads(src, data_dir, servers=[OK, BAD])
    # the bad server's record asks for a destination flavor that does not exist
    path = workload_file(data_dir)
    records = load_resources(path)
    for r in records:
        if r["params"]["name"] == BAD:
            r["_migration_params"]["flavor_name"] = MISSING_FLAVOR
    write_resources(path, records)

    checked = preflight(src, dst, data_dir, servers=[OK, BAD], on_failure="skip")
    results = [migrate_server(src, dst, data_dir, name) for name in runnable(checked)]
    report = build_report("wl", "itest", "run-1", None, checked, results, [])
    yield SimpleNamespace(src=src, dst=dst, data_dir=data_dir, checked=checked, report=report, data=data)
    remove_mine(dst, macs, (data.id,))
    remove_mine(src)


def test_the_failing_server_is_skipped_with_its_reason_and_the_other_goes_on(wave):
    assert wave.checked["migrate"] == [OK]
    assert runnable(wave.checked) == [OK]
    rows = {s["server"]: s for s in wave.report["servers"]}
    assert rows[BAD]["status"] == "skipped"
    assert (
        f"_migration_params.flavor_name: flavor {MISSING_FLAVOR!r} not found in the destination"
        in rows[BAD]["reason"]
    )
    assert rows[OK]["status"] == "migrated" and wave.report["failed"] is False
    assert list(wave.dst.compute.servers(name=f"^{BAD}$")) == []
    # the skipped server was not touched in the source
    assert next(iter(wave.src.compute.servers(name=f"^{BAD}$"))).status == "ACTIVE"


def test_the_report_matches_what_the_destination_holds(wave):
    row = next(s for s in wave.report["servers"] if s["server"] == OK)
    server = wave.dst.compute.get_server(row["destination_id"])
    assert server.status == "ACTIVE" and server.name == OK
    [disk] = row["disks"]
    volume = wave.dst.block_storage.get_volume(disk["volume_id"])
    assert [v.id for v in dst_volumes_of(wave.dst, wave.data.id)] == [volume.id]
    assert volume.size == disk["size"] == 1
    assert disk["bytes"] == volume.size * GIB == row["bytes"] == wave.report["totals"]["bytes"]
    assert volume.metadata[SHA256_KEY] == disk["sha256"]
    assert {a.volume_id for a in wave.dst.compute.volume_attachments(server)} == {volume.id}
    # timings: every step, downtime from the source stop to the destination ACTIVE
    assert set(row["steps"]) == {"prepare", "copy_disks", "create_server", "finalize"}
    assert all(s["seconds"] >= 0 for s in row["steps"].values())
    assert row["source_stopped_at"] < row["destination_active_at"]
    assert 0 < row["downtime_s"] < 600 and row["mb_per_s"] > 0


def test_the_report_files_and_table(wave, tmp_path):
    json_path, html_path = write_report(wave.report, tmp_path, "itest")

    assert load_report(json_path)["totals"]["servers_skipped"] == 1
    page = html_path.read_text()
    assert "<svg" in page and OK in page and MISSING_FLAVOR in page
    assert page == render_html(wave.report)
    table = format_table(wave.report)
    assert OK in table and BAD in table and "skipped" in table
