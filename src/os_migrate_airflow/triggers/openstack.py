"""Trigger that waits in the triggerer until an OpenStack resource reaches a status.

A deferrable workload operator hands a long wait (a volume upload, a snapshot, a server going
ACTIVE...) to :class:`OpenStackResourceStatusTrigger`; the worker slot is free meanwhile. The
trigger polls the resource with openstacksdk (blocking calls in a thread, ``asyncio.to_thread``)
through :class:`~os_migrate_airflow.hooks.openstack.OpenStackHook`, so only the Connection id is
serialized: credentials never reach the trigger table.

Events (``TriggerEvent.payload``)::

    {"status": "done" | "failed" | "timeout", "kind", "resource_id", "resource_status",
     "message", "conn_id"}

``failed``: the resource reached a failure status or disappeared; ``timeout``: it did not reach a
target or failure status within ``timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent
from openstack import exceptions as sdk_exc

from os_migrate.workload import cloudops
from os_migrate_airflow.hooks.openstack import OpenStackHook

#: Resource kind -> (openstacksdk proxy, getter) of the resource.
GETTERS = {
    "volume": ("block_storage", "get_volume"),
    "snapshot": ("block_storage", "get_snapshot"),
    "image": ("image", "get_image"),
    "server": ("compute", "get_server"),
}


class OpenStackResourceStatusTrigger(BaseTrigger):
    """Poll one OpenStack resource until its status is a target or a failure status.

    :param conn_id: Airflow Connection (conn_type ``openstack``) of the cloud holding it.
    :param kind: ``volume``, ``snapshot``, ``image`` or ``server``.
    :param resource_id: the resource's id.
    :param target_statuses: statuses that end the wait with ``done`` (a server also needs no task
        in progress, ``task_state`` empty).
    :param failure_statuses: statuses that end it with ``failed``.
    :param poll_interval: seconds between polls.
    :param timeout: seconds until a ``timeout`` event.
    :param what: description for messages.
    :raises ValueError: unknown ``kind``.
    """

    def __init__(
        self,
        *,
        conn_id: str,
        kind: str,
        resource_id: str,
        target_statuses: list[str] | tuple[str, ...],
        failure_statuses: list[str] | tuple[str, ...] = (),
        poll_interval: float = 10.0,
        timeout: float = 3600.0,
        what: str = "",
    ) -> None:
        super().__init__()
        if kind not in GETTERS:
            raise ValueError(f"kind must be one of {', '.join(GETTERS)}, got {kind!r}")
        self.conn_id = conn_id
        self.kind = kind
        self.resource_id = resource_id
        self.target_statuses = list(target_statuses)
        self.failure_statuses = list(failure_statuses)
        self.poll_interval = float(poll_interval)
        self.timeout = float(timeout)
        self.what = what or f"{kind} {resource_id}"

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and keyword arguments (the Connection id only; no credentials)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "conn_id": self.conn_id,
                "kind": self.kind,
                "resource_id": self.resource_id,
                "target_statuses": list(self.target_statuses),
                "failure_statuses": list(self.failure_statuses),
                "poll_interval": self.poll_interval,
                "timeout": self.timeout,
                "what": self.what,
            },
        )

    def _connect(self):
        return OpenStackHook(openstack_conn_id=self.conn_id).get_conn()

    def _fetch(self, conn) -> tuple[str | None, Any]:
        """``(status, task_state)`` of the resource; ``(None, None)`` if it does not exist."""
        proxy, getter = GETTERS[self.kind]
        try:
            obj = cloudops.call(getattr(getattr(conn, proxy), getter), self.resource_id)
        except sdk_exc.NotFoundException:
            return None, None
        return obj.status, getattr(obj, "task_state", None) if self.kind == "server" else None

    def _event(self, status: str, resource_status: str | None, message: str) -> TriggerEvent:
        return TriggerEvent(
            {
                "status": status,
                "kind": self.kind,
                "resource_id": self.resource_id,
                "resource_status": resource_status,
                "message": message,
                "conn_id": self.conn_id,
            }
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until done, failed or timed out; yield one event."""
        deadline = time.monotonic() + self.timeout
        conn = await asyncio.to_thread(self._connect)
        try:
            while True:
                status, task_state = await asyncio.to_thread(self._fetch, conn)
                if status is None:
                    yield self._event("failed", None, f"{self.what}: not found")
                    return
                if status in self.target_statuses and not task_state:
                    yield self._event("done", status, f"{self.what}: {status}")
                    return
                if status in self.failure_statuses:
                    yield self._event("failed", status, f"{self.what}: status {status}")
                    return
                if time.monotonic() >= deadline:
                    yield self._event(
                        "timeout", status, f"{self.what}: still {status!r} after {self.timeout:.0f} s"
                    )
                    return
                self.log.debug(
                    "%s: %s (task %s); next poll in %.0f s", self.what, status, task_state, self.poll_interval
                )
                await asyncio.sleep(self.poll_interval)
        finally:
            await asyncio.to_thread(conn.close)
