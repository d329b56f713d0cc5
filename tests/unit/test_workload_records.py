"""Server records, the disk plan, the block device mapping, the state journal and the summary."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import jsonschema
import pytest

from os_migrate.exceptions import DataError, ReferenceNotFound, ValidationError
from os_migrate.serialization import write_resources
from os_migrate.workload import migrate, summarize_workloads
from os_migrate.workload.cloudops import SHA256_KEY, SOURCE_ID_KEY
from os_migrate.workload.records import MIGRATION_PARAM_DEFAULTS, Server, workload_file
from os_migrate.workload.store import ServerState, load_server, load_servers

REF = {"name": "app-net", "project_name": "%auth%", "domain_name": "%auth%"}


def record(**params_over):
    params = {
        "name": "db-1",
        "description": None,
        "flavor": {"name": "m1.small"},
        "image": None,
        "key_name": "ops",
        "security_groups": [],
        "metadata": {"a": "b"},
        "tags": ["x"],
        "availability_zone": "nova",
        "user_data": None,
        "config_drive": False,
        "scheduler_hints": {},
        "ports": [
            {
                "network": REF,
                "mac_address": "fa:16:3e:00:00:01",
                "fixed_ips": [{"subnet": dict(REF, name="app-subnet"), "ip_address": "10.0.0.5"}],
            }
        ],
        "floating_ips": [],
        # data volume listed first on purpose: the root is found by boot index, not order
        "volumes": [
            {
                "name": "db-data",
                "size": 20,
                "device": "/dev/vdb",
                "boot_index": None,
                "is_bootable": False,
                "volume_type": "slow",
                "volume_image_metadata": {},
            },
            {
                "name": "db-root",
                "size": 10,
                "device": "/dev/sda",
                "boot_index": 0,
                "is_bootable": True,
                "volume_type": "fast",
                "volume_image_metadata": {"hw_machine_type": "q35"},
            },
        ],
    }
    params.update(params_over)
    return {
        "type": Server.type,
        "params": params,
        "_info": {
            "id": "srv-1",
            "volumes": [{"id": "vol-data", "device": "/dev/vdb"}, {"id": "vol-root", "device": "/dev/sda"}],
        },
        "_migration_params": dict(MIGRATION_PARAM_DEFAULTS),
    }


def test_the_root_is_found_by_boot_index_never_by_device_or_position():
    server = Server(record())

    assert server.boot_volume()["name"] == "db-root"
    assert server.source_volume_id(server.boot_volume()) == "vol-root"
    assert [v["name"] for v in server.data_volumes()] == ["db-data"]
    assert server.is_volume_backed()


def test_schema_accepts_an_export_and_refuses_unknown_migration_params():
    validator = jsonschema.Draft202012Validator(Server.json_schema())
    assert list(validator.iter_errors(record())) == []

    bad = record()
    bad["_migration_params"]["port_creation_mode"] = "magic"
    bad["_migration_params"]["copy_methd"] = "image"
    messages = sorted(e.message for e in validator.iter_errors(bad))
    assert messages == [
        "'magic' is not one of ['nova', 'neutron']",
        "Additional properties are not allowed ('copy_methd' was unexpected)",
    ]


def test_with_overrides_changes_migration_params_only():
    server = Server(record())
    changed = server.with_overrides({"boot_disk_copy": True})

    assert changed.migration_params["boot_disk_copy"] is True
    assert server.migration_params["boot_disk_copy"] is False
    assert changed.params == server.params


def test_load_server_refuses_missing_and_duplicate_names(tmp_path):
    write_resources(workload_file(tmp_path), [record(), record()])

    with pytest.raises(DataError, match="2 servers are named 'db-1'"):
        load_server(tmp_path, "db-1")
    with pytest.raises(DataError, match="no server named 'web'"):
        load_server(tmp_path, "web")


def test_load_servers_lists_every_structural_error(tmp_path):
    broken = record()
    broken["params"]["flavor"] = "m1.small"
    broken["params"]["volumes"][0]["size"] = 0
    write_resources(workload_file(tmp_path), [broken])

    with pytest.raises(ValidationError) as excinfo:
        load_servers(tmp_path)
    assert len(excinfo.value.errors) >= 2
    assert any("params.flavor" in e for e in excinfo.value.errors)


# -- disk plan -----------------------------------------------------------------------------------


def test_plan_of_a_volume_backed_server_copies_boot_then_data_with_mapped_types():
    server = Server(record()).with_overrides({"volume_type_map": {"slow": "standard"}})

    plan = migrate.disk_plan(server)

    assert [(d.role, d.source.id, d.source.is_root, d.spec.volume_type) for d in plan] == [
        ("boot", "vol-root", True, "fast"),
        ("data", "vol-data", False, "standard"),
    ]
    assert plan[0].spec.metadata == {SOURCE_ID_KEY: "vol-root"}
    assert plan[0].volume_image_metadata == {"hw_machine_type": "q35"}
    assert plan[0].boot_index == 0 and plan[1].boot_index is None


def test_plan_boot_volume_params_override_name_size_and_type():
    server = Server(record()).with_overrides(
        {"boot_volume_params": {"name": "new-root", "size": 40, "volume_type": "gold"}}
    )

    boot = migrate.disk_plan(server)[0]

    assert (boot.spec.name, boot.spec.size, boot.spec.volume_type) == ("new-root", 40, "gold")


def test_plan_of_an_image_booted_server_with_boot_disk_copy_sizes_to_the_flavor():
    rec = record(image=REF, volumes=[record()["params"]["volumes"][0]])
    server = Server(rec).with_overrides({"boot_disk_copy": True})

    plan = migrate.disk_plan(server, flavor_disk=5)

    assert plan[0].source.kind == "server_disk" and plan[0].source.id == "srv-1"
    assert plan[0].spec.size == 5 and plan[0].spec.is_bootable
    assert plan[0].volume_image_metadata is None  # taken from the snapshot's properties
    assert [d.role for d in plan] == ["boot", "data"]


def test_plan_without_data_copy_keeps_only_the_boot_volume():
    server = Server(record()).with_overrides({"data_copy": False})

    assert [d.role for d in migrate.disk_plan(server)] == ["boot"]


def test_plan_of_an_image_booted_server_without_copies():
    rec = record(image=REF, volumes=[])
    assert migrate.disk_plan(Server(rec)) == []


# -- block device mapping ------------------------------------------------------------------------


class Dst:
    """Destination answering the lookups of block_device_mapping."""

    def __init__(self, copies):
        self.copies = copies
        self.compute = SimpleNamespace(find_flavor=lambda name, ignore_missing=True: SimpleNamespace(disk=1))
        self.block_storage = SimpleNamespace(
            volumes=lambda details=True: [
                SimpleNamespace(
                    id=f"dst-{sid}", status="available", metadata={SOURCE_ID_KEY: sid, SHA256_KEY: "abc"}
                )
                for sid in self.copies
            ]
        )


def test_bdm_root_is_boot_index_zero_first_with_source_devices():
    server = Server(record())

    bdm = migrate.block_device_mapping(Dst(["vol-root", "vol-data"]), server, refs=None)

    assert bdm == [
        {
            "boot_index": 0,
            "uuid": "dst-vol-root",
            "source_type": "volume",
            "destination_type": "volume",
            "delete_on_termination": False,
            "device_name": "/dev/sda",
        },
        {
            "boot_index": -1,
            "uuid": "dst-vol-data",
            "source_type": "volume",
            "destination_type": "volume",
            "delete_on_termination": False,
            "device_name": "/dev/vdb",
        },
    ]


def test_bdm_of_an_image_booted_server_starts_with_the_destination_image():
    rec = record(image=REF, volumes=[record()["params"]["volumes"][0]])
    refs = SimpleNamespace(find=lambda kind, ref: SimpleNamespace(id=f"{kind}-{ref['name']}"))

    bdm = migrate.block_device_mapping(Dst(["vol-data"]), Server(rec), refs)

    assert bdm[0] == {
        "boot_index": 0,
        "uuid": "image-app-net",
        "source_type": "image",
        "destination_type": "local",
        "delete_on_termination": True,
    }
    assert bdm[1]["uuid"] == "dst-vol-data" and bdm[1]["boot_index"] == -1


def test_bdm_refuses_a_disk_without_verified_copy():
    with pytest.raises(migrate.DestinationError, match="no verified copy"):
        migrate.block_device_mapping(Dst(["vol-root"]), Server(record()), refs=None)


# -- image metadata ------------------------------------------------------------------------------


def test_portable_image_metadata_repoints_image_id_by_name():
    image = SimpleNamespace(id="dst-cirros", status="active")
    dst = SimpleNamespace(image=SimpleNamespace(images=lambda name: [image] if name == "cirros" else []))

    assert migrate.portable_image_metadata(
        dst, {"image_id": "src", "image_name": "cirros", "hw_disk_bus": "scsi", "min_ram": 0}
    ) == {"image_id": "dst-cirros", "image_name": "cirros", "hw_disk_bus": "scsi", "min_ram": "0"}
    assert "image_id" not in migrate.portable_image_metadata(dst, {"image_id": "src", "image_name": "gone"})


def test_set_volume_image_metadata_sets_differences_and_unsets_extras():
    vol = SimpleNamespace(id="v", volume_image_metadata={"a": "1", "b": "2", "tmp": "x"})
    calls = []
    dst = SimpleNamespace(
        block_storage=SimpleNamespace(
            get_volume=lambda v: vol,
            set_volume_image_metadata=lambda v, **md: calls.append(("set", md)),
            delete_volume_image_metadata=lambda v, keys: calls.append(("unset", keys)),
        )
    )

    migrate.set_volume_image_metadata(dst, "v", {"a": "1", "b": "3", "c": "4"})

    assert calls == [("set", {"b": "3", "c": "4"}), ("unset", ["tmp"])]


# -- state journal and summary -------------------------------------------------------------------


def test_state_journal_round_trips_detaches_and_floating_ips(tmp_path):
    server = Server(record())
    state = ServerState.load(tmp_path, server)
    state.record_detach("vol-data", "srv-1", "/dev/vdb")
    state.record_floating_ip("fip-1")
    state.record_floating_ip("fip-1")

    again = ServerState.load(tmp_path, server)
    assert again.get("detached") == {"vol-data": {"server_id": "srv-1", "device": "/dev/vdb"}}
    assert again.get("allocated_floating_ips") == ["fip-1"]
    again.record_reattach("vol-data")
    assert ServerState.load(tmp_path, server).get("detached") == {}


def test_summary_names_migrated_skipped_failed_and_already_done():
    report = {
        "servers": ["a", "b", "c", "d", "e"],
        "migrate": ["a", "b", "c"],
        "skip": [{"server": "d", "reason": "name taken"}],
        "done": ["e"],
    }
    results = [
        {"server": "a", "result": "migrated"},
        None,
        {"server": "c", "result": "migrated"},
        {"server": "d", "result": "skipped", "reason": "name taken"},
        {"server": "e", "result": "migrated"},
    ]

    summary = summarize_workloads(copy.deepcopy(results), preflight=report)

    assert summary["migrated"] == ["a", "c"]
    assert summary["failed"] == ["b"]
    assert summary["skipped"] == [{"server": "d", "reason": "name taken"}]
    assert summary["already_done"] == ["e"]
    assert summary["counts"] == {"migrated": 2, "skipped": 1, "failed": 1}


# -- server group --------------------------------------------------------------------------------


def test_the_destination_group_of_the_same_name_becomes_the_group_hint():
    def group_id(kind, ref, required=True):
        if (kind, ref["name"]) == ("server_group", "db-anti"):
            return "dst-group-1"
        raise ReferenceNotFound(f"{kind} {ref['name']} not found")

    refs = SimpleNamespace(id=group_id)
    grouped = Server(record(server_group=dict(REF, name="db-anti")))

    assert migrate.destination_server_group_id(refs, grouped) == "dst-group-1"
    assert migrate.destination_server_group_id(refs, Server(record())) is None
    with pytest.raises(migrate.DestinationError, match="server group 'gone' not found in the destination"):
        migrate.destination_server_group_id(refs, Server(record(server_group=dict(REF, name="gone"))))
