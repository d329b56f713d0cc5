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
"""

from __future__ import annotations

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
