"""Bytes a wave will copy and the Markdown plan shown in the approval step."""

from __future__ import annotations

from os_migrate.serialization import write_resources
from os_migrate.workload.estimate import GIB, expected_bytes, human_bytes, plan_markdown
from os_migrate.workload.records import MIGRATION_PARAM_DEFAULTS, Server, workload_file


def record(name, volumes, image=None, **mp):
    info_vols = [{"id": f"{name}-{v['device'][-3:]}", "device": v["device"]} for v in volumes]
    return {
        "type": Server.type,
        "params": {"name": name, "flavor": {"name": "m1.small"}, "image": image, "volumes": volumes},
        "_info": {"id": f"id-{name}", "volumes": info_vols},
        "_migration_params": {**MIGRATION_PARAM_DEFAULTS, **mp},
    }


def write(tmp_path):
    write_resources(
        workload_file(tmp_path),
        [
            record(
                "db-1",
                [
                    {"name": "root", "size": 10, "device": "/dev/vda", "boot_index": 0},
                    {"name": "data", "size": 5, "device": "/dev/vdb"},
                ],
            ),
            record("web-1", [], image={"name": "cirros"}, boot_disk_copy=True),
            record("app-1", [], image={"name": "cirros"}),
        ],
    )


def test_expected_bytes_sum_the_planned_volumes(tmp_path):
    write(tmp_path)

    sizes = expected_bytes(tmp_path, ["db-1", "web-1", "app-1"], flavor_disks={"web-1": 20})

    assert sizes == {
        "db-1": {"disks": 2, "bytes": 15 * GIB},
        "web-1": {"disks": 1, "bytes": 20 * GIB},  # root disk copied into a flavor-sized volume
        "app-1": {"disks": 0, "bytes": 0},  # boots from the migrated image: nothing copied
    }
    # the run's overrides count: data_copy off leaves the data volume out
    assert expected_bytes(tmp_path, ["db-1"], overrides={"data_copy": False})["db-1"]["bytes"] == 10 * GIB
    assert expected_bytes(tmp_path, []) == {}


def test_plan_markdown_lists_servers_flavors_bytes_and_skips():
    report = {
        "migrate": ["db-1"],
        "done": ["old-1"],
        "skip": [{"server": "web-1", "reason": "a server named 'web-1' already exists"}],
        "flavors": {"db-1": {"source": "m1.small", "destination": "m1.medium"}},
        "needs": {"instances": 1},
    }

    body = plan_markdown(report, {"db-1": {"disks": 2, "bytes": 15 * GIB}}, tenant="t1", data_dir="/d/t1")

    assert "Tenant **t1**, data dir `/d/t1`" in body
    assert "### Servers to stop and migrate (1)" in body
    assert "| db-1 | m1.small -> m1.medium | 2 | 15.0 GiB |" in body
    assert f"Expected bytes to copy: 15.0 GiB** ({15 * GIB} bytes" in body
    assert "- old-1" in body
    assert "- web-1: a server named 'web-1' already exists" in body
    assert "**Reject** stops nothing" in body


def test_plan_markdown_without_servers_says_nothing_stops():
    body = plan_markdown({"migrate": [], "skip": []}, {})

    assert "None: no server will be stopped." in body and "Expected bytes to copy: 0 B**" in body


def test_human_bytes():
    assert [human_bytes(n) for n in (0, 1536, 3 * GIB)] == ["0 B", "1.5 KiB", "3.0 GiB"]
