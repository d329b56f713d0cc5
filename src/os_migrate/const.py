"""Constants shared by the whole core: the data format version and marker values."""

#: Version of the YAML data format written to and accepted from the data dir. A file with another
#: value is refused (:class:`os_migrate.exceptions.DataVersionMismatch`), never silently reinterpreted.
FORMAT_VERSION = 1

#: Key of the format version in every data file.
VERSION_KEY = "os_migrate_version"

#: Marker used in a reference's ``project_name``/``domain_name``: "the project (domain) the
#: connection is authenticated to". It lets an export from project A import into project B.
AUTH_PROJECT = "%auth%"

#: Suffix of data files in the data dir.
DATA_FILE_SUFFIX = ".yml"

#: A tenant name: it names the tenant's data dir under the staging root (the tenant DAGs' ``tenant``
#: Param, the tenants of a wave plan).
TENANT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

#: Seconds of openstacksdk's ``api_timeout`` (connect and each read of every HTTP request) of every
#: connection os-migrate builds, when neither the Connection's extra nor the clouds.yaml cloud sets one.
DEFAULT_API_TIMEOUT = 60.0
