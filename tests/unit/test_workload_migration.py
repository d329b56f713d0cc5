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


# -- timings ---------------------------------------------------------------------------------------


def new_process(tmp_path, **inner):
    """A ServerMigration as a fresh task process makes it, with its step bodies stubbed."""
    m = migrate.ServerMigration(None, None, tmp_path, "vm")
    for name, body in inner.items():
        setattr(m, f"_{name}", body.__get__(m))
    return m


def test_finalize_reads_the_timings_the_earlier_steps_recorded_in_other_processes(tmp_path):
    write_record(tmp_path)

    def prepare(self):
        self.state.set(source_stopped_at="2026-12-03T10:00:00.000+00:00")
        return {"server": "vm", "action": migrate.MIGRATE}

    def copy_disks(self):
        self.state.set(
            copies=[{"volume_id": "v1", "size": 1, "bytes": 1000, "seconds": 2.0, "mb_per_s": 0.0005}]
        )
        return {"server": "vm", "action": migrate.MIGRATE, "disks": []}

    def create_server(self):
        self.state.set(destination_active_at="2026-12-03T10:01:30.500+00:00")
        return {"server": "vm", "action": migrate.MIGRATE}

    prepared = new_process(tmp_path, prepare=prepare).prepare()
    new_process(tmp_path, copy_disks=copy_disks).copy_disks()
    new_process(tmp_path, create_server=create_server).create_server()
    result = new_process(
        tmp_path, finalize=lambda self: {"server": "vm", "result": migrate.MIGRATED}
    ).finalize()

    assert prepared["started_at"] <= prepared["finished_at"]
    assert prepared["started_at"].endswith("+00:00")
    assert set(result["steps"]) == set(migrate.STEPS)
    assert all(s["seconds"] is not None and s["seconds"] >= 0 for s in result["steps"].values())
    assert result["steps"]["finalize"]["finished_at"] == result["finished_at"]
    assert result["downtime_s"] == 90.5 and result["downtime_note"] is None
    assert result["bytes"] == 1000 and result["disks"][0]["volume_id"] == "v1"
    assert result["errors"] == []


def test_a_source_found_off_counts_downtime_from_then_and_says_so(tmp_path):
    state = {
        "steps": {
            "prepare": {"started_at": "2026-12-03T10:00:00+00:00", "finished_at": "2026-12-03T10:00:01+00:00"}
        },
        "source_stopped_at": None,
        "source_found_off_at": "2026-12-03T10:00:01+00:00",
        "destination_active_at": "2026-12-03T10:00:11+00:00",
    }

    summary = migrate.timing_summary(state)

    assert summary["downtime_s"] == 10.0 and summary["source_stopped_at"] is None
    assert "already SHUTOFF" in summary["downtime_note"]


def test_a_failed_step_keeps_its_error_and_times_for_the_report(tmp_path):
    write_record(tmp_path)

    def copy_disks(self):
        raise CopyError("upload of v1 failed: 500")

    with pytest.raises(CopyError):
        new_process(tmp_path, copy_disks=copy_disks).copy_disks()

    outcome = migrate.recorded_outcome(tmp_path, "vm")
    assert outcome["server"] == "vm"
    assert outcome["steps"]["copy_disks"]["error"] == "CopyError: upload of v1 failed: 500"
    assert outcome["errors"] == ["copy_disks: CopyError: upload of v1 failed: 500"]


def test_a_deferred_step_keeps_its_first_start_when_it_resumes(tmp_path):
    from os_migrate.workload.errors import Pending

    write_record(tmp_path)

    def waiting(self):
        raise Pending("volume", "v1", ("available",), ("error",), "dst", "volume v1", 60)

    with pytest.raises(Pending):
        new_process(tmp_path, copy_disks=waiting).copy_disks()
    first = migrate.recorded_outcome(tmp_path, "vm")["steps"]["copy_disks"]
    assert first["pending"] is True and first["finished_at"] is None and "error" not in first

    done = new_process(
        tmp_path, copy_disks=lambda self: {"server": "vm", "action": migrate.MIGRATE, "disks": []}
    ).copy_disks()

    assert done["started_at"] == first["started_at"]
    step = migrate.recorded_outcome(tmp_path, "vm")["steps"]["copy_disks"]
    assert "pending" not in step and step["seconds"] >= 0


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
