"""Errors of workload migration (all are :class:`~os_migrate.exceptions.OsMigrateError`).

::

    OsMigrateError
     +-- ValidationError              pre-flight found problems (``.errors`` lists every one)
     +-- WorkloadError                one server's migration cannot go on
          +-- SourceStateError        the source server is in a state we cannot migrate from
          +-- CopyError               a disk copy failed (verification mismatch, failed volume...)  [retryable]
          |    +-- SourceDiskUnreadable  the source cloud offers no API path to read that disk
          +-- DestinationError        the destination server or a resource of it went wrong  [retryable]
          +-- MigrationFailed         finalize found an unfinished migration: the destination
                                      was rolled back and the source restored

SDK exceptions (``openstack.exceptions.SDKException``, keystoneauth connection errors) are not
wrapped: they are usually transient, and every step is safe to run again.

``retryable`` (see :class:`~os_migrate.exceptions.OsMigrateError`) is ``True`` only where marked.

:class:`Pending` is not an error of the migration: a step run with non-blocking waits
(:func:`os_migrate.workload.cloudops.nonblocking_waits`) raises it instead of polling a long wait;
the caller waits elsewhere (the Airflow triggerer) and calls the step again.
"""

from __future__ import annotations

from typing import Any

from os_migrate.exceptions import OsMigrateError


class WorkloadError(OsMigrateError):
    """One server's migration cannot go on; the message names the server and the cause."""


class SourceStateError(WorkloadError):
    """The source server is in a state we cannot migrate from (e.g. ERROR, or not SHUTOFF)."""


class CopyError(WorkloadError):
    """A disk copy failed; temporary resources are left for the next attempt or the cleanup."""

    retryable = True


class SourceDiskUnreadable(CopyError):
    """The source cloud offers no API path to read this disk (no snapshot, no in-use upload,
    and the volume cannot be detached)."""

    retryable = False


class DestinationError(WorkloadError):
    """The destination server or one of its resources failed (ERROR state, timeout)."""

    retryable = True


class MigrationFailed(WorkloadError):
    """Finalize found the migration unfinished: the destination was rolled back, the source
    restored. Fix the cause and run again."""


class Pending(Exception):
    """A step reached a long wait in non-blocking mode; call it again once the resource is ready.

    :param kind: ``volume``, ``image``, ``server`` or ``snapshot``.
    :param resource_id: the resource's id.
    :param target_statuses: statuses that end the wait (for a server: with no task in progress).
    :param failure_statuses: statuses that end it with a failure (the step, called again, raises
        the right error).
    :param side: ``src`` or ``dst``: the cloud holding the resource.
    :param what: description for messages (``destination volume 'data-1' (id) available``).
    :param timeout: seconds the blocking wait would have allowed.
    """

    def __init__(
        self,
        kind: str,
        resource_id: str,
        target_statuses: tuple[str, ...],
        failure_statuses: tuple[str, ...],
        side: str,
        what: str,
        timeout: float,
    ):
        super().__init__(f"{what}: waiting for {'/'.join(target_statuses)} ({side} {kind} {resource_id})")
        self.kind = kind
        self.resource_id = resource_id
        self.target_statuses = tuple(target_statuses)
        self.failure_statuses = tuple(failure_statuses)
        self.side = side
        self.what = what
        self.timeout = float(timeout)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able fields (no secrets: ids and statuses only)."""
        return {
            "kind": self.kind,
            "resource_id": self.resource_id,
            "target_statuses": list(self.target_statuses),
            "failure_statuses": list(self.failure_statuses),
            "side": self.side,
            "what": self.what,
            "timeout": self.timeout,
        }
