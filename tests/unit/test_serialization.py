"""Data files: deterministic output, atomic writes, clear errors for bad files."""

import os

import pytest

from os_migrate.exceptions import DataError, DataVersionMismatch
from os_migrate.serialization import atomic_write_text, dump_data, load_resources, write_resources

RECORD = {
    "_migration_params": {},
    "_info": {"id": "n1", "status": "ACTIVE"},
    "params": {"name": "app", "description": "x", "availability_zone_hints": ["b", "a"]},
    "type": "openstack.network.Network",
}


def test_dump_orders_record_keys_and_sorts_nested_keys():
    text = dump_data([RECORD])
    assert text.splitlines()[:4] == [
        "os_migrate_version: 1",
        "resources:",
        "  - type: openstack.network.Network",
        "    params:",
    ]
    # nested keys sorted, list order kept (ordering of lists is the resource class's business)
    assert text.index("availability_zone_hints") < text.index("description") < text.index("name")
    assert text.index("- b") < text.index("- a")


def test_write_is_a_noop_when_content_is_equal(tmp_path):
    path = tmp_path / "networks.yml"
    assert write_resources(path, [RECORD]) is True
    mtime = os.stat(path).st_mtime_ns
    assert write_resources(path, [dict(reversed(list(RECORD.items())))]) is False
    assert os.stat(path).st_mtime_ns == mtime
    assert load_resources(path)[0]["params"]["name"] == "app"


def test_atomic_write_leaves_no_temp_files(tmp_path):
    atomic_write_text(tmp_path / "a.yml", "x: 1\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yml"]


def test_missing_file_is_empty(tmp_path):
    assert load_resources(tmp_path / "nope.yml") == []


def test_malformed_yaml_names_file_line_and_column(tmp_path):
    path = tmp_path / "subnets.yml"
    path.write_text("os_migrate_version: 1\nresources:\n  - type: [unclosed\n")
    with pytest.raises(DataError) as e:
        load_resources(path)
    assert str(path) in str(e.value)
    assert "malformed YAML: line 4" in str(e.value)


@pytest.mark.parametrize("version", [None, 2, "1"])
def test_wrong_format_version_is_refused(tmp_path, version):
    path = tmp_path / "networks.yml"
    path.write_text(
        f"os_migrate_version: {version if version is not None else 'null'}\n"
        if not isinstance(version, str)
        else f"os_migrate_version: '{version}'\n"
    )
    with pytest.raises(DataVersionMismatch) as e:
        load_resources(path)
    assert "os_migrate_version" in str(e.value) and str(path) in str(e.value)


def test_resources_must_be_a_list(tmp_path):
    path = tmp_path / "networks.yml"
    path.write_text("os_migrate_version: 1\nresources: {a: 1}\n")
    with pytest.raises(DataError, match="resources: must be a list"):
        load_resources(path)


def test_reexport_replaces_a_recreated_resource_instead_of_duplicating_its_name():
    from os_migrate.export import merge_records
    from os_migrate.resources import Network

    def rec(name, sid, knobs=None):
        return {
            "type": Network.type,
            "params": {"name": name},
            "_info": {"id": sid},
            "_migration_params": knobs or {},
        }

    existing = [rec("app", "old-1", {"x": 1}), rec("db", "old-2"), rec("kept", "old-3")]
    exported = [rec("app", "new-1"), rec("db", "old-2"), rec("fresh", "new-4")]
    merged = merge_records(existing, exported, identity=lambda r: Network(r).identity)
    assert [(r["params"]["name"], r["_info"]["id"]) for r in merged] == [
        ("app", "new-1"),
        ("db", "old-2"),
        ("kept", "old-3"),
        ("fresh", "new-4"),
    ]
    assert merged[0]["_migration_params"] == {"x": 1}


def test_staged_files_and_the_folders_made_for_them_are_owner_only(tmp_path):
    import stat
    from pathlib import Path

    from os_migrate.locks import acquire

    old = os.umask(0o022)
    path = tmp_path / "new" / "dir" / "networks.yml"
    atomic_write_text(path, "a: 1\n")
    atomic_write_text(path, "a: 2\n")  # a rewrite keeps the mode
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700
    lock = acquire(tmp_path / "locked", {"dag_id": "d", "run_id": "r"})
    assert stat.S_IMODE(Path(lock.path).stat().st_mode) == 0o600
    os.umask(old)
