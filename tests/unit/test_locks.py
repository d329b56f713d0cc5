"""The data-dir lock: one holder at a time, same holder re-enters, only the holder releases."""

from __future__ import annotations

import json

import pytest

from os_migrate import locks
from os_migrate.exceptions import DataDirBusy

RUN_A = {"dag_id": "os_migrate_workloads", "run_id": "manual__a"}
RUN_B = {"dag_id": "os_migrate_workloads", "run_id": "manual__b"}


def test_acquire_writes_the_holder_with_since(tmp_path):
    lock = locks.acquire(tmp_path / "t1", RUN_A)

    written = json.loads((tmp_path / "t1" / ".os-migrate.lock").read_text())
    assert written["run_id"] == "manual__a" and written["dag_id"] == "os_migrate_workloads"
    assert written["since"].endswith("+00:00")
    assert lock.holder == written and lock.path == str(tmp_path / "t1" / ".os-migrate.lock")


def test_a_second_holder_is_refused_with_the_holder_and_the_file_to_delete(tmp_path):
    locks.acquire(tmp_path, RUN_A)

    with pytest.raises(DataDirBusy) as err:
        locks.acquire(tmp_path, RUN_B)

    msg = str(err.value)
    assert str(tmp_path) in msg and "run_id manual__a" in msg and "dag_id os_migrate_workloads" in msg
    assert f"delete {tmp_path / '.os-migrate.lock'}" in msg
    assert err.value.retryable is False
    assert locks.read_holder(tmp_path)["run_id"] == "manual__a"  # untouched


def test_the_same_holder_reacquires_its_lock_a_retried_task(tmp_path):
    first = locks.acquire(tmp_path, RUN_A)
    again = locks.acquire(tmp_path, {**RUN_A, "since": "later"})

    assert again.holder == first.holder  # the original "since" is kept


def test_release_only_by_the_holder(tmp_path):
    locks.acquire(tmp_path, RUN_A)

    assert locks.release(tmp_path, RUN_B) is False
    assert locks.read_holder(tmp_path) is not None
    assert locks.release(tmp_path, RUN_A) is True
    assert locks.read_holder(tmp_path) is None
    assert locks.release(tmp_path, RUN_A) is False  # nothing to release
    locks.acquire(tmp_path, RUN_B)  # free again


def test_different_data_dirs_never_contend(tmp_path):
    locks.acquire(tmp_path / "tenant-a", RUN_A)
    locks.acquire(tmp_path / "tenant-b", RUN_B)


def test_an_unreadable_lock_file_is_busy_and_not_released(tmp_path):
    (tmp_path / ".os-migrate.lock").write_text("garbage")

    with pytest.raises(DataDirBusy, match="unknown holder"):
        locks.acquire(tmp_path, RUN_A)
    assert locks.release(tmp_path, RUN_A) is False


def test_a_holder_needs_an_identity(tmp_path):
    with pytest.raises(ValueError):
        locks.acquire(tmp_path, {"since": "now"})
