"""Errors raised by the migration core.

::

    OsMigrateError                  base of everything raised on purpose by the core
     +-- DataError                  a data file, a resource or a field in it is wrong
     |    +-- DataVersionMismatch   the file's os_migrate_version is not the supported one
     +-- ValidationError            several problems found at once; ``.errors`` lists every one
     +-- ReferenceNotFound          a name reference resolves to nothing in a cloud
     +-- AmbiguousReference         a name reference resolves to more than one resource
     +-- ConflictError              a destination resource differs in a field that cannot be updated
     +-- CloudError                 a cloud is unreachable or refuses the credentials   [retryable]
     +-- ApplyError                 some writes of an import failed; ``.errors`` lists them   [retryable]
     +-- DataDirBusy                another run holds the data dir's lock (``os_migrate.locks``)

Each class says whether running the same call again may succeed: ``retryable`` is ``True`` for
transient conditions (every core step is idempotent, so a retry is safe) and ``False`` when the same
input fails the same way. Orchestrators (the Airflow provider) retry or fail on that attribute alone.

SDK exceptions (``openstack.exceptions.SDKException``) raised by API calls during import are
not wrapped; when the core adds context it raises one of the above ``from`` the original.
"""

from __future__ import annotations


class OsMigrateError(Exception):
    """Base class of every error the core raises on purpose."""

    #: Whether the same call may succeed when run again (transient cause); ``False`` by default.
    retryable: bool = False


class DataError(OsMigrateError):
    """A problem in staged data, located by file, resource and field.

    :param message: what is wrong.
    :param file: path of the data file, if known.
    :param resource: a short description of the resource (``type 'name'``), if known.
    :param field: dotted path of the field inside the record (``params.cidr``), if known.
    """

    def __init__(
        self, message: str, *, file: str | None = None, resource: str | None = None, field: str | None = None
    ):
        self.message = message
        self.file = file
        self.resource = resource
        self.field = field
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ": ".join(p for p in (self.file, self.resource, self.field) if p)
        return f"{where}: {self.message}" if where else self.message


class DataVersionMismatch(DataError):
    """The data file was written by an incompatible format version."""


class ValidationError(OsMigrateError):
    """Validation found one or more problems; nothing was written.

    :param errors: every problem, one human-readable line each (``file: resource: field: message``).
    """

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        lines = "\n".join(f"  - {e}" for e in self.errors)
        super().__init__(f"{len(self.errors)} validation error(s):\n{lines}")


class ReferenceNotFound(OsMigrateError):
    """A reference (``{name, project_name, domain_name}``) matches no resource in the cloud."""


class AmbiguousReference(OsMigrateError):
    """A reference matches several resources, so an ID cannot be chosen safely."""


class ConflictError(OsMigrateError):
    """The destination already has the resource, but a create-only field differs."""


class CloudError(OsMigrateError):
    """A cloud cannot be reached, or it refuses the credentials."""

    retryable = True


class ApplyError(OsMigrateError):
    """Some planned writes failed; the others were done. ``.errors`` lists the failures.

    Re-running the import after fixing the cause finishes the job (import is idempotent).
    """

    retryable = True

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__(
            f"{len(self.errors)} resource(s) failed to import:\n" + "\n".join(f"  - {e}" for e in self.errors)
        )


class DataDirBusy(OsMigrateError):
    """Another run holds the data dir's lock file; nothing was done.

    Not retryable: the holding run may last hours, so the caller fails at once and says who holds it.

    :param data_dir: the data dir.
    :param holder: the lock file's content (``dag_id``, ``run_id``, ``since``...), or None if unreadable.
    :param lock_file: path of the lock file, to delete by hand when its holder is gone.
    """

    def __init__(self, data_dir: str, holder: dict | None, lock_file: str):
        self.data_dir = data_dir
        self.holder = dict(holder or {})
        self.lock_file = lock_file
        who = (
            ", ".join(f"{k} {v}" for k, v in self.holder.items())
            or "an unknown holder (unreadable lock file)"
        )
        super().__init__(
            f"data dir {data_dir} is in use by {who}; two runs must not share a data dir. If that run "
            f"is no longer running (killed, its teardown never ran), delete {lock_file} and run again."
        )
