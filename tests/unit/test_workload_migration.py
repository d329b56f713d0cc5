"""ServerMigration: one object per server; what its steps share, and the order run() keeps."""

from __future__ import annotations

from types import SimpleNamespace
from unittest import mock

import pytest

from os_migrate.serialization import write_resources
from os_migrate.workload import migrate
from os_migrate.workload.cloudops import nonblocking_waits
from os_migrate.workload.disk_copy import ImageDiskCopier
from os_migrate.workload.errors import CopyError, MigrationFailed, Pending
from os_migrate.workload.records import MIGRATION_PARAM_DEFAULTS, Server, workload_file


def write_record(data_dir, **migration_params):
    record = {
        "type": Server.type,
        "params": {"name": "vm", "flavor": {"name": "m1"}, "image": None, "volumes": []},
        "_info": {"id": "srv-1"},
        "_migration_params": {**MIGRATION_PARAM_DEFAULTS, **migration_params},
    }
    write_resources(workload_file(data_dir), [record])


def test_the_copier_is_made_from_the_record_with_its_settings_and_the_state_as_journal(tmp_path):
    write_record(tmp_path, copy_settings={"access_order": ["detach"], "chunk_size": 4096})

    m = migrate.ServerMigration("SRC", "DST", tmp_path, "vm", overrides={"restart_source_after": True})

    assert m.server.migration_params["restart_source_after"] is True
    assert isinstance(m.copier, ImageDiskCopier) and m.copier is m.copier
    assert (m.copier.src, m.copier.dst, m.copier.journal) == ("SRC", "DST", m.state)
    assert (m.copier.access_order, m.copier.chunk_size) == (("detach",), 4096)


def test_an_injected_copier_is_used_as_is(tmp_path):
    write_record(tmp_path)
    copier = object()

    assert migrate.ServerMigration(None, None, tmp_path, "vm", copier=copier).copier is copier


def steps(m, calls, fail=None):
    def step(name, result):
        def run():
            calls.append(name)
            if name == fail:
                raise CopyError(f"{name} broke")
            return result

        return run

    m.prepare = step("prepare", {"action": migrate.MIGRATE})
    m.copy_disks = step("copy_disks", {"disks": [{"volume_id": "v"}]})
    m.create_server = step("create_server", {})
    m.finalize = step("finalize", {"result": migrate.MIGRATED})


def test_run_keeps_the_dag_order_and_adds_the_copies(tmp_path):
    write_record(tmp_path)
    m = migrate.ServerMigration(None, None, tmp_path, "vm")
    calls: list[str] = []
    steps(m, calls)

    assert m.run() == {"result": migrate.MIGRATED, "copies": [{"volume_id": "v"}]}
    assert calls == ["prepare", "copy_disks", "create_server", "finalize"]


def test_run_finalizes_after_a_failed_step_and_chains_the_rollback(tmp_path):
    write_record(tmp_path)
    m = migrate.ServerMigration(None, None, tmp_path, "vm")
    calls: list[str] = []
    steps(m, calls, fail="copy_disks")

    with pytest.raises(CopyError):
        m.run()
    assert calls == ["prepare", "copy_disks", "finalize"]

    def rolled_back():
        raise MigrationFailed("rolled back")

    m.finalize = rolled_back
    with pytest.raises(MigrationFailed) as excinfo:
        m.run()
    assert isinstance(excinfo.value.__cause__, CopyError)


def test_prepare_defers_the_stop_and_a_recall_does_not_stop_the_server_twice(tmp_path, monkeypatch):
    write_record(tmp_path, stop_before_migration=True)
    source = SimpleNamespace(id="srv-1", status="ACTIVE", task_state=None)
    stop = mock.Mock(side_effect=lambda s: setattr(source, "task_state", "powering-off"))
    src = SimpleNamespace(compute=SimpleNamespace(get_server=lambda i: source, stop_server=stop))
    monkeypatch.setattr(migrate.ServerMigration, "skip_reason", lambda self: None)
    monkeypatch.setattr(migrate.ServerMigration, "destination_server", lambda self: (None, False))

    def prepare():
        with nonblocking_waits():
            return migrate.ServerMigration(src, None, tmp_path, "vm").prepare()

    with pytest.raises(Pending) as pending:
        prepare()
    assert (pending.value.kind, pending.value.side, pending.value.target_statuses) == (
        "server",
        "src",
        ("SHUTOFF",),
    )
    with pytest.raises(Pending):  # still powering off: no second stop (Nova would answer 409)
        prepare()
    source.status, source.task_state = "SHUTOFF", None
    result = prepare()

    stop.assert_called_once()
    assert result["action"] == "migrate" and result["source_status"] == "SHUTOFF"
    assert result["source_status_before"] == "ACTIVE"
