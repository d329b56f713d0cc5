"""OS Migrate core: move tenant content between OpenStack clouds through editable YAML.

Pure Python over openstacksdk; never imports Airflow. The public surface::

    export_resources(conn, data_dir, types=..., filters=...)         -> summary
    validate_data_dir(data_dir, conn=..., types=..., filters=...)     -> [error, ...]
    import_resources(conn, data_dir, types=..., filters=..., dry_run=...) -> summary

``RESOURCE_TYPES`` lists the type keys (data file stems) in dependency order: ``TENANT_TYPES``
(the default of every ``types`` argument) and ``ADMIN_TYPES`` (identity, flavors, quotas; they
need an admin connection and, on export, a ``projects`` filter).
"""

from os_migrate.apply import import_resources
from os_migrate.cloud import RequestCounter, check_connection
from os_migrate.const import AUTH_PROJECT, FORMAT_VERSION
from os_migrate.exceptions import (
    AmbiguousReference,
    ApplyError,
    CloudError,
    ConflictError,
    DataError,
    DataVersionMismatch,
    OsMigrateError,
    ReferenceNotFound,
    ValidationError,
)
from os_migrate.export import export_resources
from os_migrate.resources import ADMIN_TYPES, RESOURCE_TYPES, TENANT_TYPES
from os_migrate.validation import validate_data_dir

__all__ = [
    "ADMIN_TYPES",
    "AUTH_PROJECT",
    "AmbiguousReference",
    "ApplyError",
    "CloudError",
    "ConflictError",
    "DataError",
    "DataVersionMismatch",
    "FORMAT_VERSION",
    "OsMigrateError",
    "RESOURCE_TYPES",
    "ReferenceNotFound",
    "RequestCounter",
    "TENANT_TYPES",
    "ValidationError",
    "check_connection",
    "export_resources",
    "import_resources",
    "validate_data_dir",
]
