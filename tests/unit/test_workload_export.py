"""Export of servers: NIC order, boot volume detection, the record, merges that keep user knobs."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from os_migrate.dataset import check_record
from os_migrate.export import merge_records
from os_migrate.serialization import load_resources, write_resources
from os_migrate.workload import export
from os_migrate.workload.records import MIGRATION_PARAM_DEFAULTS, Server, state_dir, workload_file

from .fakes import FakeRefs


def port(pid, mac, created, ips=(("subnet-a", "10.0.0.5"),), sgs=("security_group-web",)):
    return SimpleNamespace(
        id=pid,
        mac_address=mac,
        created_at=created,
        name="",
        description="",
        network_id="network-app",
        fixed_ips=[{"subnet_id": s, "ip_address": ip} for s, ip in ips],
        allowed_address_pairs=[{"ip_address": "10.0.0.99", "mac_address": None}],
        security_group_ids=list(sgs),
        is_port_security_enabled=True,
    )


def attachment(volume_id, device):
    return SimpleNamespace(volume_id=volume_id, device=device)


def volume(vid, *, bootable=False, vim=None, vtype="fast"):
    return SimpleNamespace(
        id=vid,
        name=f"{vid}-name",
        description="",
        size=2,
        volume_type=vtype,
        is_bootable=bootable,
        status="in-use",
        attachments=[{"x": 1}],
        metadata={"k": "v", "os_migrate_sha256": "leaked"},
        volume_image_metadata=vim or {},
        availability_zone="nova",
        created_at="t",
        updated_at="t",
    )


def server(**over):
    base = dict(
        id="srv-1",
        name="web-1",
        description="front",
        flavor={"original_name": "m1.small"},
        image={"id": "image-cirros"},
        key_name="ops",
        metadata={"role": "web"},
        tags=["b", "a"],
        availability_zone="nova",
        user_data=None,
        config_drive="",
        scheduler_hints={"group": "grp-uuid", "build_near": "x"},
        security_groups=[],
        project_id="p",
        status="ACTIVE",
        created_at="t0",
        updated_at="t1",
        root_device_name=None,
        addresses={
            "app": [{"addr": "10.0.0.6", "OS-EXT-IPS-MAC:mac_addr": "fa:02"}],
            "db": [{"addr": "10.1.0.5", "OS-EXT-IPS-MAC:mac_addr": "fa:01"}],
        },
    )
    base.update(over)
    return SimpleNamespace(**base)


def conn(ports, attachments, volumes=()):
    by_id = {v.id: v for v in volumes}
    return SimpleNamespace(
        network=SimpleNamespace(ports=lambda device_id: list(ports)),
        compute=SimpleNamespace(volume_attachments=lambda s: list(attachments)),
        block_storage=SimpleNamespace(get_volume=lambda vid: by_id[vid]),
    )


def test_nic_order_follows_the_addresses_then_creation_time():
    ports = [port("p1", "fa:01", "2"), port("p2", "fa:02", "3"), port("p3", "fa:03", "1")]

    assert [p.id for p in export.nic_order(server(), ports)] == ["p2", "p1", "p3"]


def test_boot_volume_rules_in_order():
    boot, data = volume("v-boot", bootable=True), volume("v-data")
    attached = [(attachment("v-data", "/dev/vdb"), data), (attachment("v-boot", "/dev/sda"), boot)]

    assert export._boot_volume_id(server(root_device_name="/dev/vdb"), attached) == (
        "v-data",
        "root_device_name",
    )
    assert export._boot_volume_id(server(), attached) == ("v-boot", "bootable_volume")
    both = [(a, volume(a.volume_id, bootable=True)) for a, _ in attached]
    assert export._boot_volume_id(server(), both) == ("v-data", "first_attachment")


def test_record_of_an_image_booted_server():
    fip = SimpleNamespace(
        id="fip-1",
        port_id="p1",
        floating_ip_address="172.24.4.9",
        floating_network_id="network-public",
        fixed_ip_address="10.0.0.5",
        description="web",
    )
    ports = [port("p1", "fa:01", "2", ips=(("subnet-a", "10.0.0.5"), ("subnet-b", "10.0.1.5")))]
    data = volume("v-data")

    rec = export.server_record(
        conn(ports, [attachment("v-data", "/dev/vdb")], [data]), FakeRefs(), server(), [fip], {"v-data": data}
    )

    p = rec["params"]
    assert p["flavor"] == {"name": "m1.small"}
    assert p["image"]["name"] == "cirros"
    assert p["tags"] == ["a", "b"]
    assert p["config_drive"] is False
    assert p["scheduler_hints"] == {"build_near": "x"}
    assert rec["_info"]["dropped_scheduler_hints"] == {"group": "grp-uuid"}
    assert p["ports"][0]["fixed_ips"] == [
        {
            "subnet": {"name": "a", "project_name": "%auth%", "domain_name": "%auth%"},
            "ip_address": "10.0.0.5",
        },
        {
            "subnet": {"name": "b", "project_name": "%auth%", "domain_name": "%auth%"},
            "ip_address": "10.0.1.5",
        },
    ]
    assert p["ports"][0]["allowed_address_pairs"] == [{"ip_address": "10.0.0.99"}]
    assert p["security_groups"][0]["name"] == "web"
    assert p["floating_ips"] == [
        {
            "floating_ip_address": "172.24.4.9",
            "fixed_ip_address": "10.0.0.5",
            "description": "web",
            "floating_network": {"name": "public", "project_name": "%auth%", "domain_name": "%auth%"},
        }
    ]
    assert p["volumes"][0]["boot_index"] is None
    assert p["volumes"][0]["metadata"] == {"k": "v"}  # our marker keys are never exported
    assert rec["_info"]["boot_index_source"] == "image"
    assert rec["_migration_params"] == MIGRATION_PARAM_DEFAULTS
    assert Server(rec).source_volume_id(p["volumes"][0]) == "v-data"


def test_record_of_a_server_booted_from_volume_puts_the_root_first():
    boot = volume("v-boot", bootable=True, vim={"hw_firmware_type": "uefi"}, vtype="gold")
    data = volume("v-data")
    atts = [attachment("v-data", "/dev/vdb"), attachment("v-boot", "/dev/sda")]

    rec = export.server_record(
        conn([], atts), FakeRefs(), server(image={}), [], {"v-boot": boot, "v-data": data}
    )

    vols = rec["params"]["volumes"]
    assert rec["params"]["image"] is None
    assert [(v["device"], v["boot_index"], v["volume_type"]) for v in vols] == [
        ("/dev/sda", 0, "gold"),
        ("/dev/vdb", None, "fast"),
    ]
    assert vols[0]["volume_image_metadata"] == {"hw_firmware_type": "uefi"}
    assert [v["id"] for v in rec["_info"]["volumes"]] == ["v-boot", "v-data"]


def test_merge_refreshes_params_but_keeps_edited_migration_params():
    old = {
        "type": Server.type,
        "params": {"name": "a"},
        "_info": {"id": "1"},
        "_migration_params": {"boot_disk_copy": True},
    }
    gone = {"type": Server.type, "params": {"name": "b"}, "_info": {"id": "2"}}
    new = {
        "type": Server.type,
        "params": {"name": "a2"},
        "_info": {"id": "1"},
        "_migration_params": dict(MIGRATION_PARAM_DEFAULTS),
    }
    added = {
        "type": Server.type,
        "params": {"name": "c"},
        "_info": {"id": "3"},
        "_migration_params": dict(MIGRATION_PARAM_DEFAULTS),
    }

    merged = merge_records([old, gone], [new, added])

    assert [r["params"]["name"] for r in merged] == ["a2", "b", "c"]
    assert merged[0]["_migration_params"] == {**MIGRATION_PARAM_DEFAULTS, "boot_disk_copy": True}


def test_a_server_being_migrated_keeps_its_record(tmp_path, monkeypatch):
    frozen = {
        "type": Server.type,
        "params": {"name": "web-1", "flavor": {"name": "old"}},
        "_info": {"id": "srv-1"},
        "_migration_params": {},
    }
    write_resources(workload_file(tmp_path), [frozen])
    state_dir(tmp_path).mkdir()
    state = state_dir(tmp_path) / "srv-1.json"
    state.write_text(json.dumps({"result": None, "stopped_by_os_migrate": True, "detached": {}}))
    src = SimpleNamespace(
        authorize=lambda: None,
        current_project_id="p",
        network=SimpleNamespace(ips=lambda project_id: [], ports=lambda device_id: []),
        compute=SimpleNamespace(servers=lambda details: [server()], volume_attachments=lambda s: []),
        block_storage=SimpleNamespace(volumes=lambda details: []),
    )
    monkeypatch.setattr(export, "RefIndex", lambda conn: FakeRefs())

    summary = export.export_workloads(src, tmp_path)

    assert summary["servers"] == ["web-1"]
    assert load_resources(workload_file(tmp_path))[0]["params"]["flavor"] == {"name": "old"}

    state.write_text(json.dumps({"result": "migrated", "stopped_by_os_migrate": True}))
    export.export_workloads(src, tmp_path)

    assert load_resources(workload_file(tmp_path))[0]["params"]["flavor"] == {"name": "m1.small"}


def test_the_server_group_is_exported_by_name():
    groups = {
        "server_group-db-anti": SimpleNamespace(
            id="server_group-db-anti", name="db-anti", member_ids=["srv-1"]
        ),
        "server_group-x": SimpleNamespace(id="server_group-x", name="x", member_ids=["srv-3"]),
    }
    refs = FakeRefs({"server_group": groups})

    rec = export.server_record(conn([], []), refs, server(), [], {})
    alone = export.server_record(conn([], []), refs, server(id="srv-2"), [], {})

    assert rec["params"]["server_group"] == {
        "name": "db-anti",
        "project_name": "%auth%",
        "domain_name": "%auth%",
    }
    assert "group" not in rec["params"]["scheduler_hints"]
    assert rec["_info"]["dropped_scheduler_hints"] == {"group": "grp-uuid"}
    assert alone["params"]["server_group"] is None
    assert check_record(Path("workloads.yml"), 0, rec, Server) == []
