"""Workload migration: servers with their volumes, ports and floating IPs (cold migration).

Pure Python over openstacksdk; never imports Airflow. The public surface::

    export_workloads(src, data_dir, servers=...)                    -> summary
    preflight(src, dst, data_dir, servers=..., overrides=..., flavor_map=...) -> report | ValidationError
    prepare_server(src, dst, data_dir, name, overrides=...)         -> {"action": ...}
    copy_server_disks(src, dst, data_dir, name, overrides=...)      -> {"disks": [...]}
    create_destination_server(src, dst, data_dir, name, overrides=...) -> {...}
    finalize_server(src, dst, data_dir, name, overrides=...)        -> {"result": ...}
                                                                       (or MigrationFailed)
    migrate_server(src, dst, data_dir, name, overrides=...)         -> all four in order
    summarize_workloads([finalize results or None, ...])            -> counts

    ServerMigration(src, dst, data_dir, name, overrides=...)        the migration of one server:
        .prepare() .copy_disks() .create_server() .finalize() .run()   (the functions above)

Every function after the export also takes ``flavor_map`` (source flavor name -> destination
flavor name for the run; a record's ``_migration_params.flavor_name`` wins).

Data files: ``workloads.yml`` (servers), ``detached_volumes.yml``; state files in
``workload_state/``. Disk copies go through a :class:`DiskCopier` (method ``image``:
:class:`ImageDiskCopier`; method ``conversion_host``:
:class:`~os_migrate.workload.conversion_host.ConversionHostCopier`), made from one
:class:`CopyContext`.
"""

# Copy methods register in COPIERS on import; before records builds its schema from COPIERS.
from os_migrate.workload import conversion_host  # noqa: F401
from os_migrate.workload.checks import preflight
from os_migrate.workload.cloudops import nonblocking_waits
from os_migrate.workload.disk_copy import (
    COPIERS,
    CopyContext,
    CopyResult,
    DiskCopier,
    DiskSource,
    ImageDiskCopier,
    VolumeSpec,
    make_copier,
)
from os_migrate.workload.errors import (
    CopyError,
    DestinationError,
    MigrationFailed,
    Pending,
    SourceDiskUnreadable,
    SourceStateError,
    WorkloadError,
)
from os_migrate.workload.export import export_workloads
from os_migrate.workload.migrate import (
    ServerMigration,
    copy_server_disks,
    create_destination_server,
    finalize_server,
    migrate_server,
    prepare_server,
)
from os_migrate.workload.records import (
    FLOATING_IP_MODES,
    MIGRATION_PARAM_DEFAULTS,
    MIGRATION_PARAMS_SCHEMA,
    PORT_CREATION_MODES,
    DetachedVolume,
    Server,
)
from os_migrate.workload.summary import summarize_workloads

__all__ = [
    "Pending",
    "nonblocking_waits",
    "COPIERS",
    "CopyContext",
    "CopyError",
    "CopyResult",
    "DestinationError",
    "DetachedVolume",
    "DiskCopier",
    "DiskSource",
    "FLOATING_IP_MODES",
    "ImageDiskCopier",
    "MIGRATION_PARAMS_SCHEMA",
    "MIGRATION_PARAM_DEFAULTS",
    "MigrationFailed",
    "PORT_CREATION_MODES",
    "Server",
    "ServerMigration",
    "SourceDiskUnreadable",
    "SourceStateError",
    "VolumeSpec",
    "WorkloadError",
    "copy_server_disks",
    "create_destination_server",
    "export_workloads",
    "finalize_server",
    "make_copier",
    "migrate_server",
    "preflight",
    "prepare_server",
    "summarize_workloads",
]
