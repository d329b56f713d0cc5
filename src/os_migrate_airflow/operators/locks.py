"""Thin operators over :mod:`os_migrate.locks`: one run at a time per data dir.

Used as a setup/teardown pair: ``lock >> ... >> unlock.as_teardown(setups=lock)``, so the lock is
released when the run fails too. The holder is the run (``dag_id`` and ``run_id``), so a retried
lock task of the same run gets its own lock back and a second run on the data dir fails at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from os_migrate import locks
from os_migrate_airflow.operators.base import core_errors

if TYPE_CHECKING:
    from airflow.sdk import Context


def run_holder(context: Context) -> dict[str, str]:
    """The lock holder of the running task's DAG run: ``{"dag_id", "run_id"}``."""
    ti = context["ti"]
    return {"dag_id": str(ti.dag_id), "run_id": str(ti.run_id)}


class DataDirLockOperator(BaseOperator):
    """Lock the data dir for this DAG run; fail at once (no retry) if another run holds it.

    .. seealso:: :func:`os_migrate.locks.acquire`

    :param data_dir: the data dir (templated).
    :returns: the holder written (``dag_id``, ``run_id``, ``since``).
    :raises AirflowFailException: another run holds the lock (not retried); the message names the
        data dir, the holder and the lock file to delete if that run is gone.
    """

    template_fields: Sequence[str] = ("data_dir",)
    ui_color = "#f2e6e6"

    def __init__(self, *, data_dir: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_dir = data_dir

    def execute(self, context: Context) -> dict[str, Any]:
        with core_errors():
            lock = locks.acquire(str(self.data_dir), run_holder(context))
        self.log.info("Locked %s for %s (%s)", self.data_dir, lock.holder, lock.path)
        return dict(lock.holder)


class DataDirUnlockOperator(BaseOperator):
    """Release this DAG run's lock of the data dir (a lock held by another run is left alone).

    .. seealso:: :func:`os_migrate.locks.release`

    :param data_dir: the data dir (templated).
    :returns: True if the lock was released.
    """

    template_fields: Sequence[str] = ("data_dir",)
    ui_color = "#f2e6e6"

    def __init__(self, *, data_dir: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_dir = data_dir

    def execute(self, context: Context) -> bool:
        holder = run_holder(context)
        released = locks.release(str(self.data_dir), holder)
        if released:
            self.log.info("Unlocked %s", self.data_dir)
        else:
            self.log.info(
                "%s is not locked by %s: nothing to release (%s)",
                self.data_dir,
                holder,
                locks.read_holder(str(self.data_dir)),
            )
        return released
